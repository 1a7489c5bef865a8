import EdgeRuntime
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `edge-bench http`: a hello-world worker through EdgeRuntime against the same handler on plain
/// Hummingbird, loaded by wrk from a separate process in the same run; cold start of `edge dev`;
/// time to build a worker and its Env.
///
/// Needs wrk (`apt-get install wrk`) and a release build of `edge` next to edge-bench
/// (`swift build -c release --product edge`).
struct HTTPBenchmark {
    let options: BenchOptions

    static let helloConfig = """
        { "name": "hello", "log_level": "warning", "kv_namespaces": [{ "binding": "COUNTER", "backend": "memory" }] }
        """

    func run() async throws {
        guard let wrk = ["/usr/bin/wrk", "/usr/local/bin/wrk"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw BenchError(message: "wrk is not installed: apt-get install wrk")
        }
        var logger = Logger(label: "bench")
        logger.logLevel = .warning

        // Ours: HelloWorker on EdgeRuntime.
        let config = try EdgeConfig.parse(Self.helloConfig, file: "hello.jsonc")
        let runtime = try WorkerRuntime(worker: HelloWorker(), bindings: EdgeBindings(config: config, logger: logger))
        let ourPort = PortBox()
        let ours = try EdgeHost(runtime: runtime).application(port: 0) { port in ourPort.set(port) }
        // The peer: the same response from a plain Hummingbird router.
        let router = Router()
        router.get("/") { _, _ in "Hello from swift-edge" }
        let peerPort = PortBox()
        let peer = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in peerPort.set(channel.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(services: [ours, peer], logger: logger)
        let serving = Task { try await group.run() }
        let (oursAt, peerAt) = (try await ourPort.wait(), try await peerPort.wait())

        var best = (ours: WrkResult(rps: 0, p99: .infinity), peer: WrkResult(rps: 0, p99: .infinity))
        // Rounds alternate which server goes first, so neither always runs on a warmer (or more
        // disturbed) machine; each keeps its best round.
        let seconds = max(3, Int(options.duration * 3))
        for round in 0..<max(4, options.rounds) {
            if round % 2 == 0 {
                best.ours = best.ours.better(try Self.wrk(wrk, port: oursAt, seconds: seconds))
                best.peer = best.peer.better(try Self.wrk(wrk, port: peerAt, seconds: seconds))
            } else {
                best.peer = best.peer.better(try Self.wrk(wrk, port: peerAt, seconds: seconds))
                best.ours = best.ours.better(try Self.wrk(wrk, port: oursAt, seconds: seconds))
            }
        }
        BenchLine(
            suite: "http", name: "hello.rps", value: best.ours.rps, unit: "requests/s", peer: "plain-hummingbird", peerValue: best.peer.rps,
            extra: ["target_ratio": "0.9", "load": quote("wrk -t2 -c64")]
        ).print()
        BenchLine(suite: "http", name: "hello.p99", value: best.ours.p99, unit: "ms", peer: "plain-hummingbird", peerValue: best.peer.p99).print()
        await group.triggerGracefulShutdown()
        try await serving.value

        BenchLine(suite: "http", name: "cold_start", value: try await coldStart(), unit: "ms", extra: ["target": "200"]).print()
        BenchLine(suite: "http", name: "worker_init", value: try workerInit(config: config, logger: logger), unit: "ms", extra: ["target": "1"]).print()
    }

    struct WrkResult {
        var rps: Double
        var p99: Double
        func better(_ other: WrkResult) -> WrkResult { other.rps > rps ? other : self }
    }

    static func wrk(_ wrk: String, port: Int, seconds: Int) throws -> WrkResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wrk)
        process.arguments = ["-t2", "-c64", "-d\(seconds)s", "--latency", "http://127.0.0.1:\(port)/"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        var result = WrkResult(rps: 0, p99: .infinity)
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.first == "Requests/sec:", let value = fields.last.flatMap({ Double($0) }) { result.rps = value }
            if fields.first == "99%", let value = fields.last { result.p99 = milliseconds(String(value)) }
        }
        guard result.rps > 0 else { throw BenchError(message: "could not read wrk's output:\n\(text)") }
        if text.contains("Non-2xx") { throw BenchError(message: "wrk saw error responses:\n\(text)") }
        return result
    }

    static func milliseconds(_ text: String) -> Double {
        for (suffix, factor) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(suffix) {
            return (Double(text.dropLast(suffix.count)) ?? .infinity) * factor
        }
        return .infinity
    }

    /// Process start to first 200 of `edge dev`, median of 5.
    func coldStart() async throws -> Double {
        let edge = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("edge").path
        guard FileManager.default.isExecutableFile(atPath: edge) else {
            throw BenchError(message: "no edge executable next to edge-bench: swift build -c release --product edge")
        }
        let directory = try options.scratchDirectory("cold-start")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.helloConfig.write(toFile: directory + "/edge.jsonc", atomically: true, encoding: .utf8)
        var samples: [Double] = []
        for attempt in 0..<5 {
            let port = 28_000 + Int(getpid() % 1000) * 5 + attempt
            let process = Process()
            process.executableURL = URL(fileURLWithPath: edge)
            process.arguments = ["dev", "--config", directory + "/edge.jsonc", "--port", "\(port)"]
            process.standardError = FileHandle.nullDevice
            let start = seconds()
            try process.run()
            defer {
                process.terminate()
                process.waitUntilExit()
            }
            while true {
                if seconds() - start > 10 { throw BenchError(message: "edge dev did not answer within 10 s") }
                if let (_, response) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/health")!),
                    (response as? HTTPURLResponse)?.statusCode == 200
                {
                    break
                }
                try await Task.sleep(for: .milliseconds(1))
            }
            samples.append((seconds() - start) * 1000)
        }
        return samples.sorted()[samples.count / 2]
    }

    /// Building the bindings, the runtime and the worker's Env, averaged over 1000 builds.
    func workerInit(config: EdgeConfig, logger: Logger) throws -> Double {
        let count = 1000
        let start = seconds()
        for _ in 0..<count {
            _ = try WorkerRuntime(worker: HelloWorker(), bindings: EdgeBindings(config: config, inMemory: true, logger: logger))
        }
        return (seconds() - start) * 1000 / Double(count)
    }
}

/// The port a server bound, delivered once it listens.
final class PortBox: Sendable {
    private let stream = AsyncStream<Int>.makeStream()
    func set(_ port: Int) { stream.continuation.yield(port) }
    func wait() async throws -> Int {
        for await port in stream.stream { return port }
        throw BenchError(message: "the server never started")
    }
}
