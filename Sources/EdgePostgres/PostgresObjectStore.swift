public import EdgeCoordinator
import EdgeCore
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Durable objects whose storage and alarms live in PostgreSQL, shared by several processes, each
/// object owned by at most one process at a time.
///
/// Ownership is a lease row (`edge_do_leases`: owner, expiry by the database's clock). A process
/// takes the lease when it builds an object's instance, renews it while the instance lives, and
/// gives it up when the instance is evicted. Each acquisition gets a new epoch; every commit
/// checks the owner and the epoch and extends the lease in its own transaction, so an instance
/// whose lease was lost (its process paused past the expiry, say) can never write — not even after
/// its process took the lease again for a new instance: its commit fails and it is dropped. A call that reaches a process not owning the
/// object asks the owner (`NOTIFY edge_do_handover`) to hand it over after its running call, then
/// takes the lease — or takes it once it expires, when the owner died. The object's storage is
/// loaded when the lease is taken and served from memory while it is held.
final class PostgresObjectStore: DurableObjectStore, DurableObjectOwnership, DurableObjectInspection {
    struct Settings: Sendable {
        var namespace: String
        /// Seconds a lease lasts without renewal. Default 10.
        var leaseSeconds: Double = 10
        /// How long a call waits for another process to hand an object over. Default 30 s.
        var handoverTimeout: Double = 30
    }

    let pool: PostgresPool
    let settings: Settings
    /// This process's identity as an owner.
    let owner = UUID().uuidString
    private let logger: Logger

    private struct Loaded {
        /// The lease's epoch: the activation token.
        var token: Int
        var values: [String: [UInt8]]
        var alarm: ScheduledAlarm?
    }

    private struct State {
        var loaded: [String: Loaded] = [:]
        var commitChains: [String: Task<Void, any Error>] = [:]
        /// Taking and giving up ownership of one object happen one at a time.
        var ownershipChains: [String: Task<Int, any Error>] = [:]
        var handover: (@Sendable (String) -> Void)?
        /// Where this process serves forwarded calls.
        var address: String?
        var forwardingToken: String?
    }

    private let state = Mutex(State())
    private let listener = Mutex<PostgresPool.Subscription?>(nil)

    static let schema = [
        "CREATE TABLE IF NOT EXISTS edge_do_storage (namespace text NOT NULL, object_id text NOT NULL, key text NOT NULL, value bytea NOT NULL, PRIMARY KEY (namespace, object_id, key))",
        "CREATE TABLE IF NOT EXISTS edge_do_alarms (namespace text NOT NULL, object_id text NOT NULL, scheduled_at bigint NOT NULL, retry_count integer NOT NULL, PRIMARY KEY (namespace, object_id))",
        "CREATE INDEX IF NOT EXISTS edge_do_alarms_due ON edge_do_alarms (namespace, scheduled_at)",
        "CREATE TABLE IF NOT EXISTS edge_do_leases (namespace text NOT NULL, object_id text NOT NULL, owner text NOT NULL, expires_at bigint NOT NULL, PRIMARY KEY (namespace, object_id))",
        // v2: where the owner serves forwarded calls, and the secret those calls carry.
        "ALTER TABLE edge_do_leases ADD COLUMN IF NOT EXISTS address text",
        "CREATE TABLE IF NOT EXISTS edge_secrets (name text PRIMARY KEY, value text NOT NULL)",
        "INSERT INTO edge_secrets (name, value) VALUES ('durable_object_forwarding', md5(gen_random_uuid()::text) || md5(gen_random_uuid()::text)) ON CONFLICT (name) DO NOTHING",
        // v3: every acquisition of a lease gets a new epoch; commits are fenced by it, so the
        // writes of an instance from before the lease was lost can never land, even when the same
        // process has taken the lease again since.
        "CREATE SEQUENCE IF NOT EXISTS edge_do_lease_epochs",
        "ALTER TABLE edge_do_leases ADD COLUMN IF NOT EXISTS epoch bigint NOT NULL DEFAULT 0",
    ]

    /// The database's clock in milliseconds, so leases never depend on the processes' clocks.
    static let databaseNow = "(extract(epoch from clock_timestamp()) * 1000)::bigint"

    init(pool: PostgresPool, settings: Settings) {
        self.pool = pool
        self.settings = settings
        logger = pool.logger
        startListening()
    }

    private var namespace: String { settings.namespace }
    private var leaseMilliseconds: Int64 { Int64(settings.leaseSeconds * 1000) }

    private func storage<T: Sendable>(_ objectID: String?, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            try await pool.migrate("edge_do.v3", Self.schema)
            return try await pool.withConnection(body)
        } catch let error as CoordinatorError {
            throw error
        } catch {
            throw CoordinatorError(.storageFailure, objectID: objectID, message: "PostgreSQL failure: \(String(reflecting: error))")
        }
    }

    // MARK: Handover requests

    private func startListening() {
        let prefix = namespace + "/"
        let subscription = pool.subscribe("edge_do_handover") { [weak self] payload in
            guard payload.hasPrefix(prefix) else { return }
            self?.state.withLock { $0.handover }?(String(payload.dropFirst(prefix.count)))
        }
        listener.withLock { $0 = subscription }
    }

    func onHandoverRequest(_ handler: @escaping @Sendable (String) -> Void) {
        state.withLock { $0.handover = handler }
    }

    // MARK: Ownership

    var renewalInterval: Double? { settings.leaseSeconds / 3 }

    func acquire(_ objectID: String) async throws -> OwnershipLease? {
        OwnershipLease(epoch: try await serially(objectID) { try await self.takeOwnership(objectID) })
    }

    /// Runs `work` after every earlier ownership change of `objectID` has finished.
    private func serially(_ objectID: String, _ work: @escaping @Sendable () async throws -> Int) async throws -> Int {
        let task = state.withLock { state -> Task<Int, any Error> in
            let previous = state.ownershipChains[objectID]
            let task = Task {
                _ = try? await previous?.value
                return try await work()
            }
            state.ownershipChains[objectID] = task
            return task
        }
        defer {
            state.withLock { state in
                if state.ownershipChains[objectID] == task { state.ownershipChains.removeValue(forKey: objectID) }
            }
        }
        return try await task.value
    }

    private func takeOwnership(_ objectID: String) async throws -> Int {
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int(settings.handoverTimeout * 1000)))
        var lastAsked: ContinuousClock.Instant?
        // Commits of an earlier instance in this process land under their own epoch first.
        _ = try? await state.withLock({ $0.commitChains[objectID] })?.value
        var epoch: Int64?
        while true {
            epoch = try await storage(objectID) { [self] connection in
                let address = state.withLock { $0.address }
                let rows = try await connection.query(
                    """
                    INSERT INTO edge_do_leases (namespace, object_id, owner, expires_at, address, epoch)
                    VALUES (\(namespace), \(objectID), \(owner), \(unescaped: Self.databaseNow) + \(leaseMilliseconds), \(address), nextval('edge_do_lease_epochs'))
                    ON CONFLICT (namespace, object_id) DO UPDATE
                    SET owner = excluded.owner, expires_at = excluded.expires_at, address = excluded.address, epoch = excluded.epoch
                    WHERE edge_do_leases.owner = excluded.owner OR edge_do_leases.expires_at < \(unescaped: Self.databaseNow)
                    RETURNING epoch
                    """, logger: logger)
                for try await epoch in rows.decode(Int64.self) { return epoch }
                return nil
            }
            if epoch != nil { break }
            if lastAsked.map({ ContinuousClock.now - $0 > .milliseconds(200) }) ?? true {
                // Ask the owner to hand the object over after its running call — again every
                // 200 ms: a notification sent while the owner's listener reconnects is lost.
                try await storage(objectID) { [self] connection in
                    _ = try await connection.query("SELECT pg_notify('edge_do_handover', \(namespace + "/" + objectID))", logger: logger)
                }
                lastAsked = ContinuousClock.now
            }
            if ContinuousClock.now >= deadline {
                throw CoordinatorError(
                    .ownedElsewhere, objectID: objectID,
                    message:
                        "durable object \(objectID) of \(namespace) is owned by another process that did not hand it over within \(settings.handoverTimeout) s")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        // (A commit of an earlier instance arriving now fails its epoch fence: nothing to wait for.)
        // Load the object's storage and alarm while owning it.
        let loaded = try await storage(objectID) { [self] connection -> ([String: [UInt8]], ScheduledAlarm?) in
            var values: [String: [UInt8]] = [:]
            let rows = try await connection.query(
                "SELECT key, value FROM edge_do_storage WHERE namespace = \(namespace) AND object_id = \(objectID)", logger: logger)
            for try await (key, value) in rows.decode((String, ByteBuffer).self) { values[key] = value.byteArray }
            var alarm: ScheduledAlarm?
            let alarms = try await connection.query(
                "SELECT scheduled_at, retry_count FROM edge_do_alarms WHERE namespace = \(namespace) AND object_id = \(objectID)", logger: logger)
            for try await (time, retries) in alarms.decode((Int64, Int32).self) {
                alarm = ScheduledAlarm(time: Date(timeIntervalSince1970: Double(time) / 1000), retryCount: Int(retries))
            }
            return (values, alarm)
        }
        guard let epoch else {
            throw CoordinatorError(
                .storageFailure, objectID: objectID, message: "durable object \(objectID) of \(namespace): the lease was taken without an epoch")
        }
        let token = Int(epoch)
        state.withLock { $0.loaded[objectID] = Loaded(token: token, values: loaded.0, alarm: loaded.1) }
        return token
    }

    func release(_ objectID: String, lease: OwnershipLease) async {
        _ = try? await serially(objectID) {
            await self.giveUpOwnership(objectID, token: lease.epoch)
            return lease.epoch
        }
    }

    private func giveUpOwnership(_ objectID: String, token: Int) async {
        let current = state.withLock { state -> Bool in
            guard state.loaded[objectID]?.token == token else { return false }
            state.loaded.removeValue(forKey: objectID)
            return true
        }
        guard current else { return }
        do {
            try await storage(objectID) { [self] connection in
                _ = try await connection.query(
                    """
                    DELETE FROM edge_do_leases WHERE namespace = \(namespace) AND object_id = \(objectID) AND owner = \(owner) AND epoch = \(Int64(token))
                    """, logger: logger)
            }
        } catch {
            logger.warning("could not give up a durable object's lease; it expires on its own", metadata: ["id": "\(objectID)", "error": "\(error)"])
        }
    }

    func renew(active: [String]) async -> [String] {
        do {
            let address = state.withLock { $0.address }
            let renewed: Set<String> = try await storage(nil) { [self] connection in
                let rows = try await connection.query(
                    """
                    UPDATE edge_do_leases SET expires_at = \(unescaped: Self.databaseNow) + \(leaseMilliseconds), address = \(address)
                    WHERE namespace = \(namespace) AND owner = \(owner) AND object_id = ANY(\(active)) RETURNING object_id
                    """, logger: logger)
                var renewed = Set<String>()
                for try await id in rows.decode(String.self) { renewed.insert(id) }
                return renewed
            }
            return active.filter { !renewed.contains($0) }
        } catch {
            logger.warning("durable-object lease renewal failed; retrying", metadata: ["error": "\(error)"])
            return []
        }
    }

    // MARK: Forwarding

    func advertise(_ address: String?) async {
        state.withLock { $0.address = address }
        do {
            try await storage(nil) { [self] connection in
                _ = try await connection.query(
                    "UPDATE edge_do_leases SET address = \(address) WHERE namespace = \(namespace) AND owner = \(owner)", logger: logger)
            }
        } catch {
            logger.warning("could not record this process's address with its durable objects; the next lease renewal does", metadata: ["error": "\(error)"])
        }
    }

    func remoteOwner(_ objectID: String) async throws -> String? {
        try await storage(objectID) { [self] connection in
            let rows = try await connection.query(
                """
                SELECT address FROM edge_do_leases
                WHERE namespace = \(namespace) AND object_id = \(objectID) AND owner <> \(owner)
                  AND expires_at >= \(unescaped: Self.databaseNow) AND address IS NOT NULL
                """, logger: logger)
            for try await address in rows.decode(String.self) { return address }
            return nil
        }
    }

    func forwardingToken() async throws -> String? {
        if let token = state.withLock({ $0.forwardingToken }) { return token }
        let token: String? = try await storage(nil) { [self] connection in
            let rows = try await connection.query("SELECT value FROM edge_secrets WHERE name = 'durable_object_forwarding'", logger: logger)
            for try await value in rows.decode(String.self) { return value }
            return nil
        }
        state.withLock { $0.forwardingToken = token }
        return token
    }

    // MARK: Reads (from the loaded object)

    private func loaded(_ objectID: String) throws -> Loaded {
        guard let loaded = state.withLock({ $0.loaded[objectID] }) else {
            throw CoordinatorError(.objectReset, objectID: objectID, message: "durable object \(objectID) is not owned by this process")
        }
        return loaded
    }

    func value(_ objectID: String, _ key: String) throws -> [UInt8]? {
        try loaded(objectID).values[key]
    }

    func list(_ objectID: String, lower: [UInt8], upper: [UInt8]?, reverse: Bool, limit: Int) throws -> [(String, [UInt8])] {
        let values = try loaded(objectID).values
        var keys = values.keys.filter { key in
            let bytes = Array(key.utf8)
            return !bytes.lexicographicallyPrecedes(lower) && (upper.map { bytes.lexicographicallyPrecedes($0) } ?? true)
        }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        if reverse { keys.reverse() }
        return keys.prefix(limit).map { ($0, values[$0]!) }
    }

    func alarm(_ objectID: String) throws -> ScheduledAlarm? {
        try loaded(objectID).alarm
    }

    // MARK: Writes

    func commit(_ objectID: String, _ pending: StorageCommit, lease: OwnershipLease?) async throws {
        // Commits of one object apply in order: each waits for the previous one.
        let task = state.withLock { state -> Task<Void, any Error> in
            let previous = state.commitChains[objectID]
            let task = Task {
                _ = try? await previous?.value
                try await self.write(objectID, pending, epoch: lease?.epoch)
            }
            state.commitChains[objectID] = task
            return task
        }
        defer {
            state.withLock { state in
                if state.commitChains[objectID] == task { state.commitChains.removeValue(forKey: objectID) }
            }
        }
        try await task.value
    }

    private func write(_ objectID: String, _ pending: StorageCommit, epoch: Int?) async throws {
        let namespace = self.namespace, owner = self.owner, lease = leaseMilliseconds, logger = self.logger
        guard let epoch else {
            throw CoordinatorError(.storageFailure, objectID: objectID, message: "durable object \(objectID) of \(namespace): a commit without a lease")
        }
        try await storage(objectID) { connection in
            try await connection.withTransaction(logger: logger) { connection in
                // Fencing: only the instance holding the live lease (owner and epoch) commits, and
                // the commit renews the lease.
                let rows = try await connection.query(
                    """
                    UPDATE edge_do_leases SET expires_at = \(unescaped: Self.databaseNow) + \(lease)
                    WHERE namespace = \(namespace) AND object_id = \(objectID) AND owner = \(owner) AND epoch = \(Int64(epoch))
                      AND expires_at >= \(unescaped: Self.databaseNow)
                    RETURNING 1
                    """, logger: logger)
                var owned = false
                for try await _ in rows.decode(Int32.self) { owned = true }
                guard owned else {
                    throw CoordinatorError(
                        .storageFailure, objectID: objectID,
                        message:
                            "durable object \(objectID) of \(namespace): its instance no longer holds the lease (lost, or taken again since); the call's writes were not committed"
                    )
                }
                if pending.clearAll {
                    try await connection.query("DELETE FROM edge_do_storage WHERE namespace = \(namespace) AND object_id = \(objectID)", logger: logger)
                }
                let puts = pending.writes.compactMap { key, value in value.map { (key, $0) } }
                let deletes = pending.writes.filter { $0.value == nil }.map(\.key)
                if !puts.isEmpty {
                    try await connection.query(
                        """
                        INSERT INTO edge_do_storage (namespace, object_id, key, value)
                        SELECT \(namespace), \(objectID), k, v FROM unnest(\(puts.map(\.0)), \(puts.map { ByteBuffer(bytes: $0.1) })) AS t(k, v)
                        ON CONFLICT (namespace, object_id, key) DO UPDATE SET value = excluded.value
                        """, logger: logger)
                }
                if !deletes.isEmpty {
                    try await connection.query(
                        "DELETE FROM edge_do_storage WHERE namespace = \(namespace) AND object_id = \(objectID) AND key = ANY(\(deletes))", logger: logger)
                }
                switch pending.alarm {
                case nil: break
                case .some(nil):
                    try await connection.query("DELETE FROM edge_do_alarms WHERE namespace = \(namespace) AND object_id = \(objectID)", logger: logger)
                case .some(.some(let alarm)):
                    try await connection.query(
                        """
                        INSERT INTO edge_do_alarms (namespace, object_id, scheduled_at, retry_count)
                        VALUES (\(namespace), \(objectID), \(Int64((alarm.time.timeIntervalSince1970 * 1000).rounded())), \(Int32(alarm.retryCount)))
                        ON CONFLICT (namespace, object_id) DO UPDATE SET scheduled_at = excluded.scheduled_at, retry_count = excluded.retry_count
                        """, logger: logger)
                }
            }
        }
        // The loaded copy follows what is committed (a rebuilt instance reads it).
        state.withLock { state in
            guard var loaded = state.loaded[objectID], loaded.token == epoch else { return }
            if pending.clearAll { loaded.values = [:] }
            for (key, value) in pending.writes { loaded.values[key] = value }
            if let alarm = pending.alarm { loaded.alarm = alarm }
            state.loaded[objectID] = loaded
        }
    }

    // MARK: Inspection (from the database, whichever process owns the object)

    func objects(after: String?, limit: Int) async throws -> [StoredObjectSummary] {
        try await storage(nil) { [self] connection in
            let rows = try await connection.query(
                """
                SELECT o.object_id, (SELECT count(*) FROM edge_do_storage s WHERE s.namespace = \(namespace) AND s.object_id = o.object_id),
                       a.scheduled_at, a.retry_count
                FROM (SELECT object_id FROM edge_do_storage WHERE namespace = \(namespace)
                      UNION SELECT object_id FROM edge_do_alarms WHERE namespace = \(namespace)) o
                LEFT JOIN edge_do_alarms a ON a.namespace = \(namespace) AND a.object_id = o.object_id
                WHERE o.object_id COLLATE "C" > \(after ?? "") ORDER BY o.object_id COLLATE "C" LIMIT \(limit)
                """, logger: logger)
            var objects: [StoredObjectSummary] = []
            for try await (id, keys, time, retries) in rows.decode((String, Int64, Int64?, Int32?).self) {
                let alarm = time.map { ScheduledAlarm(time: Date(timeIntervalSince1970: Double($0) / 1000), retryCount: Int(retries ?? 0)) }
                objects.append(StoredObjectSummary(id: id, keys: Int(keys), alarm: alarm))
            }
            return objects
        }
    }

    func storedEntries(_ objectID: String, prefix: String?, limit: Int) async throws -> [(key: String, value: [UInt8])] {
        try await storage(objectID) { [self] connection in
            let rows = try await connection.query(
                """
                SELECT key, value FROM edge_do_storage WHERE namespace = \(namespace) AND object_id = \(objectID)
                  AND starts_with(key, \(prefix ?? "")) ORDER BY key COLLATE "C" LIMIT \(limit)
                """, logger: logger)
            var entries: [(key: String, value: [UInt8])] = []
            for try await (key, value) in rows.decode((String, ByteBuffer).self) { entries.append((key, Array(value.readableBytesView))) }
            return entries
        }
    }

    func storedAlarm(_ objectID: String) async throws -> ScheduledAlarm? {
        try await storage(objectID) { [self] connection in
            let rows = try await connection.query(
                "SELECT scheduled_at, retry_count FROM edge_do_alarms WHERE namespace = \(namespace) AND object_id = \(objectID)", logger: logger)
            for try await (time, retries) in rows.decode((Int64, Int32).self) {
                return ScheduledAlarm(time: Date(timeIntervalSince1970: Double(time) / 1000), retryCount: Int(retries))
            }
            return nil
        }
    }

    func scheduledAlarms(limit: Int) async throws -> [(objectID: String, alarm: ScheduledAlarm)] {
        try await storage(nil) { [self] connection in
            let rows = try await connection.query(
                """
                SELECT object_id, scheduled_at, retry_count FROM edge_do_alarms WHERE namespace = \(namespace)
                ORDER BY scheduled_at, object_id COLLATE "C" LIMIT \(limit)
                """, logger: logger)
            var alarms: [(objectID: String, alarm: ScheduledAlarm)] = []
            for try await (id, time, retries) in rows.decode((String, Int64, Int32).self) {
                alarms.append((id, ScheduledAlarm(time: Date(timeIntervalSince1970: Double(time) / 1000), retryCount: Int(retries))))
            }
            return alarms
        }
    }

    func pendingAlarmCount() async throws -> Int {
        try await storage(nil) { [self] connection in
            let rows = try await connection.query("SELECT count(*) FROM edge_do_alarms WHERE namespace = \(namespace)", logger: logger)
            for try await count in rows.decode(Int64.self) { return Int(count) }
            return 0
        }
    }

    // MARK: Alarms

    func dueAlarms(now: Date, limit: Int) async throws -> [(objectID: String, alarm: ScheduledAlarm)] {
        try await storage(nil) { [self] connection in
            let rows = try await connection.query(
                """
                SELECT a.object_id, a.scheduled_at, a.retry_count FROM edge_do_alarms a
                WHERE a.namespace = \(namespace) AND a.scheduled_at <= \(Int64((now.timeIntervalSince1970 * 1000).rounded()))
                  AND NOT EXISTS (SELECT 1 FROM edge_do_leases l WHERE l.namespace = a.namespace AND l.object_id = a.object_id
                                  AND l.owner <> \(owner) AND l.expires_at >= \(unescaped: Self.databaseNow))
                ORDER BY a.scheduled_at LIMIT \(limit)
                """, logger: logger)
            var due: [(objectID: String, alarm: ScheduledAlarm)] = []
            for try await (id, time, retries) in rows.decode((String, Int64, Int32).self) {
                due.append((id, ScheduledAlarm(time: Date(timeIntervalSince1970: Double(time) / 1000), retryCount: Int(retries))))
            }
            return due
        }
    }

    func nextAlarmTime() async throws -> Date? {
        try await storage(nil) { [self] connection in
            let rows = try await connection.query("SELECT min(scheduled_at) FROM edge_do_alarms WHERE namespace = \(namespace)", logger: logger)
            for try await time in rows.decode(Int64?.self) { return time.map { Date(timeIntervalSince1970: Double($0) / 1000) } }
            return nil
        }
    }

    func deleteEverything() async throws {
        try await storage(nil) { [self] connection in
            try await connection.withTransaction(logger: logger) { connection in
                try await connection.query("DELETE FROM edge_do_storage WHERE namespace = \(namespace)", logger: logger)
                try await connection.query("DELETE FROM edge_do_alarms WHERE namespace = \(namespace)", logger: logger)
                try await connection.query("DELETE FROM edge_do_leases WHERE namespace = \(namespace)", logger: logger)
            }
        }
        state.withLock { $0.loaded.removeAll() }
    }

    func close() {
        listener.withLock { subscription in
            subscription?.cancel()
            subscription = nil
        }
    }
}

extension DurableObjectNamespace {
    /// A namespace whose objects live in PostgreSQL, shared by every process that opens the same
    /// `name` on the same database; each object is owned by one process at a time (see
    /// `PostgresObjectStore`). Storage semantics are those of the SQLite namespace.
    ///
    /// - Parameters:
    ///   - name: the namespace's name, shared by every process that opens it.
    ///   - pool: the database.
    ///   - env: what every object of the namespace receives.
    ///   - configuration: clock, limits, idle timeout, alarm retries, logger, forwarder.
    ///   - leaseSeconds: how long an owner that stopped renewing (it died) keeps an object. Default 10.
    ///   - handoverTimeout: how long a call waits for another process to hand its object over
    ///     before failing with `CoordinatorError.ownedElsewhere`. Default 30.
    /// - Throws: `CoordinatorError` `.invalidNamespaceName`.
    public convenience init(
        name: String, pool: PostgresPool, env: Object.Env, configuration: Configuration = Configuration(),
        leaseSeconds: Double = 10, handoverTimeout: Double = 30
    ) throws {
        let store = PostgresObjectStore(pool: pool, settings: .init(namespace: name, leaseSeconds: leaseSeconds, handoverTimeout: handoverTimeout))
        try self.init(name: name, store: store, ownership: store, env: env, configuration: configuration)
    }
}
