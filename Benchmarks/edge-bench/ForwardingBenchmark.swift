import EdgeCoordinator
import EdgeCore
import EdgePostgres
import EdgeRuntime
import Foundation
import HTTPTypes
import Logging
import ServiceLifecycle

/// `edge-bench coordinator --backend postgres`: one durable object (HelloCounter, a durable write
/// per call) used from two runtimes with their own pools and HTTP servers, as two processes would:
///
/// - `objects.fetch_owner`: `stub.fetch` in the owning runtime (the object is local);
/// - `objects.fetch_forwarded`: `stub.fetch` in the other runtime, forwarded over HTTP to the
///   owner; its peer is `fetch_owner`, so the ratio is what forwarding costs;
/// - `objects.call_moving`: `stub.call` closures from both runtimes in turn, so the object is
///   handed over between them; its peer is `fetch_forwarded` from both, the way that keeps the
///   object in place.
struct ForwardingBenchmark {
    let options: BenchOptions
    let url: String

    struct Runtime {
        let runtime: WorkerRuntime<HelloWorker>
        let group: ServiceGroup
        let task: Task<Void, any Error>
        var counters: DurableObjectNamespace<HelloCounter> { runtime.env.counters! }
    }

    func start() async throws -> Runtime {
        let config = try EdgeConfig.parse(
            """
            { "name": "bench-forwarding", "log_level": "error",
              "postgres": { "url": "\(url)", "max_connections": 16 },
              "durable_objects": { "backend": "postgres", "bindings": [{ "name": "COUNTERS", "class_name": "HelloCounter" }] } }
            """, providers: BackendProviders.builtIn.adding(PostgresProvider()))
        let runtime = try WorkerRuntime(
            worker: HelloWorker(), bindings: EdgeBindings(config: config, providers: BackendProviders.builtIn.adding(PostgresProvider())))
        let ports = AsyncStream<Int>.makeStream()
        let app = try EdgeHost(runtime: runtime).application(port: 0) { port in ports.continuation.yield(port) }
        let group = ServiceGroup(services: [app], logger: Logger(label: "bench"))
        let task = Task { try await group.run() }
        var iterator = ports.stream.makeAsyncIterator()
        guard await iterator.next() != nil else { throw BenchError(message: "the HTTP server did not start") }
        return Runtime(runtime: runtime, group: group, task: task)
    }

    /// Calls per second of `calls` calls made by `concurrency` tasks.
    func rate(calls: Int, concurrency: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws -> Double {
        let start = seconds()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<concurrency {
                group.addTask {
                    for index in stride(from: task, to: calls, by: concurrency) { try await body(index) }
                }
            }
            try await group.waitForAll()
        }
        return Double(calls) / (seconds() - start)
    }

    func run() async throws {
        let a = try await start(), b = try await start()
        let name = "bench-" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let owner = a.counters.get(a.counters.idFromName(name))
        let other = b.counters.get(b.counters.idFromName(name))
        let increment = EdgeRequest(method: .post, path: "/objects/\(name)")
        _ = try await owner.fetch(increment).body.bytes()  // a owns the object
        let concurrency = 16, calls = 2_000
        var best = (owner: 0.0, forwarded: 0.0, moving: 0.0, bothForwarded: 0.0)
        for _ in 0..<options.rounds {
            best.owner = max(best.owner, try await rate(calls: calls, concurrency: concurrency) { _ in _ = try await owner.fetch(increment).body.bytes() })
            best.forwarded = max(
                best.forwarded, try await rate(calls: calls, concurrency: concurrency) { _ in _ = try await other.fetch(increment).body.bytes() })
            best.bothForwarded = max(
                best.bothForwarded,
                try await rate(calls: calls, concurrency: concurrency) { index in
                    _ = try await (index % 2 == 0 ? owner : other).fetch(increment).body.bytes()
                })
            best.moving = max(
                best.moving,
                try await rate(calls: calls / 4, concurrency: concurrency) { index in
                    _ = try await (index % 2 == 0 ? owner : other).call { try await $0.fetch(increment).body.bytes() }
                })
            _ = try await owner.fetch(increment).body.bytes()  // back to a (fetch never moves it; a call may have)
        }
        let expected = 1 + options.rounds * (3 * calls + calls / 4 + 1)
        struct Answer: Decodable { var value: Int }
        let final = try JSONDecoder().decode(Answer.self, from: Data(try await owner.fetch(EdgeRequest(path: "/objects/\(name)")).body.bytes())).value
        guard final == expected else { throw BenchError(message: "the counter ended at \(final), not \(expected): calls interleaved or were lost") }
        BenchLine(
            suite: "coordinator", name: "objects.fetch_owner", value: best.owner, unit: "calls/s",
            extra: ["backend": quote("postgres"), "concurrency": "\(concurrency)"]
        ).print()
        BenchLine(
            suite: "coordinator", name: "objects.fetch_forwarded", value: best.forwarded, unit: "calls/s", peer: "fetch_owner", peerValue: best.owner,
            extra: ["backend": quote("postgres"), "concurrency": "\(concurrency)"]
        ).print()
        BenchLine(
            suite: "coordinator", name: "objects.call_moving", value: best.moving, unit: "calls/s", peer: "fetch_from_both", peerValue: best.bothForwarded,
            extra: ["backend": quote("postgres"), "concurrency": "\(concurrency)", "processes": "2"]
        ).print()
        for runtime in [a, b] {
            await runtime.group.triggerGracefulShutdown()
            try await runtime.task.value
        }
    }
}
