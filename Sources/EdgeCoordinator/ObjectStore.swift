import EdgeCore
import Foundation
import GRDB

/// The SQLite database of one namespace: every object's storage and alarm, keyed by object id.
///
/// One database per namespace rather than per object: thousands of objects would otherwise mean
/// thousands of files and connections, and with one writer the commits of all objects share
/// transactions and fsyncs (group commit), which is what makes a durable write per call cheap.
final class ObjectStore: Sendable {
    let path: String
    private let writer: SQLiteWriter
    private let readers: SQLiteReaderPool

    init(path: String, settings: SQLiteSettings) throws {
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

    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
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

    func value(_ objectID: String, _ key: String) throws -> [UInt8]? {
        try read { connection in
            let statement = try connection.statement(slot: 0, "SELECT value FROM storage WHERE object_id = ? AND key = ?")
            defer { statement.reset() }
            statement.bind(1, objectID)
            statement.bind(2, key)
            return try statement.step() ? statement.bytes(0) : nil
        }
    }

    /// Rows with `lower <= key < upper`, ascending or descending, at most `limit`.
    func list(_ objectID: String, lower: [UInt8], upper: [UInt8]?, reverse: Bool, limit: Int) throws -> [(String, [UInt8])] {
        try read { connection in
            let order = reverse ? "DESC" : "ASC"
            let sql = upper == nil
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

    func alarm(_ objectID: String) throws -> ScheduledAlarm? {
        try read { connection in
            let statement = try connection.statement("SELECT scheduled_at, retry_count FROM alarms WHERE object_id = ?")
            defer { statement.reset() }
            statement.bind(1, objectID)
            guard try statement.step() else { return nil }
            return ScheduledAlarm(time: Date(milliseconds: statement.int64(0)), retryCount: Int(statement.int64(1)))
        }
    }

    /// Alarms due at `now`, earliest first.
    func dueAlarms(now: Date, limit: Int) async throws -> [(objectID: String, alarm: ScheduledAlarm)] {
        try read { connection in
            let statement = try connection.statement("SELECT object_id, scheduled_at, retry_count FROM alarms WHERE scheduled_at <= ? ORDER BY scheduled_at LIMIT ?")
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

    func nextAlarmTime() async throws -> Date? {
        try read { connection in
            let statement = try connection.statement("SELECT min(scheduled_at) FROM alarms")
            defer { statement.reset() }
            _ = try statement.step()
            return statement.isNull(0) ? nil : Date(milliseconds: statement.int64(0))
        }
    }

    /// Commits one call's writes in one transaction (shared with other objects' commits).
    func commit(_ objectID: String, _ pending: PendingCommit, activation: Int?) async throws {
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
    func deleteEverything() async throws {
        do {
            try await writer.write { connection in try connection.execute("DELETE FROM storage; DELETE FROM alarms;") }
        } catch {
            throw CoordinatorError.storage(error)
        }
    }

    func close() {
        readers.close()
        writer.close()
    }
}

/// An alarm as stored: when, and how many times it already failed.
package struct ScheduledAlarm: Sendable, Hashable {
    package var time: Date
    package var retryCount: Int

    package init(time: Date, retryCount: Int) {
        self.time = time
        self.retryCount = retryCount
    }
}

/// The writes of one call, committed together.
package struct PendingCommit: Sendable {
    package var writes: [String: [UInt8]?] = [:]
    package var clearAll = false
    /// `nil`: unchanged; `.some(nil)`: deleted; `.some(alarm)`: set.
    package var alarm: ScheduledAlarm??

    package var isEmpty: Bool { writes.isEmpty && !clearAll && alarm == nil }

    /// Adds the writes of a later commit: the result leaves storage as applying both in turn would.
    mutating func merge(_ later: PendingCommit) {
        if later.clearAll {
            writes = later.writes
            clearAll = true
        } else {
            for (key, value) in later.writes { writes[key] = value }
        }
        if let alarm = later.alarm { self.alarm = alarm }
    }
}

/// Where a namespace keeps its objects' storage and alarms: one SQLite file (``ObjectStore``),
/// or a database several processes share, which also decides which process owns an object.
///
/// Reads are synchronous (a call reads storage without suspending): a shared store loads an
/// object's storage when it ``activate(_:)``s it and serves reads from memory while it owns it.
package protocol DurableObjectStore: Sendable {
    func value(_ objectID: String, _ key: String) throws -> [UInt8]?
    func list(_ objectID: String, lower: [UInt8], upper: [UInt8]?, reverse: Bool, limit: Int) throws -> [(String, [UInt8])]
    func alarm(_ objectID: String) throws -> ScheduledAlarm?
    /// Alarms due at `now` of objects this process may run (not owned by another live process).
    func dueAlarms(now: Date, limit: Int) async throws -> [(objectID: String, alarm: ScheduledAlarm)]
    func nextAlarmTime() async throws -> Date?
    /// Commits one call's writes, made by the instance of `activation` (the token
    /// ``activate(_:)`` returned); commits of one object apply in the order they were made. A
    /// shared store refuses the writes of an activation that no longer owns the object.
    func commit(_ objectID: String, _ pending: PendingCommit, activation: Int?) async throws
    func deleteEverything() async throws
    func close()

    /// Before an object's instance is built: take ownership (waiting for another owner to hand
    /// it over) and load it. Returns a token for ``deactivate(_:token:)``.
    func activate(_ objectID: String) async throws -> Int
    /// The instance of activation `token` is gone (evicted or handed over): give ownership up.
    func deactivate(_ objectID: String, token: Int) async
    /// Renews ownership of `active` objects; returns those whose ownership was lost.
    func maintain(active: [String]) async -> [String]
    /// Longest time between ``maintain(active:)`` calls; `nil` when there is nothing to maintain.
    var maintenanceInterval: Double? { get }
    /// Calls `handler` with the id of an object another process asks this one to hand over.
    func onHandoverRequest(_ handler: @escaping @Sendable (String) -> Void)

    /// The address (`http://HOST:PORT`) of the live process owning `objectID`, when that is
    /// another process and it advertised one: calls are forwarded there.
    func remoteOwner(_ objectID: String) async throws -> String?
    /// Where this process accepts forwarded calls, recorded with the objects it owns.
    func advertise(_ address: String?) async
    /// The secret forwarded calls between processes of this store carry; `nil`: no forwarding.
    func forwardingToken() async throws -> String?
}

extension ObjectStore: DurableObjectStore {
    func activate(_ objectID: String) async throws -> Int { 0 }
    func deactivate(_ objectID: String, token: Int) async {}
    func maintain(active: [String]) async -> [String] { [] }
    var maintenanceInterval: Double? { nil }
    func onHandoverRequest(_ handler: @escaping @Sendable (String) -> Void) {}
    func remoteOwner(_ objectID: String) async throws -> String? { nil }
    func advertise(_ address: String?) async {}
    func forwardingToken() async throws -> String? { nil }
}

extension Date {
    init(milliseconds: Int64) { self.init(timeIntervalSince1970: Double(milliseconds) / 1000) }
    var milliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.down)) }
}
