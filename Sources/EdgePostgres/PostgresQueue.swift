public import EdgeCore
public import EdgeQueue
public import Foundation
public import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// A `QueueBackend` in PostgreSQL, for consumers in several processes on several machines.
///
/// Messages of every queue live in `edge_queue_batches`, a row for the messages of one send that
/// share a delay (the layout, and the functions below, are in `PostgresQueueSchema.swift`). A claim
/// is one call of `edge_queue_claim`, which locks the rows it takes `FOR UPDATE SKIP LOCKED` — so two
/// consumers never claim the same message and nothing happens between choosing and claiming — and
/// splits a row it takes in part. Settling and extending leases are one call each. A claim is a lease
/// (a token and a visibility deadline): settling with a stale token changes nothing, and a message
/// whose consumer died becomes visible again at the deadline. Sends and give-backs `NOTIFY`
/// channel `edge_queue` with the queue's name; every `PostgresQueue` listens on it and wakes its
/// consumers at once, in whichever process they run.
///
/// Times come from the configured clock (so tests run on a `TestClock`); processes sharing a
/// database should have synchronised clocks (NTP), as leases compare them.
public final class PostgresQueue: QueueBackend {
    public struct Configuration: Sendable {
        public var limits: QueueLimits
        public var clock: any EdgeClock
        public var logger: Logger
        /// Listen for `NOTIFY` from other processes (default true).
        public var listen: Bool
        /// Separates applications sharing a database: queues of one scope never see another's
        /// messages. Default `"default"`.
        public var scope: String

        public init(
            limits: QueueLimits = .cloudflare, clock: any EdgeClock = SystemClock(), listen: Bool = true, scope: String = "default",
            logger: Logger = Logger(label: "swift-edge.queue.postgres")
        ) {
            self.limits = limits
            self.clock = clock
            self.listen = listen
            self.scope = scope
            self.logger = logger
        }
    }

    public let pool: PostgresPool
    public let configuration: Configuration
    private let signals = QueueSignals()
    private let listener = Mutex<PostgresPool.Subscription?>(nil)

    /// Opens the queues of `pool`'s database and starts listening for notifications. The table is
    /// created by the first operation (a failure to reach or migrate the database is that
    /// operation's `.storageFailure`).
    public init(pool: PostgresPool, configuration: Configuration = Configuration()) {
        self.pool = pool
        self.configuration = configuration
        if configuration.listen { startListening() }
    }

    /// Stops listening for notifications (the pool is not closed: it may serve others).
    public func close() {
        listener.withLock { subscription in
            subscription?.cancel()
            subscription = nil
        }
    }

    /// The pool's listener on `edge_queue` wakes this backend's consumers; an empty payload
    /// (the listener reconnected) wakes them all.
    private func startListening() {
        let signals = self.signals, prefix = configuration.scope + "/"
        let subscription = pool.subscribe("edge_queue") { payload in
            if payload.isEmpty {
                signals.notifyAll()
            } else if payload.hasPrefix(prefix) {
                signals.notify(String(payload.dropFirst(prefix.count)))
            }
        }
        listener.withLock { $0 = subscription }
    }

    public var limits: QueueLimits { configuration.limits }
    public var clock: any EdgeClock { configuration.clock }
    private var nowMilliseconds: Int64 { Int64((clock.now.timeIntervalSince1970 * 1000).rounded(.down)) }
    private var logger: Logger { configuration.logger }
    private var scope: String { configuration.scope }

    /// The payload announcing `queue` on channel `edge_queue`.
    private func channelPayload(_ queue: String) -> String { scope + "/" + queue }

    private func storage<T: Sendable>(_ queue: String?, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            try await pool.migrate(Self.schemaName, Self.schema)
            return try await pool.withConnection(body)
        } catch let error as QueueError {
            throw error
        } catch {
            throw QueueError(.storageFailure, queue: queue, message: "queue storage failure\(queue.map { " on \($0)" } ?? ""): \(String(reflecting: error))")
        }
    }

    public func send(_ queue: String, _ messages: [OutgoingMessage]) async throws {
        try limits.validate(messages, queue: queue)
        guard !messages.isEmpty else { return }
        let now = nowMilliseconds
        // A row per run of up to 100 consecutive messages sharing a delay (the common case: one
        // row). One row is one statement, so one round trip and one commit: the insert runs as a
        // data-modifying CTE and the notification is sent only if it commits.
        var rows: [[OutgoingMessage]] = []
        for message in messages {
            if let last = rows.last?.last, last.delaySeconds == message.delaySeconds, rows[rows.count - 1].count < 100 {
                rows[rows.count - 1].append(message)
            } else {
                rows.append([message])
            }
        }
        let statements = rows.map { row -> PostgresQuery in
            let visibleAt = now + Int64((row[0].delaySeconds * 1000).rounded())
            return """
                WITH inserted AS (
                    INSERT INTO edge_queue_batches (id, scope, queue, visible_at, first_id, ids, bodies, content_types, trace_parents, sent_at)
                    SELECT r.id, \(scope), \(queue), \(visibleAt), r.id * 128, ARRAY(SELECT r.id * 128 + g FROM generate_series(0, \(row.count - 1)) g),
                        \(row.map { ByteBuffer(bytes: $0.body) }), \(row.map(\.contentType.rawValue)), \(row.map { $0.traceParent ?? "" }), \(now)
                    FROM (SELECT nextval('edge_queue_batches_id_seq') AS id) r)
                SELECT pg_notify('edge_queue', \(channelPayload(queue)))
                """
        }
        try await storage(queue) { [self] connection in
            if statements.count == 1 {
                _ = try await connection.query(statements[0], logger: logger)
            } else {
                try await connection.withTransaction(logger: logger) { connection in
                    for statement in statements { _ = try await connection.query(statement, logger: logger) }
                }
            }
        }
        signals.notify(queue)
    }

    public func claim(_ queue: String, max: Int, visibilityTimeout: Double) async throws -> [ClaimedMessage] {
        guard max > 0 else { return [] }
        return try await claim(queue, settling: Outcomes(), max: max, visibilityTimeout: visibilityTimeout)
    }

    /// Outcomes as the arrays `edge_queue_settle` takes: message id, lease token, kind (0 delete,
    /// 1 retry, 2 release, 3 dead-letter), visibility time and dead-letter target.
    private struct Outcomes {
        var ids: [Int64] = [], tokens: [String] = [], kinds: [Int32] = [], visible: [Int64] = [], targets: [String] = []
        /// The queues that gain visible messages when these apply.
        var woken: Set<String> = []

        init() {}

        init(_ outcomes: [MessageOutcome], queue: String, now: Int64) {
            for outcome in outcomes {
                ids.append(outcome.lease.messageID)
                tokens.append(outcome.lease.token)
                switch outcome {
                case .ack, .deadLetter(_, nil):
                    kinds.append(0)
                    visible.append(0)
                    targets.append("")
                case .retry(_, let delay):
                    kinds.append(1)
                    visible.append(now + Int64((delay * 1000).rounded()))
                    targets.append("")
                    woken.insert(queue)
                case .release:
                    kinds.append(2)
                    visible.append(now)
                    targets.append("")
                    woken.insert(queue)
                case .deadLetter(_, let target?):
                    kinds.append(3)
                    visible.append(now)
                    targets.append(target)
                    woken.insert(target)
                }
            }
        }
    }

    /// Settles `outcomes` and claims the next batch in one statement: one round trip, one commit.
    ///
    /// - Throws: `QueueError` `.storageFailure` (EdgeQueue); nothing was applied when it throws.
    public func settleAndClaim(_ queue: String, _ outcomes: [MessageOutcome], max: Int, visibilityTimeout: Double) async throws -> [ClaimedMessage] {
        let settling = Outcomes(outcomes, queue: queue, now: nowMilliseconds)
        let claimed = try await claim(queue, settling: settling, max: Swift.max(0, max), visibilityTimeout: visibilityTimeout)
        for name in settling.woken { signals.notify(name) }
        return claimed
    }

    /// Applies `settling`, then leases up to `max` visible messages (the oldest by visibility
    /// time, then id), in one call of `edge_queue_claim`.
    private func claim(_ queue: String, settling: Outcomes, max: Int, visibilityTimeout: Double) async throws -> [ClaimedMessage] {
        let now = nowMilliseconds
        let token = UUID().uuidString
        let until = now + Int64((visibilityTimeout * 1000).rounded())
        return try await storage(queue) { [self] connection in
            let rows = try await connection.query(
                """
                SELECT * FROM edge_queue_claim(\(scope), \(queue), \(now), \(Int32(clamping: max)), \(until), \(token),
                    \(settling.ids), \(settling.tokens), \(settling.kinds), \(settling.visible), \(settling.targets))
                """, logger: logger)
            var claimed: [ClaimedMessage] = []
            for try await (id, body, contentType, sentAt, attempts, trace) in rows.decode((Int64, ByteBuffer, String, Int64, Int32, String?).self) {
                claimed.append(
                    ClaimedMessage(
                        lease: QueueLease(messageID: id, token: token), body: body.byteArray,
                        contentType: QueueContentType(rawValue: contentType) ?? .bytes,
                        timestamp: Date(timeIntervalSince1970: Double(sentAt) / 1000), attempts: Int(attempts), traceParent: trace))
            }
            return claimed.sorted { $0.lease.messageID < $1.lease.messageID }
        }
    }

    public func extendLeases(_ queue: String, _ leases: [QueueLease], visibilityTimeout: Double) async throws -> [QueueLease] {
        guard !leases.isEmpty else { return [] }
        let until = nowMilliseconds + Int64((visibilityTimeout * 1000).rounded())
        let ids = leases.map(\.messageID), tokens = leases.map(\.token)
        return try await storage(queue) { [self] connection in
            let rows = try await connection.query(
                "SELECT * FROM edge_queue_extend(\(scope), \(queue), \(until), \(ids), \(tokens))", logger: logger)
            var kept: Set<Int64> = []
            for try await id in rows.decode(Int64.self) { kept.insert(id) }
            return leases.filter { kept.contains($0.messageID) }
        }
    }

    public func settle(_ queue: String, _ outcomes: [MessageOutcome]) async throws {
        guard !outcomes.isEmpty else { return }
        let settling = Outcomes(outcomes, queue: queue, now: nowMilliseconds)
        try await storage(queue) { [self] connection in
            _ = try await connection.query(
                """
                SELECT edge_queue_settle(\(scope), \(queue), \(settling.ids), \(settling.tokens), \(settling.kinds), \(settling.visible),
                    \(settling.targets))
                """, logger: logger)
        }
        for name in settling.woken { signals.notify(name) }
    }

    public func stats(_ queue: String) async throws -> QueueStats {
        let now = nowMilliseconds
        return try await storage(queue) { [self] connection in
            let rows = try await connection.query(
                """
                SELECT coalesce(sum(cardinality(ids)), 0)::bigint,
                       coalesce(sum(cardinality(ids)) FILTER (WHERE lease IS NOT NULL AND visible_at > \(now)), 0)::bigint,
                       coalesce(sum(cardinality(ids)) FILTER (WHERE lease IS NULL AND visible_at > \(now)), 0)::bigint, min(sent_at)
                FROM edge_queue_batches WHERE scope = \(scope) AND queue = \(queue)
                """, logger: logger)
            for try await (backlog, inFlight, delayed, oldest) in rows.decode((Int64, Int64, Int64, Int64?).self) {
                return QueueStats(
                    backlog: Int(backlog), inFlight: Int(inFlight), delayed: Int(delayed),
                    oldestMessageAge: Double(now - (oldest ?? now)) / 1000)
            }
            return QueueStats(backlog: 0, inFlight: 0, delayed: 0, oldestMessageAge: 0)
        }
    }

    public func peek(_ queue: String, limit: Int) async throws -> [QueuedMessage] {
        try await storage(queue) { [self] connection in
            let rows = try await connection.query(
                """
                SELECT m.id, m.body, m.content_type, b.sent_at, b.attempts, b.source_queue
                FROM edge_queue_batches b, unnest(b.ids, b.bodies, b.content_types) AS m(id, body, content_type)
                WHERE b.scope = \(scope) AND b.queue = \(queue) ORDER BY m.id LIMIT \(limit)
                """, logger: logger)
            var messages: [QueuedMessage] = []
            for try await (id, body, contentType, sentAt, attempts, source) in rows.decode((Int64, ByteBuffer, String, Int64, Int32, String?).self) {
                messages.append(
                    QueuedMessage(
                        id: String(id), body: body.byteArray, contentType: QueueContentType(rawValue: contentType) ?? .bytes,
                        timestamp: Date(timeIntervalSince1970: Double(sentAt) / 1000), attempts: Int(attempts), sourceQueue: source))
            }
            return messages
        }
    }

    public func redrive(from deadLetterQueue: String, to target: String?) async throws -> Int {
        if let target { try QueueLimits.validateQueueName(target) }
        let now = nowMilliseconds
        let moved = try await storage(deadLetterQueue) { [self] connection in
            try await connection.withTransaction(logger: logger) { connection -> [String] in
                let rows = try await connection.query(
                    """
                    UPDATE edge_queue_batches SET queue = COALESCE(\(target), source_queue), source_queue = NULL, attempts = 0,
                        visible_at = \(now), lease = NULL
                    WHERE scope = \(scope) AND queue = \(deadLetterQueue) AND COALESCE(\(target), source_queue) IS NOT NULL
                    RETURNING queue, cardinality(ids)
                    """, logger: logger)
                var moved: [String] = []
                for try await (queue, count) in rows.decode((String, Int32).self) { moved += Array(repeating: queue, count: Int(count)) }
                for queue in Set(moved) { try await connection.query("SELECT pg_notify('edge_queue', \(channelPayload(queue)))", logger: logger) }
                return moved
            }
        }
        for queue in Set(moved) { signals.notify(queue) }
        return moved.count
    }

    public func nextVisibleTime(_ queue: String) async throws -> Date? {
        try await storage(queue) { [self] connection in
            let rows = try await connection.query("SELECT min(visible_at) FROM edge_queue_batches WHERE scope = \(scope) AND queue = \(queue)", logger: logger)
            for try await time in rows.decode(Int64?.self) {
                return time.map { Date(timeIntervalSince1970: Double($0) / 1000) }
            }
            return nil
        }
    }

    public func signal(for queue: String) -> QueueSignal { signals.signal(for: queue) }
}
