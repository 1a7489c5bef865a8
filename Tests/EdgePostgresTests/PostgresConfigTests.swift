import EdgeCoordinator
import EdgeKV
import EdgePostgres
import EdgeQueue
import EdgeRuntime
import Foundation
import Testing
import VectorSearch

@Suite("postgres in the config file")
struct PostgresConfigErrorTests {
    @Test("a postgres backend without a postgres section, or with an undeclared secret, fails at startup naming the key")
    func errors() throws {
        #expect {
            _ = try EdgeConfig.parse(#"{ "name": "t", "kv_namespaces": [{ "binding": "CACHE", "backend": "postgres" }] }"#, providers: postgresProviders)
        } throws: { error in
            (error as? ConfigError)?.code == .missingKey && (error as? ConfigError)?.key == "postgres"
        }
        #expect {
            _ = try EdgeConfig.parse(
                #"{ "name": "t", "postgres": { "url_secret": "DATABASE_URL" }, "queues": { "backend": "postgres" } }"#, providers: postgresProviders)
        } throws: { error in
            (error as? ConfigError)?.key == "postgres.url_secret"
        }
        #expect {
            _ = try EdgeConfig.parse(#"{ "name": "t", "postgres": { "url": "mysql://x" } }"#, providers: postgresProviders)
        } throws: { error in
            (error as? ConfigError)?.code == .invalidValue && (error as? ConfigError)?.key == "postgres.url"
        }
        #expect {
            _ = try EdgeConfig.parse(
                #"{ "name": "t", "postgres": { "url": "postgres://a@b/c" }, "r2_buckets": [{ "binding": "B", "backend": "postgres" }] }"#,
                providers: postgresProviders)
        } throws: { error in
            (error as? ConfigError)?.description.contains("does not serve r2_buckets") == true
        }
        for key in ["connect_timeout_seconds", "query_timeout_seconds"] {
            #expect {
                _ = try EdgeConfig.parse(#"{ "name": "t", "postgres": { "url": "postgres://a@b/c", "\#(key)": 0 } }"#, providers: postgresProviders)
            } throws: { error in
                (error as? ConfigError)?.code == .invalidValue && (error as? ConfigError)?.key == "postgres.\(key)"
                    && (error as? ConfigError)?.description.contains("0.1...3600") == true
            }
        }
        for lease in ["0.5", "3601"] {
            #expect {
                _ = try EdgeConfig.parse(
                    #"{ "name": "t", "postgres": { "url": "postgres://a@b/c", "object_lease_seconds": \#(lease) } }"#, providers: postgresProviders)
            } throws: { error in
                (error as? ConfigError)?.code == .invalidValue && (error as? ConfigError)?.key == "postgres.object_lease_seconds"
                    && (error as? ConfigError)?.description.contains("1...3600") == true
            }
        }
        // The single limit of earlier versions is named in the error, with what replaced it.
        #expect {
            _ = try EdgeConfig.parse(#"{ "name": "t", "postgres": { "url": "postgres://a@b/c", "timeout_seconds": 3 } }"#, providers: postgresProviders)
        } throws: { error in
            (error as? ConfigError)?.code == .unknownKey && (error as? ConfigError)?.description.contains("connect_timeout_seconds") == true
        }
        let defaults = try EdgeConfig.parse(#"{ "name": "t", "postgres": { "url": "postgres://a@b/c" } }"#, providers: postgresProviders)
        #expect(defaults[settings: PostgresSettings.self]?.connectTimeoutSeconds == 30)
        #expect(defaults[settings: PostgresSettings.self]?.queryTimeoutSeconds == 60)
        #expect(defaults[settings: PostgresSettings.self]?.objectLeaseSeconds == 10)
        let config = try EdgeConfig.parse(
            #"{ "name": "t", "postgres": { "url": "postgres://a@b/c", "connect_timeout_seconds": 2.5, "query_timeout_seconds": 90, "object_lease_seconds": 45 } }"#,
            providers: postgresProviders)
        #expect(config[settings: PostgresSettings.self]?.objectLeaseSeconds == 45)
        #expect(config[settings: PostgresSettings.self]?.connectTimeoutSeconds == 2.5)
        #expect(config[settings: PostgresSettings.self]?.queryTimeoutSeconds == 90)
    }
}

@Suite("postgres bindings from the config", .enabled(if: postgresAvailable, skipReason))
struct PostgresConfigTests {
    @Test("kv, queues, durable objects and vectorize with backend postgres, the URL from a secret in the environment")
    func bindings() async throws {
        let scope = uniqueName("app")
        let config = try EdgeConfig.parse(
            """
            { "name": "\(scope)", "secrets": ["DATABASE_URL"], "postgres": { "url_secret": "DATABASE_URL", "max_connections": 4, "connect_timeout_seconds": 600, "query_timeout_seconds": 600,
                            "object_lease_seconds": 600 },
              "kv_namespaces": [{ "binding": "CACHE", "backend": "postgres" }],
              "queues": { "backend": "postgres", "producers": [{ "binding": "JOBS", "queue": "jobs" }], "consumers": [{ "queue": "jobs" }] },
              "durable_objects": { "backend": "postgres", "bindings": [{ "name": "COUNTERS", "class_name": "Counter" }] },
              "vectorize": [{ "binding": "VECTORS", "index_name": "\(scope)", "dimensions": 3, "backend": "postgres" }] }
            """, providers: postgresProviders)
        let bindings = try EdgeBindings(config: config, providers: postgresProviders, environment: ["DATABASE_URL": postgresURL!])
        #expect(backendObject(of: bindings.queueBackend, as: PostgresQueue.self) != nil)
        let kv = try bindings.kv("CACHE")
        #expect(backendObject(of: kv, as: PostgresKV.self) != nil)
        try await kv.put("greeting", "hello")
        #expect(try await kv.get("greeting") == "hello")
        let jobs: QueueProducer<String> = try bindings.queue("JOBS")
        try await jobs.send("one")
        #expect(try await bindings.queueBackend.stats("jobs").backlog == 1)
        let vectors = try bindings.vectorize("VECTORS")
        #expect(backendObject(of: vectors, as: PgVectorIndex.self) != nil)
        _ = try await vectors.upsert([VectorRecord(id: "a", values: [1, 0, 0]), VectorRecord(id: "b", values: [0, 1, 0])])
        #expect(try await vectors.query([0.9, 0.1, 0], options: VectorQueryOptions(topK: 1)).matches.first?.id == "a")
        let counters = try bindings.durableObjects(Counter.self, binding: "COUNTERS", env: ())
        let counter = counters.get(counters.idFromName(scope))
        #expect(try await counter.call { try await $0.increment() } == 1)
        // Another process's view (its own pool) sees the committed value once the object is handed over.
        let other = try DurableObjectNamespace<Counter>(
            name: "COUNTERS",
            pool: try PostgresPool(url: postgresURL!, maxConnections: 2, connectTimeout: testOperationTimeout, queryTimeout: testOperationTimeout), env: (),
            leaseSeconds: testLeaseSeconds, handoverTimeout: testLeaseSeconds)
        #expect(try await other.get(other.idFromName(scope)).call { try await $0.increment() } == 2)
    }
}
