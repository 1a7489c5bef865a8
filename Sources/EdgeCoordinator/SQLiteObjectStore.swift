import EdgeCore
import EdgeSQLite
public import Foundation
import GRDB

/// The SQLite store of one namespace: every object's storage and alarm in one file, keyed by
/// object id. One process owns it (``LocalOwnership``).
///
/// One database per namespace rather than per object: thousands of objects would otherwise mean
/// thousands of files and connections, and with one writer the commits of all objects share
/// transactions and fsyncs (group commit), which is what makes a durable write per call cheap.
public final class SQLiteObjectStore: DurableObjectStore, DurableObjectInspection {
    /// The database file.
    public let path: String
    private let writer: SQLiteWriter
    private let readers: SQLiteReaderPool

    /// Opens (creating) the store at `path`.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    public init(path: String, settings: SQLiteSettings = SQLiteSettings()) throws {
        self.path = path
        do {
            let setup = try SQLiteDatabase.openQueue(path: path, settings: settings, label: "DurableObjects", migrator: Self.migrator)
            try setup.close()
            writer = try SQLiteWriter(path: path, settings: settings)
        } catch {
            throw CoordinatorError(.storageFailure, message: "cannot open the durable object database at \(path): \(error)")
        }
        readers = SQLiteReaderPool(path: path, settings: settings)
    }

    /// The store of namespace `namespace` under a state directory:
    /// `<stateDirectory>/durable-objects/<namespace>.sqlite`.
    ///
    /// - Throws: ``CoordinatorError`` `.invalidNamespaceName` or `.storageFailure`.
    public convenience init(namespace: String, stateDirectory: String, settings: SQLiteSettings = SQLiteSettings()) throws {
        try CoordinatorLimits.validateNamespaceName(namespace)
        try self.init(path: URL(fileURLWithPath: stateDirectory).appendingPathComponent("durable-objects/\(namespace).sqlite").path, settings: settings)
    }

    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE storage (
                        object_id TEXT NOT NULL,
                        key TEXT NOT NULL,
                        value BLOB NOT NULL,
                        PRIMARY KEY (object_id, key)
                    ) WITHOUT ROWID;
                    CREATE TABLE alarms (
                        object_id TEXT NOT NULL PRIMARY KEY,
                        scheduled_at INTEGER NOT NULL,
                        retry_count INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE INDEX alarms_by_time ON alarms (scheduled_at);
                    """)
        }
        return migrator
    }()

    private func read<T>(_ body: (RawSQLiteConnection) throws -> T) throws -> T {
        do { return try readers.read(body) } catch { throw CoordinatorError.storage(error) }
    }

    public func value(_ objectID: String, _ key: String) throws -> [UInt8]? {
        try read { connection in
            let statement = try connection.statement(slot: 0, "SELECT value FROM storage WHERE object_id = ? AND key = ?")
            defer { statement.reset() }
            statement.bind(1, objectID)
            statement.bind(2, key)
            return try statement.step() ? statement.bytes(0) : nil
        }
    }

    /// Rows with `lower <= key < upper`, ascending or descending, at most `limit`.
    public func list(_ objectID: String, lower: [UInt8], upper: [UInt8]?, reverse: Bool, limit: Int) throws -> [(String, [UInt8])] {
        try read { connection in
            let order = reverse ? "DESC" : "ASC"
            let sql =
                upper == nil
                ? "SELECT key, value FROM storage WHERE object_id = ?1 AND key >= ?2 ORDER BY key \(order) LIMIT ?3"
                : "SELECT key, value FROM storage WHERE object_id = ?1 AND key >= ?2 AND key < ?4 ORDER BY key \(order) LIMIT ?3"
            let statement = try connection.statement(sql)
            defer { statement.reset() }
            statement.bind(1, objectID)
            statement.bindTextBytes(2, lower)
            statement.bind(3, Int64(limit))
            if let upper { statement.bindTextBytes(4, upper) }
            var rows: [(String, [UInt8])] = []
            while try statement.step() { rows.append((statement.string(0), statement.bytes(1))) }
            return rows
        }
    }

    public func alarm(_ objectID: String) throws -> ScheduledAlarm? {
        try read { connection in
            let statement = try connection.statement("SELECT scheduled_at, retry_count FROM alarms WHERE object_id = ?")
            defer { statement.reset() }
            statement.bind(1, objectID)
            guard try statement.step() else { return nil }
            return ScheduledAlarm(time: Date(milliseconds: statement.int64(0)), retryCount: Int(statement.int64(1)))
        }
    }

    // MARK: Inspection

    /// The objects holding storage or an alarm, by id, after `after` (exclusive), at most `limit`.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    public func objects(after: String? = nil, limit: Int) throws -> [StoredObjectSummary] {
        try read { connection in
            let statement = try connection.statement(
                """
                SELECT o.object_id, (SELECT count(*) FROM storage s WHERE s.object_id = o.object_id), a.scheduled_at, a.retry_count
                FROM (SELECT object_id FROM storage UNION SELECT object_id FROM alarms) o LEFT JOIN alarms a ON a.object_id = o.object_id
                WHERE o.object_id > ?1 ORDER BY o.object_id LIMIT ?2
                """)
            defer { statement.reset() }
            statement.bind(1, after ?? "")
            statement.bind(2, Int64(limit))
            var objects: [StoredObjectSummary] = []
            while try statement.step() {
                let alarm = statement.isNull(2) ? nil : ScheduledAlarm(time: Date(milliseconds: statement.int64(2)), retryCount: Int(statement.int64(3)))
                objects.append(StoredObjectSummary(id: statement.string(0), keys: Int(statement.int64(1)), alarm: alarm))
            }
            return objects
        }
    }

    /// The keys of object `objectID` starting with `prefix`, in byte order, at most `limit`.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    public func storedEntries(_ objectID: String, prefix: String?, limit: Int) throws -> [(key: String, value: [UInt8])] {
        let lower = Array((prefix ?? "").utf8)
        // Every key starting with the prefix sorts below the prefix followed by 0xFF.
        let upper = prefix.map { Array($0.utf8) + [0xFF] }
        return try list(objectID, lower: lower, upper: upper, reverse: false, limit: limit).map { (key: $0.0, value: $0.1) }
    }

    /// Object `objectID`'s alarm, if one is set.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    public func storedAlarm(_ objectID: String) throws -> ScheduledAlarm? { try alarm(objectID) }

    /// Every scheduled alarm, earliest first, at most `limit`.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    public func scheduledAlarms(limit: Int) throws -> [(objectID: String, alarm: ScheduledAlarm)] {
        try read { connection in
            let statement = try connection.statement("SELECT object_id, scheduled_at, retry_count FROM alarms ORDER BY scheduled_at, object_id LIMIT ?")
            defer { statement.reset() }
            statement.bind(1, Int64(limit))
            var alarms: [(objectID: String, alarm: ScheduledAlarm)] = []
            while try statement.step() {
                alarms.append((statement.string(0), ScheduledAlarm(time: Date(milliseconds: statement.int64(1)), retryCount: Int(statement.int64(2)))))
            }
            return alarms
        }
    }

    /// How many alarms are scheduled.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    public func pendingAlarmCount() throws -> Int {
        try read { connection in
            let statement = try connection.statement("SELECT count(*) FROM alarms")
            defer { statement.reset() }
            _ = try statement.step()
            return Int(statement.int64(0))
        }
    }

    /// Alarms due at `now`, earliest first.
    public func dueAlarms(now: Date, limit: Int) async throws -> [(objectID: String, alarm: ScheduledAlarm)] {
        try read { connection in
            let statement = try connection.statement(
                "SELECT object_id, scheduled_at, retry_count FROM alarms WHERE scheduled_at <= ? ORDER BY scheduled_at LIMIT ?")
            defer { statement.reset() }
            statement.bind(1, now.milliseconds)
            statement.bind(2, Int64(limit))
            var due: [(String, ScheduledAlarm)] = []
            while try statement.step() {
                due.append((statement.string(0), ScheduledAlarm(time: Date(milliseconds: statement.int64(1)), retryCount: Int(statement.int64(2)))))
            }
            return due
        }
    }

    public func nextAlarmTime() async throws -> Date? {
        try read { connection in
            let statement = try connection.statement("SELECT min(scheduled_at) FROM alarms")
            defer { statement.reset() }
            _ = try statement.step()
            return statement.isNull(0) ? nil : Date(milliseconds: statement.int64(0))
        }
    }

    /// Commits one call's writes in one transaction (shared with other objects' commits).
    public func commit(_ objectID: String, _ pending: StorageCommit, lease: OwnershipLease?) async throws {
        do {
            try await writer.write { connection in
                if pending.clearAll {
                    let statement = try connection.statement("DELETE FROM storage WHERE object_id = ?")
                    statement.bind(1, objectID)
                    try statement.run()
                }
                for (key, value) in pending.writes {
                    if let value {
                        let statement = try connection.statement(slot: 0, "INSERT OR REPLACE INTO storage (object_id, key, value) VALUES (?, ?, ?)")
                        statement.bind(1, objectID)
                        statement.bind(2, key)
                        statement.bindBlob(3, value)
                        try statement.run()
                    } else {
                        let statement = try connection.statement(slot: 1, "DELETE FROM storage WHERE object_id = ? AND key = ?")
                        statement.bind(1, objectID)
                        statement.bind(2, key)
                        try statement.run()
                    }
                }
                switch pending.alarm {
                case nil: break
                case .some(nil):
                    let statement = try connection.statement("DELETE FROM alarms WHERE object_id = ?")
                    statement.bind(1, objectID)
                    try statement.run()
                case .some(.some(let alarm)):
                    let statement = try connection.statement("INSERT OR REPLACE INTO alarms (object_id, scheduled_at, retry_count) VALUES (?, ?, ?)")
                    statement.bind(1, objectID)
                    statement.bind(2, alarm.time.milliseconds)
                    statement.bind(3, Int64(alarm.retryCount))
                    try statement.run()
                }
            }
        } catch {
            throw CoordinatorError.storage(error, objectID: objectID)
        }
    }

    /// Deletes every object's storage and alarm.
    public func deleteEverything() async throws {
        do {
            try await writer.write { connection in try connection.execute("DELETE FROM storage; DELETE FROM alarms;") }
        } catch {
            throw CoordinatorError.storage(error)
        }
    }

    public func close() {
        readers.close()
        writer.close()
    }
}

/// An alarm as stored: when, and how many times it already failed.
public struct ScheduledAlarm: Sendable, Hashable {
    public var time: Date
    public var retryCount: Int

    public init(time: Date, retryCount: Int) {
        self.time = time
        self.retryCount = retryCount
    }
}

/// The writes of one call (or of consecutive calls merged), committed together.
public struct StorageCommit: Sendable {
    /// New values by key; `nil` deletes the key.
    public var writes: [String: [UInt8]?] = [:]
    /// Delete every key first (`deleteAll`).
    public var clearAll = false
    /// `nil`: unchanged; `.some(nil)`: deleted; `.some(alarm)`: set.
    public var alarm: ScheduledAlarm??

    public init(writes: [String: [UInt8]?] = [:], clearAll: Bool = false, alarm: ScheduledAlarm?? = nil) {
        self.writes = writes
        self.clearAll = clearAll
        self.alarm = alarm
    }

    public var isEmpty: Bool { writes.isEmpty && !clearAll && alarm == nil }

    /// Adds the writes of a later commit: the result leaves storage as applying both in turn would.
    mutating func merge(_ later: StorageCommit) {
        if later.clearAll {
            writes = later.writes
            clearAll = true
        } else {
            for (key, value) in later.writes { writes[key] = value }
        }
        if let alarm = later.alarm { self.alarm = alarm }
    }
}

/// Where a namespace keeps its objects' storage and alarms: ``SQLiteObjectStore`` (one file, one
/// process), or a database several processes share (EdgePostgres), or a store of your own —
/// `CoordinatorConformance` in EdgeTesting checks one.
///
/// Reads are synchronous (a call reads storage without suspending): a shared store loads an
/// object's storage when its ``DurableObjectOwnership`` acquires the object and serves reads from
/// memory while it is owned.
public protocol DurableObjectStore: Sendable {
    /// The value of `key` in object `objectID`'s storage.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    func value(_ objectID: String, _ key: String) throws -> [UInt8]?
    /// Keys with `lower <= key < upper` (byte order), ascending or descending, at most `limit`.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    func list(_ objectID: String, lower: [UInt8], upper: [UInt8]?, reverse: Bool, limit: Int) throws -> [(String, [UInt8])]
    /// The object's alarm, if one is set.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    func alarm(_ objectID: String) throws -> ScheduledAlarm?
    /// Alarms due at `now` of objects this process may run (not owned by another live process),
    /// earliest first.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    func dueAlarms(now: Date, limit: Int) async throws -> [(objectID: String, alarm: ScheduledAlarm)]
    /// When the earliest alarm is due.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    func nextAlarmTime() async throws -> Date?
    /// Commits `writes` atomically and durably. Commits of one object arrive in the order its
    /// calls ran. `lease` is the ownership the writing instance was built under (nil with
    /// ``LocalOwnership``): a shared store refuses the writes of a lease that is no longer current.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`, or `.ownedElsewhere` for a stale lease.
    func commit(_ objectID: String, _ writes: StorageCommit, lease: OwnershipLease?) async throws
    /// Deletes every object's storage and alarm (tests).
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    func deleteEverything() async throws
    /// Releases the store's resources.
    func close()
}

/// One acquisition of an object's ownership: commits made under it are fenced by it.
public struct OwnershipLease: Sendable, Hashable {
    /// Increases with every acquisition of the object (a database sequence, say).
    public var epoch: Int

    public init(epoch: Int) { self.epoch = epoch }
}

/// Which process owns each object of a namespace, when several processes share a store: leases,
/// their renewal, handover on request, and where the owner can be reached for forwarded calls.
/// ``LocalOwnership`` is the single-process answer (this process owns everything).
public protocol DurableObjectOwnership: Sendable {
    /// Before an object's instance is built: take ownership (waiting for another owner to hand
    /// it over) and load the object. Returns the lease commits are fenced by; nil when there is
    /// nothing to fence (one process).
    ///
    /// - Throws: ``CoordinatorError`` `.ownedElsewhere` when the owner did not hand it over in
    ///   time; `.storageFailure`.
    func acquire(_ objectID: String) async throws -> OwnershipLease?
    /// The instance built under `lease` is gone (evicted or handed over): give ownership up.
    func release(_ objectID: String, lease: OwnershipLease) async
    /// Renews the ownership of `active` objects; returns those whose ownership was lost.
    func renew(active: [String]) async -> [String]
    /// Longest time between ``renew(active:)`` calls, in seconds; nil when nothing needs renewing.
    var renewalInterval: Double? { get }
    /// Calls `handler` with the id of an object another process asks this one to hand over.
    func onHandoverRequest(_ handler: @escaping @Sendable (String) -> Void)
    /// The address (`http://HOST:PORT`) of the live process owning `objectID`, when that is
    /// another process and it advertised one: `fetch` calls are forwarded there.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    func remoteOwner(_ objectID: String) async throws -> String?
    /// Where this process accepts forwarded calls, recorded with the objects it owns.
    func advertise(_ address: String?) async
    /// The secret forwarded calls between processes sharing the store carry; nil: no forwarding.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    func forwardingToken() async throws -> String?
}

/// One process owns every object: nothing to acquire, renew, hand over or forward.
public struct LocalOwnership: DurableObjectOwnership {
    public init() {}
    public func acquire(_ objectID: String) async throws -> OwnershipLease? { nil }
    public func release(_ objectID: String, lease: OwnershipLease) async {}
    public func renew(active: [String]) async -> [String] { [] }
    public var renewalInterval: Double? { nil }
    public func onHandoverRequest(_ handler: @escaping @Sendable (String) -> Void) {}
    public func remoteOwner(_ objectID: String) async throws -> String? { nil }
    public func advertise(_ address: String?) async {}
    public func forwardingToken() async throws -> String? { nil }
}

extension Date {
    init(milliseconds: Int64) { self.init(timeIntervalSince1970: Double(milliseconds) / 1000) }
    var milliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.down)) }
}
