public import EdgeCore
public import EdgeKV
import Foundation
public import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// A `KVNamespace` in PostgreSQL: every namespace of every process shares the table `edge_kv`
/// (`namespace`, `key` as bytes, so listing orders by UTF-8 bytes as Workers KV does).
///
/// Semantics and limits are those of `SQLiteKV` (the KV conformance suite runs against both).
/// Writes are durable when they return (PostgreSQL's commit). Expired keys are invisible at
/// once; a sweep deletes them on writes at most once per `sweepInterval` seconds of clock time
/// (and ``purgeExpired()`` on demand). Listing pages by key (the cursor carries the last key), so a
/// page boundary never moves when other processes write meanwhile.
public final class PostgresKV: KVNamespace, KVMaintenance {
    public struct Configuration: Sendable {
        public var limits: KVLimits
        public var clock: any EdgeClock
        /// Seconds between expiry sweeps. Default 60.
        public var sweepInterval: Int64
        public var logger: Logger

        public init(
            limits: KVLimits = .cloudflare, clock: any EdgeClock = SystemClock(), sweepInterval: Int64 = 60,
            logger: Logger = Logger(label: "swift-edge.kv.postgres")
        ) {
            self.limits = limits
            self.clock = clock
            self.sweepInterval = sweepInterval
            self.logger = logger
        }
    }

    public let namespace: String
    public let pool: PostgresPool
    public let configuration: Configuration
    private let lastSweep = Mutex<Int64>(.min)

    static let schema = [
        """
        CREATE TABLE IF NOT EXISTS edge_kv (
            namespace text NOT NULL,
            key bytea NOT NULL,
            value bytea NOT NULL,
            expiration bigint,
            metadata text,
            PRIMARY KEY (namespace, key)
        )
        """,
        "CREATE INDEX IF NOT EXISTS edge_kv_expiration ON edge_kv (expiration) WHERE expiration IS NOT NULL",
    ]

    /// Opens namespace `namespace` (1...128 letters, digits, `_`, `-`, `.`). The table is created
    /// by the first operation (a failure to reach or migrate the database is that operation's
    /// `.storageFailure`).
    ///
    /// - Throws: `KVError` `.invalidNamespaceName`.
    public init(namespace: String, pool: PostgresPool, configuration: Configuration = Configuration()) throws {
        try KVLimits.validateNamespaceName(namespace)
        self.namespace = namespace
        self.pool = pool
        self.configuration = configuration
    }

    public var limits: KVLimits { configuration.limits }
    private var now: Int64 { configuration.clock.nowEpochSeconds }

    private func storage<T: Sendable>(_ key: String? = nil, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            try await pool.migrate("edge_kv.v1", Self.schema)
            return try await pool.withConnection(body)
        } catch let error as KVError {
            throw error
        } catch {
            throw KVError(.storageFailure, key: key, message: "PostgreSQL failure: \(String(reflecting: error))")
        }
    }

    // MARK: Reads

    public func getWithMetadata(_ key: String) async throws -> KVEntry? {
        try limits.validateKey(key)
        return try await getWithMetadata([key])[key]
    }

    public func get(_ key: String) async throws -> String? {
        try await getWithMetadata(key).map { String(decoding: $0.value, as: UTF8.self) }
    }

    public func getWithMetadata(_ keys: [String]) async throws -> [String: KVEntry] {
        try limits.validateBulk(count: keys.count, limit: limits.maxBulkGetKeys, operation: "bulk get")
        for key in keys { try limits.validateKey(key) }
        guard !keys.isEmpty else { return [:] }
        let now = self.now
        return try await storage { [self] connection in
            let rows = try await connection.query(
                """
                SELECT key, value, expiration, metadata FROM edge_kv
                WHERE namespace = \(namespace) AND key = ANY(\(keys.map { ByteBuffer(bytes: Array($0.utf8)) })) AND (expiration IS NULL OR expiration > \(now))
                """, logger: configuration.logger)
            var found: [String: KVEntry] = [:]
            for try await (key, value, expiration, metadata) in rows.decode((ByteBuffer, ByteBuffer, Int64?, String?).self) {
                found[String(decoding: key.readableBytesView, as: UTF8.self)] = KVEntry(
                    value: value.byteArray, metadata: try metadata.map { try JSONValue(parsing: Data($0.utf8)) }, expiration: expiration)
            }
            return found
        }
    }

    public func list(_ options: KVListOptions) async throws -> KVListResult {
        let request = try limits.validateList(options)
        let now = self.now
        return try await storage { [self] connection in
            let lower = ByteBuffer(bytes: request.lowerBound)
            let rows: PostgresRowSequence
            if let upper = request.upperBound {
                rows = try await connection.query(
                    """
                    SELECT key, expiration, metadata FROM edge_kv
                    WHERE namespace = \(namespace) AND key >= \(lower) AND key < \(ByteBuffer(bytes: upper)) AND (expiration IS NULL OR expiration > \(now))
                    ORDER BY key LIMIT \(request.limit + 1)
                    """, logger: configuration.logger)
            } else {
                rows = try await connection.query(
                    """
                    SELECT key, expiration, metadata FROM edge_kv
                    WHERE namespace = \(namespace) AND key >= \(lower) AND (expiration IS NULL OR expiration > \(now))
                    ORDER BY key LIMIT \(request.limit + 1)
                    """, logger: configuration.logger)
            }
            var keys: [KVKey] = []
            var more = false
            for try await (key, expiration, metadata) in rows.decode((ByteBuffer, Int64?, String?).self) {
                if keys.count == request.limit {
                    more = true
                    continue
                }
                keys.append(
                    KVKey(
                        name: String(decoding: key.readableBytesView, as: UTF8.self), expiration: expiration,
                        metadata: try metadata.map { try JSONValue(parsing: Data($0.utf8)) }))
            }
            return KVListResult(keys: keys, listComplete: !more, cursor: more ? keys.last.map { KVCursor.encode(lastKey: $0.name) } : nil)
        }
    }

    // MARK: Writes

    public func put(_ key: String, value: [UInt8], options: KVPutOptions) async throws {
        let write = try limits.validateWrite(key: key, value: value, options: options, now: now)
        try await store([write])
    }

    public func put(_ entries: [KVWrite]) async throws {
        try limits.validateBulk(count: entries.count, limit: limits.maxBulkWriteEntries, operation: "bulk put")
        let now = self.now
        try await store(try entries.map { try limits.validateWrite(key: $0.key, value: $0.value, options: $0.options, now: now) })
    }

    private func store(_ writes: [ValidatedWrite]) async throws {
        guard !writes.isEmpty else { return }
        // The last write of a key wins, as if applied in order.
        var latest: [String: Int] = [:]
        for (index, write) in writes.enumerated() { latest[write.key] = index }
        let unique = writes.indices.filter { latest[writes[$0].key] == $0 }.map { writes[$0] }
        try await storage(writes.count == 1 ? writes[0].key : nil) { [self] connection in
            _ = try await connection.query(
                """
                INSERT INTO edge_kv (namespace, key, value, expiration, metadata)
                SELECT \(namespace), k, v, NULLIF(e, -1), NULLIF(m, '')
                FROM unnest(\(unique.map { ByteBuffer(bytes: Array($0.key.utf8)) }), \(unique.map { ByteBuffer(bytes: $0.value) }),
                            \(unique.map { $0.expiration ?? -1 }), \(unique.map { $0.metadataJSON ?? "" })) AS t(k, v, e, m)
                ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expiration = excluded.expiration, metadata = excluded.metadata
                """, logger: configuration.logger)
        }
        try await sweepIfDue()
    }

    public func delete(_ key: String) async throws {
        try await delete([key])
    }

    public func delete(_ keys: [String]) async throws {
        try limits.validateBulk(count: keys.count, limit: limits.maxBulkWriteEntries, operation: "bulk delete")
        for key in keys { try limits.validateKey(key) }
        guard !keys.isEmpty else { return }
        try await storage(keys.count == 1 ? keys[0] : nil) { [self] connection in
            _ = try await connection.query(
                "DELETE FROM edge_kv WHERE namespace = \(namespace) AND key = ANY(\(keys.map { ByteBuffer(bytes: Array($0.utf8)) }))",
                logger: configuration.logger)
        }
    }

    // MARK: Expiry

    private func sweepIfDue() async throws {
        let now = self.now
        let due = lastSweep.withLock { last -> Bool in
            guard last == .min || now >= last &+ configuration.sweepInterval else { return false }
            last = now
            return true
        }
        if due { try await purgeExpired() }
    }

    public func storedKeyCount() async throws -> Int {
        try await storage { [self] connection in
            let rows = try await connection.query("SELECT count(*) FROM edge_kv WHERE namespace = \(namespace)", logger: configuration.logger)
            for try await count in rows.decode(Int64.self) { return Int(count) }
            return 0
        }
    }

    @discardableResult
    public func purgeExpired() async throws -> Int {
        let now = self.now
        return try await storage { [self] connection in
            let rows = try await connection.query(
                """
                WITH gone AS (DELETE FROM edge_kv WHERE namespace = \(namespace) AND expiration <= \(now) RETURNING 1)
                SELECT count(*) FROM gone
                """, logger: configuration.logger)
            for try await count in rows.decode(Int64.self) { return Int(count) }
            return 0
        }
    }
}
