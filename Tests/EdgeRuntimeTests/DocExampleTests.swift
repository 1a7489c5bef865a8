import EdgeCoordinator
import EdgeKV
import EdgeRuntime
import EdgeRuntimeTesting
import Foundation
import HTTPTypes
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

/// The code of `DocExamples/NAME.swift` as a guide shows it: without its leading comment lines.
func docExample(_ name: String) throws -> String {
    let source = try String(
        contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("DocExamples/\(name).swift"), encoding: .utf8)
    return source.split(separator: "\n", omittingEmptySubsequences: false).drop { $0.hasPrefix("//") }.joined(separator: "\n")
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
        let code = try docExample("AuditKVBackend")
        #expect(try swiftBlocks(ofGuide: "backends.md").first == code)
    }

    @Test("the guide's backend is selected by its config, passes the KV conformance suite, and is named when missing")
    func works() async throws {
        let config = #"""
            {
              "name": "app",
              "journal": { "prefix": "journal" },
              "kv_namespaces": [{ "binding": "SESSIONS", "backend": "journal" }, { "binding": "CACHE" }]
            }
            """#
        let providers = BackendProviders.builtIn.adding(AuditKVProvider())
        let parsed = try EdgeConfig.parse(config, file: "app.jsonc", providers: providers)
        let bindings = try EdgeBindings(config: parsed, providers: providers, inMemory: false)
        let sessions = try bindings.kv("SESSIONS")
        #expect(backendObject(of: sessions, as: AuditKV.self)?.label == "journal.SESSIONS")
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
                    == #"app.jsonc: journal: unknown key "journal"; no backend this host includes reads a "journal" section (backends: file, memory, sqlite)"#)
        }
    }
}

@Suite("Docs/runtime.md: streaming bodies and WebSockets")
struct StreamingGuideTests {
    @Test("the guide shows exactly the worker this target compiles")
    func inSync() throws {
        let code = try docExample("StreamingWorker")
        #expect(try swiftBlocks(ofGuide: "runtime.md").contains(code))
    }

    @Test("the guide's worker streams files in and out, answers 413 past the limit, sends events and echoes on a socket")
    func works() async throws {
        let client = try WorkerTestClient(
            Files(), config: #"{ "name": "t", "r2_buckets": [{ "binding": "FILES" }], "limits": { "max_request_body_bytes": 1048576 } }"#)
        let payload = [UInt8](repeating: 42, count: 600_000)
        let put = await client.fetch("/files/a.bin", method: "PUT", headers: ["content-type": "application/x-test"], body: payload)
        #expect(put.status == 201)
        let got = await client.fetch("/files/a.bin")
        #expect(got.body == payload && got.header("content-type") == "application/x-test")
        let tooLarge = await client.fetch("/files/b.bin", method: "PUT", body: [UInt8](repeating: 1, count: 2_000_000))
        #expect(tooLarge.status == 413)
        #expect(await client.fetch("/files/b.bin").status == 404, "nothing half-stored")
        #expect(await client.fetch("/echo", method: "POST", body: Array("hi".utf8)).text == "hi")
        let ticks = await client.fetch("/ticks").text
        #expect(ticks.components(separatedBy: "event: tick").count == 4)
        let (socket, refused) = await client.webSocket("/socket")
        #expect(refused == nil)
        try await socket?.send("ping")
        #expect(try await socket?.receive() == .text("you said: ping"))
        await socket?.close(.normalClosure, reason: "")
    }
}

@Suite("Docs/coordinator.md: WebSockets and hibernation")
struct HibernationGuideTests {
    @Test("the guide shows exactly the room this target compiles")
    func inSync() throws {
        let code = try docExample("PresenceRoom")
        #expect(try swiftBlocks(ofGuide: "coordinator.md").contains(code))
    }

    @Test("the guide's room greets, broadcasts, survives eviction with attachments and storage, answers ping without waking")
    func works() async throws {
        let client = try WorkerTestClient(
            RoomWorker(), config: #"{ "name": "t", "durable_objects": { "bindings": [{ "name": "ROOMS", "class_name": "Room" }] } }"#)
        let rooms = try client.bindings.durableObjects(Room.self, binding: "ROOMS", env: ())
        let ada = try #require(await client.webSocket("/room?name=ada").socket)
        #expect(try await ada.receive() == .text("welcome, ada; here: ada"))
        let bob = try #require(await client.webSocket("/room?name=bob").socket)
        #expect(try await bob.receive() == .text("welcome, bob; here: ada, bob"))
        try await ada.send("hi")
        #expect(try await ada.receive() == .text("ada (#1): hi"))
        #expect(try await bob.receive() == .text("ada (#1): hi"))
        var evicted = 0
        let deadline = ContinuousClock.now + .seconds(600)
        while evicted == 0, ContinuousClock.now < deadline {
            evicted = rooms.evictIdle(idleFor: 0)
            if evicted == 0 { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(evicted == 1 && rooms.liveCount == 0 && rooms.openWebSockets == 2)
        let built = rooms.instancesConstructed
        try await bob.send("ping")
        #expect(try await bob.receive() == .text("pong"))
        #expect(rooms.instancesConstructed == built, "the auto-response did not wake the room")
        try await bob.send("back")
        #expect(try await ada.receive() == .text("bob (#2): back"))
        #expect(try await bob.receive() == .text("bob (#2): back"))
        #expect(rooms.instancesConstructed == built + 1)
        await ada.close(.normalClosure, reason: "")
        #expect(try await bob.receive() == .text("ada left (1000)"))
        await bob.close(.normalClosure, reason: "")
    }
}
