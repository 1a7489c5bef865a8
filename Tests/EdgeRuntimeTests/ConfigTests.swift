import EdgeKV
import EdgeRuntime
import EdgeRuntimeTesting
import Embeddings
import Foundation
import Testing
import VectorSearch

@Suite("Config")
struct ConfigTests {
    func error(_ text: String) -> ConfigError? {
        do {
            _ = try EdgeConfig.parse(text, file: "app.jsonc")
            return nil
        } catch {
            return error as? ConfigError
        }
    }

    @Test("the test config parses, comments and trailing commas included")
    func parses() throws {
        let config = try EdgeConfig.parse(testConfig, file: "dir/app.jsonc")
        #expect(config.name == "test-worker")
        #expect(config.vars == ["GREETING": "world"])
        #expect(config.kvNamespaces.first?.backend == .sqlite)
        #expect(config.queueConsumers.first?.configuration.maxRetries == 1)
        #expect(config.queueConsumers.first?.configuration.deadLetterQueue == "events-dlq")
        #expect(config.crons.map(\.expression) == ["*/5 * * * *"])
        #expect(config.limits.maxRequestBodyBytes == 64)
        #expect(config.stateDirectory == "dir/.edge/state", "the state directory is relative to the config file")
        #expect(config.port == 8787)
    }

    @Test("limits and durable-object settings are read each on its own, with their ranges")
    func limitsAndObjects() throws {
        let config = try EdgeConfig.parse(
            """
            { "name": "x",
              "limits": { "max_websocket_message_bytes": 4096, "websocket_idle_timeout_ms": 1500 },
              "durable_objects": { "bindings": [], "idle_timeout_ms": 250, "max_websockets_per_object": 10 } }
            """, file: "app.jsonc")
        #expect(config.limits.maxWebSocketMessageBytes == 4096)
        #expect(config.limits.webSocketIdleTimeout == .milliseconds(1500))
        #expect(config.limits.waitUntilTimeout == EdgeConfig.Limits().waitUntilTimeout)
        #expect(config.durableObjectIdleTimeout == 0.25)
        #expect(config.maxWebSocketsPerObject == 10)
        let defaults = try EdgeConfig.parse(#"{ "name": "x" }"#, file: "app.jsonc")
        #expect(defaults.limits.maxWebSocketMessageBytes == 1 << 20 && defaults.limits.webSocketIdleTimeout == .zero)
        #expect(defaults.durableObjectIdleTimeout == 70 && defaults.maxWebSocketsPerObject == 32_768)
        #expect(error(#"{ "name": "x", "limits": { "max_websocket_message_bytes": 0 } }"#)?.key == "limits.max_websocket_message_bytes")
        #expect(error(#"{ "name": "x", "durable_objects": { "max_websockets_per_object": 0 } }"#)?.key == "durable_objects.max_websockets_per_object")
        #expect(error(#"{ "name": "x", "durable_objects": { "idle_timeout_ms": 0 } }"#)?.key == "durable_objects.idle_timeout_ms")
    }

    @Test("s3_api: a port or a path prefix, access keys whose secrets are declared; mistakes name the key")
    func s3API() throws {
        let config = try EdgeConfig.parse(
            """
            { "name": "x", "secrets": ["S3_SECRET"], "r2_buckets": [{ "binding": "MEDIA" }],
              "s3_api": { "path_prefix": "s3/", "region": "auto", "virtual_host_domains": ["s3.local"],
                          "access_keys": [{ "access_key_id": "AKID", "secret_access_key_secret": "S3_SECRET" }] } }
            """, file: "app.jsonc")
        let s3 = try #require(config.s3API)
        #expect(s3.port == nil && s3.pathPrefix == "/s3" && s3.region == "auto" && s3.virtualHostDomains == ["s3.local"])
        #expect(s3.accessKeys == [.init(accessKeyID: "AKID", secretName: "S3_SECRET")])
        #expect(try EdgeConfig.parse(#"{ "name": "x", "s3_api": { "enabled": false } }"#, file: "app.jsonc").s3API == nil)
        let keys = #""access_keys": [{ "access_key_id": "A", "secret_access_key_secret": "S" }]"#
        #expect(error(#"{ "name": "x", "secrets": ["S"], "s3_api": { \#(keys) } }"#)?.key == "s3_api")
        #expect(error(#"{ "name": "x", "s3_api": { "port": 9000 } }"#)?.key == "s3_api.access_keys")
        let undeclared = error(#"{ "name": "x", "s3_api": { "port": 9000, \#(keys) } }"#)
        #expect(undeclared?.key == "s3_api.access_keys[0].secret_access_key_secret" && undeclared?.code == .invalidValue)
        #expect(error(#"{ "name": "x", "secrets": ["S"], "s3_api": { "port": 70000, \#(keys) } }"#)?.key == "s3_api.port")
        #expect(error(#"{ "name": "x", "secrets": ["S"], "s3_api": { "port": 1, "bogus": 1, \#(keys) } }"#) != nil)
    }

    @Test("metrics: on at /__edge/metrics by default; a path of its own, an admin port, or off; mistakes name the key")
    func metrics() throws {
        let defaults = try EdgeConfig.parse(#"{ "name": "x" }"#, file: "app.jsonc").metrics
        #expect(defaults == EdgeConfig.MetricsSettings(enabled: true, path: "/__edge/metrics", port: nil))
        let moved = try EdgeConfig.parse(#"{ "name": "x", "metrics": { "path": "/ops/metrics", "port": 9464 } }"#, file: "app.jsonc").metrics
        #expect(moved == EdgeConfig.MetricsSettings(enabled: true, path: "/ops/metrics", port: 9464))
        #expect(try EdgeConfig.parse(#"{ "name": "x", "metrics": { "enabled": false } }"#, file: "app.jsonc").metrics.enabled == false)
        let relative = error(#"{ "name": "x", "metrics": { "path": "metrics" } }"#)
        #expect(relative?.key == "metrics.path" && relative?.code == .invalidValue)
        #expect(error(#"{ "name": "x", "metrics": { "path": "/m?x=1" } }"#)?.key == "metrics.path")
        #expect(error(#"{ "name": "x", "metrics": { "port": 70000 } }"#)?.key == "metrics.port")
        #expect(error(#"{ "name": "x", "metrics": { "bogus": 1 } }"#) != nil)
    }

    @Test("errors name the file, the key and what was expected")
    func errors() {
        let unknown = error(#"{ "name": "x", "kv_namespace": [] }"#)
        #expect(unknown?.code == .unknownKey)
        #expect(unknown?.key == "kv_namespace")
        #expect(unknown?.message.contains("did you mean \"kv_namespaces\"") == true)
        #expect(unknown?.description.hasPrefix("app.jsonc: kv_namespace:") == true)
        #expect(error(#"{ "vars": {} }"#)?.code == .missingKey)
        let wrongType = error(#"{ "name": "x", "kv_namespaces": [{ "binding": 5 }] }"#)
        #expect(wrongType?.code == .wrongType)
        #expect(wrongType?.key == "kv_namespaces[0].binding")
        let cron = error(#"{ "name": "x", "triggers": { "crons": ["61 * * * *"] } }"#)
        #expect(cron?.code == .invalidValue)
        #expect(cron?.key == "triggers.crons[0]")
        #expect(cron?.message.contains("minute 61") == true)
        #expect(error(#"{ "name": "x", "triggers": { "crons": ["* * *"] } }"#)?.code == .invalidValue)
        let backend = error(#"{ "name": "x", "r2_buckets": [{ "binding": "A", "backend": "postgres" }] }"#)
        #expect(backend?.key == "r2_buckets[0].backend")
        #expect(backend?.message.contains("\"postgres\" is not a backend this host includes; expected \"file\" or \"memory\"") == true)
        let consumer = error(#"{ "name": "x", "queues": { "consumers": [{ "queue": "q", "max_batch_size": 101 }] } }"#)
        #expect(consumer?.code == .invalidValue)
        #expect(consumer?.message.contains("max_batch_size") == true)
        #expect(
            error(#"{ "name": "x", "kv_namespaces": [{ "binding": "A" }], "r2_buckets": [{ "binding": "A" }] }"#)?.message.contains("declared in both") == true)
        #expect(error(#"{ "name": "x", "limits": { "request_timeout_ms": 0 } }"#)?.key == "limits.request_timeout_ms")
        #expect(error("{ not json")?.code == .syntax)
    }

    @Test("a binding the worker needs but the config lacks fails at startup, naming it")
    func missingBinding() {
        let config = #"{ "name": "x", "vars": { "GREETING": "hi" }, "secrets": ["TOKEN"], "queues": { "producers": [{ "binding": "EVENTS", "queue": "e" }] } }"#
        #expect { try makeClient(config: config) } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.code == .missingBinding && error.message.contains("CACHE") && error.file == "test-config.jsonc"
        }
        let mistyped =
            #"{ "name": "x", "vars": { "GREETING": "hi" }, "secrets": ["TOKEN"], "r2_buckets": [{ "binding": "CACHE" }], "queues": { "producers": [{ "binding": "EVENTS", "queue": "e" }] } }"#
        #expect { try makeClient(config: mistyped) } throws: { ($0 as? ConfigError)?.code == .wrongBindingType }
    }

    @Test("a declared secret without a value fails at startup; secrets come from the environment or the secrets file")
    func secrets() throws {
        #expect { try WorkerTestClient(TestWorker(), config: testConfig, secrets: [:]) } throws: { error in
            (error as? ConfigError)?.code == .missingSecret && (error as? ConfigError)?.message.contains("TOKEN") == true
        }
        let directory = NSTemporaryDirectory() + "swift-edge-tests/secrets-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "# local secrets\nTOKEN=\"from-file\"\n".write(toFile: directory + "/.dev.vars", atomically: true, encoding: .utf8)
        let config = try EdgeConfig.parse(testConfig, file: directory + "/app.jsonc")
        let bindings = try EdgeBindings(config: config, inMemory: true, environment: [:])
        #expect(try bindings.secret("TOKEN") == "from-file")
    }

    @Test(
        "cron schedules compute their next firing in UTC",
        arguments: [
            ("*/5 * * * *", "2026-01-01T00:02:30Z", "2026-01-01T00:05:00Z"),
            ("0 3 * * MON", "2026-01-01T00:00:00Z", "2026-01-05T03:00:00Z"),
            ("30 12 1 JAN,JUL *", "2026-02-01T00:00:00Z", "2026-07-01T12:30:00Z"),
            ("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
            ("15-45/15 * * * 0,7", "2026-01-03T23:59:00Z", "2026-01-04T00:15:00Z"),
        ])
    func cron(_ expression: String, _ after: String, _ expected: String) throws {
        let formatter = ISO8601DateFormatter()
        let schedule = try CronSchedule(expression)
        #expect(schedule.nextFire(after: formatter.date(from: after)!) == formatter.date(from: expected)!)
    }

    @Test("the ai binding: hashing with a KV cache works; remote models need their keys and a declared secret")
    func aiBinding() async throws {
        let config = try EdgeConfig.parse(
            #"""
            { "name": "x", "kv_namespaces": [{ "binding": "EMBEDDINGS" }],
              "ai": { "binding": "AI", "model": "hashing", "dimensions": 64, "cache": "EMBEDDINGS" } }
            """#, file: "app.jsonc")
        let bindings = try EdgeBindings(config: config, clock: TestClock(), inMemory: true)
        let model = try bindings.ai("AI")
        #expect(backendObject(of: model, as: CachedEmbeddingModel.self) != nil)
        #expect(try await model.embed(["hello world"])[0].count == 64)
        #expect(try await bindings.kv("EMBEDDINGS").list().keys.count == 1, "the embedding was cached in the KV binding")
        #expect(throws: ConfigError.self) { try bindings.ai("OTHER") }

        let missingURL = error(#"{ "name": "x", "ai": { "binding": "AI", "model": "openai", "model_name": "m", "dimensions": 8 } }"#)
        #expect(missingURL?.code == .missingKey)
        #expect(missingURL?.key == "ai.base_url")
        let undeclaredSecret = error(
            #"""
            { "name": "x", "ai": { "binding": "AI", "model": "voyage", "base_url": "https://api.voyageai.com/v1",
              "model_name": "voyage-code-3", "dimensions": 1024, "api_key_secret": "VOYAGE_KEY" } }
            """#)
        #expect(undeclaredSecret?.key == "ai.api_key_secret")
        #expect(error(#"{ "name": "x", "ai": { "binding": "AI", "cache": "NOPE" } }"#)?.key == "ai.cache")
    }

    @Test("vectorize bindings open flat or HNSW indexes, persistent under the state directory")
    func vectorizeBinding() async throws {
        let directory = NSTemporaryDirectory() + "swift-edge-tests/vectorize-\(UUID().uuidString)"
        let text = #"""
            { "name": "x", "state_dir": "STATE",
              "vectorize": [{ "binding": "CODE", "index_name": "code", "dimensions": 4, "metric": "euclidean", "metadata_indexes": ["path"] },
                            { "binding": "EXACT", "index_name": "exact", "dimensions": 4, "index_type": "flat", "backend": "memory" }] }
            """#.replacingOccurrences(of: "STATE", with: directory)
        let bindings = try EdgeBindings(config: EdgeConfig.parse(text, file: "app.jsonc"))
        let code = try bindings.vectorize("CODE")
        #expect(backendObject(of: code, as: HNSWIndex.self) != nil)
        #expect(backendObject(of: try bindings.vectorize("EXACT"), as: FlatIndex.self) != nil)
        _ = try await code.upsert([VectorRecord(id: "a", values: [1, 2, 3, 4], metadata: ["path": "a.swift", "other": 1])])
        let match = try await code.query([1, 2, 3, 4], options: VectorQueryOptions(topK: 1, returnMetadata: .indexed)).matches.first
        #expect(match?.metadata == ["path": "a.swift"])
        #expect(FileManager.default.fileExists(atPath: directory + "/vectorize/code.sqlite"))
        let reopened = try EdgeBindings(config: EdgeConfig.parse(text, file: "app.jsonc"))
        #expect(try await reopened.vectorize("CODE").describe().vectorCount == 1, "the vector is durable")
        #expect(throws: ConfigError.self) { try bindings.vectorize("NOPE") }
        #expect(error(#"{ "name": "x", "vectorize": [{ "binding": "V", "index_name": "v", "index_type": "ivf" }] }"#)?.key == "vectorize[0].index_type")
    }
}
