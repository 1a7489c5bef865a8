// EdgeSQLite: the SQLite helpers every SQLite-backed binding shares (package-internal, not a
// product): databases opened the swift-edge way through GRDB, raw prepared statements for hot
// read paths, a group-committing writer.
package import EdgeCore
import Foundation
package import GRDB
import GRDBSQLite
import Synchronization

/// An error reported by SQLite itself: the result code, SQLite's message and the statement.
package struct SQLiteError: Error, CustomStringConvertible, Sendable {
    package var code: Int32
    package var message: String
    package var sql: String?

    package init(code: Int32, message: String, sql: String? = nil) {
        self.code = code
        self.message = message
        self.sql = sql
    }

    package var description: String {
        var text = "SQLite error \(code): \(message)"
        if let sql { text += " (in \(sql))" }
        return text
    }
}

/// Opens GRDB database queues configured the swift-edge way: WAL, the configured `synchronous`
/// level and busy timeout, and the schema brought up to date by `migrator`.
package enum SQLiteDatabase {
    /// Opens (creating if needed) the database at `path`, creating parent directories.
    package static func openQueue(path: String, settings: SQLiteSettings, label: String, migrator: DatabaseMigrator) throws -> DatabaseQueue {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        var configuration = Configuration()
        configuration.label = label
        configuration.busyMode = .timeout(TimeInterval(settings.busyTimeoutMilliseconds) / 1000)
        // WAL is set up here rather than with `configuration.journalMode = .wal`, because GRDB's WAL
        // setup lowers `synchronous` to NORMAL, and the bindings promise FULL by default.
        let synchronous = settings.synchronous.rawValue
        configuration.prepareDatabase { db in
            let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            guard mode == "wal" else {
                throw SQLiteError(code: 1, message: "could not enable WAL mode (journal_mode is \(mode ?? "unknown"))")
            }
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
        }
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        try migrator.migrate(queue)
        return queue
    }
}

/// A raw SQLite connection with a cache of prepared statements, for the hot read paths where
/// GRDB's general machinery would cost more than the query itself.
///
/// Not thread-safe: a connection is used by one thread at a time, which ``SQLiteReaderPool``
/// guarantees by handing each connection to one caller at a time.
package final class RawSQLiteConnection: @unchecked Sendable {
    package let handle: OpaquePointer
    private var statements: [String: RawSQLiteStatement] = [:]
    private var slots: [RawSQLiteStatement?] = []

    package init(path: String, readOnly: Bool, busyTimeoutMilliseconds: Int32) throws {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: "\(message) (\(path))")
        }
        handle = db
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
    }

    deinit {
        for statement in statements.values { statement.finalize() }
        for statement in slots { statement?.finalize() }
        sqlite3_close_v2(handle)
    }

    /// `PRAGMA integrity_check` of the database at `path`: `["ok"]` when it is sound, otherwise
    /// the problems SQLite found (tests use it after crashes and full disks).
    ///
    /// - Throws: ``SQLiteError`` when the file cannot be opened or read.
    package static func integrityCheck(path: String) throws -> [String] {
        let connection = try RawSQLiteConnection(path: path, readOnly: true, busyTimeoutMilliseconds: 5000)
        let statement = try connection.statement("PRAGMA integrity_check")
        defer { statement.reset() }
        var findings: [String] = []
        while try statement.step() { findings.append(statement.string(0)) }
        return findings
    }

    /// Runs one or more SQL statements that return no rows.
    package func execute(_ sql: String) throws {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, sql: sql) }
    }

    /// The prepared statement for `sql`, prepared once per connection.
    ///
    /// The caller must `reset()` the statement when done with it (a statement left mid-step holds
    /// a read transaction open, which keeps the WAL from being checkpointed).
    package func statement(_ sql: String) throws -> RawSQLiteStatement {
        if let cached = statements[sql] { return cached }
        let statement = try prepare(sql)
        statements[sql] = statement
        return statement
    }

    /// The prepared statement in cache slot `slot` (a small integer the caller assigns to `sql`),
    /// for hot paths where even hashing the SQL text would show. Same reset rule as ``statement(_:)``.
    package func statement(slot: Int, _ sql: @autoclosure () -> String) throws -> RawSQLiteStatement {
        if slot < slots.count, let cached = slots[slot] { return cached }
        let statement = try prepare(sql())
        if slot >= slots.count { slots += Array(repeating: nil, count: slot - slots.count + 1) }
        slots[slot] = statement
        return statement
    }

    private func prepare(_ sql: String) throws -> RawSQLiteStatement {
        var raw: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard rc == SQLITE_OK, let raw else { throw error(rc, sql: sql) }
        return RawSQLiteStatement(handle: raw, connection: handle, sql: sql)
    }

    func error(_ code: Int32, sql: String?) -> SQLiteError {
        SQLiteError(code: code, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }
}

/// A prepared statement. Column and parameter indexes follow SQLite: parameters from 1, columns from 0.
package final class RawSQLiteStatement {
    let handle: OpaquePointer
    let connection: OpaquePointer
    let sql: String

    init(handle: OpaquePointer, connection: OpaquePointer, sql: String) {
        self.handle = handle
        self.connection = connection
        self.sql = sql
    }

    func finalize() { sqlite3_finalize(handle) }

    /// Resets the statement so it can run again (bindings are kept until rebound).
    package func reset() {
        sqlite3_reset(handle)
    }

    package func bind(_ index: Int32, _ text: String) {
        var text = text
        text.withUTF8 { bindText(index, $0) }
    }

    /// Binds raw bytes as TEXT (for range bounds that are not valid UTF-8 on their own).
    package func bindTextBytes(_ index: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { bindText(index, $0) }
    }

    private func bindText(_ index: Int32, _ buffer: UnsafeBufferPointer<UInt8>) {
        if let base = buffer.baseAddress {
            sqlite3_bind_text(handle, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(buffer.count), sqliteTransient)
        } else {
            sqlite3_bind_text(handle, index, "", 0, sqliteTransient)
        }
    }

    package func bind(_ index: Int32, _ value: Int64) {
        sqlite3_bind_int64(handle, index, value)
    }

    package func bindNull(_ index: Int32) {
        sqlite3_bind_null(handle, index)
    }

    /// Advances the statement: `true` when a row is available, `false` when done.
    package func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(connection)), sql: sql)
        }
    }

    package func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    package func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    package func string(_ column: Int32) -> String {
        guard let text = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    package func bytes(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(handle, column))
        guard count > 0, let blob = sqlite3_column_blob(handle, column) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: blob, count: count))
    }
}

/// `SQLITE_TRANSIENT`: SQLite copies the bound value before the bind call returns.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// Read-only connections to one database file, handed to one caller at a time.
///
/// In WAL mode readers never block the writer nor each other, so reads run on the caller's thread
/// with no hop: a connection is taken from the idle list (or opened), used, and put back.
package final class SQLiteReaderPool: Sendable {
    private let path: String
    private let settings: SQLiteSettings
    private let idle = Mutex<[RawSQLiteConnection]>([])
    private let closed = Atomic<Bool>(false)

    package init(path: String, settings: SQLiteSettings) {
        self.path = path
        self.settings = settings
    }

    /// Runs `body` with a read-only connection; every statement `body` runs sees committed data.
    ///
    /// - Throws: ``SQLiteError`` (`SQLITE_MISUSE`) after ``close()``, or what SQLite reports.
    package func read<T>(_ body: (RawSQLiteConnection) throws -> T) throws -> T {
        if closed.load(ordering: .relaxed) { throw SQLiteError(code: SQLITE_MISUSE, message: "the database is closed") }
        let connection =
            try idle.withLock({ $0.popLast() })
            ?? RawSQLiteConnection(path: path, readOnly: true, busyTimeoutMilliseconds: settings.busyTimeoutMilliseconds)
        defer {
            let keep = settings.maximumIdleReaders
            idle.withLock { connections in
                if connections.count < keep, !closed.load(ordering: .relaxed) { connections.append(connection) }
            }
        }
        return try body(connection)
    }

    /// Runs `body` inside one read transaction, so that all its statements see one snapshot.
    package func readSnapshot<T>(_ body: (RawSQLiteConnection) throws -> T) throws -> T {
        try read { connection in
            try connection.execute("BEGIN DEFERRED")
            do {
                let result = try body(connection)
                try connection.execute("COMMIT")
                return result
            } catch {
                try? connection.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// Closes the idle connections (connections in use close when their caller is done); later
    /// reads fail.
    package func close() {
        closed.store(true, ordering: .relaxed)
        idle.withLock { $0.removeAll() }
    }
}

extension RawSQLiteStatement {
    /// Binds bytes as a BLOB.
    package func bindBlob(_ index: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            _ = sqlite3_bind_blob(handle, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(buffer.count), sqliteTransient)
        }
    }

    /// Binds an optional integer (NULL for `nil`).
    package func bind(_ index: Int32, _ value: Int64?) {
        if let value { bind(index, value) } else { bindNull(index) }
    }

    /// Binds optional text (NULL for `nil`).
    package func bind(_ index: Int32, _ text: String?) {
        if let text { bind(index, text) } else { bindNull(index) }
    }

    /// Steps until done and resets: for statements that return no rows.
    package func run() throws {
        defer { reset() }
        while try step() {}
    }
}

extension RawSQLiteConnection {
    /// Runs a cached statement that returns no rows.
    package func run(_ sql: String) throws {
        try statement(sql).run()
    }

    /// How many rows the last INSERT, UPDATE or DELETE changed.
    package var changes: Int { Int(sqlite3_changes64(handle)) }
}
