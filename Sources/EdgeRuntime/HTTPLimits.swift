import EdgeCore
import Foundation
import Synchronization

/// Counts a streamed request body as the handler reads it and cuts it off where it crosses the
/// limit: the read that crosses it throws ``EdgeHTTPError`` `.bodyTooLarge`, so whatever
/// consumes the body (a bucket put, say) is abandoned, and the runtime answers 413.
final class BodyLimit: Sendable {
    let limit: Int
    private let crossed = Atomic<Bool>(false)

    init(_ limit: Int) { self.limit = limit }

    var exceeded: Bool { crossed.load(ordering: .acquiring) }

    func wrap(_ body: EdgeBody) -> EdgeBody {
        .stream(Counted(base: body, owner: self))
    }

    struct Counted: AsyncSequence, Sendable {
        typealias Element = [UInt8]
        let base: EdgeBody
        let owner: BodyLimit

        struct AsyncIterator: AsyncIteratorProtocol {
            var base: EdgeBody.AsyncIterator
            let owner: BodyLimit
            var total = 0

            mutating func next() async throws -> [UInt8]? {
                guard let chunk = try await base.next() else { return nil }
                total += chunk.count
                if total > owner.limit {
                    owner.crossed.store(true, ordering: .releasing)
                    throw EdgeHTTPError(.bodyTooLarge, limit: owner.limit, message: "the request body crossed the limit of \(owner.limit) bytes")
                }
                return chunk
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), owner: owner) }
    }
}

/// A socket closed with 1008 when no message arrives for `timeout`.
final class IdleWebSocket: EdgeWebSocket {
    let base: any EdgeWebSocket
    private let lastMessage: Mutex<Date>
    private let timedOut = Atomic<Bool>(false)
    private let watcher: Mutex<Task<Void, Never>?> = Mutex(nil)

    init(_ base: any EdgeWebSocket, timeout: Duration, clock: any EdgeClock) {
        self.base = base
        self.clock = clock
        lastMessage = Mutex(clock.now)
        let seconds = timeout.inSeconds
        self.seconds = seconds
        let task = Task { [weak self] in
            while !Task.isCancelled {
                guard let self else { return }
                let due = self.lastMessage.withLock { $0 }.addingTimeInterval(seconds)
                if clock.now >= due {
                    self.timedOut.store(true, ordering: .releasing)
                    await base.close(.policyViolation, reason: "no message for \(Int(seconds)) s")
                    return
                }
                try? await clock.sleep(until: due)
            }
        }
        watcher.withLock { $0 = task }
    }

    private let clock: any EdgeClock
    private let seconds: Double

    var closure: WebSocketClosure? { base.closure }

    func receive() async throws -> WebSocketMessage? {
        let message = try await base.receive()
        if message == nil, timedOut.load(ordering: .acquiring) {
            throw WebSocketError(.idleTimeout, limit: Int(seconds), message: "no message arrived for \(Int(seconds)) s; the socket was closed with 1008")
        }
        lastMessage.withLock { $0 = clock.now }
        return message
    }

    func send(_ message: WebSocketMessage) async throws { try await base.send(message) }
    func close(_ code: WebSocketCloseCode, reason: String) async { await base.close(code, reason: reason) }

    func stop() { watcher.withLock { $0?.cancel() } }
}
