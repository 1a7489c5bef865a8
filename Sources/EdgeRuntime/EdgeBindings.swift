public import EdgeBlob
public import EdgeCoordinator
import EdgeCore
public import EdgeKV
import EdgeQueue
public import EdgeS3
public import Embeddings
public import Foundation
public import HTTPTypes
public import Logging
import ServiceLifecycle
import Synchronization
import Tracing
public import VectorSearch

/// The bindings a config declares, built by the backends it names: what a worker's `makeEnv`
/// asks for by name. The composition root of an application.
///
/// Each backend the config uses is opened once, at init, by its provider (``BackendProviders``);
/// every accessor checks the config: a binding that is not declared, or is declared as another
/// kind, throws a ``ConfigError`` naming the binding, the file and what is declared. Secret
/// values come from the environment or the secrets file and are never logged.
public final class EdgeBindings: Sendable {
    public let config: EdgeConfig
    public let clock: any EdgeClock
    public let logger: Logger
    /// `true` when every binding is in memory (tests).
    public let inMemory: Bool
    /// The one backend every queue of this application lives in (an empty in-memory one when
    /// the config declares no queues).
    public let queueBackend: any QueueBackend
    private let secretValues: [String: String]
    private let backends: [BackendName: any Backend]
    private let opened = Mutex<Opened>(Opened())
    private let s3Built = Mutex<S3API?>(nil)
    private let s3Address = Mutex<URL?>(nil)
    /// Forwards durable-object calls between processes that share a store.
    let objectForwarding: ObjectForwarding
    /// The span exporter these bindings installed (``EdgeTracing``), for the host to run.
    let tracingService: (any Service)?
    /// Whether bindings are wrapped to be metered and traced (metrics on, or a tracer installed).
    private let instrumented: Bool

    private func meter(_ kind: String, _ binding: String) -> BindingMeter {
        BindingMeter(kind: kind, binding: binding, metrics: config.metrics.enabled)
    }

    private struct Opened {
        var kv: [String: any KVNamespace] = [:]
        var buckets: [String: any BlobBucket] = [:]
        var namespaces: [String: any Service] = [:]
        var persistences: [String: DurableObjectPersistence] = [:]
        var models: [String: any EmbeddingModel] = [:]
        var indexes: [String: any VectorIndex] = [:]
    }

    /// Builds the bindings of `config`.
    ///
    /// - Parameters:
    ///   - config: the application's config.
    ///   - providers: the backends this host may use (default: memory, SQLite and file).
    ///   - clock: the clock every binding reads (a `TestClock` in tests).
    ///   - inMemory: use the memory backend for every binding, whatever the config says (tests).
    ///   - environment: where secrets are looked up first (default: the process environment).
    ///   - logger: the runtime's logger (its level is set from the config's `log_level`).
    /// - Throws: ``ConfigError`` for an invalid config (``EdgeConfig/validate(providers:)``), a
    ///   declared secret with no value (`.missingSecret`), or a backend that cannot be opened.
    public init(
        config: EdgeConfig, providers: BackendProviders = .builtIn, clock: any EdgeClock = SystemClock(), inMemory: Bool = false,
        environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger = Logger(label: "swift-edge.runtime")
    ) throws {
        try config.validate(providers: providers)
        // Before any binding makes its metrics: one made earlier would record nothing.
        if config.metrics.enabled { EdgeMetrics.bootstrap() }
        // Likewise the tracer (when the config or the OTEL_* variables name a collector).
        do {
            tracingService = try EdgeTracing.bootstrap(config.tracing, serviceName: config.name, environment: environment)
        } catch {
            throw ConfigError(
                .invalidValue, file: config.file, key: "tracing", expected: "a usable OTLP/HTTP endpoint", message: "cannot export traces: \(error)")
        }
        self.config = config
        self.clock = clock
        self.inMemory = inMemory
        var logger = logger
        logger.logLevel = config.logLevel
        self.logger = logger
        // Secrets: the environment first, then the secrets file.
        let fileSecrets = Self.readSecretsFile(config.secretsFile)
        var values: [String: String] = [:]
        for name in config.secrets {
            guard let value = environment[name] ?? fileSecrets[name] else {
                throw ConfigError(
                    .missingSecret, file: config.file, key: "secrets", expected: "\(name) in the environment or in \(config.secretsFile)",
                    message: "secret \"\(name)\" has no value")
            }
            values[name] = value
        }
        secretValues = values
        EdgeLogging.redact(values.values)
        // Every backend in use, opened once.
        let context = BackendContext(config: config, clock: clock, logger: logger, secrets: values)
        let names = inMemory ? [BackendName.memory] : Array(Set(config.backendsInUse.map(\.backend))).sorted()
        var backends: [BackendName: any Backend] = [:]
        for name in names {
            guard let provider = providers[name] else {
                throw ConfigError(
                    .invalidValue, file: config.file, key: "backend", expected: providers.names.map(\.rawValue).joined(separator: ", "),
                    message: "backend \"\(name)\" is not a backend this host includes")
            }
            backends[name] = try provider.open(context)
        }
        self.backends = backends
        // A config without queues gets an empty in-memory backend rather than a database file.
        let usesQueues = !config.queueProducers.isEmpty || !config.queueConsumers.isEmpty
        let queues = try (usesQueues ? backends[inMemory ? .memory : config.queueBackend] : nil).map { try $0.queues() } ?? MemoryQueue(clock: clock)
        // Bindings are wrapped to be metered and traced when either is on.
        instrumented = config.metrics.enabled || !(InstrumentationSystem.tracer is NoOpTracer)
        queueBackend = instrumented && usesQueues ? MeteredQueueBackend(base: queues, metrics: config.metrics.enabled) : queues
        objectForwarding = ObjectForwarding(logger: logger)
    }

    /// The opened backend `name` (`memory` for every binding when ``inMemory``).
    private func backend(_ name: BackendName, kind: BindingKind, binding: String) throws -> any Backend {
        guard let backend = backends[inMemory ? .memory : name] else {
            throw ConfigError(
                .invalidValue, file: config.file, key: kind.rawValue, expected: "a backend this host includes",
                message: "\(kind) binding \"\(binding)\" uses backend \"\(name)\", which was not opened")
        }
        return backend
    }

    /// What backend `name` shares with the application (``Backend/shared(_:)``): for an
    /// application that keeps data of its own where its bindings are, such as tables in the
    /// bindings' PostgreSQL database through their connection pool. Nil when the backend is not
    /// in use (or the bindings are in memory) or shares nothing of that type.
    public func shared<Resource>(_ type: Resource.Type, from name: BackendName) -> Resource? {
        guard !inMemory else { return nil }
        return backends[name]?.shared(type)
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
        if let other = config.section(declaring: binding) {
            return ConfigError(
                .wrongBindingType, file: config.file, key: section, expected: "a \(section) binding named \(binding)",
                message: "binding \"\(binding)\" is declared in \(other), not in \(section)")
        }
        return ConfigError(
            .missingBinding, file: config.file, key: section, expected: "a \(section) entry with binding \"\(binding)\"",
            message: "no \(section) binding \"\(binding)\" (declared: \(declared.isEmpty ? "none" : declared.joined(separator: ", ")))")
    }

    // MARK: Accessors

    /// The KV namespace bound as `binding` (the same instance on every call).
    ///
    /// - Throws: ``ConfigError`` `.missingBinding` / `.wrongBindingType`, or when it cannot be opened.
    public func kv(_ binding: String) throws -> any KVNamespace {
        guard let entry = config.kvNamespaces.first(where: { $0.binding == binding }) else {
            throw missing(binding, section: "kv_namespaces", declared: config.kvNamespaces.map(\.binding))
        }
        return try opened.withLock { opened in
            if let existing = opened.kv[binding] { return existing }
            var namespace = try backend(entry.backend, kind: .kv, binding: binding).kv(entry)
            if instrumented { namespace = MeteredKV.wrapping(namespace, meter: meter("kv", binding)) }
            opened.kv[binding] = namespace
            return namespace
        }
    }

    /// The blob bucket bound as `binding` (the same instance on every call).
    ///
    /// - Throws: ``ConfigError`` `.missingBinding` / `.wrongBindingType`, or when it cannot be opened.
    public func bucket(_ binding: String) throws -> any BlobBucket {
        guard let entry = config.r2Buckets.first(where: { $0.binding == binding }) else {
            throw missing(binding, section: "r2_buckets", declared: config.r2Buckets.map(\.binding))
        }
        return try opened.withLock { opened in
            if let existing = opened.buckets[binding] { return existing }
            var bucket = try backend(entry.backend, kind: .bucket, binding: binding).bucket(entry)
            if instrumented { bucket = MeteredBucket.wrapping(bucket, meter: meter("blob", binding)) }
            opened.buckets[binding] = bucket
            return bucket
        }
    }

    /// The S3-compatible API over every bucket of `r2_buckets` (by `bucket_name`), with the access
    /// keys of `s3_api`; nil when the config does not enable it. Built once.
    ///
    /// - Throws: ``ConfigError`` when a bucket cannot be opened or a key's secret is missing.
    public func s3API() throws -> S3API? {
        guard let settings = config.s3API else { return nil }
        if let built = s3Built.withLock({ $0 }) { return built }
        var buckets: [String: any BlobBucket] = [:]
        for entry in config.r2Buckets { buckets[entry.bucketName] = try bucket(entry.binding) }
        let credentials = try settings.accessKeys.map { S3Credentials(accessKeyID: $0.accessKeyID, secretAccessKey: try secret($0.secretName)) }
        let clock = self.clock
        let api = S3API(
            .init(
                buckets: buckets, credentials: credentials, region: settings.region, virtualHostDomains: settings.virtualHostDomains,
                pathPrefix: settings.port == nil ? settings.pathPrefix : "", now: { clock.now }))
        return s3Built.withLock { built in
            if let built { return built }
            built = api
            return api
        }
    }

    /// A presigned URL for `key` in the bucket bound as `binding`: whoever holds it may `method`
    /// the object until it expires — a browser uploads a recording straight to storage, without
    /// the worker in the path. A bucket whose store presigns itself (`BlobPresigning`, such as
    /// the `s3` backend's) signs for its store; any other goes through this host's S3 API
    /// (`s3_api`), signed with its first access key.
    ///
    /// - Parameters:
    ///   - binding: a bucket of `r2_buckets`.
    ///   - key: the object's key.
    ///   - method: `.get`, `.put`, `.head` or `.delete`.
    ///   - expiresIn: seconds, 1...604,800.
    /// - Throws: ``ConfigError`` `.missingBinding` when the config has no `s3_api` or no such
    ///   bucket; `S3Error` `.invalidArgument` for an expiry out of range; `.invalidRequest` before
    ///   the server listens when `s3_api.public_url` is not set. From a presigning bucket,
    ///   `BlobError` `.invalidKey`/`.keyTooLong` or `.unsupported` (an expiry out of range).
    public func presignedURL(bucket binding: String, key: String, method: HTTPRequest.Method = .get, expiresIn: Int) throws -> URL {
        if let presigning = try bucket(binding) as? any BlobPresigning {
            return try presigning.presignedURL(for: key, method: method.rawValue, expiresIn: expiresIn)
        }
        guard let settings = config.s3API, let access = settings.accessKeys.first else {
            throw missing("s3_api", section: "s3_api", declared: [])
        }
        guard let entry = config.r2Buckets.first(where: { $0.binding == binding }) else {
            throw missing(binding, section: "r2_buckets", declared: config.r2Buckets.map(\.binding))
        }
        guard let base = settings.publicURL ?? s3Address.withLock({ $0 }) else {
            throw S3Error(.invalidRequest, message: "the S3 API's address is not known yet (the server is not listening); set s3_api.public_url")
        }
        let signer = SigV4Signer(
            credentials: S3Credentials(accessKeyID: access.accessKeyID, secretAccessKey: try secret(access.secretName)), region: settings.region)
        let prefix = settings.port == nil ? settings.pathPrefix : ""
        return try signer.presignedURL(
            method: method.rawValue, endpoint: base, path: prefix + "/" + entry.bucketName + "/" + key, expiresIn: expiresIn, date: clock.now)
    }

    /// Records where the S3 API listens (`http://HOST:PORT`), for presigned URLs.
    func advertiseS3(port: Int) {
        let host = ["0.0.0.0", "::", ""].contains(config.host) ? "127.0.0.1" : config.host
        s3Address.withLock { $0 = URL(string: "http://\(host):\(port)") }
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

    /// The producer bound as `binding`, for the typed queue `queue`: the binding must send to
    /// that queue, so a message can only reach the queue whose handler expects its type.
    ///
    /// - Throws: ``ConfigError`` `.missingBinding` / `.wrongBindingType`; `.invalidValue` when
    ///   the binding sends to another queue.
    public func queue<Message>(_ binding: String, for queue: QueueName<Message>) throws -> QueueProducer<Message> {
        guard let entry = config.queueProducers.first(where: { $0.binding == binding }) else {
            throw missing(binding, section: "queues.producers", declared: config.queueProducers.map(\.binding))
        }
        guard entry.queue == queue.name else {
            throw ConfigError(
                .invalidValue, file: config.file, key: "queues.producers", expected: "queue \"\(queue.name)\"",
                message:
                    "binding \"\(binding)\" sends to queue \"\(entry.queue)\", but the worker binds it to queue \"\(queue.name)\" (\(Message.self) messages)")
        }
        return try QueueProducer(queue, backend: queueBackend)
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
            throw ConfigError(
                .invalidValue, file: config.file, key: "durable_objects.bindings", expected: "class_name \"\(className)\"",
                message: "binding \"\(binding)\" names class \"\(entry.className)\", but the worker binds it to \(className)")
        }
        let namespace = try opened.withLock { opened -> DurableObjectNamespace<Object> in
            if let existing = opened.namespaces[binding] as? DurableObjectNamespace<Object> { return existing }
            let persistence = try persistence(entry, opened: &opened)
            do {
                let namespace = try DurableObjectNamespace<Object>(
                    name: binding, store: persistence.store, ownership: persistence.ownership, env: env,
                    configuration: .init(
                        limits: CoordinatorLimits(maxWebSocketsPerObject: config.maxWebSocketsPerObject), clock: clock,
                        idleTimeout: config.durableObjectIdleTimeout, logger: logger, forwarder: objectForwarding))
                opened.namespaces[binding] = namespace
                return namespace
            } catch {
                throw ConfigError(
                    .invalidValue, file: config.file, key: "durable_objects", expected: "a valid namespace",
                    message: "cannot open namespace \(binding): \(error)")
            }
        }
        objectForwarding.register(namespace)
        return namespace
    }

    /// The storage of namespace `entry`, opened once (the namespace and the inspection share it).
    private func persistence(_ entry: EdgeConfig.DurableObjectBinding, opened: inout Opened) throws -> DurableObjectPersistence {
        if let existing = opened.persistences[entry.name] { return existing }
        let persistence = try backend(config.durableObjectsBackend, kind: .durableObjects, binding: entry.name).durableObjects(entry)
        opened.persistences[entry.name] = persistence
        return persistence
    }

    /// The stored objects of the durable-object namespace bound as `binding`, read without
    /// building them (`DurableObjectInspection`, from EdgeCoordinator): what `edge objects` and the dashboard show.
    /// Works whatever class the namespace binds and whichever process owns its objects.
    ///
    /// - Throws: ``ConfigError`` `.missingBinding`, or `.invalidValue` when the backend's store
    ///   cannot be inspected.
    public func durableObjectInspection(_ binding: String) throws -> any DurableObjectInspection {
        guard let entry = config.durableObjects.first(where: { $0.name == binding }) else {
            throw missing(binding, section: "durable_objects.bindings", declared: config.durableObjects.map(\.name))
        }
        let store = try opened.withLock { opened in try persistence(entry, opened: &opened).store }
        guard let inspection = store as? any DurableObjectInspection else {
            throw ConfigError(
                .invalidValue, file: config.file, key: "durable_objects", expected: "a store that can be inspected",
                message: "the \(config.durableObjectsBackend.rawValue) store of namespace \(binding) cannot be inspected")
        }
        return inspection
    }

    /// The vector index bound as `binding` (`vectorize`), from its backend: `HNSWIndex` or
    /// `FlatIndex` (`index_type`) under `state_dir/vectorize/` on SQLite, in memory on memory.
    ///
    /// - Throws: ``ConfigError`` `.missingBinding` / `.wrongBindingType`; `.invalidValue` when the
    ///   index cannot be opened (another shape on disk, an unwritable directory).
    public func vectorize(_ binding: String) throws -> any VectorIndex {
        guard let entry = config.vectorize.first(where: { $0.binding == binding }) else {
            throw missing(binding, section: "vectorize", declared: config.vectorize.map(\.binding))
        }
        return try opened.withLock { opened in
            if let existing = opened.indexes[binding] { return existing }
            var index = try backend(entry.backend, kind: .vectorize, binding: binding).vectorIndex(entry)
            if instrumented { index = MeteredVectorIndex(base: index, meter: meter("vectorize", binding)) }
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
        case .hashing(let dimensions):
            model = HashingEmbedder(dimensions: dimensions)
        case .openAI(let endpoint), .voyage(let endpoint):
            let isVoyage: Bool
            if case .voyage = entry.model { isVoyage = true } else { isVoyage = false }
            var settings = HTTPEmbeddingProvider.Configuration(
                api: isVoyage ? .voyage : .openAI, baseURL: endpoint.baseURL, model: endpoint.modelName,
                apiKey: try endpoint.apiKeySecret.map { try secret($0) }, dimensions: endpoint.dimensions)
            settings.inputType = isVoyage ? "document" : nil
            model = HTTPEmbeddingProvider(settings, clock: clock, logger: logger)
        case .minilm(let directory):
            do {
                model = try MiniLM(directory: directory)
            } catch let error as EmbeddingError {
                throw ConfigError(.invalidValue, file: config.file, key: "ai.model_dir", expected: "the all-MiniLM-L6-v2 weights", message: error.message)
            }
        }
        if let cache = entry.cache {
            model = try CachedEmbeddingModel(model, cache: try kv(cache), ttl: entry.cacheTTL.components.seconds)
        }
        if instrumented { model = MeteredEmbeddingModel(base: model, meter: meter("ai", binding)) }
        return opened.withLock { opened in
            if let existing = opened.models[binding] { return existing }
            opened.models[binding] = model
            return model
        }
    }

    // MARK: Serving

    /// Records that this process serves HTTP on `port`: durable objects it owns can be reached
    /// there by other processes (see ``EdgeConfig/advertiseURL``).
    func advertise(port: Int) async {
        if let s3 = config.s3API, s3.port == nil { advertiseS3(port: port) }
        await objectForwarding.advertise(port: port, host: config.host, configured: config.advertiseURL)
    }

    /// The backends' own services (connection pools): started first, so they stop last.
    var backendServices: [any Service] {
        backends.keys.sorted().flatMap { backends[$0]?.services ?? [] }
    }

    /// The durable-object namespaces opened so far (their alarm schedulers).
    var namespaceServices: [any Service] {
        opened.withLock { Array($0.namespaces.values) }
    }
}
