import EdgeKV
import EdgeRuntime
import EdgeRuntimeTesting
import Foundation
import HTTPTypes

actor EventLog {
    var events: [String] = []
    func add(_ event: String) { events.append(event) }
}

/// A gate a handler waits on until the test opens it.
actor Gate {
    private var open = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var arrivals = 0
    func wait() async {
        arrivals += 1
        if open { return }
        await withCheckedContinuation { waiters.append($0) }
    }
    func release() {
        open = true
        for waiter in waiters { waiter.resume() }
        waiters = []
    }
    var arrived: Int { arrivals }
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
            let log = self.log
            ctx.waitUntil {
                try await Task.sleep(for: .milliseconds(30))
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
