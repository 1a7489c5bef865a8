import EdgeCoordinator
import EdgeCore
import EdgeKV
import EdgeQueue
public import EdgeRuntime
import Foundation
import ServiceLifecycle
import VectorSearch

extension BackendName {
    /// The PostgreSQL database of the config's `postgres` section (EdgePostgres), shared by every
    /// process that names it: KV, queues, durable objects and vectors (pgvector).
    public static let postgres: BackendName = "postgres"
}

/// The `postgres` section: the database every `"backend": "postgres"` binding uses.
///
/// ```jsonc
/// "secrets": ["DATABASE_URL"],
/// "postgres": { "url_secret": "DATABASE_URL", "max_connections": 16, "connect_timeout_seconds": 30 }
/// ```
public struct PostgresSettings: BackendSettings, Hashable {
    public static let section = "postgres"

    /// A `postgres://` URL written in the config (for passwordless local servers).
    public var url: String?
    /// The name of a declared secret holding the URL (from the environment or the secrets file).
    public var urlSecret: String?
    /// Connections this process keeps at most. Default 16.
    public var maxConnections: Int
    /// Separates the queues of applications sharing one database. Default: the config's `name`.
    public var scope: String?
    /// How long a call waits for a connection before it fails with its binding's storage error
    /// (``PostgresPool/connectTimeout``): while the database is down, calls fail after this long.
    /// Default 30 seconds.
    public var connectTimeoutSeconds: Double
    /// How long one operation may run on its connection before the connection is closed and the
    /// call fails (``PostgresPool/queryTimeout``). Default 60 seconds.
    public var queryTimeoutSeconds: Double
    /// How long a process keeps a durable object it stopped renewing the lease of (it died, or
    /// was paused) before another process may take the object over; the owner renews every third
    /// of it. Shorter takes a dead owner's objects over sooner; longer tolerates longer pauses
    /// (a starved or stopped process) without an object changing hands. Default 10 seconds.
    public var objectLeaseSeconds: Double

    /// The limits both timeouts must be within.
    public static let timeoutRange: ClosedRange<Double> = 0.1...3600
    /// The limits of `objectLeaseSeconds`.
    public static let objectLeaseRange: ClosedRange<Double> = 1...3600

    public init(
        url: String? = nil, urlSecret: String? = nil, maxConnections: Int = 16, scope: String? = nil, connectTimeoutSeconds: Double = 30,
        queryTimeoutSeconds: Double = 60, objectLeaseSeconds: Double = 10
    ) {
        self.url = url
        self.urlSecret = urlSecret
        self.maxConnections = maxConnections
        self.scope = scope
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.queryTimeoutSeconds = queryTimeoutSeconds
        self.objectLeaseSeconds = objectLeaseSeconds
    }

    public init(parsing node: ConfigNode) throws {
        if let moved = try node.optionalChild("advertise_url") {
            throw moved.error(
                .unknownKey, expected: "\"dev\": { \"advertise_url\": ... }", found: moved.value,
                detail: "\"postgres.advertise_url\" moved to \"dev.advertise_url\" (it is where this process listens, whatever the store)")
        }
        if let moved = try node.optionalChild("timeout_seconds") {
            throw moved.error(
                .unknownKey, expected: "\"connect_timeout_seconds\" or \"query_timeout_seconds\"", found: moved.value,
                detail:
                    "\"postgres.timeout_seconds\" became two limits: connect_timeout_seconds (waiting for a connection) and query_timeout_seconds (running on it)"
            )
        }
        try node.allowKeys([
            "url", "url_secret", "max_connections", "scope", "connect_timeout_seconds", "query_timeout_seconds", "object_lease_seconds",
        ])
        self.init(
            url: try node.optionalString("url"), urlSecret: try node.optionalString("url_secret"),
            maxConnections: try node.optionalInt("max_connections", range: 1...1000) ?? 16, scope: try node.optionalString("scope"),
            connectTimeoutSeconds: try node.optionalNumber("connect_timeout_seconds") ?? 30,
            queryTimeoutSeconds: try node.optionalNumber("query_timeout_seconds") ?? 60,
            objectLeaseSeconds: try node.optionalNumber("object_lease_seconds") ?? 10)
        for (key, value) in [("connect_timeout_seconds", connectTimeoutSeconds), ("query_timeout_seconds", queryTimeoutSeconds)]
        where !Self.timeoutRange.contains(value) {
            throw try node.child(key).error(.invalidValue, expected: "a number of seconds in 0.1...3600", found: .double(value))
        }
        if !Self.objectLeaseRange.contains(objectLeaseSeconds) {
            throw try node.child("object_lease_seconds").error(.invalidValue, expected: "a number of seconds in 1...3600", found: .double(objectLeaseSeconds))
        }
        if let url, !(url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")) {
            throw try node.child("url").error(.invalidValue, expected: "a postgres:// URL", found: .string(url))
        }
    }

    public func validate(in config: EdgeConfig) throws {
        guard url != nil || urlSecret != nil else {
            throw ConfigError(
                .missingKey, file: config.file, key: "postgres", expected: "\"url_secret\": \"DATABASE_URL\" or \"url\": \"postgres://...\"",
                message: "the \"postgres\" section gives no URL")
        }
        if let urlSecret, !config.secrets.contains(urlSecret) {
            throw ConfigError(
                .missingBinding, file: config.file, key: "postgres.url_secret", expected: "a name listed in \"secrets\"",
                message: "url_secret \"\(urlSecret)\" is not declared in \"secrets\"")
        }
        guard (1...1000).contains(maxConnections) else {
            throw ConfigError(
                .invalidValue, file: config.file, key: "postgres.max_connections", expected: "1...1000",
                message: "max_connections \(maxConnections) is outside 1...1000")
        }
        for (key, value) in [("connect_timeout_seconds", connectTimeoutSeconds), ("query_timeout_seconds", queryTimeoutSeconds)]
        where !Self.timeoutRange.contains(value) {
            throw ConfigError(
                .invalidValue, file: config.file, key: "postgres.\(key)", expected: "0.1...3600", message: "\(key) \(value) is outside 0.1...3600")
        }
        guard Self.objectLeaseRange.contains(objectLeaseSeconds) else {
            throw ConfigError(
                .invalidValue, file: config.file, key: "postgres.object_lease_seconds", expected: "1...3600",
                message: "object_lease_seconds \(objectLeaseSeconds) is outside 1...3600")
        }
    }
}

/// PostgreSQL as a backend: register it with a host to let its config say `"backend": "postgres"`.
///
/// ```swift
/// let providers = BackendProviders.builtIn.adding(PostgresProvider())
/// let config = try EdgeConfig.load("edge.jsonc", providers: providers)
/// let runtime = try WorkerRuntime(worker: MyWorker(), bindings: EdgeBindings(config: config, providers: providers))
/// ```
public struct PostgresProvider: BackendProvider {
    public init() {}

    public var name: BackendName { .postgres }
    public var kinds: Set<BindingKind> { [.kv, .queues, .durableObjects, .vectorize] }
    public var settingsType: (any BackendSettings.Type)? { PostgresSettings.self }

    public func open(_ context: BackendContext) throws -> any Backend {
        guard let settings = context.settings(PostgresSettings.self) else {
            throw context.error(
                .missingKey, key: "postgres", expected: "a \"postgres\" section", "backend \"postgres\" is used but the config has no \"postgres\" section")
        }
        let url: String
        if let written = settings.url {
            url = written
        } else if let secret = settings.urlSecret {
            url = try context.secret(secret)
        } else {
            throw context.error(.missingKey, key: "postgres", expected: "\"url\" or \"url_secret\"", "the \"postgres\" section gives no URL")
        }
        do {
            let pool = try PostgresPool(
                url: url, maxConnections: settings.maxConnections, connectTimeout: .milliseconds(Int64(settings.connectTimeoutSeconds * 1000)),
                queryTimeout: .milliseconds(Int64(settings.queryTimeoutSeconds * 1000)), logger: context.logger)
            return PostgresBackend(
                pool: pool, context: context, scope: settings.scope ?? context.config.name, objectLeaseSeconds: settings.objectLeaseSeconds)
        } catch {
            throw context.error(
                .invalidValue, key: settings.url != nil ? "postgres.url" : "secrets",
                expected: "postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE", "\(error)")
        }
    }
}

/// The bindings of one database: every binding shares the pool, which runs as a service.
struct PostgresBackend: Backend {
    let pool: PostgresPool
    let context: BackendContext
    let scope: String
    let objectLeaseSeconds: Double

    func kv(_ binding: EdgeConfig.KVNamespaceBinding) throws -> any KVNamespace {
        do {
            return try PostgresKV(namespace: binding.binding, pool: pool, configuration: .init(clock: context.clock, logger: context.logger))
        } catch {
            throw context.error(
                .invalidValue, key: "kv_namespaces", expected: "a valid namespace name", "cannot open KV namespace \(binding.binding): \(error)")
        }
    }

    func queues() throws -> any QueueBackend {
        PostgresQueue(pool: pool, configuration: .init(clock: context.clock, scope: scope, logger: context.logger))
    }

    func durableObjects(_ binding: EdgeConfig.DurableObjectBinding) throws -> DurableObjectPersistence {
        let store = PostgresObjectStore(pool: pool, settings: .init(namespace: binding.name, leaseSeconds: objectLeaseSeconds))
        return DurableObjectPersistence(store: store, ownership: store)
    }

    func vectorIndex(_ binding: EdgeConfig.VectorizeBinding) throws -> any VectorIndex {
        do {
            return try PgVectorIndex(
                name: binding.indexName, pool: pool, configuration: binding.indexConfiguration, m: binding.parameters.m,
                efConstruction: binding.parameters.efConstruction, efSearch: binding.parameters.efSearch)
        } catch {
            throw context.error(.invalidValue, key: "vectorize", expected: "a usable vector index", "cannot open index \(binding.indexName): \(error)")
        }
    }

    var services: [any Service] { [pool] }

    func shared<Resource>(_ type: Resource.Type) -> Resource? { pool as? Resource }
}
