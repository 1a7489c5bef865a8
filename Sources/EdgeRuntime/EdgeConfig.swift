import EdgeCoordinator
import EdgeCore
import EdgeQueue
import Embeddings
public import Foundation
public import Logging
public import VectorSearch

/// An application's configuration: its name, where state lives, its bindings, triggers and
/// limits. Build it in Swift with the initializers below, or read a JSONC file in the spirit of
/// wrangler.jsonc with ``load(_:providers:)`` / ``parse(_:file:providers:)`` (Docs/config.md lists
/// every key). Either way ``validate(providers:)`` runs before bindings are built, so a mistake
/// fails at startup with a ``ConfigError`` naming the binding and the file.
///
/// ```swift
/// var config = EdgeConfig(name: "hello")
/// config.kvNamespaces = [.init(binding: "CACHE")]
/// config.queueProducers = [.init(binding: "JOBS", queue: "jobs")]
/// config.queueConsumers = [.init(queue: "jobs", configuration: .init(maxBatchSize: 10))]
/// let bindings = try EdgeBindings(config: config)
/// ```
public struct EdgeConfig: Sendable {
    /// A `kv_namespaces` entry.
    public struct KVNamespaceBinding: Sendable, Hashable {
        public var binding: String
        public var backend: BackendName

        public init(binding: String, backend: BackendName = .sqlite) {
            self.binding = binding
            self.backend = backend
        }
    }

    /// An `r2_buckets` entry.
    /// `metrics`: where the Prometheus endpoint answers (see ``EdgeMetrics``).
    public struct MetricsSettings: Sendable, Hashable {
        /// Whether the endpoint is served (and swift-metrics bootstrapped with swift-edge's
        /// registry when nothing else bootstrapped it). Default true.
        public var enabled: Bool
        /// The path of the endpoint. Default `/__edge/metrics`.
        public var path: String
        /// An admin port of its own (0 picks one); nil: served on the worker's port.
        public var port: Int?

        public init(enabled: Bool = true, path: String = "/__edge/metrics", port: Int? = nil) {
            self.enabled = enabled
            self.path = path
            self.port = port
        }
    }

    /// `tracing`: spans exported over OTLP/HTTP (see ``EdgeTracing``).
    public struct TracingSettings: Sendable, Hashable {
        /// Whether to export; nil (the default): when ``endpoint`` or `OTEL_EXPORTER_OTLP_ENDPOINT`
        /// (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.
        public var enabled: Bool?
        /// The collector's OTLP/HTTP traces URL (`http://127.0.0.1:4318/v1/traces`); nil: from
        /// the `OTEL_*` variables, else `http://localhost:4318/v1/traces`.
        public var endpoint: String?
        /// The `service.name` of the spans; nil: the config's `name`.
        public var serviceName: String?
        /// The share of new traces recorded, 0...1 (parent-based: a traced caller's decision is
        /// kept); nil: every trace.
        public var sampleRatio: Double?

        public init(enabled: Bool? = nil, endpoint: String? = nil, serviceName: String? = nil, sampleRatio: Double? = nil) {
            self.enabled = enabled
            self.endpoint = endpoint
            self.serviceName = serviceName
            self.sampleRatio = sampleRatio
        }
    }

    /// `dashboard`: the local dashboard (Docs/operations.md): the bindings and what they hold, and
    /// a live request log.
    public struct DashboardSettings: Sendable, Hashable {
        /// Whether it is served; nil (the default) serves it when `dev.host` is a loopback
        /// address, so a host listening on a public address does not show its data unasked.
        public var enabled: Bool?
        /// Where it answers. Default `/__edge/` (always ending with `/`).
        public var path: String
        /// The declared secret whose value unlocks the dashboard's actions (redrive a dead-letter
        /// queue, delete a KV key or an object); nil: the dashboard is read-only.
        public var tokenSecret: String?

        public init(enabled: Bool? = nil, path: String = "/__edge/", tokenSecret: String? = nil) {
            self.enabled = enabled
            self.path = path
            self.tokenSecret = tokenSecret
        }

        /// Whether a host listening on `host` serves the dashboard.
        public func isServed(host: String) -> Bool {
            enabled ?? ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased())
        }
    }

    /// `s3_api`: the buckets served to S3 clients (aws-cli, boto3, s3cmd, rclone).
    public struct S3APISettings: Sendable, Hashable {
        /// An access key; its secret comes from the secret named `secretName` (declared in `secrets`).
        public struct AccessKey: Sendable, Hashable {
            public var accessKeyID: String
            public var secretName: String

            public init(accessKeyID: String, secretName: String) {
                self.accessKeyID = accessKeyID
                self.secretName = secretName
            }
        }

        /// A port of its own (0 picks one); nil: served on the worker's port under `pathPrefix`.
        public var port: Int?
        /// The path the API answers under on the worker's port (`/s3`); "" on its own port.
        public var pathPrefix: String
        public var region: String
        /// Hosts `BUCKET.DOMAIN` address buckets virtual-hosted-style.
        public var virtualHostDomains: [String]
        public var accessKeys: [AccessKey]
        /// The API's address as clients outside this machine reach it (`https://files.example.com`),
        /// for presigned URLs; default `http://HOST:PORT` of the server.
        public var publicURL: URL?

        public init(
            port: Int? = nil, pathPrefix: String = "", region: String = "us-east-1", virtualHostDomains: [String] = ["localhost"], accessKeys: [AccessKey],
            publicURL: URL? = nil
        ) {
            self.publicURL = publicURL
            self.port = port
            self.pathPrefix = pathPrefix
            self.region = region
            self.virtualHostDomains = virtualHostDomains
            self.accessKeys = accessKeys
        }
    }

    public struct BucketBinding: Sendable, Hashable {
        public var binding: String
        /// The bucket's name in storage. Default: the binding in lower case.
        public var bucketName: String
        public var backend: BackendName

        public init(binding: String, bucketName: String? = nil, backend: BackendName = .file) {
            self.binding = binding
            self.bucketName = bucketName ?? binding.lowercased()
            self.backend = backend
        }
    }

    /// A `queues.producers` entry: the binding a worker sends with, and the queue it sends to.
    public struct QueueProducerBinding: Sendable, Hashable {
        public var binding: String
        public var queue: String

        public init(binding: String, queue: String) {
            self.binding = binding
            self.queue = queue
        }
    }

    /// A `queues.consumers` entry: a queue this application consumes, and how.
    public struct QueueConsumerSettings: Sendable, Hashable {
        public var queue: String
        public var configuration: QueueConsumerConfiguration

        public init(queue: String, configuration: QueueConsumerConfiguration = QueueConsumerConfiguration()) {
            self.queue = queue
            self.configuration = configuration
        }
    }

    /// A `durable_objects.bindings` entry.
    public struct DurableObjectBinding: Sendable, Hashable {
        public var name: String
        /// The Swift type name of the object class (checked when the worker binds it).
        public var className: String

        public init(name: String, className: String) {
            self.name = name
            self.className = className
        }
    }

    /// The structure of a vector index.
    public enum VectorIndexType: String, Sendable, Hashable, CaseIterable {
        /// Approximate nearest neighbours over an HNSW graph (the default).
        case hnsw
        /// Exact search over every vector.
        case flat
    }

    /// A `vectorize` entry.
    public struct VectorizeBinding: Sendable, Hashable {
        public var binding: String
        public var indexName: String
        /// 1...1536. Default 384 (all-MiniLM-L6-v2).
        public var dimensions: Int
        public var metric: VectorMetric
        public var backend: BackendName
        public var indexType: VectorIndexType
        /// HNSW's `m`, `ef_construction` and `ef_search` (also used by pgvector).
        public var parameters: HNSWParameters
        /// Metadata fields that filters may use (Vectorize's metadata indexes).
        public var indexedMetadataFields: [String]

        public init(
            binding: String, indexName: String, dimensions: Int = 384, metric: VectorMetric = .cosine, backend: BackendName = .sqlite,
            indexType: VectorIndexType = .hnsw, parameters: HNSWParameters = HNSWParameters(), indexedMetadataFields: [String] = []
        ) {
            self.binding = binding
            self.indexName = indexName
            self.dimensions = dimensions
            self.metric = metric
            self.backend = backend
            self.indexType = indexType
            self.parameters = parameters
            self.indexedMetadataFields = indexedMetadataFields
        }

        /// The index's fixed shape.
        public var indexConfiguration: VectorIndexConfiguration {
            VectorIndexConfiguration(dimensions: dimensions, metric: metric, indexedMetadataFields: indexedMetadataFields)
        }
    }

    /// An OpenAI- or Voyage-compatible embeddings endpoint.
    public struct EmbeddingEndpoint: Sendable, Hashable {
        /// The API root, e.g. `https://api.openai.com/v1`.
        public var baseURL: URL
        /// The provider's model (`text-embedding-3-small`, `voyage-code-3`).
        public var modelName: String
        public var dimensions: Int
        /// The declared secret holding the API key.
        public var apiKeySecret: String?

        public init(baseURL: URL, modelName: String, dimensions: Int, apiKeySecret: String? = nil) {
            self.baseURL = baseURL
            self.modelName = modelName
            self.dimensions = dimensions
            self.apiKeySecret = apiKeySecret
        }
    }

    /// Which embedding model the `ai` binding is.
    public enum EmbeddingModelChoice: Sendable, Hashable {
        /// all-MiniLM-L6-v2, locally; the weights from `directory`, else found as
        /// `MiniLM.locateModelDirectory` describes.
        case minilm(directory: String? = nil)
        /// The deterministic hashing embedder (no model needed).
        case hashing(dimensions: Int = 384)
        /// An OpenAI-compatible HTTP API.
        case openAI(EmbeddingEndpoint)
        /// Voyage's HTTP API.
        case voyage(EmbeddingEndpoint)

        /// The name the config file uses (`minilm`, `hashing`, `openai`, `voyage`).
        public var name: String {
            switch self {
            case .minilm: "minilm"
            case .hashing: "hashing"
            case .openAI: "openai"
            case .voyage: "voyage"
            }
        }

        /// The dimensions of the vectors it makes.
        public var dimensions: Int {
            switch self {
            case .minilm: 384
            case .hashing(let dimensions): dimensions
            case .openAI(let endpoint), .voyage(let endpoint): endpoint.dimensions
            }
        }
    }

    /// The `ai` section.
    public struct AIBinding: Sendable, Hashable {
        public var binding: String
        public var model: EmbeddingModelChoice
        /// A KV binding to cache embeddings in (`CachedEmbeddingModel`).
        public var cache: String?
        /// How long a cached embedding lives: 60 s ... 365 days. Default one hour.
        public var cacheTTL: Duration

        public init(binding: String, model: EmbeddingModelChoice = .minilm(), cache: String? = nil, cacheTTL: Duration = .seconds(3600)) {
            self.binding = binding
            self.model = model
            self.cache = cache
            self.cacheTTL = cacheTTL
        }
    }

    /// Runtime limits (`limits`).
    public struct Limits: Sendable, Hashable {
        /// Largest request body; larger requests get 413. Default 100 MiB.
        public var maxRequestBodyBytes: Int
        /// Longest a fetch handler may run; slower requests get 503. Default 30 s.
        public var requestTimeout: Duration
        /// Requests handled at once; more get 503. Default 1000.
        public var maxConcurrentRequests: Int
        /// Longest the work given to `ctx.waitUntil` may run past its response. Default 30 s.
        public var waitUntilTimeout: Duration
        /// Largest WebSocket message (after reassembling its frames); a larger one closes the
        /// socket with 1009. Default 1 MiB, as Workers.
        public var maxWebSocketMessageBytes: Int
        /// A WebSocket with no message for this long is closed with 1008. Default `.zero`: never
        /// (hibernating durable-object sockets may idle indefinitely, as on Cloudflare).
        public var webSocketIdleTimeout: Duration
        /// Limits of each invocation of a WebAssembly worker (`limits.isolate`; EdgeIsolates'
        /// `IsolateLimits` reads them). Those not set keep the isolate runtime's defaults.
        public var isolate = Isolate()

        /// `limits.isolate`: what one invocation of a WebAssembly worker may use; nil keeps the
        /// isolate runtime's default.
        public struct Isolate: Sendable, Hashable {
            /// `fuel`: CPU, about one unit per WebAssembly operator (1,000...10^12).
            public var fuel: UInt64?
            /// `memory_mb`: linear memory, in MiB (1...4,096).
            public var memoryBytes: Int?
            /// `host_calls`: host calls per invocation (1...10^7).
            public var hostCalls: Int?
            /// `wall_time_ms`: wall time per invocation (1...3,600,000 ms).
            public var wallTime: Duration?

            public init(fuel: UInt64? = nil, memoryBytes: Int? = nil, hostCalls: Int? = nil, wallTime: Duration? = nil) {
                self.fuel = fuel
                self.memoryBytes = memoryBytes
                self.hostCalls = hostCalls
                self.wallTime = wallTime
            }
        }

        public init(
            maxRequestBodyBytes: Int = 100 * 1024 * 1024, requestTimeout: Duration = .seconds(30), maxConcurrentRequests: Int = 1000,
            waitUntilTimeout: Duration = .seconds(30), maxWebSocketMessageBytes: Int = 1 << 20, webSocketIdleTimeout: Duration = .zero
        ) {
            self.maxRequestBodyBytes = maxRequestBodyBytes
            self.requestTimeout = requestTimeout
            self.maxConcurrentRequests = maxConcurrentRequests
            self.waitUntilTimeout = waitUntilTimeout
            self.maxWebSocketMessageBytes = maxWebSocketMessageBytes
            self.webSocketIdleTimeout = webSocketIdleTimeout
        }
    }

    /// Where a config came from: the file path, or a description for one built in code. Errors
    /// name it, and relative paths in a file are resolved against its directory.
    public var file: String
    public var name: String
    /// The worker `edge dev` runs, by name, when the executable registers several.
    public var main: String?
    /// Where durable bindings keep their data. Default `.edge/state` (next to the config file).
    public var stateDirectory: String
    public var vars: [String: String]
    /// Names of secrets; values come from the environment, else from ``secretsFile``. Never logged.
    public var secrets: [String]
    /// A `.dev.vars`-style file of secrets (`NAME=value` lines). Default `.dev.vars` (next to the config).
    public var secretsFile: String
    public var kvNamespaces: [KVNamespaceBinding]
    public var r2Buckets: [BucketBinding]
    /// The backend every queue of the application lives in. Default `sqlite`.
    public var queueBackend: BackendName
    public var queueProducers: [QueueProducerBinding]
    public var queueConsumers: [QueueConsumerSettings]
    public var durableObjects: [DurableObjectBinding]
    /// The backend every durable-object namespace lives in. Default `sqlite`.
    public var durableObjectsBackend: BackendName
    /// Seconds after its last call before an object's instance is dropped from memory
    /// (`durable_objects.idle_timeout_ms`, default 70 s); an object holding WebSockets
    /// hibernates instead, its sockets staying open. Its storage always stays.
    public var durableObjectIdleTimeout: Double
    /// Most WebSockets one object holds open (`durable_objects.max_websockets_per_object`,
    /// default 32,768, Cloudflare's); accepting one more throws `WebSocketError.tooManySockets`,
    /// which the runtime answers with 503.
    public var maxWebSocketsPerObject: Int
    public var vectorize: [VectorizeBinding]
    public var ai: AIBinding?
    /// Backends' own sections (`postgres`, ...), by section name; see ``BackendSettings``.
    public var backendSettings: [String: any BackendSettings]
    public var crons: [CronSchedule]
    public var limits: Limits
    /// The port `edge dev` listens on (0 picks a free one). Default 8787.
    public var port: Int
    public var host: String
    /// Where other processes reach this one for forwarded durable-object calls
    /// (`http://HOST:PORT`), when the listening address does not (`dev.advertise_url`).
    public var advertiseURL: URL?
    /// The S3-compatible API over the buckets (`s3_api`), when enabled.
    public var s3API: S3APISettings?
    /// The Prometheus endpoint (`metrics`). Default: on, at `/__edge/metrics` on the worker's port.
    public var metrics: MetricsSettings
    /// The local dashboard (`dashboard`). Default: at `/__edge/` when listening on loopback, read-only.
    public var dashboard: DashboardSettings
    /// Traces (`tracing`). Default: exported when an OTLP endpoint is configured.
    public var tracing: TracingSettings
    /// Other workers this host serves, each under its own config (`routes`); the first whose
    /// pattern matches a request serves it. Empty: the host serves ``main``.
    public var routes: [Route]
    /// The level of the runtime's logs; request logs are `info`. Default `info`.
    public var logLevel: Logger.Level
    /// How hosts built from this config write logs (`log_format`): text or JSON lines. Default text.
    public var logFormat: EdgeLogFormat

    /// A config with no bindings; set the properties it needs.
    ///
    /// - Parameters:
    ///   - name: the application's name (it also scopes what it shares with others in a database).
    ///   - file: what errors call the config (a path, or a description of the code that built it).
    ///   - stateDirectory: where durable bindings keep their data.
    ///   - secretsFile: a `.dev.vars`-style file of secret values.
    public init(name: String, file: String = "(config built in code)", stateDirectory: String = ".edge/state", secretsFile: String = ".dev.vars") {
        self.file = file
        self.name = name
        main = nil
        self.stateDirectory = stateDirectory
        vars = [:]
        secrets = []
        self.secretsFile = secretsFile
        kvNamespaces = []
        r2Buckets = []
        queueBackend = .sqlite
        queueProducers = []
        queueConsumers = []
        durableObjects = []
        durableObjectsBackend = .sqlite
        durableObjectIdleTimeout = 70
        maxWebSocketsPerObject = CoordinatorLimits.cloudflare.maxWebSocketsPerObject
        vectorize = []
        ai = nil
        backendSettings = [:]
        crons = []
        limits = Limits()
        port = 8787
        host = "127.0.0.1"
        advertiseURL = nil
        metrics = MetricsSettings()
        dashboard = DashboardSettings()
        tracing = TracingSettings()
        routes = []
        logLevel = .info
        logFormat = .text
    }

    /// A `routes` entry: requests matching `pattern` go to the worker of the config file `worker`.
    ///
    /// A pattern is `HOST/PATH`, as Cloudflare's routes are written: `HOST` is a host name, `*`
    /// (any host) or `*.example.com` (its subdomains); `PATH` is a path, matched as a prefix when
    /// it ends with `*` (`api.example.com/*`, `*/tenants/a/*`). The port of the request's host is
    /// ignored; the path is passed to the worker unchanged.
    public struct Route: Sendable, Hashable {
        public var pattern: String
        /// The worker's config file (resolved against the routing config's directory).
        public var worker: String
        let host: Substring
        let path: Substring

        /// - Returns: nil when `pattern` has no `/` (no path part) or an empty host.
        public init?(pattern: String, worker: String) {
            guard let slash = pattern.firstIndex(of: "/"), slash != pattern.startIndex else { return nil }
            self.pattern = pattern
            self.worker = worker
            host = pattern[..<slash]
            path = pattern[slash...]
        }

        /// Whether a request to `host` (with or without a port) and `path` matches.
        public func matches(host requestHost: String?, path requestPath: String) -> Bool {
            let name = (requestHost ?? "").split(separator: ":", maxSplits: 1).first.map { $0.lowercased() } ?? ""
            let hostMatches: Bool
            if host == "*" {
                hostMatches = true
            } else if host.hasPrefix("*.") {
                hostMatches = name.hasSuffix(host.dropFirst(1).lowercased())
            } else {
                hostMatches = name == host.lowercased()
            }
            guard hostMatches else { return false }
            return path.hasSuffix("*") ? requestPath.hasPrefix(path.dropLast()) : requestPath == path
        }
    }

    /// A backend's own section.
    public subscript<Settings: BackendSettings>(settings type: Settings.Type) -> Settings? {
        get { backendSettings[Settings.section] as? Settings }
        set { backendSettings[Settings.section] = newValue }
    }

    /// Every backend the config assigns to a binding kind, with what uses it.
    public var backendsInUse: [(backend: BackendName, kind: BindingKind, user: String)] {
        var used = kvNamespaces.map { ($0.backend, BindingKind.kv, "kv_namespaces \($0.binding)") }
        used += r2Buckets.map { ($0.backend, BindingKind.bucket, "r2_buckets \($0.binding)") }
        if !queueProducers.isEmpty || !queueConsumers.isEmpty { used.append((queueBackend, .queues, "queues")) }
        if !durableObjects.isEmpty { used.append((durableObjectsBackend, .durableObjects, "durable_objects")) }
        used += vectorize.map { ($0.backend, BindingKind.vectorize, "vectorize \($0.binding)") }
        return used
    }

    // MARK: Validation

    /// Checks what a file parser checks, for a config however it was made: names, ranges,
    /// references between sections, and that every backend it uses is registered in
    /// `providers` and serves the kind it is used for.
    ///
    /// - Throws: ``ConfigError`` naming the file, the key and what was expected.
    public func validate(providers: BackendProviders = .builtIn) throws {
        func fail(_ code: ConfigError.Code, _ key: String, _ expected: String, _ message: String) -> ConfigError {
            ConfigError(code, file: file, key: key, expected: expected, message: message)
        }
        let nameRule = "1...63 letters, digits, '_', '-' or '.'"
        func checkName(_ name: String, _ key: String) throws {
            guard ByteKeys.isSafeResourceName(name, maxLength: 63) else {
                throw fail(.invalidValue, key, nameRule, "\"\(name)\" is not a valid name: expected \(nameRule)")
            }
        }
        guard !name.isEmpty else { throw fail(.missingKey, "name", "a name", "\"name\" must not be empty") }
        for (index, entry) in kvNamespaces.enumerated() { try checkName(entry.binding, "kv_namespaces[\(index)].binding") }
        if let s3 = s3API {
            guard s3.port != nil || !s3.pathPrefix.isEmpty else {
                throw fail(.missingKey, "s3_api", "port or path_prefix", "s3_api needs a port of its own or a path_prefix on the worker's port")
            }
            guard !s3.accessKeys.isEmpty else {
                throw fail(.missingKey, "s3_api.access_keys", "at least one access key", "s3_api needs at least one access key: every request is authenticated")
            }
            for (index, key) in s3.accessKeys.enumerated() where !secrets.contains(key.secretName) {
                throw fail(
                    .invalidValue, "s3_api.access_keys[\(index)].secret_access_key_secret", "a secret declared in \"secrets\"",
                    "secret \"\(key.secretName)\" is not declared in \"secrets\" (declared: \(secrets.joined(separator: ", ")))")
            }
        }
        if let secret = dashboard.tokenSecret, !secrets.contains(secret) {
            throw fail(
                .invalidValue, "dashboard.token_secret", "a secret declared in \"secrets\"",
                "secret \"\(secret)\" is not declared in \"secrets\" (declared: \(secrets.joined(separator: ", ")))")
        }
        for (index, entry) in r2Buckets.enumerated() {
            try checkName(entry.binding, "r2_buckets[\(index)].binding")
            try checkName(entry.bucketName, "r2_buckets[\(index)].bucket_name")
        }
        for (index, entry) in queueProducers.enumerated() {
            try checkName(entry.binding, "queues.producers[\(index)].binding")
            try checkName(entry.queue, "queues.producers[\(index)].queue")
        }
        for (index, entry) in queueConsumers.enumerated() {
            try checkName(entry.queue, "queues.consumers[\(index)].queue")
            do {
                try entry.configuration.validate(queue: entry.queue)
            } catch let error as QueueError {
                throw fail(.invalidValue, "queues.consumers[\(index)]", "valid consumer settings", error.message)
            }
        }
        for (index, entry) in durableObjects.enumerated() { try checkName(entry.name, "durable_objects.bindings[\(index)].name") }
        guard durableObjectIdleTimeout > 0 else {
            throw fail(.invalidValue, "durable_objects.idle_timeout_ms", "1...86400000", "the idle timeout must be positive")
        }
        guard maxWebSocketsPerObject >= 1 else {
            throw fail(.invalidValue, "durable_objects.max_websockets_per_object", "at least 1", "max_websockets_per_object must be at least 1")
        }
        for (index, entry) in vectorize.enumerated() {
            try checkName(entry.binding, "vectorize[\(index)].binding")
            try checkName(entry.indexName, "vectorize[\(index)].index_name")
            guard (1...1536).contains(entry.dimensions) else {
                throw fail(.invalidValue, "vectorize[\(index)].dimensions", "1...1536", "dimensions \(entry.dimensions) is outside 1...1536")
            }
            for (key, value, range) in [
                ("m", entry.parameters.m, 2...100), ("ef_construction", entry.parameters.efConstruction, 1...10_000),
                ("ef_search", entry.parameters.efSearch, 1...10_000),
            ] where !range.contains(value) {
                throw fail(
                    .invalidValue, "vectorize[\(index)].\(key)", "an integer in \(range.lowerBound)...\(range.upperBound)",
                    "\(key) \(value) is outside \(range.lowerBound)...\(range.upperBound)")
            }
        }
        if let ai {
            try checkName(ai.binding, "ai.binding")
            switch ai.model {
            case .hashing(let dimensions) where !(1...4096).contains(dimensions):
                throw fail(.invalidValue, "ai.dimensions", "1...4096", "dimensions \(dimensions) is outside 1...4096")
            case .openAI(let endpoint), .voyage(let endpoint):
                guard ["http", "https"].contains(endpoint.baseURL.scheme?.lowercased() ?? "") else {
                    throw fail(.invalidValue, "ai.base_url", "an http(s) URL", "base_url \(endpoint.baseURL) is not an http(s) URL")
                }
                guard (1...4096).contains(endpoint.dimensions) else {
                    throw fail(.invalidValue, "ai.dimensions", "1...4096", "dimensions \(endpoint.dimensions) is outside 1...4096")
                }
                if let secret = endpoint.apiKeySecret, !secrets.contains(secret) {
                    throw fail(
                        .missingBinding, "ai.api_key_secret", "a name listed in \"secrets\"", "api_key_secret \"\(secret)\" is not declared in \"secrets\"")
                }
            default:
                break
            }
            guard ai.cacheTTL >= .seconds(60), ai.cacheTTL <= .seconds(31_536_000) else {
                throw fail(.invalidValue, "ai.cache_ttl", "60...31536000 seconds", "cache_ttl \(ai.cacheTTL) is outside 60 s ... 365 days")
            }
            if let cache = ai.cache, !kvNamespaces.contains(where: { $0.binding == cache }) {
                throw fail(.missingBinding, "ai.cache", "a binding of kv_namespaces", "cache \"\(cache)\" is not a KV namespace declared in \"kv_namespaces\"")
            }
        }
        guard limits.maxRequestBodyBytes >= 1 else {
            throw fail(.invalidValue, "limits.max_request_body_bytes", "at least 1", "max_request_body_bytes must be at least 1")
        }
        guard limits.maxConcurrentRequests >= 1 else {
            throw fail(.invalidValue, "limits.max_concurrent_requests", "at least 1", "max_concurrent_requests must be at least 1")
        }
        guard limits.requestTimeout > .zero else {
            throw fail(.invalidValue, "limits.request_timeout_ms", "a positive duration", "request_timeout must be positive")
        }
        guard limits.maxWebSocketMessageBytes >= 1 else {
            throw fail(.invalidValue, "limits.max_websocket_message_bytes", "at least 1", "max_websocket_message_bytes must be at least 1")
        }
        guard limits.webSocketIdleTimeout >= .zero else {
            throw fail(.invalidValue, "limits.websocket_idle_timeout_ms", "zero or more", "websocket_idle_timeout must not be negative")
        }
        guard limits.waitUntilTimeout >= .zero else {
            throw fail(.invalidValue, "limits.wait_until_timeout_ms", "zero or more", "wait_until_timeout must not be negative")
        }
        guard (0...65_535).contains(port) else { throw fail(.invalidValue, "dev.port", "0...65535", "port \(port) is outside 0...65535") }
        if let advertiseURL, !["http", "https"].contains(advertiseURL.scheme?.lowercased() ?? "") || advertiseURL.host == nil {
            throw fail(.invalidValue, "dev.advertise_url", "an http://HOST:PORT URL", "advertise_url \(advertiseURL) is not an http://HOST:PORT URL")
        }
        try checkDuplicates()
        for (backend, kind, user) in backendsInUse {
            guard let provider = providers[backend] else {
                let registered = providers.names(serving: kind).map { "\"\($0)\"" }.joined(separator: " or ")
                throw fail(
                    .invalidValue, kind.rawValue, registered,
                    "\(user) uses backend \"\(backend)\", which this host does not include (backends for \(kind): \(registered))")
            }
            guard provider.kinds.contains(kind) else {
                let serving = providers.names(serving: kind).map { "\"\($0)\"" }.joined(separator: " or ")
                throw fail(
                    .invalidValue, kind.rawValue, serving,
                    "\(user) uses backend \"\(backend)\", which does not serve \(kind) (backends for \(kind): \(serving))")
            }
            if let settings = provider.settingsType, backendSettings[settings.section] == nil {
                throw fail(
                    .missingKey, settings.section, "a \"\(settings.section)\" section",
                    "\(user) uses backend \"\(backend)\" but the config has no \"\(settings.section)\" section")
            }
        }
        for settings in backendSettings.values { try settings.validate(in: self) }
    }

    private func checkDuplicates() throws {
        var seen: [String: String] = [:]
        let all =
            kvNamespaces.map { ($0.binding, "kv_namespaces") } + r2Buckets.map { ($0.binding, "r2_buckets") }
            + queueProducers.map { ($0.binding, "queues.producers") } + durableObjects.map { ($0.name, "durable_objects.bindings") }
            + vectorize.map { ($0.binding, "vectorize") } + (ai.map { [($0.binding, "ai")] } ?? []) + vars.keys.sorted().map { ($0, "vars") }
            + secrets.map { ($0, "secrets") }
        for (name, section) in all {
            if let first = seen[name] {
                throw ConfigError(
                    .invalidValue, file: file, key: section, expected: "binding names unique across the file",
                    message: "binding \"\(name)\" is declared in both \(first) and \(section)")
            }
            seen[name] = section
        }
    }

    /// The section a binding name is declared in, if any.
    func section(declaring binding: String) -> String? {
        if kvNamespaces.contains(where: { $0.binding == binding }) { return "kv_namespaces" }
        if r2Buckets.contains(where: { $0.binding == binding }) { return "r2_buckets" }
        if queueProducers.contains(where: { $0.binding == binding }) { return "queues.producers" }
        if durableObjects.contains(where: { $0.name == binding }) { return "durable_objects.bindings" }
        if vectorize.contains(where: { $0.binding == binding }) { return "vectorize" }
        if ai?.binding == binding { return "ai" }
        if vars[binding] != nil { return "vars" }
        if secrets.contains(binding) { return "secrets" }
        return nil
    }
}
