import EdgeCore
import EdgeQueue
import Foundation

/// Where a binding keeps its data.
public enum BindingBackend: String, Sendable, Hashable {
    /// In memory: gone when the process exits (tests, experiments).
    case memory
    /// SQLite files under the state directory (the default).
    case sqlite
    /// Files plus SQLite metadata under the state directory (blob buckets).
    case file
    /// The PostgreSQL database of the config's `postgres` section (KV, queues, vectorize), shared
    /// by every process that names it.
    case postgres
}

/// A parsed, validated config file (the spirit of wrangler.jsonc). Docs/config.md lists every key.
public struct EdgeConfig: Sendable {
    public struct KVNamespaceBinding: Sendable, Hashable {
        public var binding: String
        public var backend: BindingBackend
    }

    public struct BucketBinding: Sendable, Hashable {
        public var binding: String
        public var bucketName: String
        public var backend: BindingBackend
    }

    public struct QueueProducerBinding: Sendable, Hashable {
        public var binding: String
        public var queue: String
    }

    public struct QueueConsumerSettings: Sendable, Hashable {
        public var queue: String
        public var configuration: QueueConsumerConfiguration
    }

    public struct DurableObjectBinding: Sendable, Hashable {
        public var name: String
        public var className: String
    }

    public struct VectorizeBinding: Sendable, Hashable {
        public var binding: String
        public var indexName: String
        public var dimensions: Int?
        public var metric: String?
        public var backend: BindingBackend
        /// `hnsw` (default) or `flat`.
        public var indexType = "hnsw"
        public var m = 16
        public var efConstruction = 200
        public var efSearch = 64
        public var indexedMetadataFields: [String] = []
    }

    /// The `postgres` section: the database every `"backend": "postgres"` binding uses.
    public struct PostgresSettings: Sendable, Hashable {
        /// A `postgres://` URL written in the config (for passwordless local servers).
        public var url: String?
        /// The name of a declared secret holding the URL (from the environment or the secrets file).
        public var urlSecret: String?
        /// Connections this process keeps at most. Default 16.
        public var maxConnections = 16
        /// Separates the queues of applications sharing one database. Default: the config's `name`.
        public var scope: String?
        /// Where other processes reach this one's HTTP server to forward durable-object `fetch`
        /// calls (`http://HOST:PORT`). Default: `http://` + the listening host (127.0.0.1 when it
        /// listens on every interface) + the bound port, which only reaches processes on the same
        /// machine. Also `EDGE_ADVERTISE_URL` in the environment.
        public var advertiseURL: String?
    }

    public struct AIBinding: Sendable, Hashable {
        public var binding: String
        /// `minilm`, `hashing`, `openai` or `voyage`.
        public var model: String
        public var modelDirectory: String?
        /// The API root of an `openai` / `voyage` provider.
        public var baseURL: String?
        /// The provider's model name (`text-embedding-3-small`, `voyage-code-3`).
        public var modelName: String?
        /// The secret holding the provider's API key.
        public var apiKeySecret: String?
        public var dimensions: Int?
        /// A KV binding to cache embeddings in (`CachedEmbeddingModel`).
        public var cache: String?
        public var cacheTTL: Int64 = 3600
    }

    /// Runtime limits (`limits`).
    public struct Limits: Sendable, Hashable {
        /// Largest request body; larger requests get 413. Default 100 MiB.
        public var maxRequestBodyBytes: Int = 100 * 1024 * 1024
        /// Longest a fetch handler may run; slower requests get 503. Default 30,000 ms.
        public var requestTimeoutMilliseconds: Int = 30_000
        /// Requests handled at once; more get 503. Default 1000.
        public var maxConcurrentRequests: Int = 1000
        /// Longest the work given to `ctx.waitUntil` may run past its response. Default 30,000 ms.
        public var waitUntilTimeoutMilliseconds: Int = 30_000

        public init() {}
    }

    /// The config file this came from.
    public var file: String
    public var name: String
    /// The worker `edge dev` runs, by name, when the executable registers several.
    public var main: String?
    /// Where durable bindings keep their data. Default `.edge/state` next to the config file.
    public var stateDirectory: String
    public var vars: [String: String] = [:]
    public var secrets: [String] = []
    /// A `.dev.vars`-style file of secrets (`NAME=value` lines). Default `.dev.vars` next to the config.
    public var secretsFile: String
    public var kvNamespaces: [KVNamespaceBinding] = []
    public var r2Buckets: [BucketBinding] = []
    public var queueBackend: BindingBackend = .sqlite
    public var queueProducers: [QueueProducerBinding] = []
    public var queueConsumers: [QueueConsumerSettings] = []
    public var durableObjects: [DurableObjectBinding] = []
    public var durableObjectsBackend: BindingBackend = .sqlite
    public var vectorize: [VectorizeBinding] = []
    public var ai: AIBinding?
    /// Where `"backend": "postgres"` bindings live.
    public var postgres: PostgresSettings?
    public var crons: [CronSchedule] = []
    public var limits = Limits()
    public var port = 8787
    public var host = "127.0.0.1"
    /// The level of the runtime's logs (`trace` … `critical`); request logs are `info`. Default `info`.
    public var logLevel = "info"

    /// Reads and validates a config file.
    ///
    /// - Throws: ``ConfigError`` naming the file, the key and what was expected.
    public static func load(_ path: String) throws -> EdgeConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(.unreadable, file: path, key: "(file)", expected: "a readable UTF-8 file", message: "cannot read the config file: \(error.localizedDescription)")
        }
        return try parse(text, file: path)
    }

    /// Parses and validates config text; `file` names it in errors and anchors relative paths.
    ///
    /// - Throws: ``ConfigError``.
    public static func parse(_ text: String, file: String = "edge.jsonc") throws -> EdgeConfig {
        let root = try ConfigReader(value: JSONC.parse(text, file: file), file: file, path: "")
        let directory = (file as NSString).deletingLastPathComponent
        func resolve(_ path: String) -> String {
            path.hasPrefix("/") || directory.isEmpty ? path : (directory as NSString).appendingPathComponent(path)
        }
        try root.allowKeys(["$schema", "name", "main", "state_dir", "vars", "secrets", "secrets_file", "kv_namespaces", "r2_buckets", "queues",
                            "durable_objects", "vectorize", "ai", "triggers", "limits", "dev", "compatibility_date", "log_level", "postgres"])
        var config = EdgeConfig(file: file, name: try root.string("name"), stateDirectory: resolve(try root.optionalString("state_dir") ?? ".edge/state"),
                                secretsFile: resolve(try root.optionalString("secrets_file") ?? ".dev.vars"))
        config.main = try root.optionalString("main")
        if let level = try root.optionalString("log_level") {
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) else {
                throw try root.child("log_level").error(.invalidValue, expected: "trace, debug, info, notice, warning, error or critical", found: .string(level))
            }
            config.logLevel = level
        }
        if let vars = try root.optionalObject("vars") {
            for (key, reader) in try vars.entries() {
                switch reader.value {
                case .string(let text): config.vars[key] = text
                case .int(let number): config.vars[key] = String(number)
                case .double(let number): config.vars[key] = String(number)
                case .bool(let flag): config.vars[key] = String(flag)
                default: throw reader.error(.wrongType, expected: "a string, number or boolean", found: reader.value)
                }
            }
        }
        if let secrets = try root.optionalArray("secrets") {
            config.secrets = try secrets.map { try $0.asString() }
        }
        for entry in try root.optionalArray("kv_namespaces") ?? [] {
            try entry.allowKeys(["binding", "backend", "id"])
            config.kvNamespaces.append(.init(binding: try entry.bindingName("binding"), backend: try entry.backend(allowed: [.sqlite, .memory, .postgres], default: .sqlite)))
        }
        for entry in try root.optionalArray("r2_buckets") ?? [] {
            try entry.allowKeys(["binding", "bucket_name", "backend"])
            let binding = try entry.bindingName("binding")
            config.r2Buckets.append(.init(binding: binding, bucketName: try entry.optionalString("bucket_name") ?? binding.lowercased(),
                                          backend: try entry.backend(allowed: [.file, .memory], default: .file)))
        }
        if let queues = try root.optionalObject("queues") {
            try queues.allowKeys(["producers", "consumers", "backend"])
            config.queueBackend = try queues.backend(allowed: [.sqlite, .memory, .postgres], default: .sqlite)
            for entry in try queues.optionalArray("producers") ?? [] {
                try entry.allowKeys(["binding", "queue"])
                config.queueProducers.append(.init(binding: try entry.bindingName("binding"), queue: try entry.queueName("queue")))
            }
            for entry in try queues.optionalArray("consumers") ?? [] {
                try entry.allowKeys(["queue", "max_batch_size", "max_batch_timeout", "max_retries", "retry_delay", "dead_letter_queue",
                                     "max_concurrency", "visibility_timeout", "poll_interval"])
                let queue = try entry.queueName("queue")
                var settings = QueueConsumerConfiguration()
                settings.maxBatchSize = try entry.optionalInt("max_batch_size") ?? settings.maxBatchSize
                settings.maxBatchTimeout = try entry.optionalNumber("max_batch_timeout") ?? settings.maxBatchTimeout
                settings.maxRetries = try entry.optionalInt("max_retries") ?? settings.maxRetries
                settings.retryDelay = try entry.optionalNumber("retry_delay") ?? settings.retryDelay
                settings.deadLetterQueue = try entry.optionalString("dead_letter_queue")
                settings.maxConcurrency = try entry.optionalInt("max_concurrency") ?? settings.maxConcurrency
                settings.visibilityTimeout = try entry.optionalNumber("visibility_timeout") ?? settings.visibilityTimeout
                settings.pollInterval = try entry.optionalNumber("poll_interval") ?? settings.pollInterval
                do {
                    try settings.validate(queue: queue)
                } catch let error as QueueError {
                    throw ConfigError(.invalidValue, file: file, key: entry.path, expected: "valid consumer settings", message: error.message)
                }
                config.queueConsumers.append(.init(queue: queue, configuration: settings))
            }
        }
        if let objects = try root.optionalObject("durable_objects") {
            try objects.allowKeys(["bindings", "backend"])
            config.durableObjectsBackend = try objects.backend(allowed: [.sqlite, .memory, .postgres], default: .sqlite)
            for entry in try objects.optionalArray("bindings") ?? [] {
                try entry.allowKeys(["name", "class_name"])
                config.durableObjects.append(.init(name: try entry.bindingName("name"), className: try entry.string("class_name")))
            }
        }
        for entry in try root.optionalArray("vectorize") ?? [] {
            try entry.allowKeys(["binding", "index_name", "dimensions", "metric", "backend", "index_type", "m", "ef_construction", "ef_search",
                                 "metadata_indexes"])
            let metric = try entry.optionalString("metric")
            if let metric, !["cosine", "euclidean", "dot-product"].contains(metric) {
                throw try entry.child("metric").error(.invalidValue, expected: "\"cosine\", \"euclidean\" or \"dot-product\"", found: .string(metric))
            }
            let dimensions = try entry.optionalInt("dimensions")
            if let dimensions, !(1...1536).contains(dimensions) {
                throw try entry.child("dimensions").error(.invalidValue, expected: "1...1536", found: .int(Int64(dimensions)))
            }
            var binding = VectorizeBinding(binding: try entry.bindingName("binding"), indexName: try entry.queueName("index_name"),
                                           dimensions: dimensions, metric: metric, backend: try entry.backend(allowed: [.sqlite, .memory, .postgres], default: .sqlite))
            if let type = try entry.optionalString("index_type") {
                guard ["hnsw", "flat"].contains(type) else {
                    throw try entry.child("index_type").error(.invalidValue, expected: "\"hnsw\" or \"flat\"", found: .string(type))
                }
                binding.indexType = type
            }
            binding.m = try entry.optionalInt("m", range: 2...100) ?? binding.m
            binding.efConstruction = try entry.optionalInt("ef_construction", range: 1...10_000) ?? binding.efConstruction
            binding.efSearch = try entry.optionalInt("ef_search", range: 1...10_000) ?? binding.efSearch
            binding.indexedMetadataFields = try (entry.optionalArray("metadata_indexes") ?? []).map { try $0.asString() }
            config.vectorize.append(binding)
        }
        if let ai = try root.optionalObject("ai") {
            try ai.allowKeys(["binding", "model", "model_dir", "base_url", "model_name", "api_key_secret", "dimensions", "cache", "cache_ttl"])
            let model = try ai.optionalString("model") ?? "minilm"
            guard ["minilm", "hashing", "openai", "voyage"].contains(model) else {
                throw try ai.child("model").error(.invalidValue, expected: "\"minilm\", \"hashing\", \"openai\" or \"voyage\"", found: .string(model))
            }
            var binding = AIBinding(binding: try ai.bindingName("binding"), model: model, modelDirectory: try ai.optionalString("model_dir").map(resolve))
            binding.baseURL = try ai.optionalString("base_url")
            binding.modelName = try ai.optionalString("model_name")
            binding.apiKeySecret = try ai.optionalString("api_key_secret")
            binding.dimensions = try ai.optionalInt("dimensions", range: 1...4096)
            binding.cache = try ai.optionalString("cache")
            binding.cacheTTL = Int64(try ai.optionalInt("cache_ttl", range: 60...31_536_000) ?? 3600)
            if model == "openai" || model == "voyage" {
                for key in ["base_url", "model_name", "dimensions"] where (try? ai.child(key)) == nil {
                    throw ConfigError(.missingKey, file: file, key: "ai.\(key)", expected: "a value", message: "\"ai.\(key)\" is required for model \"\(model)\"")
                }
                if let base = binding.baseURL, URL(string: base)?.scheme?.hasPrefix("http") != true {
                    throw try ai.child("base_url").error(.invalidValue, expected: "an http(s) URL", found: .string(base))
                }
            }
            config.ai = binding
        }
        if let triggers = try root.optionalObject("triggers") {
            try triggers.allowKeys(["crons"])
            for entry in try triggers.optionalArray("crons") ?? [] {
                let expression = try entry.asString()
                do {
                    config.crons.append(try CronSchedule(expression))
                } catch let error as CronSchedule.ParseError {
                    throw entry.error(.invalidValue, expected: "a cron expression of 5 fields (minute hour day-of-month month day-of-week)", found: .string(expression),
                                      detail: error.message)
                }
            }
        }
        if let limits = try root.optionalObject("limits") {
            try limits.allowKeys(["max_request_body_bytes", "request_timeout_ms", "max_concurrent_requests", "wait_until_timeout_ms"])
            config.limits.maxRequestBodyBytes = try limits.optionalInt("max_request_body_bytes", range: 1...Int.max) ?? config.limits.maxRequestBodyBytes
            config.limits.requestTimeoutMilliseconds = try limits.optionalInt("request_timeout_ms", range: 1...3_600_000) ?? config.limits.requestTimeoutMilliseconds
            config.limits.maxConcurrentRequests = try limits.optionalInt("max_concurrent_requests", range: 1...1_000_000) ?? config.limits.maxConcurrentRequests
            config.limits.waitUntilTimeoutMilliseconds = try limits.optionalInt("wait_until_timeout_ms", range: 0...3_600_000) ?? config.limits.waitUntilTimeoutMilliseconds
        }
        if let postgres = try root.optionalObject("postgres") {
            try postgres.allowKeys(["url", "url_secret", "max_connections", "scope", "advertise_url"])
            var settings = PostgresSettings()
            settings.url = try postgres.optionalString("url")
            settings.urlSecret = try postgres.optionalString("url_secret")
            settings.maxConnections = try postgres.optionalInt("max_connections", range: 1...1000) ?? settings.maxConnections
            settings.scope = try postgres.optionalString("scope")
            settings.advertiseURL = try postgres.optionalString("advertise_url")
            if let advertise = settings.advertiseURL, URL(string: advertise)?.host == nil || !(advertise.hasPrefix("http://") || advertise.hasPrefix("https://")) {
                throw try postgres.child("advertise_url").error(.invalidValue, expected: "an http://HOST:PORT URL", found: .string(advertise))
            }
            if let url = settings.url, !(url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")) {
                throw try postgres.child("url").error(.invalidValue, expected: "a postgres:// URL", found: .string(url))
            }
            config.postgres = settings
        }
        if let dev = try root.optionalObject("dev") {
            try dev.allowKeys(["port", "host"])
            config.port = try dev.optionalInt("port", range: 0...65_535) ?? config.port
            config.host = try dev.optionalString("host") ?? config.host
        }
        try config.checkDuplicates()
        let postgresUsers = config.kvNamespaces.filter { $0.backend == .postgres }.map { "kv_namespaces \($0.binding)" }
            + (config.queueBackend == .postgres ? ["queues"] : []) + (config.durableObjectsBackend == .postgres && !config.durableObjects.isEmpty ? ["durable_objects"] : [])
            + config.vectorize.filter { $0.backend == .postgres }.map { "vectorize \($0.binding)" }
        if let user = postgresUsers.first {
            guard let postgres = config.postgres, postgres.url != nil || postgres.urlSecret != nil else {
                throw ConfigError(.missingKey, file: file, key: "postgres", expected: "\"postgres\": { \"url_secret\": \"DATABASE_URL\" } or { \"url\": \"postgres://...\" }",
                                  message: "\(user) uses backend \"postgres\" but no \"postgres\" section gives its URL")
            }
            if let secret = postgres.urlSecret, !config.secrets.contains(secret) {
                throw ConfigError(.missingBinding, file: file, key: "postgres.url_secret", expected: "a name listed in \"secrets\"",
                                  message: "url_secret \"\(secret)\" is not declared in \"secrets\"")
            }
        }
        if let ai = config.ai {
            if let secret = ai.apiKeySecret, !config.secrets.contains(secret) {
                throw ConfigError(.missingBinding, file: file, key: "ai.api_key_secret", expected: "a name listed in \"secrets\"",
                                  message: "api_key_secret \"\(secret)\" is not declared in \"secrets\"")
            }
            if let cache = ai.cache, !config.kvNamespaces.contains(where: { $0.binding == cache }) {
                throw ConfigError(.missingBinding, file: file, key: "ai.cache", expected: "a binding of kv_namespaces",
                                  message: "cache \"\(cache)\" is not a KV namespace declared in \"kv_namespaces\"")
            }
        }
        return config
    }

    private func checkDuplicates() throws {
        var seen: [String: String] = [:]
        let all = kvNamespaces.map { ($0.binding, "kv_namespaces") } + r2Buckets.map { ($0.binding, "r2_buckets") }
            + queueProducers.map { ($0.binding, "queues.producers") } + durableObjects.map { ($0.name, "durable_objects.bindings") }
            + vectorize.map { ($0.binding, "vectorize") } + (ai.map { [($0.binding, "ai")] } ?? []) + vars.keys.map { ($0, "vars") } + secrets.map { ($0, "secrets") }
        for (name, section) in all {
            if let first = seen[name] {
                throw ConfigError(.invalidValue, file: file, key: section, expected: "binding names unique across the file",
                                  message: "binding \"\(name)\" is declared in both \(first) and \(section)")
            }
            seen[name] = section
        }
    }
}

/// Walks a JSON value, producing ``ConfigError``s that name the file and the key path.
struct ConfigReader {
    let value: JSONValue
    let file: String
    let path: String

    func child(_ key: String) throws -> ConfigReader {
        guard case .object(let fields) = value else { throw error(.wrongType, expected: "an object", found: value) }
        guard let child = fields[key] else {
            throw ConfigError(.missingKey, file: file, key: join(key), expected: "a value", message: "\"\(join(key))\" is required")
        }
        return ConfigReader(value: child, file: file, path: join(key))
    }

    private func join(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func optionalChild(_ key: String) throws -> ConfigReader? {
        guard case .object(let fields) = value else { throw error(.wrongType, expected: "an object", found: value) }
        guard let child = fields[key], child != .null else { return nil }
        return ConfigReader(value: child, file: file, path: join(key))
    }

    func error(_ code: ConfigError.Code, expected: String, found: JSONValue, detail: String? = nil) -> ConfigError {
        let shown = (try? String(decoding: found.serialized(), as: UTF8.self)) ?? "\(found)"
        return ConfigError(code, file: file, key: path.isEmpty ? "(root)" : path, expected: expected,
                           message: detail ?? "found \(shown.prefix(80)), expected \(expected)")
    }

    func allowKeys(_ allowed: Set<String>) throws {
        guard case .object(let fields) = value else { throw error(.wrongType, expected: "an object", found: value) }
        for key in fields.keys.sorted() where !allowed.contains(key) {
            let suggestion = allowed.min { editDistance($0, key) < editDistance($1, key) }
            let hint = suggestion.map { editDistance($0, key) <= 3 ? "; did you mean \"\($0)\"?" : "" } ?? ""
            throw ConfigError(.unknownKey, file: file, key: join(key), expected: "one of \(allowed.sorted().joined(separator: ", "))",
                              message: "unknown key \"\(key)\"\(hint)")
        }
    }

    func entries() throws -> [(String, ConfigReader)] {
        guard case .object(let fields) = value else { throw error(.wrongType, expected: "an object", found: value) }
        return fields.keys.sorted().map { ($0, ConfigReader(value: fields[$0]!, file: file, path: join($0))) }
    }

    func asString() throws -> String {
        guard case .string(let text) = value else { throw error(.wrongType, expected: "a string", found: value) }
        return text
    }

    func string(_ key: String) throws -> String { try child(key).asString() }
    func optionalString(_ key: String) throws -> String? { try optionalChild(key)?.asString() }

    func optionalInt(_ key: String, range: ClosedRange<Int> = Int.min...Int.max) throws -> Int? {
        guard let child = try optionalChild(key) else { return nil }
        guard case .int(let number) = child.value else { throw child.error(.wrongType, expected: "an integer", found: child.value) }
        guard range.contains(Int(number)) else { throw child.error(.invalidValue, expected: "an integer in \(range.lowerBound)...\(range.upperBound)", found: child.value) }
        return Int(number)
    }

    func optionalNumber(_ key: String) throws -> Double? {
        guard let child = try optionalChild(key) else { return nil }
        switch child.value {
        case .int(let number): return Double(number)
        case .double(let number): return number
        default: throw child.error(.wrongType, expected: "a number", found: child.value)
        }
    }

    func optionalObject(_ key: String) throws -> ConfigReader? {
        guard let child = try optionalChild(key) else { return nil }
        guard case .object = child.value else { throw child.error(.wrongType, expected: "an object", found: child.value) }
        return child
    }

    func optionalArray(_ key: String) throws -> [ConfigReader]? {
        guard let child = try optionalChild(key) else { return nil }
        guard case .array(let items) = child.value else { throw child.error(.wrongType, expected: "an array", found: child.value) }
        return items.enumerated().map { ConfigReader(value: $1, file: file, path: "\(child.path)[\($0)]") }
    }

    func bindingName(_ key: String) throws -> String {
        let reader = try child(key)
        let name = try reader.asString()
        guard ByteKeys.isSafeResourceName(name, maxLength: 63) else {
            throw reader.error(.invalidValue, expected: "1...63 letters, digits, '_', '-' or '.'", found: reader.value)
        }
        return name
    }

    func queueName(_ key: String) throws -> String { try bindingName(key) }

    func backend(allowed: [BindingBackend], default fallback: BindingBackend) throws -> BindingBackend {
        guard let reader = try optionalChild("backend") else { return fallback }
        let name = try reader.asString()
        guard let backend = BindingBackend(rawValue: name), allowed.contains(backend) else {
            let later = ["postgres", "s3"].contains(name) ? " (\(name) is not available for this binding kind yet)" : ""
            throw reader.error(.invalidValue, expected: allowed.map { "\"\($0.rawValue)\"" }.joined(separator: " or "), found: reader.value,
                               detail: "unknown backend \"\(name)\"\(later); expected \(allowed.map { "\"\($0.rawValue)\"" }.joined(separator: " or "))")
        }
        return backend
    }
}

/// Levenshtein distance, for "did you mean" hints.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
