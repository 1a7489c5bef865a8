import EdgeCore
import EdgeSQLite
public import Foundation
import GRDB
public import Logging

/// The durable ``QueueBackend``: every queue of an application in one SQLite file (WAL,
/// `synchronous = FULL`), so moving a message to its dead-letter queue is one transaction.
///
/// - A send is committed (fsynced) when it returns. The messages of one send that share a delay
///   are stored as one row (up to 100 to a row; their encoding is described by `StoredBatch`), so
///   the claim and the acknowledgement of a whole batch write one row, not one per message.
/// - A claim takes the oldest visible messages (by visibility time, then id), splitting a row when
///   it takes only part of it, and leases them in the same transaction, so two consumers, in this
///   process or in others sharing the file, never receive the same message while its lease is
///   valid. A lease is the row's `visible_at` moved to the end of the visibility timeout plus a
///   random token; a consumer that dies simply lets it pass. Extending the leases of some of a
///   row's messages moves them to a row of their own under the same lease: only theirs move.
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
        migrator.registerMigration("v3: a row per batch") { db in
            // `first_id` is the lowest message id of the row's payload (kept in id order): with
            // `visible_at` it orders rows the way their messages are claimed.
            try db.execute(
                sql: """
                    CREATE TABLE batches (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        queue TEXT NOT NULL,
                        visible_at INTEGER NOT NULL,
                        first_id INTEGER NOT NULL,
                        count INTEGER NOT NULL,
                        lease TEXT,
                        attempts INTEGER NOT NULL,
                        sent_at INTEGER NOT NULL,
                        source_queue TEXT,
                        payload BLOB NOT NULL
                    );
                    CREATE INDEX batches_by_visibility ON batches (queue, visible_at, first_id);
                    CREATE INDEX batches_by_lease ON batches (lease) WHERE lease IS NOT NULL;
                    """)
            // New message ids are `row id << 7 | position`: start the row ids past the ids already given.
            let lastID = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'messages'") ?? 0
            try db.execute(sql: "INSERT INTO sqlite_sequence (name, seq) VALUES ('batches', ?)", arguments: [(lastID >> 7) + 1])
            // Each stored message becomes a row of its own, keeping its id, lease and attempts.
            let messages = try Row.fetchCursor(
                db, sql: "SELECT id, queue, body, content_type, sent_at, visible_at, attempts, lease, source_queue, trace_parent FROM messages ORDER BY id")
            while let message = try messages.next() {
                let id: Int64 = message["id"]
                var payload: [UInt8] = []
                StoredBatch.append(
                    id: id, contentType: QueueContentType(rawValue: message["content_type"]) ?? .bytes, traceParent: message["trace_parent"],
                    body: [UInt8]((message["body"] as Data?) ?? Data()), to: &payload)
                let arguments: StatementArguments = [
                    message["queue"] as String, message["visible_at"] as Int64, id, message["lease"] as String?, message["attempts"] as Int64,
                    message["sent_at"] as Int64, message["source_queue"] as String?, Data(payload),
                ]
                try db.execute(
                    sql: """
                        INSERT INTO batches (queue, visible_at, first_id, count, lease, attempts, sent_at, source_queue, payload)
                        VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?)
                        """, arguments: arguments)
            }
            try db.execute(sql: "DROP TABLE messages")
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
        static let lastRowID = 1, insert = 2, candidates = 3, load = 4, leased = 5, lease = 6, shrink = 7, moveInPlace = 8, delete = 9
        static let extend = 10
    }

    /// Most messages stored in one row: a message id is its row's id shifted by 7 bits plus its position.
    static let messagesPerRow = 100

    public func send(_ queue: String, _ messages: [OutgoingMessage]) async throws {
        try limits.validate(messages, queue: queue)
        let now = nowMilliseconds
        try await write(queue) { connection in
            // The messages sharing a visibility time are one row (up to 100 to a row), in the order sent.
            var rows: [(visibleAt: Int64, messages: [Int])] = []
            for (index, message) in messages.enumerated() {
                let visibleAt = now + Int64((message.delaySeconds * 1000).rounded())
                if let row = rows.lastIndex(where: { $0.visibleAt == visibleAt }), rows[row].messages.count < Self.messagesPerRow {
                    rows[row].messages.append(index)
                } else {
                    rows.append((visibleAt, [index]))
                }
            }
            let last = try connection.statement(slot: Slot.lastRowID, "SELECT seq FROM sqlite_sequence WHERE name = 'batches'")
            var rowID = try last.step() ? last.int64(0) : 0
            last.reset()
            for row in rows {
                rowID += 1
                var payload: [UInt8] = []
                for (position, index) in row.messages.enumerated() {
                    let message = messages[index]
                    StoredBatch.append(
                        id: rowID << 7 | Int64(position), contentType: message.contentType, traceParent: message.traceParent, body: message.body,
                        to: &payload)
                }
                _ = try Self.insert(
                    connection, id: rowID,
                    StoredRow(queue: queue, visibleAt: row.visibleAt, lease: nil, attempts: 0, sentAt: now, sourceQueue: nil),
                    firstID: rowID << 7, count: row.messages.count, payload: payload)
            }
        }
        signals.notify(queue)
    }

    /// What a row says about its messages besides the messages themselves.
    private struct StoredRow: Hashable {
        var queue: String
        var visibleAt: Int64
        var lease: String?
        var attempts: Int64
        var sentAt: Int64
        var sourceQueue: String?
    }

    /// Inserts a row (with id `id`, or the next one when `nil`); returns its id.
    private static func insert(
        _ connection: RawSQLiteConnection, id: Int64?, _ row: StoredRow, firstID: Int64, count: Int, payload: [UInt8]
    ) throws -> Int64 {
        let statement = try connection.statement(
            slot: Slot.insert,
            """
            INSERT INTO batches (id, queue, visible_at, first_id, count, lease, attempts, sent_at, source_queue, payload)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id
            """)
        defer { statement.reset() }
        statement.bind(1, id)
        statement.bind(2, row.queue)
        statement.bind(3, row.visibleAt)
        statement.bind(4, firstID)
        statement.bind(5, Int64(count))
        statement.bind(6, row.lease)
        statement.bind(7, row.attempts)
        statement.bind(8, row.sentAt)
        statement.bind(9, row.sourceQueue)
        statement.bindBlob(10, payload)
        _ = try statement.step()
        return statement.int64(0)
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

    /// A row a claim reads: its id, what it says, and its messages.
    private struct LoadedRow {
        var id: Int64
        var row: StoredRow
        var payload: [UInt8]
        var entries: [StoredBatch.Entry]
    }

    /// Reads the row `id`; `nil` when there is none.
    private static func load(_ connection: RawSQLiteConnection, _ id: Int64) throws -> LoadedRow? {
        let statement = try connection.statement(
            slot: Slot.load, "SELECT id, queue, visible_at, lease, attempts, sent_at, source_queue, payload FROM batches WHERE id = ?1")
        defer { statement.reset() }
        statement.bind(1, id)
        return try statement.step() ? loadedRow(statement) : nil
    }

    /// Reads the rows of `queue` leased under `lease` (one claim's: a row it took whole, the part
    /// of a row it took, and the parts a lease extension split off).
    private static func leased(_ connection: RawSQLiteConnection, _ queue: String, lease: String) throws -> [LoadedRow] {
        let statement = try connection.statement(
            slot: Slot.leased,
            "SELECT id, queue, visible_at, lease, attempts, sent_at, source_queue, payload FROM batches WHERE lease = ?1 AND queue = ?2")
        defer { statement.reset() }
        statement.bind(1, lease)
        statement.bind(2, queue)
        var rows: [LoadedRow] = []
        while try statement.step() { rows.append(try loadedRow(statement)) }
        return rows
    }

    private static func loadedRow(_ statement: RawSQLiteStatement) throws -> LoadedRow {
        let payload = statement.bytes(7)
        return LoadedRow(
            id: statement.int64(0),
            row: StoredRow(
                queue: statement.string(1), visibleAt: statement.int64(2), lease: statement.isNull(3) ? nil : statement.string(3),
                attempts: statement.int64(4), sentAt: statement.int64(5), sourceQueue: statement.isNull(6) ? nil : statement.string(6)),
            payload: payload, entries: try StoredBatch.entries(payload))
    }

    /// Leases the `max` oldest visible messages of `queue` (by visibility time, then id).
    private static func claim(
        _ connection: RawSQLiteConnection, _ queue: String, max: Int, now: Int64, visibilityTimeout: Double
    ) throws
        -> [ClaimedMessage]
    {
        // Rows in the order of their oldest message; read until the max-th oldest message found so
        // far comes before the next row's first (usually: one row, and a glance at the next).
        typealias Key = (visibleAt: Int64, id: Int64, row: Int, entry: Int)
        var rows: [LoadedRow] = []
        var keys: [Key] = []
        let candidates = try connection.statement(
            slot: Slot.candidates, "SELECT id, visible_at, first_id FROM batches WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, first_id")
        do {
            defer { candidates.reset() }
            candidates.bind(1, queue)
            candidates.bind(2, now)
            while try candidates.step() {
                let visibleAt = candidates.int64(1)
                if keys.count >= max {
                    keys.sort { ($0.visibleAt, $0.id) < ($1.visibleAt, $1.id) }
                    keys.removeLast(keys.count - max)
                    if (visibleAt, candidates.int64(2)) > (keys[max - 1].visibleAt, keys[max - 1].id) { break }
                }
                guard var loaded = try load(connection, candidates.int64(0)) else { continue }
                loaded.row.visibleAt = visibleAt
                keys += loaded.entries.enumerated().map { (visibleAt, $1.id, rows.count, $0) }
                rows.append(loaded)
            }
        }
        keys.sort { ($0.visibleAt, $0.id) < ($1.visibleAt, $1.id) }
        keys = Array(keys.prefix(max))
        var taken = Array(repeating: [Int](), count: rows.count)
        for key in keys { taken[key.row].append(key.entry) }

        // Lease whole rows in place; a row taken in part keeps the rest, the part taken becomes a leased row.
        let token = String(UInt64.random(in: 1...UInt64.max), radix: 36)
        let until = now + Int64((visibilityTimeout * 1000).rounded())
        for (index, loaded) in rows.enumerated() {
            let part = taken[index].sorted()
            if part.count == loaded.entries.count {
                let statement = try connection.statement(
                    slot: Slot.lease, "UPDATE batches SET lease = ?2, visible_at = ?3, attempts = attempts + 1 WHERE id = ?1")
                statement.bind(1, loaded.id)
                statement.bind(2, token)
                statement.bind(3, until)
                try statement.run()
            } else if !part.isEmpty {
                let rest = loaded.entries.indices.filter { !part.contains($0) }.map { loaded.entries[$0] }
                try shrink(connection, loaded.id, to: rest, of: loaded.payload)
                let entries = part.map { loaded.entries[$0] }
                var row = loaded.row
                row.visibleAt = until
                row.lease = token
                row.attempts += 1
                _ = try insert(
                    connection, id: nil, row, firstID: entries[0].id, count: entries.count, payload: StoredBatch.subset(entries, of: loaded.payload))
            }
        }
        return keys.map { key in
            let loaded = rows[key.row]
            let entry = loaded.entries[key.entry]
            let message = StoredBatch.message(entry, in: loaded.payload)
            return ClaimedMessage(
                lease: QueueLease(messageID: entry.id, token: token), body: message.body, contentType: message.contentType,
                timestamp: Date(timeIntervalSince1970: Double(loaded.row.sentAt) / 1000), attempts: Int(loaded.row.attempts + 1),
                traceParent: message.traceParent)
        }
    }

    /// Rewrites row `id` to hold only the messages `entries` locate in `payload`.
    private static func shrink(_ connection: RawSQLiteConnection, _ id: Int64, to entries: [StoredBatch.Entry], of payload: [UInt8]) throws {
        let statement = try connection.statement(slot: Slot.shrink, "UPDATE batches SET first_id = ?2, count = ?3, payload = ?4 WHERE id = ?1")
        statement.bind(1, id)
        statement.bind(2, entries[0].id)
        statement.bind(3, Int64(entries.count))
        statement.bindBlob(4, StoredBatch.subset(entries, of: payload))
        try statement.run()
    }

    /// `items` grouped by their lease token, in the order first seen.
    private static func byToken<T>(_ items: [T], _ token: (T) -> String) -> [(token: String, items: [T])] {
        var groups: [(token: String, items: [T])] = []
        var index: [String: Int] = [:]
        for item in items {
            let key = token(item)
            if let at = index[key] {
                groups[at].items.append(item)
            } else {
                index[key] = groups.count
                groups.append((key, [item]))
            }
        }
        return groups
    }

    public func extendLeases(_ queue: String, _ leases: [QueueLease], visibilityTimeout: Double) async throws -> [QueueLease] {
        guard !leases.isEmpty else { return [] }
        let until = nowMilliseconds + Int64((visibilityTimeout * 1000).rounded())
        return try await write(queue) { connection -> [QueueLease] in
            var kept: Set<QueueLease> = []
            for group in Self.byToken(leases, \.token) {
                let ids = Set(group.items.map(\.messageID))
                for loaded in try Self.leased(connection, queue, lease: group.token) {
                    let held = loaded.entries.filter { ids.contains($0.id) }
                    guard !held.isEmpty else { continue }
                    kept.formUnion(held.map { QueueLease(messageID: $0.id, token: group.token) })
                    if held.count == loaded.entries.count {
                        let statement = try connection.statement(slot: Slot.extend, "UPDATE batches SET visible_at = ?2 WHERE id = ?1")
                        statement.bind(1, loaded.id)
                        statement.bind(2, until)
                        try statement.run()
                    } else {
                        // Only these messages' leases move: they become a row of their own, under the same lease.
                        try Self.shrink(connection, loaded.id, to: loaded.entries.filter { !ids.contains($0.id) }, of: loaded.payload)
                        var row = loaded.row
                        row.visibleAt = until
                        _ = try Self.insert(
                            connection, id: nil, row, firstID: held[0].id, count: held.count, payload: StoredBatch.subset(held, of: loaded.payload))
                    }
                }
            }
            return leases.filter { kept.contains($0) }
        }
    }

    public func settle(_ queue: String, _ outcomes: [MessageOutcome]) async throws {
        guard !outcomes.isEmpty else { return }
        let now = nowMilliseconds
        let woken = try await write(queue) { connection in try Self.apply(outcomes, on: connection, queue, now: now) }
        for queue in woken { signals.notify(queue) }
    }

    /// Applies `outcomes`, a row at a time; returns the queues to wake. Outcomes under a lease
    /// that is no longer the row's, or for a message no longer in it, change nothing.
    private static func apply(_ outcomes: [MessageOutcome], on connection: RawSQLiteConnection, _ queue: String, now: Int64) throws -> Set<String> {
        var woken: Set<String> = []
        for group in byToken(outcomes, \.lease.token) {
            var outcome: [Int64: MessageOutcome] = [:]
            for item in group.items where outcome[item.lease.messageID] == nil { outcome[item.lease.messageID] = item }
            for loaded in try leased(connection, queue, lease: group.token) {
                try apply(outcome, to: loaded, on: connection, now: now, woken: &woken)
            }
        }
        return woken
    }

    /// Applies `outcome` to the messages of one leased row.
    private static func apply(
        _ outcome: [Int64: MessageOutcome], to loaded: LoadedRow, on connection: RawSQLiteConnection, now: Int64, woken: inout Set<String>
    ) throws {
        let id = loaded.id
        // Each message stays (no outcome), goes (acknowledged, or dropped), or moves to a new place.
        var kept: [StoredBatch.Entry] = []
        var moved: [(row: StoredRow, entries: [StoredBatch.Entry])] = []
        for entry in loaded.entries {
            // The row a moved message goes to (built only for moves: acknowledgements are the hot path).
            var row: StoredRow
            switch outcome[entry.id] {
            case nil:
                kept.append(entry)
                continue
            case .ack, .deadLetter(_, nil):
                continue
            case .retry(_, let delay):
                row = loaded.row
                row.visibleAt = now + Int64((delay * 1000).rounded())
            case .release:
                row = loaded.row
                row.visibleAt = now
                row.attempts -= 1
            case .deadLetter(_, let target?):
                row = loaded.row
                row.sourceQueue = row.sourceQueue ?? row.queue
                row.queue = target
                row.visibleAt = now
                row.attempts = 0
            }
            row.lease = nil
            if let at = moved.firstIndex(where: { $0.row == row }) {
                moved[at].entries.append(entry)
            } else {
                moved.append((row, [entry]))
            }
        }
        if kept.count == loaded.entries.count { return }
        for destination in moved { woken.insert(destination.row.queue) }
        if kept.isEmpty, moved.count == 1 {
            // All that is left of the row moves together: the row itself moves.
            let (row, entries) = moved[0]
            let statement = try connection.statement(
                slot: Slot.moveInPlace,
                """
                UPDATE batches SET queue = ?2, visible_at = ?3, lease = NULL, attempts = ?4, source_queue = ?5, first_id = ?6, count = ?7, payload = ?8
                WHERE id = ?1
                """)
            statement.bind(1, id)
            statement.bind(2, row.queue)
            statement.bind(3, row.visibleAt)
            statement.bind(4, row.attempts)
            statement.bind(5, row.sourceQueue)
            statement.bind(6, entries[0].id)
            statement.bind(7, Int64(entries.count))
            statement.bindBlob(8, entries.count == loaded.entries.count ? loaded.payload : StoredBatch.subset(entries, of: loaded.payload))
            try statement.run()
            return
        }
        if kept.isEmpty {
            let statement = try connection.statement(slot: Slot.delete, "DELETE FROM batches WHERE id = ?1")
            statement.bind(1, id)
            try statement.run()
        } else {
            try shrink(connection, id, to: kept, of: loaded.payload)
        }
        for (row, entries) in moved {
            _ = try insert(
                connection, id: nil, row, firstID: entries[0].id, count: entries.count, payload: StoredBatch.subset(entries, of: loaded.payload))
        }
    }

    public func stats(_ queue: String) async throws -> QueueStats {
        let now = nowMilliseconds
        return try read(queue) { connection in
            let statement = try connection.statement(
                """
                SELECT total(count), total(CASE WHEN lease IS NOT NULL AND visible_at > ?2 THEN count END),
                    total(CASE WHEN lease IS NULL AND visible_at > ?2 THEN count END), min(sent_at)
                FROM batches WHERE queue = ?1
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
            // The `limit` lowest ids are in the `limit` rows with the lowest first ids.
            let statement = try connection.statement(
                "SELECT attempts, sent_at, source_queue, payload FROM batches WHERE queue = ? ORDER BY first_id LIMIT ?")
            defer { statement.reset() }
            statement.bind(1, queue)
            statement.bind(2, Int64(limit))
            var messages: [(id: Int64, message: QueuedMessage)] = []
            while try statement.step() {
                let payload = statement.bytes(3)
                for entry in try StoredBatch.entries(payload) {
                    let message = StoredBatch.message(entry, in: payload)
                    messages.append(
                        (
                            entry.id,
                            QueuedMessage(
                                id: String(entry.id), body: message.body, contentType: message.contentType,
                                timestamp: Date(timeIntervalSince1970: Double(statement.int64(1)) / 1000), attempts: Int(statement.int64(0)),
                                sourceQueue: statement.isNull(2) ? nil : statement.string(2))
                        ))
                }
            }
            return messages.sorted { $0.id < $1.id }.prefix(limit).map(\.message)
        }
    }

    public func redrive(from deadLetterQueue: String, to target: String?) async throws -> Int {
        if let target { try QueueLimits.validateQueueName(target) }
        let now = nowMilliseconds
        let moved = try await write(deadLetterQueue) { connection -> [(queue: String, count: Int)] in
            let statement = try connection.statement(
                """
                UPDATE batches SET queue = COALESCE(?2, source_queue), source_queue = NULL, attempts = 0, visible_at = ?3, lease = NULL
                WHERE queue = ?1 AND COALESCE(?2, source_queue) IS NOT NULL
                RETURNING queue, count
                """)
            defer { statement.reset() }
            statement.bind(1, deadLetterQueue)
            statement.bind(2, target)
            statement.bind(3, now)
            var moved: [(queue: String, count: Int)] = []
            while try statement.step() { moved.append((statement.string(0), Int(statement.int64(1)))) }
            return moved
        }
        for queue in Set(moved.map(\.queue)) { signals.notify(queue) }
        return moved.reduce(0) { $0 + $1.count }
    }

    public func nextVisibleTime(_ queue: String) async throws -> Date? {
        try read(queue) { connection in
            let statement = try connection.statement("SELECT min(visible_at) FROM batches WHERE queue = ?")
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
