// The example of Docs/backends.md, compiled and tested here; DocExampleTests checks that the
// guide shows exactly this file.
import EdgeKV
import EdgeRuntime
import Logging

/// The `journal` section of a config: how verbose the backend is.
struct AuditSettings: BackendSettings {
    static let section = "journal"
    var prefix: String

    init(prefix: String) { self.prefix = prefix }

    init(parsing node: ConfigNode) throws {
        try node.allowKeys(["prefix"])
        prefix = try node.optionalString("prefix") ?? "kv"
    }
}

/// A KV backend that keeps namespaces in memory and logs every write: registered with a host,
/// a config selects it with `"backend": "journal"`.
struct AuditKVProvider: BackendProvider {
    var name: BackendName { "journal" }
    var kinds: Set<BindingKind> { [.kv] }
    var settingsType: (any BackendSettings.Type)? { AuditSettings.self }

    func open(_ context: BackendContext) throws -> any Backend {
        AuditKVBackend(prefix: context.settings(AuditSettings.self)?.prefix ?? "kv", context: context)
    }
}

struct AuditKVBackend: Backend {
    let prefix: String
    let context: BackendContext

    func kv(_ binding: EdgeConfig.KVNamespaceBinding) throws -> any KVNamespace {
        AuditKV(base: MemoryKV(configuration: .init(clock: context.clock)), label: "\(prefix).\(binding.binding)", logger: context.logger)
    }
}

/// Every operation of `base`, with writes logged.
struct AuditKV: KVNamespace {
    let base: MemoryKV
    let label: String
    let logger: Logger

    var limits: KVLimits { base.limits }
    func getWithMetadata(_ key: String) async throws -> KVEntry? { try await base.getWithMetadata(key) }
    func get(_ key: String) async throws -> String? { try await base.get(key) }
    func getWithMetadata(_ keys: [String]) async throws -> [String: KVEntry] { try await base.getWithMetadata(keys) }
    func list(_ options: KVListOptions) async throws -> KVListResult { try await base.list(options) }
    func delete(_ key: String) async throws { try await base.delete(key) }
    func delete(_ keys: [String]) async throws { try await base.delete(keys) }

    func put(_ key: String, value: [UInt8], options: KVPutOptions) async throws {
        logger.info("\(label): put \(key) (\(value.count) bytes)")
        try await base.put(key, value: value, options: options)
    }

    func put(_ entries: [KVWrite]) async throws {
        logger.info("\(label): put \(entries.count) keys")
        try await base.put(entries)
    }
}

/// What the KV conformance suite also checks: expired keys are reclaimed.
extension AuditKV: KVMaintenance {
    func storedKeyCount() async throws -> Int { try await base.storedKeyCount() }
    func purgeExpired() async throws -> Int { try await base.purgeExpired() }
}
