import EdgeCore
import EdgeQueue
public import Foundation
import Logging
import VectorSearch

extension EdgeConfig {
    /// Reads, parses and validates a config file.
    ///
    /// - Parameters:
    ///   - path: the file; relative paths in it are resolved against its directory.
    ///   - providers: the backends the host includes: `"backend"` values and top-level sections
    ///     are checked against them.
    /// - Throws: ``ConfigError`` naming the file, the key and what was expected.
    public static func load(_ path: String, providers: BackendProviders = .builtIn) throws -> EdgeConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(
                .unreadable, file: path, key: "(file)", expected: "a readable UTF-8 file", message: "cannot read the config file: \(error.localizedDescription)"
            )
        }
        return try parse(text, file: path, providers: providers)
    }

    /// Parses and validates config text (JSON with comments and trailing commas); `file` names it
    /// in errors and anchors relative paths.
    ///
    /// - Throws: ``ConfigError``.
    public static func parse(_ text: String, file: String = "edge.jsonc", providers: BackendProviders = .builtIn) throws -> EdgeConfig {
        let root = try ConfigNode(value: JSONC.parse(text, file: file), file: file, path: "")
        let directory = (file as NSString).deletingLastPathComponent
        func resolve(_ path: String) -> String {
            path.hasPrefix("/") || directory.isEmpty ? path : (directory as NSString).appendingPathComponent(path)
        }
        let sections = providers.settingsTypes
        let known: Set<String> = [
            "$schema", "name", "main", "state_dir", "vars", "secrets", "secrets_file", "kv_namespaces", "r2_buckets", "queues",
            "durable_objects", "vectorize", "ai", "triggers", "limits", "dev", "compatibility_date", "log_level", "log_format", "s3_api", "metrics",
            "dashboard", "tracing", "routes",
        ]
        try root.allowKeys(
            known.union(sections.keys),
            unknownHint: { key in
                "no backend this host includes reads a \"\(key)\" section (backends: \(providers.names.map(\.rawValue).joined(separator: ", ")))"
            })
        var config = EdgeConfig(
            name: try root.string("name"), file: file, stateDirectory: resolve(try root.optionalString("state_dir") ?? ".edge/state"),
            secretsFile: resolve(try root.optionalString("secrets_file") ?? ".dev.vars"))
        config.main = try root.optionalString("main")
        if let node = try root.optionalChild("log_level") {
            let level = try node.asString()
            guard let parsed = Logger.Level(rawValue: level) else {
                throw node.error(.invalidValue, expected: "trace, debug, info, notice, warning, error or critical", found: node.value)
            }
            config.logLevel = parsed
        }
        if let node = try root.optionalChild("log_format") {
            guard let format = EdgeLogFormat(rawValue: try node.asString()) else {
                throw node.error(.invalidValue, expected: "text or json", found: node.value)
            }
            config.logFormat = format
        }
        if let vars = try root.optionalObject("vars") {
            for (key, node) in try vars.entries() {
                switch node.value {
                case .string(let text): config.vars[key] = text
                case .int(let number): config.vars[key] = String(number)
                case .double(let number): config.vars[key] = String(number)
                case .bool(let flag): config.vars[key] = String(flag)
                default: throw node.error(.wrongType, expected: "a string, number or boolean", found: node.value)
                }
            }
        }
        if let secrets = try root.optionalArray("secrets") {
            config.secrets = try secrets.map { try $0.asString() }
        }
        for entry in try root.optionalArray("routes") ?? [] {
            try entry.allowKeys(["pattern", "worker"])
            let pattern = try entry.string("pattern")
            guard let route = EdgeConfig.Route(pattern: pattern, worker: resolve(try entry.string("worker"))) else {
                throw try entry.child("pattern").error(
                    .invalidValue, expected: "HOST/PATH, such as \"api.example.com/*\" or \"*/tenants/a/*\"", found: .string(pattern))
            }
            config.routes.append(route)
        }
        for entry in try root.optionalArray("kv_namespaces") ?? [] {
            try entry.allowKeys(["binding", "backend", "id"])
            config.kvNamespaces.append(
                .init(binding: try entry.bindingName("binding"), backend: try entry.backend(for: .kv, providers: providers, default: .sqlite)))
        }
        for entry in try root.optionalArray("r2_buckets") ?? [] {
            try entry.allowKeys(["binding", "bucket_name", "backend"])
            config.r2Buckets.append(
                .init(
                    binding: try entry.bindingName("binding"), bucketName: try entry.optionalString("bucket_name"),
                    backend: try entry.backend(for: .bucket, providers: providers, default: .file)))
        }
        if let queues = try root.optionalObject("queues") {
            try queues.allowKeys(["producers", "consumers", "backend"])
            config.queueBackend = try queues.backend(for: .queues, providers: providers, default: .sqlite)
            for entry in try queues.optionalArray("producers") ?? [] {
                try entry.allowKeys(["binding", "queue"])
                config.queueProducers.append(.init(binding: try entry.bindingName("binding"), queue: try entry.bindingName("queue")))
            }
            for entry in try queues.optionalArray("consumers") ?? [] {
                try entry.allowKeys([
                    "queue", "max_batch_size", "max_batch_timeout", "max_retries", "retry_delay", "dead_letter_queue",
                    "max_concurrency", "visibility_timeout", "poll_interval",
                ])
                let queue = try entry.bindingName("queue")
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
            try objects.allowKeys(["bindings", "backend", "idle_timeout_ms", "max_websockets_per_object"])
            config.maxWebSocketsPerObject =
                try objects.optionalInt("max_websockets_per_object", range: 1...1_000_000) ?? config.maxWebSocketsPerObject
            config.durableObjectsBackend = try objects.backend(for: .durableObjects, providers: providers, default: .sqlite)
            if let milliseconds = try objects.optionalInt("idle_timeout_ms", range: 1...86_400_000) {
                config.durableObjectIdleTimeout = Double(milliseconds) / 1000
            }
            for entry in try objects.optionalArray("bindings") ?? [] {
                try entry.allowKeys(["name", "class_name"])
                config.durableObjects.append(.init(name: try entry.bindingName("name"), className: try entry.string("class_name")))
            }
        }
        for entry in try root.optionalArray("vectorize") ?? [] {
            try entry.allowKeys([
                "binding", "index_name", "dimensions", "metric", "backend", "index_type", "m", "ef_construction", "ef_search",
                "metadata_indexes",
            ])
            var binding = VectorizeBinding(
                binding: try entry.bindingName("binding"), indexName: try entry.bindingName("index_name"),
                backend: try entry.backend(for: .vectorize, providers: providers, default: .sqlite))
            binding.dimensions = try entry.optionalInt("dimensions", range: 1...1536) ?? binding.dimensions
            binding.metric = try entry.optionalEnum("metric", VectorMetric.self) ?? binding.metric
            binding.indexType = try entry.optionalEnum("index_type", VectorIndexType.self) ?? binding.indexType
            binding.parameters.m = try entry.optionalInt("m", range: 2...100) ?? binding.parameters.m
            binding.parameters.efConstruction = try entry.optionalInt("ef_construction", range: 1...10_000) ?? binding.parameters.efConstruction
            binding.parameters.efSearch = try entry.optionalInt("ef_search", range: 1...10_000) ?? binding.parameters.efSearch
            binding.indexedMetadataFields = try (entry.optionalArray("metadata_indexes") ?? []).map { try $0.asString() }
            config.vectorize.append(binding)
        }
        if let ai = try root.optionalObject("ai") {
            config.ai = try parseAI(ai, resolve: resolve)
        }
        if let triggers = try root.optionalObject("triggers") {
            try triggers.allowKeys(["crons"])
            for entry in try triggers.optionalArray("crons") ?? [] {
                let expression = try entry.asString()
                do {
                    config.crons.append(try CronSchedule(expression))
                } catch let error as CronSchedule.ParseError {
                    throw entry.error(
                        .invalidValue, expected: "a cron expression of 5 fields (minute hour day-of-month month day-of-week)", found: .string(expression),
                        detail: error.message)
                }
            }
        }
        if let limits = try root.optionalObject("limits") {
            try limits.allowKeys([
                "max_request_body_bytes", "request_timeout_ms", "max_concurrent_requests", "wait_until_timeout_ms", "max_websocket_message_bytes",
                "websocket_idle_timeout_ms", "isolate",
            ])
            config.limits.maxRequestBodyBytes = try limits.optionalInt("max_request_body_bytes", range: 1...Int.max) ?? config.limits.maxRequestBodyBytes
            if let milliseconds = try limits.optionalInt("request_timeout_ms", range: 1...3_600_000) {
                config.limits.requestTimeout = .milliseconds(milliseconds)
            }
            config.limits.maxConcurrentRequests = try limits.optionalInt("max_concurrent_requests", range: 1...1_000_000) ?? config.limits.maxConcurrentRequests
            if let milliseconds = try limits.optionalInt("wait_until_timeout_ms", range: 0...3_600_000) {
                config.limits.waitUntilTimeout = .milliseconds(milliseconds)
            }
            config.limits.maxWebSocketMessageBytes =
                try limits.optionalInt("max_websocket_message_bytes", range: 1...(1 << 30)) ?? config.limits.maxWebSocketMessageBytes
            if let milliseconds = try limits.optionalInt("websocket_idle_timeout_ms", range: 0...86_400_000) {
                config.limits.webSocketIdleTimeout = .milliseconds(milliseconds)
            }
            if let isolate = try limits.optionalObject("isolate") {
                try isolate.allowKeys(["fuel", "memory_mb", "host_calls", "wall_time_ms"])
                config.limits.isolate.fuel = try isolate.optionalInt("fuel", range: 1_000...1_000_000_000_000).map { UInt64($0) }
                config.limits.isolate.memoryBytes = try isolate.optionalInt("memory_mb", range: 1...4_096).map { $0 << 20 }
                config.limits.isolate.hostCalls = try isolate.optionalInt("host_calls", range: 1...10_000_000)
                config.limits.isolate.wallTime = try isolate.optionalInt("wall_time_ms", range: 1...3_600_000).map { .milliseconds($0) }
            }
        }
        if let s3 = try root.optionalObject("s3_api") {
            try s3.allowKeys(["enabled", "port", "path_prefix", "region", "virtual_host_domains", "access_keys", "public_url"])
            if try s3.optionalBool("enabled") ?? true {
                var keys: [EdgeConfig.S3APISettings.AccessKey] = []
                for entry in try s3.optionalArray("access_keys") ?? [] {
                    try entry.allowKeys(["access_key_id", "secret_access_key_secret"])
                    keys.append(.init(accessKeyID: try entry.string("access_key_id"), secretName: try entry.string("secret_access_key_secret")))
                }
                var prefix = try s3.optionalString("path_prefix") ?? ""
                if prefix.hasSuffix("/") { prefix.removeLast() }
                if !prefix.isEmpty, !prefix.hasPrefix("/") { prefix = "/" + prefix }
                config.s3API = EdgeConfig.S3APISettings(
                    port: try s3.optionalInt("port", range: 0...65_535), pathPrefix: prefix, region: try s3.optionalString("region") ?? "us-east-1",
                    virtualHostDomains: try s3.optionalArray("virtual_host_domains")?.map { try $0.asString() } ?? ["localhost"], accessKeys: keys,
                    publicURL: try s3.optionalURL("public_url", schemes: ["http", "https"]))
            }
        }
        if let metrics = try root.optionalObject("metrics") {
            try metrics.allowKeys(["enabled", "path", "port"])
            config.metrics.enabled = try metrics.optionalBool("enabled") ?? true
            if let path = try metrics.optionalString("path") {
                guard path.hasPrefix("/"), path.count > 1, !path.contains("?"), !path.contains("#") else {
                    throw ConfigError(
                        .invalidValue, file: config.file, key: "metrics.path", expected: "an absolute path such as /__edge/metrics",
                        message: "metrics.path is \"\(path)\"; it must start with / and hold no query or fragment")
                }
                config.metrics.path = path
            }
            config.metrics.port = try metrics.optionalInt("port", range: 0...65_535)
        }
        if let dashboard = try root.optionalObject("dashboard") {
            try dashboard.allowKeys(["enabled", "path", "token_secret"])
            config.dashboard.enabled = try dashboard.optionalBool("enabled")
            if let path = try dashboard.optionalString("path") {
                guard path.hasPrefix("/"), path != "/", !path.contains("?"), !path.contains("#"), !path.contains("//") else {
                    throw ConfigError(
                        .invalidValue, file: config.file, key: "dashboard.path", expected: "an absolute path such as /__edge/",
                        message: "dashboard.path is \"\(path)\"; it must start with / and hold no query, fragment or empty segment")
                }
                config.dashboard.path = path.hasSuffix("/") ? path : path + "/"
            }
            config.dashboard.tokenSecret = try dashboard.optionalString("token_secret")
        }
        if let tracing = try root.optionalObject("tracing") {
            try tracing.allowKeys(["enabled", "endpoint", "service_name", "sample_ratio"])
            config.tracing.enabled = try tracing.optionalBool("enabled")
            config.tracing.endpoint = try tracing.optionalURL("endpoint", schemes: ["http", "https"])?.absoluteString
            config.tracing.serviceName = try tracing.optionalString("service_name")
            if let ratio = try tracing.optionalNumber("sample_ratio") {
                guard (0...1).contains(ratio) else {
                    throw ConfigError(
                        .invalidValue, file: config.file, key: "tracing.sample_ratio", expected: "a number in 0...1",
                        message: "tracing.sample_ratio is \(ratio); it must be in 0...1")
                }
                config.tracing.sampleRatio = ratio
            }
        }
        if let dev = try root.optionalObject("dev") {
            try dev.allowKeys(["port", "host", "advertise_url"])
            config.port = try dev.optionalInt("port", range: 0...65_535) ?? config.port
            config.host = try dev.optionalString("host") ?? config.host
            config.advertiseURL = try dev.optionalURL("advertise_url", schemes: ["http", "https"])
        }
        for (section, type) in sections {
            if let node = try root.optionalObject(section) {
                config.backendSettings[section] = try type.init(parsing: node)
            }
        }
        try config.validate(providers: providers)
        return config
    }

    private static func parseAI(_ ai: ConfigNode, resolve: (String) -> String) throws -> AIBinding {
        try ai.allowKeys(["binding", "model", "model_dir", "base_url", "model_name", "api_key_secret", "dimensions", "cache", "cache_ttl"])
        let binding = try ai.bindingName("binding")
        let modelNode = try ai.optionalChild("model")
        let model = try modelNode?.asString() ?? "minilm"
        func required<T>(_ key: String, _ value: T?) throws -> T {
            guard let value else {
                throw ConfigError(
                    .missingKey, file: ai.file, key: "ai.\(key)", expected: "a value", message: "\"ai.\(key)\" is required for model \"\(model)\"")
            }
            return value
        }
        let choice: EmbeddingModelChoice
        switch model {
        case "minilm":
            choice = .minilm(directory: try ai.optionalString("model_dir").map(resolve))
        case "hashing":
            choice = .hashing(dimensions: try ai.optionalInt("dimensions", range: 1...4096) ?? 384)
        case "openai", "voyage":
            let endpoint = EmbeddingEndpoint(
                baseURL: try required("base_url", try ai.optionalURL("base_url", schemes: ["http", "https"])),
                modelName: try required("model_name", try ai.optionalString("model_name")),
                dimensions: try required("dimensions", try ai.optionalInt("dimensions", range: 1...4096)),
                apiKeySecret: try ai.optionalString("api_key_secret"))
            choice = model == "openai" ? .openAI(endpoint) : .voyage(endpoint)
        default:
            throw (modelNode ?? ai).error(.invalidValue, expected: "\"minilm\", \"hashing\", \"openai\" or \"voyage\"", found: .string(model))
        }
        var result = AIBinding(binding: binding, model: choice, cache: try ai.optionalString("cache"))
        if let seconds = try ai.optionalInt("cache_ttl", range: 60...31_536_000) { result.cacheTTL = .seconds(seconds) }
        return result
    }
}

/// A value in a config file and where it is (the file and a JSON path such as
/// `queues.consumers[0].max_batch_size`): what a ``BackendSettings`` parses its section from.
/// Every accessor throws a ``ConfigError`` naming the file, the key and what was expected.
public struct ConfigNode: Sendable {
    public let value: JSONValue
    public let file: String
    /// The JSON path of this value.
    public let path: String

    init(value: JSONValue, file: String, path: String) {
        self.value = value
        self.file = file
        self.path = path
    }

    private func join(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The value at `key` of this object.
    ///
    /// - Throws: ``ConfigError`` `.wrongType` when this is not an object, `.missingKey` when `key` is absent.
    public func child(_ key: String) throws -> ConfigNode {
        guard case .object(let fields) = value else { throw error(.wrongType, expected: "an object", found: value) }
        guard let child = fields[key] else {
            throw ConfigError(.missingKey, file: file, key: join(key), expected: "a value", message: "\"\(join(key))\" is required")
        }
        return ConfigNode(value: child, file: file, path: join(key))
    }

    /// The value at `key`, or nil when it is absent or null.
    ///
    /// - Throws: ``ConfigError`` `.wrongType` when this is not an object.
    public func optionalChild(_ key: String) throws -> ConfigNode? {
        guard case .object(let fields) = value else { throw error(.wrongType, expected: "an object", found: value) }
        guard let child = fields[key], child != .null else { return nil }
        return ConfigNode(value: child, file: file, path: join(key))
    }

    /// An error about this value.
    public func error(_ code: ConfigError.Code, expected: String, found: JSONValue, detail: String? = nil) -> ConfigError {
        let shown = (try? String(decoding: found.serialized(), as: UTF8.self)) ?? "\(found)"
        return ConfigError(
            code, file: file, key: path.isEmpty ? "(root)" : path, expected: expected,
            message: detail ?? "found \(shown.prefix(80)), expected \(expected)")
    }

    /// Rejects keys of this object outside `allowed`, suggesting the nearest allowed one.
    ///
    /// - Throws: ``ConfigError`` `.unknownKey`.
    public func allowKeys(_ allowed: Set<String>, unknownHint: (String) -> String? = { _ in nil }) throws {
        guard case .object(let fields) = value else { throw error(.wrongType, expected: "an object", found: value) }
        for key in fields.keys.sorted() where !allowed.contains(key) {
            let suggestion = allowed.min { editDistance($0, key) < editDistance($1, key) }
            var hint = suggestion.map { editDistance($0, key) <= 3 ? "; did you mean \"\($0)\"?" : "" } ?? ""
            if hint.isEmpty, let extra = unknownHint(key) { hint = "; " + extra }
            throw ConfigError(
                .unknownKey, file: file, key: join(key), expected: "one of \(allowed.sorted().joined(separator: ", "))",
                message: "unknown key \"\(key)\"\(hint)")
        }
    }

    /// The fields of this object, sorted by key.
    ///
    /// - Throws: ``ConfigError`` `.wrongType`.
    public func entries() throws -> [(String, ConfigNode)] {
        guard case .object(let fields) = value else { throw error(.wrongType, expected: "an object", found: value) }
        return fields.sorted { $0.key < $1.key }.map { ($0.key, ConfigNode(value: $0.value, file: file, path: join($0.key))) }
    }

    /// - Throws: ``ConfigError`` `.wrongType`.
    public func asString() throws -> String {
        guard case .string(let text) = value else { throw error(.wrongType, expected: "a string", found: value) }
        return text
    }

    /// - Throws: ``ConfigError`` `.missingKey` / `.wrongType`.
    public func string(_ key: String) throws -> String { try child(key).asString() }

    /// - Throws: ``ConfigError`` `.wrongType`.
    public func optionalString(_ key: String) throws -> String? { try optionalChild(key)?.asString() }

    /// An integer in `range`.
    ///
    /// - Throws: ``ConfigError`` `.wrongType` / `.invalidValue`.
    public func optionalInt(_ key: String, range: ClosedRange<Int> = Int.min...Int.max) throws -> Int? {
        guard let child = try optionalChild(key) else { return nil }
        guard case .int(let number) = child.value else { throw child.error(.wrongType, expected: "an integer", found: child.value) }
        guard range.contains(Int(number)) else {
            throw child.error(.invalidValue, expected: "an integer in \(range.lowerBound)...\(range.upperBound)", found: child.value)
        }
        return Int(number)
    }

    /// - Throws: ``ConfigError`` `.wrongType`.
    public func optionalNumber(_ key: String) throws -> Double? {
        guard let child = try optionalChild(key) else { return nil }
        switch child.value {
        case .int(let number): return Double(number)
        case .double(let number): return number
        default: throw child.error(.wrongType, expected: "a number", found: child.value)
        }
    }

    /// A boolean.
    ///
    /// - Throws: ``ConfigError`` `.wrongType`.
    public func optionalBool(_ key: String) throws -> Bool? {
        guard let child = try optionalChild(key) else { return nil }
        guard case .bool(let flag) = child.value else { throw child.error(.wrongType, expected: "true or false", found: child.value) }
        return flag
    }

    /// A URL with a host and one of `schemes`.
    ///
    /// - Throws: ``ConfigError`` `.wrongType` / `.invalidValue`.
    public func optionalURL(_ key: String, schemes: Set<String>) throws -> URL? {
        guard let child = try optionalChild(key) else { return nil }
        let text = try child.asString()
        let expected = schemes.sorted().map { "a \($0)://" }.joined(separator: " or ") + " URL"
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), schemes.contains(scheme) else {
            throw child.error(.invalidValue, expected: expected, found: child.value)
        }
        return url
    }

    /// One of an enumeration's raw values.
    ///
    /// - Throws: ``ConfigError`` `.wrongType` / `.invalidValue` listing the allowed values.
    public func optionalEnum<Value: RawRepresentable & CaseIterable>(_ key: String, _ type: Value.Type) throws -> Value? where Value.RawValue == String {
        guard let child = try optionalChild(key) else { return nil }
        let text = try child.asString()
        guard let parsed = Value(rawValue: text) else {
            throw child.error(.invalidValue, expected: Value.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "), found: child.value)
        }
        return parsed
    }

    /// - Throws: ``ConfigError`` `.wrongType`.
    public func optionalObject(_ key: String) throws -> ConfigNode? {
        guard let child = try optionalChild(key) else { return nil }
        guard case .object = child.value else { throw child.error(.wrongType, expected: "an object", found: child.value) }
        return child
    }

    /// - Throws: ``ConfigError`` `.wrongType`.
    public func optionalArray(_ key: String) throws -> [ConfigNode]? {
        guard let child = try optionalChild(key) else { return nil }
        guard case .array(let items) = child.value else { throw child.error(.wrongType, expected: "an array", found: child.value) }
        return items.enumerated().map { ConfigNode(value: $1, file: file, path: "\(child.path)[\($0)]") }
    }

    /// A binding, queue or index name: 1...63 letters, digits, '_', '-' or '.'.
    ///
    /// - Throws: ``ConfigError``.
    public func bindingName(_ key: String) throws -> String {
        let node = try child(key)
        let name = try node.asString()
        guard ByteKeys.isSafeResourceName(name, maxLength: 63) else {
            throw node.error(.invalidValue, expected: "1...63 letters, digits, '_', '-' or '.'", found: node.value)
        }
        return name
    }

    /// The `backend` of this entry: a registered backend serving `kind`.
    ///
    /// - Throws: ``ConfigError`` `.invalidValue` naming the backends that serve `kind`.
    func backend(for kind: BindingKind, providers: BackendProviders, default fallback: BackendName) throws -> BackendName {
        guard let node = try optionalChild("backend") else { return fallback }
        let name = BackendName(try node.asString())
        let serving = providers.names(serving: kind)
        guard serving.contains(name) else {
            let expected = serving.map { "\"\($0)\"" }.joined(separator: " or ")
            let why = providers[name] == nil ? "is not a backend this host includes" : "does not serve \(kind)"
            throw node.error(.invalidValue, expected: expected, found: node.value, detail: "backend \"\(name)\" \(why); expected \(expected)")
        }
        return name
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
