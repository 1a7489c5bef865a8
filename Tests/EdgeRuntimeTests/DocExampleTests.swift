import EdgeKV
import EdgeRuntime
import EdgeRuntimeTesting
import Foundation
import Logging
import Testing

/// The worker of Docs/runtime.md, kept compiling and passing here.
struct Greeted: Codable, Sendable { var name: String }
let greetedEvents = QueueName<Greeted>("events")

struct Greeter: Worker {
    struct Env: Sendable {
        var greetings: any KVNamespace
        var events: QueueProducer<Greeted>
        var secret: String
    }

    static func makeEnv(_ bindings: EdgeBindings) throws -> Env {
        Env(
            greetings: try bindings.kv("GREETINGS"),
            events: try bindings.queue("EVENTS", for: greetedEvents),
            secret: try bindings.secret("API_TOKEN"))
    }

    func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        let name = request.query["name"] ?? "world"
        ctx.waitUntil {
            try await env.events.send(Greeted(name: name))
        }
        return .text(try await env.greetings.get(name) ?? "hello, \(name)")
    }

    static let queues: [QueueHandler<Greeter>] = [
        .consume(greetedEvents) { worker, batch, env, ctx in
            for message in batch.messages { ctx.logger.info("greeted \(message.body.name)") }
        }
    ]

    func scheduled(_ event: ScheduledEvent, env: Env, ctx: ExecutionContext) async throws {
        ctx.logger.notice("cron \(event.cron) at \(event.scheduledTime)")
    }
}

@Test("the Docs/runtime.md example works as documented")
func greets() async throws {
    let client = try WorkerTestClient(
        Greeter(),
        config: """
            { "name": "t", "secrets": ["API_TOKEN"], "kv_namespaces": [{ "binding": "GREETINGS" }],
              "queues": { "producers": [{ "binding": "EVENTS", "queue": "events" }],
                          "consumers": [{ "queue": "events" }] } }
            """, secrets: ["API_TOKEN": "test"])
    #expect(await client.fetch("/?name=ada").text == "hello, ada")
    await client.settle()
    #expect(try await client.deliverQueue("events") == 1)
    try await client.scheduled("*/5 * * * *")
    try await client.live { live in
        let text = try await live.fetch("/?name=bob").text
        #expect(text == "hello, bob")
    }
}
