import EdgeKV
import EdgeRuntime
import EdgeRuntimeTesting
import Foundation
import HTTPTypes
import Synchronization
import Testing

// MARK: A backend of this test target

/// The `labeled` section a ``LabeledKVProvider`` reads.
struct LabeledSettings: BackendSettings {
    static let section = "labeled"
    var label: String

    init(label: String) { self.label = label }

    init(parsing node: ConfigNode) throws {
        try node.allowKeys(["label"])
        label = try node.string("label")
    }
}

/// A trivial KV backend defined outside EdgeRuntime: in-memory namespaces whose keys it opened
/// are recorded with the label of its config section.
final class LabeledKVProvider: BackendProvider {
    let opened = Mutex<[String]>([])
    var name: BackendName { "labeled" }
    var kinds: Set<BindingKind> { [.kv] }
    var settingsType: (any BackendSettings.Type)? { LabeledSettings.self }

    func open(_ context: BackendContext) throws -> any Backend {
        let label = context.settings(LabeledSettings.self)?.label ?? "?"
        return LabeledBackend(label: label, clock: context.clock, provider: self)
    }
}

struct LabeledBackend: Backend {
    let label: String
    let clock: any EdgeClock
    let provider: LabeledKVProvider

    func kv(_ binding: EdgeConfig.KVNamespaceBinding) throws -> any KVNamespace {
        provider.opened.withLock { $0.append("\(label):\(binding.binding)") }
        return MemoryKV(configuration: .init(clock: clock))
    }
}

@Suite("Backends as providers")
struct ProviderTests {
    let config = #"""
        { "name": "app", "labeled": { "label": "blue" },
          "kv_namespaces": [{ "binding": "CACHE", "backend": "labeled" }, { "binding": "LOCAL", "backend": "memory" }] }
        """#

    @Test("a backend added in a test target is selectable from a config file, its own section included")
    func selectable() async throws {
        let provider = LabeledKVProvider()
        let providers = BackendProviders.builtIn.adding(provider)
        let parsed = try EdgeConfig.parse(config, file: "app.jsonc", providers: providers)
        #expect(parsed.kvNamespaces.first?.backend == "labeled")
        #expect(parsed[settings: LabeledSettings.self]?.label == "blue")
        let bindings = try EdgeBindings(config: parsed, providers: providers)
        let cache = try bindings.kv("CACHE")
        try await cache.put("k", "v")
        #expect(try await cache.get("k") == "v")
        #expect(try bindings.kv("CACHE") as AnyObject === cache as AnyObject, "one namespace per binding")
        #expect(provider.opened.withLock { $0 } == ["blue:CACHE"])
        #expect(backendObject(of: try bindings.kv("LOCAL"), as: MemoryKV.self) != nil, "the built-in backends stay available")
        // The same binding passes the KV conformance suite like every backend.
        for check in KVConformance.cases {
            try await check.run(
                KVConformance.Harness { clock in
                    let bindings = try EdgeBindings(config: parsed, providers: providers, clock: clock)
                    return try bindings.kv("CACHE")
                })
        }
    }

    @Test("without its provider, the config names the backend, the section and what is available")
    func unregistered() {
        #expect {
            _ = try EdgeConfig.parse(config, file: "app.jsonc")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.code == .unknownKey && error.key == "labeled" && error.message.contains("no backend this host includes reads")
        }
        let withoutSection = #"{ "name": "app", "kv_namespaces": [{ "binding": "CACHE", "backend": "labeled" }] }"#
        #expect {
            _ = try EdgeConfig.parse(withoutSection, file: "app.jsonc")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.key == "kv_namespaces[0].backend" && error.message.contains("\"labeled\" is not a backend this host includes")
                && error.message.contains("\"memory\" or \"sqlite\"")
        }
        let providers = BackendProviders.builtIn.adding(LabeledKVProvider())
        #expect {
            _ = try EdgeConfig.parse(withoutSection, file: "app.jsonc", providers: providers)
        } throws: { error in
            (error as? ConfigError)?.code == .missingKey && (error as? ConfigError)?.key == "labeled"
        }
        let wrongKind = #"{ "name": "app", "labeled": { "label": "x" }, "r2_buckets": [{ "binding": "B", "backend": "labeled" }] }"#
        #expect {
            _ = try EdgeConfig.parse(wrongKind, file: "app.jsonc", providers: providers)
        } throws: { error in
            (error as? ConfigError)?.message.contains("does not serve r2_buckets") == true
        }
    }
}

// MARK: A config built in Swift

struct JobCounter: Worker {
    struct Env: Sendable {
        var counts: any KVNamespace
        var jobs: QueueProducer<Job>
    }

    struct Job: Codable, Sendable, Hashable { var name: String }
    static let jobs = QueueName<Job>("jobs")

    final class Done: Sendable {
        let names = Mutex<[String]>([])
    }

    let done = Done()

    static func makeEnv(_ bindings: EdgeBindings) throws -> Env {
        Env(counts: try bindings.kv("COUNTS"), jobs: try bindings.queue("JOBS", for: jobs))
    }

    func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        try await env.jobs.send(Job(name: String(request.url.path.dropFirst())))
        return EdgeResponse(status: 202)
    }

    static let queues: [QueueHandler<JobCounter>] = [
        .consume(jobs) { worker, batch, env, _ in
            for message in batch.messages {
                let count = Int(try await env.counts.get(message.body.name) ?? "0") ?? 0
                try await env.counts.put(message.body.name, String(count + 1))
                worker.done.names.withLock { $0.append(message.body.name) }
            }
        }
    ]
}

/// A worker whose producer binding is declared for another queue than the one it binds.
struct Misbound: Worker {
    struct Env: Sendable { var jobs: QueueProducer<JobCounter.Job> }
    static func makeEnv(_ bindings: EdgeBindings) throws -> Env { Env(jobs: try bindings.queue("JOBS", for: QueueName<JobCounter.Job>("other"))) }
}

/// A worker with two handlers for one queue.
struct Doubled: Worker {
    struct Env: Sendable {}
    static func makeEnv(_ bindings: EdgeBindings) throws -> Env { Env() }
    static let queues: [QueueHandler<Doubled>] = [.consume(JobCounter.jobs) { _, _, _, _ in }, .consume(JobCounter.jobs) { _, _, _, _ in }]
}

@Suite("Typed config and typed queues")
struct TypedConfigTests {
    func config() -> EdgeConfig {
        var config = EdgeConfig(name: "counter")
        config.kvNamespaces = [.init(binding: "COUNTS")]
        config.queueProducers = [.init(binding: "JOBS", queue: "jobs")]
        config.queueConsumers = [.init(queue: "jobs", configuration: .init(maxBatchSize: 5, maxRetries: 1, deadLetterQueue: "jobs-dlq"))]
        config.limits.requestTimeout = .seconds(5)
        return config
    }

    @Test("a config built in Swift runs a worker; typed messages reach the handler of their queue")
    func swiftConfig() async throws {
        let worker = JobCounter()
        let client = try WorkerTestClient(worker, config: config())
        #expect(await client.fetch("/a").status == 202)
        #expect(await client.fetch("/b").status == 202)
        try await client.queue(JobCounter.jobs, [JobCounter.Job(name: "a")])
        #expect(worker.done.names.withLock { $0 }.sorted() == ["a", "a", "b"])
        #expect(try await client.bindings.kv("COUNTS").get("a") == "2")
    }

    @Test("a body that is not the queue's type is retried, then dead-lettered")
    func undecodable() async throws {
        let client = try WorkerTestClient(JobCounter(), config: config())
        let raw = try QueueProducer<String>(queue: "jobs", backend: client.bindings.queueBackend)
        try await raw.send("not a job")
        try await client.deliverQueue("jobs")
        try await client.deliverQueue("jobs")
        #expect(try await client.bindings.queueBackend.peek("jobs-dlq", limit: 10).count == 1)
    }

    @Test("a config built in Swift is validated as a file is: names, ranges, references")
    func validation() throws {
        var bad = config()
        bad.kvNamespaces = [.init(binding: "has space")]
        #expect { try bad.validate() } throws: { ($0 as? ConfigError)?.key == "kv_namespaces[0].binding" }
        bad = config()
        bad.ai = .init(binding: "AI", model: .hashing(), cache: "NOPE")
        #expect { try bad.validate() } throws: { ($0 as? ConfigError)?.key == "ai.cache" }
        bad = config()
        bad.vectorize = [.init(binding: "V", indexName: "v", dimensions: 4000)]
        #expect { try bad.validate() } throws: { ($0 as? ConfigError)?.key == "vectorize[0].dimensions" }
        bad = config()
        bad.queueConsumers[0].configuration.maxBatchSize = 1000
        #expect { try bad.validate() } throws: { ($0 as? ConfigError)?.message.contains("max_batch_size") == true }
        bad = config()
        bad.kvNamespaces[0].backend = "nowhere"
        #expect { try EdgeBindings(config: bad) } throws: { ($0 as? ConfigError)?.message.contains("\"nowhere\", which this host does not include") == true }
    }

    @Test("mismatched queues fail at startup: a binding sending elsewhere, a consumed queue without a handler, two handlers")
    func queueMismatches() throws {
        var producerOnly = config()
        producerOnly.queueConsumers = []
        #expect { try WorkerTestClient(Misbound(), config: producerOnly) } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.code == .invalidValue && error.message.contains("sends to queue \"jobs\"") && error.message.contains("queue \"other\"")
        }
        var unhandled = config()
        unhandled.queueConsumers.append(.init(queue: "audit"))
        #expect { try WorkerTestClient(JobCounter(), config: unhandled) } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.code == .missingBinding && error.key == "queues.consumers[1]" && error.message.contains("\"audit\"")
                && error.message.contains("it handles: \"jobs\"")
        }
        #expect { try WorkerTestClient(Doubled(), config: config()) } throws: { ($0 as? ConfigError)?.message.contains("two handlers") == true }
    }
}
