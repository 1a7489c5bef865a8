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
        let name = request.url.query["name"] ?? "world"
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

/// The code blocks of a guide under Docs/.
func swiftBlocks(ofGuide name: String) throws -> [String] {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let text = try String(contentsOf: root.appendingPathComponent("Docs/\(name)"), encoding: .utf8)
    return text.components(separatedBy: "```swift\n").dropFirst().map { $0.components(separatedBy: "\n```")[0] + "\n" }
}

@Suite("Docs/backends.md")
struct BackendGuideTests {
    @Test("the guide shows exactly the backend this target compiles")
    func inSync() throws {
        let source = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("DocExamples/TracingKVBackend.swift"),
            encoding: .utf8)
        let code = source.split(separator: "\n", omittingEmptySubsequences: false).drop { $0.hasPrefix("//") }.joined(separator: "\n")
        #expect(try swiftBlocks(ofGuide: "backends.md").first == code)
    }

    @Test("the guide's backend is selected by its config, passes the KV conformance suite, and is named when missing")
    func works() async throws {
        let config = #"""
            {
              "name": "app",
              "tracing": { "prefix": "audit" },
              "kv_namespaces": [{ "binding": "SESSIONS", "backend": "tracing" }, { "binding": "CACHE" }]
            }
            """#
        let providers = BackendProviders.builtIn.adding(TracingKVProvider())
        let parsed = try EdgeConfig.parse(config, file: "app.jsonc", providers: providers)
        let bindings = try EdgeBindings(config: parsed, providers: providers, inMemory: false)
        let sessions = try bindings.kv("SESSIONS")
        #expect((sessions as? TracingKV)?.label == "audit.SESSIONS")
        for check in KVConformance.cases {
            try await check.run(
                KVConformance.Harness { clock in
                    try EdgeBindings(config: parsed, providers: providers, clock: clock, inMemory: false).kv("SESSIONS")
                })
        }
        do {
            _ = try EdgeConfig.parse(config, file: "app.jsonc")
            Issue.record("parsed without its provider")
        } catch let error as ConfigError {
            #expect(
                "\(error.file): \(error.key): \(error.message)"
                    == #"app.jsonc: tracing: unknown key "tracing"; no backend this host includes reads a "tracing" section (backends: file, memory, sqlite)"#)
        }
    }
}
