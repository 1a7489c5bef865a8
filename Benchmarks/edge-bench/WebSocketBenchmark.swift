import Foundation
import HummingbirdWSClient
import Logging
import NIOWebSocket
import Synchronization

/// `edge-bench ws`: one room of 1,000 WebSockets; one member sends, the server broadcasts each
/// message to all 1,000. Ours: a durable object holding the sockets (`acceptWebSocket`,
/// `getWebSockets()`, `edge-bench serve ws-object`); the peer: a plain hummingbird-websocket
/// server broadcasting to every connection's writer (`edge-bench serve ws-plain`). Each server
/// runs in a process of its own; the clients (swift-websocket) run here, the same for both.
///
/// - `ws.broadcast`: messages delivered per second (to all receivers together), with at most
///   `window` messages in flight.
/// - `ws.p99`: milliseconds from a message's send to its arrival at the last of the 1,000.
struct WebSocketBenchmark {
    let options: BenchOptions
    let sockets = 1000
    let window = 8

    func run() async throws {
        let directory = try options.scratchDirectory("ws")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ours = try ServerChild("ws-object", directory: directory)
        let peer = try ServerChild("ws-plain", directory: directory)
        defer {
            ours.stop()
            peer.stop()
        }
        let messages = max(100, Int(300 * options.duration))
        let oursRoom = try await Room.connect(port: ours.port, sockets: sockets)
        let peerRoom = try await Room.connect(port: peer.port, sockets: sockets)
        var best = (ours: Result(rate: 0, p99: .infinity), peer: Result(rate: 0, p99: .infinity))
        for round in 0..<max(3, options.rounds) {
            for side in round % 2 == 0 ? [0, 1] : [1, 0] {
                if side == 0 {
                    best.ours = best.ours.better(try await oursRoom.measure(messages: messages, window: window))
                } else {
                    best.peer = best.peer.better(try await peerRoom.measure(messages: messages, window: window))
                }
            }
        }
        let memory = (ours: ours.memory().resident, peer: peer.memory().resident)
        await oursRoom.close()
        await peerRoom.close()
        let load = quote("1 sender, \(sockets) receivers in one room, \(window) messages in flight, \(messages) per round")
        BenchLine(
            suite: "ws", name: "ws.broadcast", value: best.ours.rate, unit: "messages delivered/s", peer: "plain-hummingbird-websocket",
            peerValue: best.peer.rate, extra: ["target_ratio": "0.8", "load": load]
        ).print()
        BenchLine(
            suite: "ws", name: "ws.p99", value: best.ours.p99, unit: "ms", peer: "plain-hummingbird-websocket", peerValue: best.peer.p99,
            extra: ["lower_is_better": "true", "load": load]
        ).print()
        BenchLine(
            suite: "ws", name: "ws.rss", value: memory.ours, unit: "MiB resident with \(sockets) sockets open", peer: "plain-hummingbird-websocket",
            peerValue: memory.peer, extra: ["lower_is_better": "true"]
        ).print()
    }

    struct Result {
        var rate: Double
        var p99: Double
        func better(_ other: Result) -> Result { other.rate > rate ? other : self }
    }

    /// The clients of one server: `sockets` connections, the first also the sender.
    final class Room: Sendable {
        let sockets: Int
        private let tracker: Tracker
        private let writers: Writers
        private let tasks: [Task<Void, any Error>]

        private init(sockets: Int, tracker: Tracker, writers: Writers, tasks: [Task<Void, any Error>]) {
            self.sockets = sockets
            self.tracker = tracker
            self.writers = writers
            self.tasks = tasks
        }

        static func connect(port: Int, sockets: Int) async throws -> Room {
            let tracker = Tracker(receivers: sockets)
            let writers = Writers()
            let (opened, openedContinuation) = AsyncStream<Void>.makeStream()
            var logger = Logger(label: "ws-bench")
            logger.logLevel = .critical
            var tasks: [Task<Void, any Error>] = []
            // In batches, so the server's accept backlog never overflows.
            for batch in stride(from: 0, to: sockets, by: 100) {
                for _ in batch..<min(sockets, batch + 100) {
                    tasks.append(
                        Task {
                            try await WebSocketClient.connect(
                                url: "ws://127.0.0.1:\(port)/ws", configuration: .init(maxFrameSize: 1 << 16), logger: logger
                            ) { inbound, outbound, _ in
                                writers.list.withLock { $0.append(outbound) }
                                openedContinuation.yield()
                                for try await message in inbound.messages(maxSize: 1 << 16) {
                                    if case .text(let text) = message, let seq = Int(text) { tracker.received(seq) }
                                }
                            }
                        })
                }
                var count = 0
                for await _ in opened {
                    count += 1
                    if count == min(sockets, batch + 100) - batch { break }
                }
            }
            let room = Room(sockets: sockets, tracker: tracker, writers: writers, tasks: tasks)
            try await room.warmUp()
            return room
        }

        /// Sends until one message reaches every socket: the server has them all in the room.
        private func warmUp() async throws {
            for _ in 0..<100 {
                let seq = tracker.nextSeq()
                try await send(seq)
                let start = seconds()
                while seconds() - start < 2 {
                    if tracker.count(seq) == sockets { return }
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
            throw BenchError(message: "no message reached all \(sockets) sockets")
        }

        private func send(_ seq: Int) async throws {
            guard let sender = writers.list.withLock({ $0.first }) else { throw BenchError(message: "no socket") }
            tracker.sent(seq, at: seconds())
            try await sender.write(.text(String(seq)))
        }

        /// `messages` messages, at most `window` in flight.
        func measure(messages: Int, window: Int) async throws -> Result {
            let (completions, continuation) = AsyncStream<Double>.makeStream()
            let first = tracker.startMeasuring(continuation)
            let start = seconds()
            var sent = 0
            while sent < min(window, messages) {
                try await send(first + sent)
                sent += 1
            }
            var latencies: [Double] = []
            for await latency in completions {
                latencies.append(latency)
                if sent < messages {
                    try await send(first + sent)
                    sent += 1
                }
                if latencies.count == messages { break }
            }
            let elapsed = seconds() - start
            tracker.stopMeasuring(next: first + messages)
            latencies.sort()
            return Result(
                rate: Double(messages * sockets) / elapsed,
                p99: latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))] * 1000)
        }

        func close() async {
            for writer in writers.list.withLock({ $0 }) { try? await writer.close(.normalClosure, reason: nil) }
            for task in tasks { _ = try? await task.value }
        }
    }

    final class Writers: Sendable {
        let list = Mutex<[WebSocketOutboundWriter]>([])
    }

    /// Counts each message's arrivals; reports its latency when the last receiver has it.
    final class Tracker: Sendable {
        private struct State {
            var next = 0
            var sentAt: [Int: Double] = [:]
            var counts: [Int: Int] = [:]
            var completions: AsyncStream<Double>.Continuation?
            var measuredFrom = Int.max
        }
        private let state = Mutex(State())
        let receivers: Int

        init(receivers: Int) { self.receivers = receivers }

        func nextSeq() -> Int {
            state.withLock { state in
                defer { state.next += 1 }
                return state.next
            }
        }

        func sent(_ seq: Int, at time: Double) { state.withLock { $0.sentAt[seq] = time } }

        func count(_ seq: Int) -> Int { state.withLock { $0.counts[seq] ?? 0 } }

        func received(_ seq: Int) {
            let now = seconds()
            state.withLock { state in
                let count = (state.counts[seq] ?? 0) + 1
                state.counts[seq] = count
                if count == receivers, seq >= state.measuredFrom, let sentAt = state.sentAt[seq] {
                    state.completions?.yield(now - sentAt)
                }
            }
        }

        func startMeasuring(_ completions: AsyncStream<Double>.Continuation) -> Int {
            state.withLock { state in
                state.completions = completions
                state.measuredFrom = state.next
                state.counts = [:]
                state.sentAt = [:]
                return state.next
            }
        }

        func stopMeasuring(next: Int) {
            state.withLock { state in
                state.completions?.finish()
                state.completions = nil
                state.measuredFrom = .max
                state.next = next
            }
        }
    }
}
