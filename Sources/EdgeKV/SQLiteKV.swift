import EdgeCore
import EdgeSQLite
import Foundation
import GRDB
public import Logging
import Metrics
import Synchronization

/// The durable ``KVNamespace``: one SQLite file per namespace, in WAL mode.
///
/// - Writes go through one writer connection with group commit (`SQLiteWriter`): a lone write
///   commits at once on the caller's thread; writes that arrive during a commit are committed
///   together in the next transaction. When `put` or `delete` returns, its transaction is committed
///   and (with the default `synchronous = FULL`) fsynced, so it survives a crash of the process or
///   the machine.
/// - Reads run on read-only connections on the caller's thread with prepared statements; in WAL
///   mode they never wait for the writer, and they always see the latest committed data (strong
///   consistency, unlike Cloudflare's eventually consistent KV).
/// - Expired keys are invisible at once, and reclaimed by a sweep that runs inside a write at most
///   once per ``Configuration/sweepInterval`` of clock time, when the namespace opens, and on
///   ``purgeExpired()``.
/// - GRDB opens the file, enables WAL and migrates the schema; the hot paths use prepared
///   statements on the SQLite C API, because `edge-bench kv` showed GRDB's general-purpose path
///   costing 20–40% on point operations.
/// - Several processes may open the same file; SQLite's locking serialises their writes.
public final class SQLiteKV: KVNamespace, KVMaintenance {
    public struct Configuration: Sendable {
        /// The limits to enforce. Default: Cloudflare's.
        public var limits: KVLimits
        /// The clock expirations are measured against. Default: the system clock.
        public var clock: any EdgeClock
        /// Durability and connection settings. Default: WAL, `synchronous = FULL`.
        public var sqlite: SQLiteSettings
        /// How often, in seconds of clock time, a write also sweeps out expired keys. Default 60.
        public var sweepInterval: Int64
        /// Most expired keys one sweep removes (bounding the time a write spends sweeping). Default 10,000.
        public var sweepBatchSize: Int
        /// Where opening, sweeps and failures are logged.
        public var logger: Logger

        public init(
            limits: KVLimits = .cloudflare,
            clock: any EdgeClock = SystemClock(),
            sqlite: SQLiteSettings = SQLiteSettings(),
            sweepInterval: Int64 = 60,
            sweepBatchSize: Int = 10_000,
            logger: Logger = Logger(label: "swift-edge.kv")
        ) {
            self.limits = limits
            self.clock = clock
            self.sqlite = sqlite
            self.sweepInterval = sweepInterval
            self.sweepBatchSize = sweepBatchSize
            self.logger = logger
        }
    }

    /// The database file.
    public let path: String
    public let configuration: Configuration
    private let writer: SQLiteWriter
    private let readers: SQLiteReaderPool
    private let lastSweep = Mutex<Int64>(.min)
    private let isClosed = Atomic<Bool>(false)
    private let metrics: KVMetrics

    /// Opens (creating if needed) the namespace stored in the SQLite file at `path`.
    ///
    /// - Throws: ``KVError`` `.storageFailure` when the file cannot be opened or migrated.
    public init(path: String, configuration: Configuration = Configuration()) throws {
        self.path = path
        self.configuration = configuration
        let removed: Int
        do {
            // GRDB creates the file, enables WAL and migrates the schema; the hot paths then use
            // prepared statements on their own connections (see SQLiteWriter, SQLiteReaderPool).
            let setup = try SQLiteDatabase.openQueue(path: path, settings: configuration.sqlite, label: "SQLiteKV", migrator: Self.migrator)
            // Reclaim what expired while the namespace was closed.
            let now = configuration.clock.nowEpochSeconds
            removed = try setup.write { db -> Int in
                try db.execute(sql: Self.sweepSQL, arguments: [now, configuration.sweepBatchSize])
                return db.changesCount
            }
            lastSweep.withLock { $0 = now }
            try setup.close()
            writer = try SQLiteWriter(path: path, settings: configuration.sqlite)
        } catch {
            throw KVError(.storageFailure, message: "cannot open KV database at \(path): \(error)")
        }
        readers = SQLiteReaderPool(path: path, settings: configuration.sqlite)
        metrics = KVMetrics(namespace: ((path as NSString).lastPathComponent as NSString).deletingPathExtension)
        metrics.expiredRemoved.increment(by: removed)
        configuration.logger.debug("opened KV namespace", metadata: ["path": "\(path)", "expired_removed": "\(removed)"])
    }

    /// Opens the namespace `name` under a state directory: `<stateDirectory>/kv/<name>.sqlite`.
    ///
    /// - Throws: ``KVError`` `.invalidNamespaceName` when `name` is not 1...128 characters of
    ///   letters, digits, `_`, `-` and `.` (not starting with `.`), or `.storageFailure`.
    public convenience init(namespace name: String, stateDirectory: String, configuration: Configuration = Configuration()) throws {
        try KVLimits.validateNamespaceName(name)
        let path = URL(fileURLWithPath: stateDirectory).appendingPathComponent("kv").appendingPathComponent("\(name).sqlite").path
        try self.init(path: path, configuration: configuration)
    }

    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE kv (
                        key TEXT NOT NULL PRIMARY KEY,
                        value BLOB NOT NULL,
                        expiration INTEGER,
                        metadata TEXT
                    );
                    CREATE INDEX kv_by_expiration ON kv(expiration) WHERE expiration IS NOT NULL;
                    """)
        }
        return migrator
    }()

    static let getSQL = "SELECT value, expiration, metadata FROM kv WHERE key = ?1 AND (expiration IS NULL OR expiration > ?2)"
    static let upsertSQL = """
        INSERT INTO kv (key, value, expiration, metadata) VALUES (?1, ?2, ?3, ?4)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, expiration = excluded.expiration, metadata = excluded.metadata
        """
    static let listSQL = "SELECT key, expiration, metadata FROM kv WHERE key >= ?1 AND (expiration IS NULL OR expiration > ?2) ORDER BY key LIMIT ?3"
    static let listBoundedSQL =
        "SELECT key, expiration, metadata FROM kv WHERE key >= ?1 AND key < ?4 AND (expiration IS NULL OR expiration > ?2) ORDER BY key LIMIT ?3"
    static let deleteSQL = "DELETE FROM kv WHERE key = ?"
    static let sweepSQL = "DELETE FROM kv WHERE rowid IN (SELECT rowid FROM kv WHERE expiration <= ? LIMIT ?)"

    public var limits: KVLimits { configuration.limits }

    private var now: Int64 { configuration.clock.nowEpochSeconds }

    private func checkOpen() throws {
        if isClosed.load(ordering: .relaxed) {
            throw KVError(.closed, message: "KV namespace at \(path) is closed")
        }
    }

    // MARK: Reads

    public func getWithMetadata(_ key: String) async throws -> KVEntry? {
        try limits.validateKey(key)
        try checkOpen()
        metrics.gets.increment()
        let now = self.now
        do {
            return try readers.read { connection in try Self.fetch(key, now: now, on: connection) }
        } catch {
            throw KVError.storage(error, key: key)
        }
    }

    public func get(_ key: String) async throws -> String? {
        try limits.validateKey(key)
        try checkOpen()
        metrics.gets.increment()
        let now = self.now
        do {
            return try readers.read { connection -> String? in
                let statement = try connection.statement(slot: Slot.get, Self.getSQL)
                defer { statement.reset() }
                statement.bind(1, key)
                statement.bind(2, now)
                return try statement.step() ? statement.string(0) : nil
            }
        } catch {
            throw KVError.storage(error, key: key)
        }
    }

    public func getWithMetadata(_ keys: [String]) async throws -> [String: KVEntry] {
        try limits.validateBulk(count: keys.count, limit: limits.maxBulkGetKeys, operation: "bulk get")
        for key in keys { try limits.validateKey(key) }
        try checkOpen()
        metrics.gets.increment(by: keys.count)
        let now = self.now
        do {
            return try readers.readSnapshot { connection in
                var result: [String: KVEntry] = [:]
                for key in keys {
                    if let entry = try Self.fetch(key, now: now, on: connection) { result[key] = entry }
                }
                return result
            }
        } catch {
            throw KVError.storage(error)
        }
    }

    /// Statement cache slots of the read connections.
    private enum Slot {
        static let get = 0
        static let list = 1
        static let listBounded = 2
    }

    private static func fetch(_ key: String, now: Int64, on connection: RawSQLiteConnection) throws -> KVEntry? {
        let statement = try connection.statement(slot: Slot.get, getSQL)
        defer { statement.reset() }
        statement.bind(1, key)
        statement.bind(2, now)
        guard try statement.step() else { return nil }
        return KVEntry(
            value: statement.bytes(0),
            metadata: try decodeMetadata(statement, column: 2),
            expiration: statement.isNull(1) ? nil : statement.int64(1)
        )
    }

    private static func decodeMetadata(_ statement: RawSQLiteStatement, column: Int32) throws -> JSONValue? {
        if statement.isNull(column) { return nil }
        return try JSONValue(parsing: Data(statement.string(column).utf8))
    }

    public func list(_ options: KVListOptions) async throws -> KVListResult {
        let request = try limits.validateList(options)
        try checkOpen()
        metrics.lists.increment()
        let now = self.now
        do {
            return try readers.read { connection in
                let statement =
                    try request.upperBound == nil
                    ? connection.statement(slot: Slot.list, Self.listSQL)
                    : connection.statement(slot: Slot.listBounded, Self.listBoundedSQL)
                defer { statement.reset() }
                statement.bindTextBytes(1, request.lowerBound)
                statement.bind(2, now)
                statement.bind(3, Int64(request.limit + 1))
                if let upper = request.upperBound { statement.bindTextBytes(4, upper) }
                var keys: [KVKey] = []
                var more = false
                while try statement.step() {
                    if keys.count == request.limit {
                        more = true
                        break
                    }
                    keys.append(
                        KVKey(
                            name: statement.string(0),
                            expiration: statement.isNull(1) ? nil : statement.int64(1),
                            metadata: try Self.decodeMetadata(statement, column: 2)
                        ))
                }
                return KVListResult(keys: keys, listComplete: !more, cursor: more ? keys.last.map { KVCursor.encode(lastKey: $0.name) } : nil)
            }
        } catch {
            throw KVError.storage(error)
        }
    }

    // MARK: Writes

    /// Statement cache slots of the writer connection.
    private enum WriteSlot {
        static let upsert = 0
        static let delete = 1
        static let sweep = 2
    }

    public func put(_ key: String, value: [UInt8], options: KVPutOptions) async throws {
        let now = self.now
        let write = try limits.validateWrite(key: key, value: value, options: options, now: now)
        try checkOpen()
        metrics.puts.increment()
        try await commit(now: now) { connection in try Self.store(write, on: connection) }
    }

    public func put(_ entries: [KVWrite]) async throws {
        try limits.validateBulk(count: entries.count, limit: limits.maxBulkWriteEntries, operation: "bulk put")
        let now = self.now
        let writes = try entries.map { try limits.validateWrite(key: $0.key, value: $0.value, options: $0.options, now: now) }
        try checkOpen()
        metrics.puts.increment(by: writes.count)
        try await commit(now: now) { connection in
            for write in writes { try Self.store(write, on: connection) }
        }
    }

    private static func store(_ write: ValidatedWrite, on connection: RawSQLiteConnection) throws {
        let statement = try connection.statement(slot: WriteSlot.upsert, upsertSQL)
        statement.bind(1, write.key)
        statement.bindBlob(2, write.value)
        statement.bind(3, write.expiration)
        statement.bind(4, write.metadataJSON)
        try statement.run()
    }

    private static func remove(_ key: String, on connection: RawSQLiteConnection) throws {
        let statement = try connection.statement(slot: WriteSlot.delete, deleteSQL)
        statement.bind(1, key)
        try statement.run()
    }

    public func delete(_ key: String) async throws {
        try limits.validateKey(key)
        try checkOpen()
        metrics.deletes.increment()
        try await commit(now: now) { connection in try Self.remove(key, on: connection) }
    }

    public func delete(_ keys: [String]) async throws {
        try limits.validateBulk(count: keys.count, limit: limits.maxBulkWriteEntries, operation: "bulk delete")
        for key in keys { try limits.validateKey(key) }
        try checkOpen()
        metrics.deletes.increment(by: keys.count)
        try await commit(now: now) { connection in
            for key in keys { try Self.remove(key, on: connection) }
        }
    }

    /// Runs `body` in a committed write transaction, sweeping expired keys first when a sweep is due.
    private func commit(now: Int64, _ body: @escaping @Sendable (RawSQLiteConnection) throws -> Void) async throws {
        let sweep = lastSweep.withLock { last -> Bool in
            guard last == .min || now >= last &+ configuration.sweepInterval else { return false }
            last = now
            return true
        }
        let batch = configuration.sweepBatchSize
        do {
            let removed = try await writer.write { connection -> Int in
                let removed = sweep ? try Self.sweep(now: now, limit: batch, on: connection) : 0
                try body(connection)
                return removed
            }
            if removed > 0 {
                metrics.expiredRemoved.increment(by: removed)
                configuration.logger.debug("swept expired keys", metadata: ["path": "\(path)", "removed": "\(removed)"])
            }
        } catch {
            metrics.failures.increment()
            configuration.logger.error("KV write failed", metadata: ["path": "\(path)", "error": "\(error)"])
            throw KVError.storage(error)
        }
    }

    private static func sweep(now: Int64, limit: Int, on connection: RawSQLiteConnection) throws -> Int {
        let statement = try connection.statement(slot: WriteSlot.sweep, sweepSQL)
        statement.bind(1, now)
        statement.bind(2, Int64(limit))
        try statement.run()
        return connection.changes
    }

    // MARK: Maintenance

    /// The writer connection's `PRAGMA synchronous` (0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA), for tests.
    package func writerSynchronousLevel() async throws -> Int {
        try await writer.write { connection -> Int in
            let statement = try connection.statement("PRAGMA synchronous")
            defer { statement.reset() }
            return try statement.step() ? Int(statement.int64(0)) : -1
        }
    }

    public func storedKeyCount() async throws -> Int {
        try checkOpen()
        do {
            return try readers.read { connection in
                let statement = try connection.statement("SELECT count(*) FROM kv")
                defer { statement.reset() }
                _ = try statement.step()
                return Int(statement.int64(0))
            }
        } catch {
            throw KVError.storage(error)
        }
    }

    @discardableResult
    public func purgeExpired() async throws -> Int {
        try checkOpen()
        let now = self.now
        do {
            let removed = try await writer.write { connection in try Self.sweep(now: now, limit: Int(Int64.max), on: connection) }
            lastSweep.withLock { $0 = now }
            metrics.expiredRemoved.increment(by: removed)
            return removed
        } catch {
            throw KVError.storage(error)
        }
    }

    /// Closes the namespace: later calls throw ``KVError`` `.closed`. Closing twice is harmless.
    ///
    /// - Throws: ``KVError`` `.storageFailure` when the database cannot be closed cleanly.
    public func close() throws {
        guard !isClosed.exchange(true, ordering: .relaxed) else { return }
        readers.close()
        writer.close()
    }
}

/// Counters for one namespace (no-ops until the application bootstraps a metrics backend).
struct KVMetrics: Sendable {
    let gets: Counter
    let puts: Counter
    let deletes: Counter
    let lists: Counter
    let expiredRemoved: Counter
    let failures: Counter

    init(namespace: String) {
        func counter(_ operation: String) -> Counter {
            Counter(label: "edge_kv_operations_total", dimensions: [("namespace", namespace), ("operation", operation)])
        }
        gets = counter("get")
        puts = counter("put")
        deletes = counter("delete")
        lists = counter("list")
        expiredRemoved = Counter(label: "edge_kv_expired_removed_total", dimensions: [("namespace", namespace)])
        failures = Counter(label: "edge_kv_failures_total", dimensions: [("namespace", namespace)])
    }
}
