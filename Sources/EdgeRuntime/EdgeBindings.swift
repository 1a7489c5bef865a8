import EdgeBlob
import EdgeCoordinator
import EdgeCore
import EdgeKV
import EdgePostgres
import EdgeQueue
import Embeddings
import Foundation
import Logging
import ServiceLifecycle
import VectorSearch
import Synchronization

/// The bindings a config file declares, built into backends: what a worker's `makeEnv` asks for
/// by name.
///
/// Every accessor checks the config: a binding that is not declared, or is declared as another
/// kind, throws a ``ConfigError`` naming the binding, the file and what is declared. Secret values
/// come from the environment or the secrets file and are never logged.
public final class EdgeBindings: Sendable {
    public let config: EdgeConfig
    public let clock: any EdgeClock
    public let logger: Logger
    /// `true` when every binding is in memory (tests).
    public let inMemory: Bool
    /// The one backend every queue of this application lives in.
    public let queueBackend: any QueueBackend
    private let secretValues: [String: String]
    private let opened = Mutex<Opened>(Opened())
    /// The database of `"backend": "postgres"` bindings, when the config has a `postgres` section.
    public let postgres: PostgresPool?
    private let scratch: String?
    /// Whether durable objects live in a store other processes share (calls may be forwarded).
    let forwardsObjectCalls: Bool

    private struct Opened {
        var kv: [String: any KVNamespace] = [:]
        var buckets: [String: any BlobBucket] = [:]
        var namespaces: [String: any Service & ForwardedFetchReceiver] = [:]
        /// Where this process serves forwarded durable-object calls, once it listens.
        var advertised: String?
        var models: [String: any EmbeddingModel] = [:]
        var indexes: [String: any VectorIndex] = [:]
    }

    /// Builds the bindings of `config`.
    ///
    /// - Parameters:
    ///   - inMemory: use in-memory backends for every binding, whatever the config says.
    ///   - environment: where secrets are looked up first (default: the process environment).
    /// - Throws: ``ConfigError`` `.missingSecret` for a declared secret with no value, or when a
    ///   backend cannot be opened.
    public init(config: EdgeConfig, clock: any EdgeClock = SystemClock(), inMemory: Bool = false,
                environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger = Logger(label: "swift-edge.runtime")) throws {
        self.config = config
        self.clock = clock
        self.inMemory = inMemory
        var logger = logger
        logger.logLevel = Logger.Level(rawValue: config.logLevel) ?? .info
        self.logger = logger
        // Secrets: the environment first, then the secrets file.
        let fileSecrets = Self.readSecretsFile(config.secretsFile)
        var values: [String: String] = [:]
        for name in config.secrets {
            guard let value = environment[name] ?? fileSecrets[name] else {
                throw ConfigError(.missingSecret, file: config.file, key: "secrets", expected: "\(name) in the environment or in \(config.secretsFile)",
                                  message: "secret \"\(name)\" has no value")
            }
            values[name] = value
        }
        secretValues = values
        if !inMemory, let settings = config.postgres, let url = settings.url ?? settings.urlSecret.flatMap({ values[$0] }) {
            do {
                postgres = try PostgresPool(url: url, maxConnections: settings.maxConnections, logger: logger)
            } catch {
                throw ConfigError(.invalidValue, file: config.file, key: settings.url != nil ? "postgres.url" : "secrets",
                                  expected: "postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE", message: "\(error)")
            }
        } else {
            postgres = nil
        }
        let memory = inMemory || config.queueBackend == .memory
        do {
            if !memory, config.queueBackend == .postgres, let postgres {
                queueBackend = PostgresQueue(pool: postgres, configuration: .init(clock: clock, scope: config.postgres?.scope ?? config.name, logger: logger))
            } else {
                queueBackend = memory ? MemoryQueue(clock: clock) : try SQLiteQueue(stateDirectory: config.stateDirectory, configuration: .init(clock: clock, logger: logger))
            }
        } catch {
            throw ConfigError(.invalidValue, file: config.file, key: "queues", expected: "a usable state directory", message: "cannot open the queue database: \(error)")
        }
        forwardsObjectCalls = !inMemory && config.durableObjectsBackend == .postgres && postgres != nil && !config.durableObjects.isEmpty
        scratch = inMemory || config.durableObjectsBackend == .memory ? NSTemporaryDirectory() + "swift-edge-memory-\(UUID().uuidString)" : nil
    }

    /// Parses a `.dev.vars`-style file: `NAME=value` lines, `#` comments, optional quotes.
    static func readSecretsFile(_ path: String) -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var values: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
            let name = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            var value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, (value.hasPrefix("\"") && value.hasSuffix("\"")) || (value.hasPrefix("'") && value.hasSuffix("'")) {
                value = String(value.dropFirst().dropLast())
            }
            values[name] = value
        }
        return values
    }

    private func missing(_ binding: String, section: String, declared: [String]) -> ConfigError {
        if let other = kindOf(binding) {
            return ConfigError(.wrongBindingType, file: config.file, key: section, expected: "a \(section) binding named \(binding)",
                               message: "binding \"\(binding)\" is declared in \(other), not in \(section)")
        }
        return ConfigError(.missingBinding, file: config.file, key: section, expected: "a \(section) entry with binding \"\(binding)\"",
                           message: "no \(section) binding \"\(binding)\" (declared: \(declared.isEmpty ? "none" : declared.joined(separator: ", ")))")
    }

    private func kindOf(_ binding: String) -> String? {
        if config.kvNamespaces.contains(where: { $0.binding == binding }) { return "kv_namespaces" }
        if config.r2Buckets.contains(where: { $0.binding == binding }) { return "r2_buckets" }
        if config.queueProducers.contains(where: { $0.binding == binding }) { return "queues.producers" }
        if config.durableObjects.contains(where: { $0.name == binding }) { return "durable_objects.bindings" }
        if config.vectorize.contains(where: { $0.binding == binding }) { return "vectorize" }
        if config.ai?.binding == binding { return "ai" }
        if config.vars[binding] != nil { return "vars" }
        if config.secrets.contains(binding) { return "secrets" }
        return nil
    }

    // MARK: Accessors

    /// The KV namespace bound as `binding`.
    ///
    /// - Throws: ``ConfigError`` `.missingBinding` / `.wrongBindingType`, or when it cannot be opened.
    public func kv(_ binding: String) throws -> any KVNamespace {
        guard let entry = config.kvNamespaces.first(where: { $0.binding == binding }) else {
            throw missing(binding, section: "kv_namespaces", declared: config.kvNamespaces.map(\.binding))
        }
        return try opened.withLock { opened in
            if let existing = opened.kv[binding] { return existing }
            let namespace: any KVNamespace
            if inMemory || entry.backend == .memory {
                namespace = MemoryKV(configuration: .init(clock: clock))
            } else if entry.backend == .postgres, let postgres {
                do {
                    namespace = try PostgresKV(namespace: binding, pool: postgres, configuration: .init(clock: clock, logger: logger))
                } catch {
                    throw ConfigError(.invalidValue, file: config.file, key: "kv_namespaces", expected: "a valid namespace name", message: "cannot open KV namespace \(binding): \(error)")
                }
            } else {
                do {
                    namespace = try SQLiteKV(namespace: binding, stateDirectory: config.stateDirectory, configuration: .init(clock: clock, logger: logger))
                } catch {
                    throw ConfigError(.invalidValue, file: config.file, key: "kv_namespaces", expected: "a usable state directory", message: "cannot open KV namespace \(binding): \(error)")
                }
            }
            opened.kv[binding] = namespace
            return namespace
        }
    }

    /// The blob bucket bound as `binding`.
    ///
    /// - Throws: ``ConfigError`` `.missingBinding` / `.wrongBindingType`, or when it cannot be opened.
    public func bucket(_ binding: String) throws -> any BlobBucket {
        guard let entry = config.r2Buckets.first(where: { $0.binding == binding }) else {
            throw missing(binding, section: "r2_buckets", declared: config.r2Buckets.map(\.binding))
        }
        return try opened.withLock { opened in
            if let existing = opened.buckets[binding] { return existing }
            let bucket: any BlobBucket
            if inMemory || entry.backend == .memory {
                bucket = MemoryBlob(configuration: .init(clock: clock))
            } else {
                do {
                    bucket = try FileBlob(bucket: entry.bucketName, stateDirectory: config.stateDirectory, configuration: .init(clock: clock, logger: logger))
                } catch {
                    throw ConfigError(.invalidValue, file: config.file, key: "r2_buckets", expected: "a usable state directory", message: "cannot open bucket \(binding): \(error)")
                }
            }
            opened.buckets[binding] = bucket
            return bucket
        }
    }

    /// The producer bound as `binding`, sending `Body` messages.
    ///
    /// - Throws: ``ConfigError`` `.missingBinding` / `.wrongBindingType`.
    public func queue<Body: Encodable & Sendable>(_ binding: String, as type: Body.Type = Body.self) throws -> QueueProducer<Body> {
        guard let entry = config.queueProducers.first(where: { $0.binding == binding }) else {
            throw missing(binding, section: "queues.producers", declared: config.queueProducers.map(\.binding))
        }
        return try QueueProducer(queue: entry.queue, backend: queueBackend)
    }

    /// A plain variable from `vars`.
    ///
    /// - Throws: ``ConfigError`` `.missingBinding` / `.wrongBindingType`.
    public func variable(_ name: String) throws -> String {
        guard let value = config.vars[name] else { throw missing(name, section: "vars", declared: config.vars.keys.sorted()) }
        return value
    }

    /// A secret declared in `secrets`, from the environment or the secrets file.
    ///
    /// - Throws: ``ConfigError`` `.missingBinding` / `.wrongBindingType`.
    public func secret(_ name: String) throws -> String {
        guard let value = secretValues[name] else { throw missing(name, section: "secrets", declared: config.secrets) }
        return value
    }

    /// The durable-object namespace bound as `binding`, whose objects are `Object`s receiving `env`.
    /// The config's `class_name` must be `Object`'s type name.
    ///
    /// - Throws: ``ConfigError`` `.missingBinding`, `.wrongBindingType` or `.invalidValue` (class name mismatch).
    public func durableObjects<Object: DurableObject>(_ type: Object.Type, binding: String, env: Object.Env) throws -> DurableObjectNamespace<Object> {
        guard let entry = config.durableObjects.first(where: { $0.name == binding }) else {
            throw missing(binding, section: "durable_objects.bindings", declared: config.durableObjects.map(\.name))
        }
        let className = String(describing: Object.self)
        guard entry.className == className else {
            throw ConfigError(.invalidValue, file: config.file, key: "durable_objects.bindings", expected: "class_name \"\(className)\"",
                              message: "binding \"\(binding)\" names class \"\(entry.className)\", but the worker binds it to \(className)")
        }
        return try opened.withLock { opened in
            if let existing = opened.namespaces[binding] as? DurableObjectNamespace<Object> { return existing }
            let directory = scratch ?? config.stateDirectory
            do {
                let namespace: DurableObjectNamespace<Object>
                if scratch == nil, config.durableObjectsBackend == .postgres, let postgres {
                    namespace = try DurableObjectNamespace<Object>(name: binding, pool: postgres, env: env, configuration: .init(clock: clock, logger: logger))
                } else {
                    namespace = try DurableObjectNamespace<Object>(name: binding, stateDirectory: directory, env: env,
                                                                   configuration: .init(clock: clock, logger: logger))
                }
                opened.namespaces[binding] = namespace
                if let address = opened.advertised { Task { await namespace.advertise(address) } }
                return namespace
            } catch {
                throw ConfigError(.invalidValue, file: config.file, key: "durable_objects", expected: "a usable state directory", message: "cannot open namespace \(binding): \(error)")
            }
        }
    }

    /// The vector index bound as `binding` (`vectorize`): an `HNSWIndex` (or a `FlatIndex` with
    /// `index_type: "flat"`), persistent under `state_dir/vectorize/` unless the backend is memory.
    /// Dimensions default to 384 (all-MiniLM-L6-v2), the metric to cosine.
    ///
    /// - Throws: ``ConfigError`` `.missingBinding` / `.wrongBindingType`; `.invalidValue` when the
    ///   index cannot be opened (another shape on disk, an unwritable directory).
    public func vectorize(_ binding: String) throws -> any VectorIndex {
        guard let entry = config.vectorize.first(where: { $0.binding == binding }) else {
            throw missing(binding, section: "vectorize", declared: config.vectorize.map(\.binding))
        }
        return try opened.withLock { opened in
            if let existing = opened.indexes[binding] { return existing }
            let configuration = VectorIndexConfiguration(dimensions: entry.dimensions ?? 384, metric: VectorMetric(rawValue: entry.metric ?? "cosine") ?? .cosine,
                                                         indexedMetadataFields: entry.indexedMetadataFields)
            let parameters = HNSWParameters(m: entry.m, efConstruction: entry.efConstruction, efSearch: entry.efSearch)
            let index: any VectorIndex
            do {
                switch (inMemory || entry.backend == .memory, entry.indexType) {
                case (false, _) where entry.backend == .postgres && postgres != nil:
                    index = try PgVectorIndex(name: entry.indexName, pool: postgres!, configuration: configuration, m: entry.m,
                                              efConstruction: entry.efConstruction, efSearch: entry.efSearch)
                case (true, "flat"): index = try FlatIndex(configuration: configuration)
                case (true, _): index = try HNSWIndex(configuration: configuration, parameters: parameters)
                case (false, "flat"): index = try FlatIndex(name: entry.indexName, stateDirectory: config.stateDirectory, configuration: configuration)
                case (false, _): index = try HNSWIndex(name: entry.indexName, stateDirectory: config.stateDirectory, configuration: configuration, parameters: parameters)
                }
            } catch {
                throw ConfigError(.invalidValue, file: config.file, key: "vectorize", expected: "a usable vector index", message: "cannot open index \(entry.indexName): \(error)")
            }
            opened.indexes[binding] = index
            return index
        }
    }

    /// The embedding model bound as `binding` (the `ai` section): MiniLM (loaded once), the
    /// hashing embedder, or an OpenAI- / Voyage-compatible HTTP provider; wrapped in a
    /// `CachedEmbeddingModel` over the KV namespace named by `ai.cache`.
    ///
    /// - Throws: ``ConfigError`` `.missingBinding` / `.wrongBindingType`; `.invalidValue` when the
    ///   MiniLM weights cannot be loaded (the message says how to install them).
    public func ai(_ binding: String) throws -> any EmbeddingModel {
        guard let entry = config.ai, entry.binding == binding else {
            throw missing(binding, section: "ai", declared: config.ai.map { [$0.binding] } ?? [])
        }
        if let existing = opened.withLock({ $0.models[binding] }) { return existing }
        var model: any EmbeddingModel
        switch entry.model {
        case "hashing":
            model = HashingEmbedder(dimensions: entry.dimensions ?? 384)
        case "openai", "voyage":
            var settings = HTTPEmbeddingProvider.Configuration(api: entry.model == "voyage" ? .voyage : .openAI, baseURL: URL(string: entry.baseURL!)!,
                                                               model: entry.modelName!, apiKey: try entry.apiKeySecret.map { try secret($0) },
                                                               dimensions: entry.dimensions!)
            settings.inputType = entry.model == "voyage" ? "document" : nil
            model = HTTPEmbeddingProvider(settings, clock: clock, logger: logger)
        default:
            do {
                model = try MiniLM(directory: entry.modelDirectory)
            } catch let error as EmbeddingError {
                throw ConfigError(.invalidValue, file: config.file, key: "ai.model_dir", expected: "the all-MiniLM-L6-v2 weights", message: error.message)
            }
        }
        if let cache = entry.cache {
            model = try CachedEmbeddingModel(model, cache: try kv(cache), ttl: entry.cacheTTL)
        }
        return opened.withLock { opened in
            if let existing = opened.models[binding] { return existing }
            opened.models[binding] = model
            return model
        }
    }

    // MARK: Forwarded durable-object calls

    /// Records that this process serves HTTP on `port`: durable objects it owns can be reached
    /// there by other processes (`postgres.advertise_url`, else `EDGE_ADVERTISE_URL`, else the
    /// listening host and port).
    func advertise(port: Int, environment: [String: String] = ProcessInfo.processInfo.environment) async {
        guard forwardsObjectCalls else { return }
        let host = ["0.0.0.0", "::", ""].contains(config.host) ? "127.0.0.1" : config.host
        let address = config.postgres?.advertiseURL ?? environment["EDGE_ADVERTISE_URL"] ?? "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        let namespaces = opened.withLock { opened in
            opened.advertised = address
            return Array(opened.namespaces.values)
        }
        for namespace in namespaces { await namespace.advertise(address) }
        logger.info("durable-object calls from other processes are accepted at \(address)")
    }

    /// Answers a durable-object `fetch` another process forwarded here
    /// (`/__edge/objects/NAMESPACE/ID`); `nil` for any other request.
    func forwardedObjectRequest(_ request: EdgeRequest) async -> EdgeResponse? {
        guard forwardsObjectCalls, request.pathOnly.hasPrefix(ObjectForwarding.pathPrefix) else { return nil }
        let parts = request.pathOnly.dropFirst(ObjectForwarding.pathPrefix.count).split(separator: "/")
        guard parts.count == 2, let namespace = opened.withLock({ $0.namespaces[String(parts[0])] }) else {
            return EdgeResponse(status: 404, body: Array("no durable-object namespace here for \(request.pathOnly)".utf8))
        }
        return await namespace.receiveForwarded(objectID: String(parts[1]), request)
    }

    /// The services the bindings need running (durable-object alarm schedulers).
    var services: [any Service] { opened.withLock { Array($0.namespaces.values) } }
}
