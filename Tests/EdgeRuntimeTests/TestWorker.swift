import EdgeKV
import EdgeRuntime
import EdgeRuntimeTesting
import Foundation
import HTTPTypes

/// What the worker did, in order; tests wait on it rather than sleep.
struct EventLog: Sendable {
    let observed = Observed<[String]>([])
    func add(_ event: String) async { await observed.update { $0.append(event) } }
    var events: [String] { get async { await observed.value } }
    /// Returns once `condition` holds for the events so far.
    func wait(until condition: @escaping @Sendable ([String]) -> Bool) async throws { try await observed.wait(until: condition) }
}

/// A gate a handler waits on until the test opens it.
actor Gate {
    private var open = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    /// How many handlers reached the gate; tests wait on it.
    let arrivals = Observed(0)
    func wait() async {
        await arrivals.update { $0 += 1 }
        if open { return }
        await withCheckedContinuation { waiters.append($0) }
    }
    func release() {
        open = true
        for waiter in waiters { waiter.resume() }
        waiters = []
    }
    /// Returns once `count` handlers have reached the gate.
    func waitForArrivals(_ count: Int) async throws { try await arrivals.wait { $0 >= count } }
}

struct TestWorker: Worker {
    struct Env: Sendable {
        var cache: any KVNamespace
        var events: QueueProducer<JSONValue>
        var greeting: String
        var token: String
    }

    let log = EventLog()
    let gate = Gate()
    /// What `waitUntil` work waits on before it logs, so a test decides when it finishes.
    let later = Gate()

    static func makeEnv(_ bindings: EdgeBindings) throws -> Env {
        Env(
            cache: try bindings.kv("CACHE"), events: try bindings.queue("EVENTS", for: events), greeting: try bindings.variable("GREETING"),
            token: try bindings.secret("TOKEN"))
    }

    func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        let path = String(request.url.path)
        switch (request.method, path) {
        case (.get, "/hello"):
            return .text("hello \(env.greeting)")
        case (.get, "/secret-length"):
            return .text("\(env.token.count)")
        case (.post, _) where path.hasPrefix("/kv/"):
            try await env.cache.put(String(path.dropFirst(4)), try await request.body.text())
            return EdgeResponse(status: .created)
        case (.get, _) where path.hasPrefix("/kv/"):
            guard let value = try await env.cache.get(String(path.dropFirst(4))) else { return .text("not found", status: 404) }
            return .text(value)
        case (.post, "/enqueue"):
            try await env.events.send(try JSONValue(parsing: Data(try await request.body.bytes())))
            return EdgeResponse(status: .accepted)
        case (.get, "/throw"):
            struct Boom: Error {}
            throw Boom()
        case (.get, "/wait"):
            await gate.wait()
            return .text("released")
        case (.get, "/later"):
            let log = self.log, later = self.later
            ctx.waitUntil {
                await later.wait()
                await log.add("after response")
            }
            await log.add("response")
            return .text("ok")
        default:
            return .text("no route \(request.method) \(path)", status: 404)
        }
    }

    static let events = QueueName<JSONValue>("events")

    static let queues: [QueueHandler<TestWorker>] = [
        .consume(events) { worker, batch, _, _ in
            for message in batch.messages {
                if message.body[path: "fail"] == .bool(true) {
                    message.retry()
                    await worker.log.add("failed \(message.body[path: "n"].map { "\($0)" } ?? "?") attempt \(message.attempts)")
                } else {
                    await worker.log.add("queued \(message.body[path: "n"].map { "\($0)" } ?? "?")")
                }
            }
        }
    ]

    func scheduled(_ event: ScheduledEvent, env: Env, ctx: ExecutionContext) async throws {
        await log.add("cron \(event.cron)")
    }
}

let testConfig = """
    // A config with comments and trailing commas, as wrangler.jsonc allows.
    {
      "name": "test-worker",
      "vars": { "GREETING": "world" },
      "secrets": ["TOKEN"],
      "kv_namespaces": [{ "binding": "CACHE" }],
      "queues": {
        "producers": [{ "binding": "EVENTS", "queue": "events" }],
        "consumers": [{ "queue": "events", "max_batch_size": 10, "max_retries": 1, "dead_letter_queue": "events-dlq" }],
      },
      "triggers": { "crons": ["*/5 * * * *"] },
      /* limits small enough to test */
      "limits": { "max_request_body_bytes": 64, "request_timeout_ms": 2000, "max_concurrent_requests": 4 },
    }
    """

func makeClient(_ worker: TestWorker = TestWorker(), config: String = testConfig) throws -> WorkerTestClient<TestWorker> {
    try WorkerTestClient(worker, config: config, secrets: ["TOKEN": "s3cret-value"])
}
