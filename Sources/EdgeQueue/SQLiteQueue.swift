import EdgeCore
import EdgeSQLite
public import Foundation
import GRDB
public import Logging

/// The durable ``QueueBackend``: every queue of an application in one SQLite file (WAL,
/// `synchronous = FULL`), so moving a message to its dead-letter queue is one transaction.
///
/// - A send is committed (fsynced) when it returns.
/// - A claim is one statement — `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING …` — so two
///   consumers, in this process or in others sharing the file, never receive the same message
///   while its lease is valid. A lease is the message's `visible_at` moved to the end of the
///   visibility timeout plus a random token; a consumer that dies simply lets it pass.
/// - Writes use group commit (`SQLiteWriter`): sends, claims and settlements that arrive
///   together share one transaction and one fsync.
public final class SQLiteQueue: QueueBackend {
    public struct Configuration: Sendable {
        public var limits: QueueLimits
        public var clock: any EdgeClock
        public var sqlite: SQLiteSettings
        public var logger: Logger

        public init(
            limits: QueueLimits = .cloudflare, clock: any EdgeClock = SystemClock(), sqlite: SQLiteSettings = SQLiteSettings(),
            logger: Logger = Logger(label: "swift-edge.queue")
        ) {
            self.limits = limits
            self.clock = clock
            self.sqlite = sqlite
            self.logger = logger
        }
    }

    public let path: String
    public let configuration: Configuration
    private let writer: SQLiteWriter
    private let readers: SQLiteReaderPool
    private let signals = QueueSignals()

    /// Opens (creating if needed) the queue database at `path`.
    ///
    /// - Throws: ``QueueError`` `.storageFailure` when it cannot be opened or migrated.
    public init(path: String, configuration: Configuration = Configuration()) throws {
        self.path = path
        self.configuration = configuration
        do {
            let setup = try SQLiteDatabase.openQueue(path: path, settings: configuration.sqlite, label: "SQLiteQueue", migrator: Self.migrator)
            try setup.close()
            writer = try SQLiteWriter(path: path, settings: configuration.sqlite)
        } catch {
            throw QueueError(.storageFailure, message: "cannot open the queue database at \(path): \(error)")
        }
        readers = SQLiteReaderPool(path: path, settings: configuration.sqlite)
    }

    /// Opens the queue database of a state directory: `<stateDirectory>/queues/queues.sqlite`.
    ///
    /// - Throws: ``QueueError`` `.storageFailure`.
    public convenience init(stateDirectory: String, configuration: Configuration = Configuration()) throws {
        try self.init(path: URL(fileURLWithPath: stateDirectory).appendingPathComponent("queues/queues.sqlite").path, configuration: configuration)
    }

    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE messages (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        queue TEXT NOT NULL,
                        body BLOB NOT NULL,
                        content_type TEXT NOT NULL,
                        sent_at INTEGER NOT NULL,
                        visible_at INTEGER NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        lease TEXT,
                        source_queue TEXT
                    );
                    CREATE INDEX messages_by_visibility ON messages (queue, visible_at, id);
                    """)
        }
        migrator.registerMigration("v2: trace context") { db in
            try db.execute(sql: "ALTER TABLE messages ADD COLUMN trace_parent TEXT")
        }
        return migrator
    }()

    public var limits: QueueLimits { configuration.limits }
    public var clock: any EdgeClock { configuration.clock }

    private var nowMilliseconds: Int64 { Int64((clock.now.timeIntervalSince1970 * 1000).rounded(.down)) }

    private func write<T: Sendable>(_ queue: String?, _ work: @escaping @Sendable (RawSQLiteConnection) throws -> T) async throws -> T {
        do {
            return try await writer.write(work)
        } catch {
            throw QueueError.storage(error, queue: queue)
        }
    }

    private func read<T>(_ queue: String, _ body: (RawSQLiteConnection) throws -> T) throws -> T {
        do {
            return try readers.read(body)
        } catch {
            throw QueueError.storage(error, queue: queue)
        }
    }

    private enum Slot {
        static let claim = 1, retry = 3, release = 4, deadLetter = 5, drop = 6, extend = 7
        /// `insertRows + n`: the INSERT of n rows; `ackRows + n`: the DELETE of n acknowledged messages.
        static let insertRows = 100, ackRows = 300
    }

    /// Rows one multi-row INSERT or DELETE handles (6 parameters a row: far below SQLite's limit).
    static let rowsPerStatement = 100

    public func send(_ queue: String, _ messages: [OutgoingMessage]) async throws {
        try limits.validate(messages, queue: queue)
        let now = nowMilliseconds
        try await write(queue) { connection in
            // One multi-row INSERT per (up to) 100 messages: one statement execution, not one per row.
            var start = messages.startIndex
            while start < messages.endIndex {
                let chunk = messages[start..<min(start + Self.rowsPerStatement, messages.endIndex)]
                let statement = try connection.statement(
                    slot: Slot.insertRows + chunk.count,
                    "INSERT INTO messages (queue, body, content_type, sent_at, visible_at, trace_parent) VALUES "
                        + Array(repeating: "(?, ?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", "))
                for (offset, message) in chunk.enumerated() {
                    let base = Int32(offset * 6)
                    statement.bind(base + 1, queue)
                    statement.bindBlob(base + 2, message.body)
                    statement.bind(base + 3, message.contentType.rawValue)
                    statement.bind(base + 4, now)
                    statement.bind(base + 5, now + Int64((message.delaySeconds * 1000).rounded()))
                    if let trace = message.traceParent { statement.bind(base + 6, trace) } else { statement.bindNull(base + 6) }
                }
                try statement.run()
                start = chunk.endIndex
            }
        }
        signals.notify(queue)
    }

    public func claim(_ queue: String, max: Int, visibilityTimeout: Double) async throws -> [ClaimedMessage] {
        guard max > 0 else { return [] }
        let now = nowMilliseconds
        return try await write(queue) { connection in
            try Self.claim(connection, queue, max: max, now: now, visibilityTimeout: visibilityTimeout)
        }
    }

    /// Settles `outcomes` and claims the next batch in one transaction (one commit, not two).
    public func settleAndClaim(_ queue: String, _ outcomes: [MessageOutcome], max: Int, visibilityTimeout: Double) async throws -> [ClaimedMessage] {
        let now = nowMilliseconds
        let (woken, claimed) = try await write(queue) { connection -> (Set<String>, [ClaimedMessage]) in
            let woken = try Self.apply(outcomes, on: connection, queue, now: now)
            return (woken, max > 0 ? try Self.claim(connection, queue, max: max, now: now, visibilityTimeout: visibilityTimeout) : [])
        }
        for queue in woken { signals.notify(queue) }
        return claimed
    }

    /// Leases up to `max` visible messages of `queue` with one `UPDATE ... RETURNING`, oldest first.
    private static func claim(
        _ connection: RawSQLiteConnection, _ queue: String, max: Int, now: Int64, visibilityTimeout: Double
    ) throws
        -> [ClaimedMessage]
    {
        let token = UUID().uuidString
        let until = now + Int64((visibilityTimeout * 1000).rounded())
        let statement = try connection.statement(
            slot: Slot.claim,
            """
            UPDATE messages SET lease = ?1, visible_at = ?2, attempts = attempts + 1
            WHERE id IN (SELECT id FROM messages WHERE queue = ?3 AND visible_at <= ?4 ORDER BY visible_at, id LIMIT ?5)
            RETURNING id, body, content_type, sent_at, attempts, trace_parent
            """)
        defer { statement.reset() }
        statement.bind(1, token)
        statement.bind(2, until)
        statement.bind(3, queue)
        statement.bind(4, now)
        statement.bind(5, Int64(max))
        var claimed: [ClaimedMessage] = []
        while try statement.step() {
            claimed.append(
                ClaimedMessage(
                    lease: QueueLease(messageID: statement.int64(0), token: token), body: statement.bytes(1),
                    contentType: QueueContentType(rawValue: statement.string(2)) ?? .bytes,
                    timestamp: Date(timeIntervalSince1970: Double(statement.int64(3)) / 1000), attempts: Int(statement.int64(4)),
                    traceParent: statement.isNull(5) ? nil : statement.string(5)))
        }
        return claimed.sorted { $0.lease.messageID < $1.lease.messageID }
    }

    public func extendLeases(_ queue: String, _ leases: [QueueLease], visibilityTimeout: Double) async throws -> [QueueLease] {
        guard !leases.isEmpty else { return [] }
        let until = nowMilliseconds + Int64((visibilityTimeout * 1000).rounded())
        return try await write(queue) { connection -> [QueueLease] in
            let statement = try connection.statement(
                slot: Slot.extend, "UPDATE messages SET visible_at = ?3 WHERE id = ?1 AND lease = ?2 AND queue = ?4 RETURNING id")
            var kept: [QueueLease] = []
            defer { statement.reset() }
            for lease in leases {
                statement.reset()
                statement.bind(1, lease.messageID)
                statement.bind(2, lease.token)
                statement.bind(3, until)
                statement.bind(4, queue)
                if try statement.step() { kept.append(lease) }
            }
            return kept
        }
    }

    public func settle(_ queue: String, _ outcomes: [MessageOutcome]) async throws {
        guard !outcomes.isEmpty else { return }
        let now = nowMilliseconds
        let woken = try await write(queue) { connection in try Self.apply(outcomes, on: connection, queue, now: now) }
        for queue in woken { signals.notify(queue) }
    }

    /// Applies `outcomes` (acknowledgements in batches); returns the queues to wake.
    private static func apply(_ outcomes: [MessageOutcome], on connection: RawSQLiteConnection, _ queue: String, now: Int64) throws -> Set<String> {
        var woken: Set<String> = []
        // Acknowledgements of one claim share its token: one DELETE per (up to) 100 of them.
        var acks: [String: [Int64]] = [:]
        for case .ack(let lease) in outcomes { acks[lease.token, default: []].append(lease.messageID) }
        for (token, ids) in acks {
            var start = ids.startIndex
            while start < ids.endIndex {
                let chunk = ids[start..<min(start + Self.rowsPerStatement, ids.endIndex)]
                let statement = try connection.statement(
                    slot: Slot.ackRows + chunk.count,
                    "DELETE FROM messages WHERE lease = ?1 AND id IN (" + (0..<chunk.count).map { "?\($0 + 2)" }.joined(separator: ", ") + ")")
                statement.bind(1, token)
                for (offset, id) in chunk.enumerated() { statement.bind(Int32(offset + 2), id) }
                try statement.run()
                start = chunk.endIndex
            }
        }
        for outcome in outcomes {
            let lease = outcome.lease
            let statement: RawSQLiteStatement
            switch outcome {
            case .ack:
                continue  // deleted above, in batches
            case .retry(_, let delay):
                statement = try connection.statement(slot: Slot.retry, "UPDATE messages SET lease = NULL, visible_at = ?3 WHERE id = ?1 AND lease = ?2")
                statement.bind(3, now + Int64((delay * 1000).rounded()))
                woken.insert(queue)
            case .release:
                statement = try connection.statement(
                    slot: Slot.release, "UPDATE messages SET lease = NULL, visible_at = ?3, attempts = attempts - 1 WHERE id = ?1 AND lease = ?2")
                statement.bind(3, now)
                woken.insert(queue)
            case .deadLetter(_, let target?):
                statement = try connection.statement(
                    slot: Slot.deadLetter,
                    """
                    UPDATE messages SET source_queue = COALESCE(source_queue, queue), queue = ?3, lease = NULL, visible_at = ?4, attempts = 0
                    WHERE id = ?1 AND lease = ?2
                    """)
                statement.bind(3, target)
                statement.bind(4, now)
                woken.insert(target)
            case .deadLetter(_, nil):
                statement = try connection.statement(slot: Slot.drop, "DELETE FROM messages WHERE id = ?1 AND lease = ?2")
            }
            statement.bind(1, lease.messageID)
            statement.bind(2, lease.token)
            try statement.run()
        }
        return woken
    }

    public func stats(_ queue: String) async throws -> QueueStats {
        let now = nowMilliseconds
        return try read(queue) { connection in
            let statement = try connection.statement(
                """
                SELECT count(*), total(lease IS NOT NULL AND visible_at > ?2), total(lease IS NULL AND visible_at > ?2), min(sent_at)
                FROM messages WHERE queue = ?1
                """)
            defer { statement.reset() }
            statement.bind(1, queue)
            statement.bind(2, now)
            _ = try statement.step()
            let oldest = statement.isNull(3) ? now : statement.int64(3)
            return QueueStats(
                backlog: Int(statement.int64(0)), inFlight: Int(statement.int64(1)), delayed: Int(statement.int64(2)),
                oldestMessageAge: Double(now - oldest) / 1000)
        }
    }

    public func peek(_ queue: String, limit: Int) async throws -> [QueuedMessage] {
        try read(queue) { connection in
            let statement = try connection.statement(
                "SELECT id, body, content_type, sent_at, attempts, source_queue FROM messages WHERE queue = ? ORDER BY id LIMIT ?")
            defer { statement.reset() }
            statement.bind(1, queue)
            statement.bind(2, Int64(limit))
            var messages: [QueuedMessage] = []
            while try statement.step() {
                messages.append(
                    QueuedMessage(
                        id: String(statement.int64(0)), body: statement.bytes(1), contentType: QueueContentType(rawValue: statement.string(2)) ?? .bytes,
                        timestamp: Date(timeIntervalSince1970: Double(statement.int64(3)) / 1000), attempts: Int(statement.int64(4)),
                        sourceQueue: statement.isNull(5) ? nil : statement.string(5)))
            }
            return messages
        }
    }

    public func redrive(from deadLetterQueue: String, to target: String?) async throws -> Int {
        if let target { try QueueLimits.validateQueueName(target) }
        let now = nowMilliseconds
        let moved = try await write(deadLetterQueue) { connection -> [String] in
            let statement = try connection.statement(
                """
                UPDATE messages SET queue = COALESCE(?2, source_queue), source_queue = NULL, attempts = 0, visible_at = ?3, lease = NULL
                WHERE queue = ?1 AND COALESCE(?2, source_queue) IS NOT NULL
                RETURNING queue
                """)
            defer { statement.reset() }
            statement.bind(1, deadLetterQueue)
            statement.bind(2, target)
            statement.bind(3, now)
            var moved: [String] = []
            while try statement.step() { moved.append(statement.string(0)) }
            return moved
        }
        for queue in Set(moved) { signals.notify(queue) }
        return moved.count
    }

    public func nextVisibleTime(_ queue: String) async throws -> Date? {
        try read(queue) { connection in
            let statement = try connection.statement("SELECT min(visible_at) FROM messages WHERE queue = ?")
            defer { statement.reset() }
            statement.bind(1, queue)
            _ = try statement.step()
            return statement.isNull(0) ? nil : Date(timeIntervalSince1970: Double(statement.int64(0)) / 1000)
        }
    }

    public func signal(for queue: String) -> QueueSignal { signals.signal(for: queue) }

    /// Closes the database; later calls throw ``QueueError`` `.storageFailure`.
    public func close() {
        readers.close()
        writer.close()
    }
}
