public import EdgeBlob
public import EdgeCoordinator
import EdgeCore
public import EdgeKV
import EdgeQueue
import Foundation
public import Logging
public import ServiceLifecycle
public import VectorSearch

// Backends plug into the runtime as providers: a backend module offers a `BackendProvider` for
// the binding kinds it serves, and a host is given the set of providers it may use. EdgeRuntime
// itself provides memory, SQLite and file backends and knows no other; PostgreSQL comes from
// EdgePostgres, S3 from its own module, a test's fake from the test target.

/// The name of a backend as config files write it: `"backend": "sqlite"`.
public struct BackendName: RawRepresentable, Hashable, Sendable, Comparable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ name: String) { rawValue = name }
    public init(stringLiteral name: String) { rawValue = name }

    public var description: String { rawValue }
    public static func < (lhs: BackendName, rhs: BackendName) -> Bool { lhs.rawValue < rhs.rawValue }

    /// In memory: gone when the process exits (tests, experiments). Serves every kind.
    public static let memory: BackendName = "memory"
    /// SQLite files under the state directory: the default for KV, queues, durable objects and vectors.
    public static let sqlite: BackendName = "sqlite"
    /// Files plus SQLite metadata under the state directory: the default for buckets.
    public static let file: BackendName = "file"
}

/// The kinds of binding a backend can serve.
public enum BindingKind: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case kv = "kv_namespaces"
    case bucket = "r2_buckets"
    case queues = "queues"
    case durableObjects = "durable_objects"
    case vectorize = "vectorize"

    /// The config section the kind is declared in.
    public var description: String { rawValue }
}

/// A backend's own config section (the `postgres` section of EdgePostgres, say): a top-level key
/// of the config file that only the provider reading it understands.
public protocol BackendSettings: Sendable {
    /// The top-level key of the section (`"postgres"`).
    static var section: String { get }

    /// Parses the section.
    ///
    /// - Throws: ``ConfigError`` (made with `node`'s helpers, so it names the file and the key).
    init(parsing node: ConfigNode) throws

    /// Checks the section against the rest of the config (a secret it names is declared, say).
    ///
    /// - Throws: ``ConfigError``.
    func validate(in config: EdgeConfig) throws
}

extension BackendSettings {
    public func validate(in config: EdgeConfig) throws {}
}

/// What a provider opens its backend with.
public struct BackendContext: Sendable {
    public let config: EdgeConfig
    public let clock: any EdgeClock
    public let logger: Logger
    private let secrets: [String: String]

    init(config: EdgeConfig, clock: any EdgeClock, logger: Logger, secrets: [String: String]) {
        self.config = config
        self.clock = clock
        self.logger = logger
        self.secrets = secrets
    }

    /// Where durable backends keep their files.
    public var stateDirectory: String { config.stateDirectory }

    /// A declared secret's value.
    ///
    /// - Throws: ``ConfigError`` `.missingBinding` when `name` is not a declared secret.
    public func secret(_ name: String) throws -> String {
        guard let value = secrets[name] else {
            throw ConfigError(
                .missingBinding, file: config.file, key: "secrets", expected: "a declared secret \"\(name)\"",
                message: "secret \"\(name)\" is not declared in \"secrets\"")
        }
        return value
    }

    /// The backend's own config section, when the config has one.
    public func settings<Settings: BackendSettings>(_ type: Settings.Type) -> Settings? {
        config.backendSettings[Settings.section] as? Settings
    }

    /// An error about the config that names its file.
    public func error(_ code: ConfigError.Code, key: String, expected: String, _ message: String) -> ConfigError {
        ConfigError(code, file: config.file, key: key, expected: expected, message: message)
    }
}

/// How a namespace of durable objects is kept: its storage, and who owns its objects.
public struct DurableObjectPersistence: Sendable {
    public var store: any DurableObjectStore
    public var ownership: any DurableObjectOwnership

    public init(store: any DurableObjectStore, ownership: any DurableObjectOwnership = LocalOwnership()) {
        self.store = store
        self.ownership = ownership
    }
}

/// A backend opened for one host: makes the bindings the config assigns to it. Each method has a
/// default that throws, so a backend implements only the kinds its provider declares.
public protocol Backend: Sendable {
    /// The KV namespace of `binding`.
    ///
    /// - Throws: ``ConfigError`` when it cannot be opened.
    func kv(_ binding: EdgeConfig.KVNamespaceBinding) throws -> any KVNamespace
    /// The bucket of `binding`.
    ///
    /// - Throws: ``ConfigError`` when it cannot be opened.
    func bucket(_ binding: EdgeConfig.BucketBinding) throws -> any BlobBucket
    /// The one queue backend every queue of the application lives in.
    ///
    /// - Throws: ``ConfigError`` when it cannot be opened.
    func queues() throws -> any QueueBackend
    /// The storage and ownership of the durable-object namespace `binding`.
    ///
    /// - Throws: ``ConfigError`` when it cannot be opened.
    func durableObjects(_ binding: EdgeConfig.DurableObjectBinding) throws -> DurableObjectPersistence
    /// The vector index of `binding`.
    ///
    /// - Throws: ``ConfigError`` when it cannot be opened.
    func vectorIndex(_ binding: EdgeConfig.VectorizeBinding) throws -> any VectorIndex
    /// Long-lived work the backend needs (a connection pool): started before the services that
    /// use its bindings and stopped after them.
    var services: [any Service] { get }
    /// Something of the backend an application may share to keep data of its own beside the
    /// bindings' (PostgreSQL's connection pool, say), or nil. Default: nil.
    func shared<Resource>(_ type: Resource.Type) -> Resource?
}

extension Backend {
    public func shared<Resource>(_ type: Resource.Type) -> Resource? { nil }
}

extension Backend {
    private func unsupported(_ kind: BindingKind) -> ConfigError {
        ConfigError(
            .invalidValue, file: "(backend)", key: kind.rawValue, expected: "a backend serving \(kind)",
            message: "backend \(type(of: self)) does not serve \(kind)")
    }

    public func kv(_ binding: EdgeConfig.KVNamespaceBinding) throws -> any KVNamespace { throw unsupported(.kv) }
    public func bucket(_ binding: EdgeConfig.BucketBinding) throws -> any BlobBucket { throw unsupported(.bucket) }
    public func queues() throws -> any QueueBackend { throw unsupported(.queues) }
    public func durableObjects(_ binding: EdgeConfig.DurableObjectBinding) throws -> DurableObjectPersistence { throw unsupported(.durableObjects) }
    public func vectorIndex(_ binding: EdgeConfig.VectorizeBinding) throws -> any VectorIndex { throw unsupported(.vectorize) }
    public var services: [any Service] { [] }
}

/// A backend module's entry point: which backend it is, which kinds it serves, which config
/// section it reads, and how to open it for a host.
///
/// ```swift
/// let providers = BackendProviders.builtIn.adding(PostgresProvider())
/// let bindings = try EdgeBindings(config: try EdgeConfig.load("edge.jsonc", providers: providers), providers: providers)
/// ```
public protocol BackendProvider: Sendable {
    /// The name config files select it by.
    var name: BackendName { get }
    /// The binding kinds it serves; a config assigning it any other kind fails at startup.
    var kinds: Set<BindingKind> { get }
    /// Its own config section, if it reads one.
    var settingsType: (any BackendSettings.Type)? { get }
    /// Opens the backend for a host whose config uses it (called once per ``EdgeBindings``).
    ///
    /// - Throws: ``ConfigError`` naming what is wrong (a missing section, an unusable URL).
    func open(_ context: BackendContext) throws -> any Backend
}

extension BackendProvider {
    public var settingsType: (any BackendSettings.Type)? { nil }
}

/// The backends a host may use, by name. ``builtIn`` holds memory, SQLite and file.
public struct BackendProviders: Sendable {
    private var byName: [BackendName: any BackendProvider]

    /// The providers EdgeRuntime ships: `memory` (every kind), `sqlite` (KV, queues, durable
    /// objects, vectors) and `file` (buckets).
    public static let builtIn = BackendProviders(providers: [MemoryBackendProvider(), SQLiteBackendProvider(), FileBackendProvider()])

    init(providers: [any BackendProvider]) {
        byName = Dictionary(providers.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
    }

    /// These providers plus `provider` (replacing one of the same name).
    public func adding(_ provider: any BackendProvider) -> BackendProviders {
        var copy = self
        copy.byName[provider.name] = provider
        return copy
    }

    /// The provider called `name`, if registered.
    public subscript(name: BackendName) -> (any BackendProvider)? { byName[name] }

    /// Every registered name, sorted.
    public var names: [BackendName] { byName.keys.sorted() }

    /// The names of the providers serving `kind`, sorted.
    public func names(serving kind: BindingKind) -> [BackendName] {
        byName.values.filter { $0.kinds.contains(kind) }.map(\.name).sorted()
    }

    /// The settings types of the registered providers, by section.
    var settingsTypes: [String: any BackendSettings.Type] {
        var types: [String: any BackendSettings.Type] = [:]
        for provider in byName.values {
            if let type = provider.settingsType { types[type.section] = type }
        }
        return types
    }
}

// MARK: Built-in backends

struct MemoryBackendProvider: BackendProvider {
    var name: BackendName { .memory }
    var kinds: Set<BindingKind> { Set(BindingKind.allCases) }
    func open(_ context: BackendContext) throws -> any Backend { MemoryBackend(context: context) }
}

/// Everything in memory; durable objects in a scratch SQLite file removed with the process's
/// temporary files (their storage layer is SQLite, whatever the backend).
struct MemoryBackend: Backend {
    let context: BackendContext
    let scratch = NSTemporaryDirectory() + "swift-edge-memory-\(UUID().uuidString)"

    func kv(_ binding: EdgeConfig.KVNamespaceBinding) throws -> any KVNamespace {
        MemoryKV(configuration: .init(clock: context.clock))
    }

    func bucket(_ binding: EdgeConfig.BucketBinding) throws -> any BlobBucket {
        MemoryBlob(configuration: .init(clock: context.clock))
    }

    func queues() throws -> any QueueBackend { MemoryQueue(clock: context.clock) }

    func durableObjects(_ binding: EdgeConfig.DurableObjectBinding) throws -> DurableObjectPersistence {
        try SQLiteBackend.objectStore(binding, stateDirectory: scratch, context: context)
    }

    func vectorIndex(_ binding: EdgeConfig.VectorizeBinding) throws -> any VectorIndex {
        try SQLiteBackend.vectorIndex(binding, persistentIn: nil, context: context)
    }
}

struct SQLiteBackendProvider: BackendProvider {
    var name: BackendName { .sqlite }
    var kinds: Set<BindingKind> { [.kv, .queues, .durableObjects, .vectorize] }
    func open(_ context: BackendContext) throws -> any Backend { SQLiteBackend(context: context) }
}

/// SQLite files under the state directory.
struct SQLiteBackend: Backend {
    let context: BackendContext

    func kv(_ binding: EdgeConfig.KVNamespaceBinding) throws -> any KVNamespace {
        do {
            return try SQLiteKV(
                namespace: binding.binding, stateDirectory: context.stateDirectory,
                configuration: .init(clock: context.clock, logger: context.logger))
        } catch {
            throw context.error(
                .invalidValue, key: "kv_namespaces", expected: "a usable state directory", "cannot open KV namespace \(binding.binding): \(error)")
        }
    }

    func queues() throws -> any QueueBackend {
        do {
            return try SQLiteQueue(stateDirectory: context.stateDirectory, configuration: .init(clock: context.clock, logger: context.logger))
        } catch {
            throw context.error(.invalidValue, key: "queues", expected: "a usable state directory", "cannot open the queue database: \(error)")
        }
    }

    func durableObjects(_ binding: EdgeConfig.DurableObjectBinding) throws -> DurableObjectPersistence {
        try Self.objectStore(binding, stateDirectory: context.stateDirectory, context: context)
    }

    static func objectStore(_ binding: EdgeConfig.DurableObjectBinding, stateDirectory: String, context: BackendContext) throws -> DurableObjectPersistence {
        do {
            return DurableObjectPersistence(store: try SQLiteObjectStore(namespace: binding.name, stateDirectory: stateDirectory))
        } catch {
            throw context.error(.invalidValue, key: "durable_objects", expected: "a usable state directory", "cannot open namespace \(binding.name): \(error)")
        }
    }

    func vectorIndex(_ binding: EdgeConfig.VectorizeBinding) throws -> any VectorIndex {
        try Self.vectorIndex(binding, persistentIn: context.stateDirectory, context: context)
    }

    /// A flat or HNSW index: persistent under `directory`, or in memory when it is nil.
    static func vectorIndex(_ binding: EdgeConfig.VectorizeBinding, persistentIn directory: String?, context: BackendContext) throws -> any VectorIndex {
        let configuration = binding.indexConfiguration
        do {
            switch (binding.indexType, directory) {
            case (.flat, nil): return try FlatIndex(configuration: configuration)
            case (.flat, let directory?): return try FlatIndex(name: binding.indexName, stateDirectory: directory, configuration: configuration)
            case (.hnsw, nil): return try HNSWIndex(configuration: configuration, parameters: binding.parameters)
            case (.hnsw, let directory?):
                return try HNSWIndex(name: binding.indexName, stateDirectory: directory, configuration: configuration, parameters: binding.parameters)
            }
        } catch {
            throw context.error(.invalidValue, key: "vectorize", expected: "a usable vector index", "cannot open index \(binding.indexName): \(error)")
        }
    }
}

struct FileBackendProvider: BackendProvider {
    var name: BackendName { .file }
    var kinds: Set<BindingKind> { [.bucket] }
    func open(_ context: BackendContext) throws -> any Backend { FileBackend(context: context) }
}

/// Blob files plus SQLite metadata under the state directory.
struct FileBackend: Backend {
    let context: BackendContext

    func bucket(_ binding: EdgeConfig.BucketBinding) throws -> any BlobBucket {
        do {
            return try FileBlob(
                bucket: binding.bucketName, stateDirectory: context.stateDirectory,
                configuration: .init(clock: context.clock, logger: context.logger))
        } catch {
            throw context.error(.invalidValue, key: "r2_buckets", expected: "a usable state directory", "cannot open bucket \(binding.binding): \(error)")
        }
    }
}
