import EdgeCore
import Foundation
public import Logging
import NIOCore
public import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// Why a PostgreSQL connection URL was refused.
public struct PostgresURLError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A PostgreSQL operation that ran past one of the pool's limits: no connection was available
/// within ``PostgresPool/connectTimeout`` (the database is down or unreachable, or every connection
/// of the pool stayed busy), or the operation ran on its connection for longer than
/// ``PostgresPool/queryTimeout`` (the server stopped answering). The backends report it wrapped in
/// their own storage failure.
public struct PostgresTimeoutError: Error, Sendable, CustomStringConvertible {
    /// Which limit was passed.
    public enum Phase: Sendable, Hashable {
        /// No connection within the connect timeout: nothing was sent to the database.
        case connecting
        /// The operation ran on its connection past the query timeout: the connection was closed,
        /// so a write in it may or may not have been applied (as when a connection breaks).
        case running
    }

    public var phase: Phase
    /// The limit that was passed.
    public var limit: Duration
    /// The database, without its password.
    public var url: String
    public var description: String {
        switch phase {
        case .connecting:
            "no connection to PostgreSQL at \(url) within \(limit) (the pool's connect timeout): the server is down or unreachable, "
                + "or every connection of the pool stayed busy; nothing was sent"
        case .running:
            "an operation on PostgreSQL at \(url) ran past \(limit) (the pool's query timeout): the server stopped answering; "
                + "its connection was closed, so a write in it may or may not have been applied"
        }
    }
}

/// One PostgreSQL database as the Postgres backends of a process share it: a connection pool
/// (postgres-nio's `PostgresClient`) and the schema the backends create on first use.
///
/// The pool runs from `init` until ``shutdown()`` (or, as a swift-service-lifecycle `Service`,
/// until graceful shutdown). Every backend made from one `PostgresPool` shares its pool.
///
/// ```swift
/// let pool = try PostgresPool(url: "postgres://edge@127.0.0.1:5432/edge")
/// let kv = try PostgresKV(namespace: "CACHE", pool: pool)
/// ```
public final class PostgresPool: Service, Sendable {
    public let client: PostgresClient
    public let url: String
    public let logger: Logger
    /// How long an operation waits for a connection of the pool before it fails with
    /// ``PostgresTimeoutError`` (``PostgresTimeoutError/Phase/connecting``); `nil` waits for ever.
    public let connectTimeout: Duration?
    /// How long an operation may run on its connection before the connection is closed and the
    /// operation fails with ``PostgresTimeoutError`` (``PostgresTimeoutError/Phase/running``);
    /// `nil`: no limit.
    public let queryTimeout: Duration?
    private let runner: Mutex<Task<Void, Never>?>
    private let migrated = Mutex<Set<String>>([])
    private let listeners = Mutex<Listeners>(Listeners())

    private struct Listeners {
        var tasks: [String: Task<Void, Never>] = [:]
        var handlers: [String: [UUID: @Sendable (String) -> Void]] = [:]
        /// Channels whose `LISTEN` is in effect right now.
        var active: Set<String> = []
    }

    /// Connects lazily to the database at `url`:
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, or a unix socket directory as
    /// `postgres://USER@/DATABASE?host=/path/to/dir` (port from `?port=`, default 5432).
    ///
    /// - Parameters:
    ///   - url: the database's URL.
    ///   - maxConnections: the pool's size (each process keeps at most this many).
    ///   - connectTimeout: how long an operation waits for a connection (the pool connecting, or
    ///     all its connections busy) before it fails with ``PostgresTimeoutError``, having sent
    ///     nothing: while the database is down, calls fail after this long instead of waiting for
    ///     it. `nil`: waits for ever. Default 30 seconds.
    ///   - queryTimeout: how long an operation (a query, or a whole transaction) may run on its
    ///     connection; past it the connection is closed (the server rolls back an open
    ///     transaction) and the operation fails with ``PostgresTimeoutError``. It bounds calls on a
    ///     connection whose server vanished without closing it (a network partition), and on a
    ///     connection the pool handed out just as the server shut down (in the fault test such a
    ///     call never ended by itself). `nil`: no limit. Default 60 seconds.
    ///   - logger: the pool's and its users' logger.
    /// - Throws: ``PostgresURLError`` for a URL that is not one of these forms.
    public init(
        url: String, maxConnections: Int = 16, connectTimeout: Duration? = .seconds(30), queryTimeout: Duration? = .seconds(60),
        logger: Logger = Logger(label: "swift-edge.postgres")
    ) throws {
        var configuration = try Self.configuration(url: url)
        configuration.options.maximumConnections = maxConnections
        configuration.options.minimumConnections = 0
        self.url = url
        self.logger = logger
        self.connectTimeout = connectTimeout
        self.queryTimeout = queryTimeout
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        // Entered at once, so the pool runs before the first query asks it for a connection.
        runner = Mutex(Task.immediate { await client.run() })
    }

    /// The client configuration for a `postgres://` URL.
    ///
    /// - Throws: ``PostgresURLError``.
    public static func configuration(url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? "") else {
            throw PostgresURLError(message: "\(Self.redacted(url)) is not a postgres:// URL")
        }
        guard let user = components.user, !user.isEmpty else {
            throw PostgresURLError(message: "\(Self.redacted(url)) names no user (postgres://USER@HOST/DATABASE)")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else { throw PostgresURLError(message: "\(Self.redacted(url)) names no database (postgres://USER@HOST/DATABASE)") }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        let password = components.password?.removingPercentEncoding
        if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
            let port = Int(query["port"] ?? "") ?? components.port ?? 5432
            return PostgresClient.Configuration(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        }
        guard let host = components.host, !host.isEmpty else { throw PostgresURLError(message: "\(Self.redacted(url)) names no host") }
        return PostgresClient.Configuration(host: host, port: components.port ?? 5432, username: user, password: password, database: database, tls: .disable)
    }

    /// The URL without its password, for messages.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }

    /// Serves as a swift-service-lifecycle service: keeps the pool until graceful shutdown.
    public func run() async throws {
        try? await gracefulShutdown()
        shutdown()
    }

    /// Closes the pool; queries made afterwards fail.
    public func shutdown() {
        listeners.withLock { listeners in
            for task in listeners.tasks.values { task.cancel() }
            listeners.tasks = [:]
        }
        runner.withLock { task in
            task?.cancel()
            task = nil
        }
    }

    /// Calls `handler` with the payload of every `NOTIFY` on `channel` until the returned
    /// subscription is cancelled. One connection of the pool listens per channel, however many
    /// subscribe. Each time the `LISTEN` takes effect (first connect, and every reconnect after the
    /// listening connection dropped) every handler is called with the empty payload `""`: a
    /// notification may have been sent while nobody listened, so subscribers should look again.
    func subscribe(_ channel: String, _ handler: @escaping @Sendable (String) -> Void) -> Subscription {
        let id = UUID()
        listeners.withLock { listeners in
            listeners.handlers[channel, default: [:]][id] = handler
            guard listeners.tasks[channel] == nil else { return }
            listeners.tasks[channel] = Task { [weak self] in
                while !Task.isCancelled, let self {
                    do {
                        try await self.client.withConnection { connection in
                            try await connection.listen(on: channel) { notifications in
                                self.listening(channel, true)
                                for try await notification in notifications {
                                    self.deliver(channel, notification.payload)
                                }
                            }
                        }
                    } catch {
                        if Task.isCancelled { return }
                        self.logger.warning("notifications interrupted; reconnecting", metadata: ["channel": "\(channel)", "error": "\(error)"])
                    }
                    self.listening(channel, false)
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
        return Subscription { [weak self] in
            self?.listeners.withLock { _ = $0.handlers[channel]?.removeValue(forKey: id) }
        }
    }

    /// Records whether `channel`'s `LISTEN` is in effect; on taking effect, wakes every handler.
    private func listening(_ channel: String, _ active: Bool) {
        if active { deliver(channel, "") }
        listeners.withLock { listeners in
            if active { listeners.active.insert(channel) } else { listeners.active.remove(channel) }
        }
    }

    /// Whether the pool's `LISTEN` on `channel` is in effect (a `NOTIFY` sent now reaches its
    /// subscribers).
    package func isListening(_ channel: String) -> Bool {
        listeners.withLock { $0.active.contains(channel) }
    }

    private func deliver(_ channel: String, _ payload: String) {
        for handler in listeners.withLock({ Array(($0.handlers[channel] ?? [:]).values) }) { handler(payload) }
    }

    /// A registration made by ``subscribe(_:_:)``; ``cancel()`` ends it.
    final class Subscription: Sendable {
        private let onCancel: Mutex<(@Sendable () -> Void)?>
        init(_ onCancel: @escaping @Sendable () -> Void) { self.onCancel = Mutex(onCancel) }
        func cancel() {
            onCancel.withLock { action in
                action?()
                action = nil
            }
        }
        deinit { cancel() }
    }

    /// Applies the schema `name` (`statements`) once per database: under an advisory lock, and
    /// recorded in `edge_schema_migrations`, so processes starting together do not race and a
    /// schema already applied costs one lookup — no DDL, so no table locks that could deadlock
    /// with other processes' transactions. A deadlock during a first application is retried.
    /// Applications keeping tables of their own beside the bindings' use it too: give each
    /// version of a schema a new name.
    ///
    /// - Throws: PostgreSQL errors (`PSQLError`) from the statements or the connection.
    public func migrate(_ name: String, _ statements: [String]) async throws {
        if migrated.withLock({ $0.contains(name) }) { return }
        var attempt = 0
        while true {
            do {
                try await withTransaction { [logger] connection in
                    try await connection.query("SELECT pg_advisory_xact_lock(\(Int64(Self.lockID("edge_schema_migrations"))))", logger: logger)
                    try await connection.query(
                        "CREATE TABLE IF NOT EXISTS edge_schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                        logger: logger)
                    let applied = try await connection.query("SELECT 1 FROM edge_schema_migrations WHERE name = \(name)", logger: logger)
                    for try await _ in applied.decode(Int32.self) { return }
                    for statement in statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query("INSERT INTO edge_schema_migrations (name) VALUES (\(name))", logger: logger)
                }
                break
            } catch  where attempt < 5 && Self.sqlState(error) == "40P01" {
                attempt += 1
                logger.warning("schema migration deadlocked with another transaction; retrying", metadata: ["schema": "\(name)", "attempt": "\(attempt)"])
                try await Task.sleep(for: .milliseconds(50 * attempt))
            }
        }
        _ = migrated.withLock { $0.insert(name) }
    }

    /// Runs `body` on a connection of the pool, within the pool's limits: waiting for the
    /// connection at most ``connectTimeout`` (then nothing was sent), running on it at most
    /// ``queryTimeout`` (then the connection is closed under it). Both fail with
    /// ``PostgresTimeoutError``. The connection is the caller's until `body` returns: row sequences
    /// from its queries must be read inside `body`.
    ///
    /// The lease and `body` run in a task of their own, which the caller does not wait for once a
    /// limit has passed: past the connect timeout the task is cancelled (the pool withdraws the
    /// request for a connection cleanly); past the query timeout its connection is closed, and a
    /// query that does not end even then (seen when the pool handed out a connection as the
    /// server shut down) cannot keep the caller waiting. Cancelling the caller cancels `body`.
    ///
    /// - Throws: ``PostgresTimeoutError``; PostgreSQL errors (`PSQLError`) and whatever `body` throws.
    @discardableResult
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let client = self.client
        guard connectTimeout != nil || queryTimeout != nil else {
            return try await client.withConnection { try await body($0) }
        }
        let operation = Operation<T>(connectLimit: connectTimeout, queryLimit: queryTimeout, url: Self.redacted(url))
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                operation.begin(continuation) {
                    try await client.withConnection { connection in
                        // Past the connect timeout the caller has gone: run nothing.
                        guard operation.connected(connection) else { throw CancellationError() }
                        let result: Result<T, any Error>
                        do { result = .success(try await body(connection)) } catch { result = .failure(error) }
                        // A connection the query timeout is closing is closed before the pool gets it back.
                        if operation.finished() { try? await connection.close() }
                        return try result.get()
                    }
                }
            }
        } onCancel: {
            operation.cancel()
        }
    }

    /// Runs `body` in a transaction (`BEGIN` ... `COMMIT`, rolled back when `body` throws) on a
    /// connection of the pool, within the pool's limits (``withConnection(_:)``).
    ///
    /// - Throws: ``PostgresTimeoutError``; `PostgresTransactionError` wrapping the failure of
    ///   `BEGIN`, `body` or `COMMIT`.
    @discardableResult
    public func withTransaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let logger = self.logger
        return try await withConnection { connection in
            try await connection.withTransaction(logger: logger) { try await body($0) }
        }
    }

    /// One operation of ``withConnection(_:)``: its task, its two timers and the caller waiting
    /// for it, whichever of them ends it first.
    private final class Operation<T: Sendable>: Sendable {
        let connectLimit: Duration?, queryLimit: Duration?, url: String
        private let state = Mutex(State())

        private struct State: ~Copyable {
            var continuation: CheckedContinuation<T, any Error>?
            var work: Task<Void, Never>?
            var timer: Task<Void, Never>?
            var connection: PostgresConnection?
            var expired = false, closedByTimeout = false, finished = false, cancelled = false
        }

        init(connectLimit: Duration?, queryLimit: Duration?, url: String) {
            self.connectLimit = connectLimit
            self.queryLimit = queryLimit
            self.url = url
        }

        /// Starts the work and the connect timer; `continuation` gets the first outcome.
        func begin(_ continuation: CheckedContinuation<T, any Error>, _ run: @escaping @Sendable () async throws -> T) {
            let cancelled = state.withLock { state in
                state.continuation = continuation
                return state.cancelled
            }
            if cancelled {
                resume(.failure(CancellationError()))
                return
            }
            let work = Task {
                do {
                    let value = try await run()
                    self.resume(.success(value))
                } catch {
                    let timedOut = self.state.withLock { $0.closedByTimeout }
                    self.resume(.failure(timedOut ? self.timeout(.running) : error))
                }
            }
            let timer: Task<Void, Never>? = connectLimit.map { limit in
                Task {
                    try? await Task.sleep(for: limit)
                    guard !Task.isCancelled else { return }
                    let expired = self.state.withLock { state -> Task<Void, Never>? in
                        guard state.connection == nil, !state.finished else { return nil }
                        state.expired = true
                        return state.work
                    }
                    if let expired {
                        self.resume(.failure(self.timeout(.connecting)))
                        expired.cancel()  // withdraws the request for a connection
                    }
                }
            }
            state.withLock { state in
                state.work = work
                if state.connection == nil && !state.finished { state.timer = timer } else { timer?.cancel() }
                if state.cancelled { work.cancel() }
            }
        }

        /// The pool handed over `connection`: stops the connect timer and starts the query timer;
        /// false when the connect timeout passed first.
        func connected(_ connection: PostgresConnection) -> Bool {
            let queryTimer: Task<Void, Never>? = queryLimit.map { limit in
                Task {
                    try? await Task.sleep(for: limit)
                    guard !Task.isCancelled else { return }
                    let closing = self.state.withLock { state -> PostgresConnection? in
                        guard let connection = state.connection, !state.finished else { return nil }
                        state.closedByTimeout = true
                        return connection
                    }
                    if let closing {
                        self.resume(.failure(self.timeout(.running)))
                        try? await closing.close()
                    }
                }
            }
            let accepted = state.withLock { state -> Bool in
                guard !state.expired else { return false }
                state.connection = connection
                state.timer?.cancel()
                state.timer = queryTimer
                return true
            }
            if !accepted { queryTimer?.cancel() }
            return accepted
        }

        /// `body` ended: stops the query timer; true when the query timeout is closing the
        /// connection (it must not go back to the pool open).
        func finished() -> Bool {
            state.withLock { state in
                state.finished = true
                state.timer?.cancel()
                state.timer = nil
                return state.closedByTimeout
            }
        }

        /// The caller was cancelled: so is the work (a wait for a connection is withdrawn).
        func cancel() {
            let work = state.withLock { state in
                state.cancelled = true
                return state.work
            }
            work?.cancel()
        }

        private func resume(_ result: Result<T, any Error>) {
            let continuation = state.withLock { state in
                let continuation = state.continuation
                state.continuation = nil
                // The outcome is known: no timer is needed any more (a timer resuming stops itself,
                // which is harmless: it has nothing left to do but close the connection).
                state.timer?.cancel()
                state.timer = nil
                return continuation
            }
            continuation?.resume(with: result)
        }

        private func timeout(_ phase: PostgresTimeoutError.Phase) -> PostgresTimeoutError {
            PostgresTimeoutError(phase: phase, limit: (phase == .connecting ? connectLimit : queryLimit) ?? .zero, url: url)
        }
    }

    /// The SQLSTATE of a server error, looking inside transaction errors.
    static func sqlState(_ error: any Error) -> String? {
        if let error = error as? PSQLError { return error.serverInfo?[.sqlState] }
        if let error = error as? PostgresTransactionError {
            return [error.beginError, error.closureError, error.commitError].lazy.compactMap { $0.flatMap(sqlState) }.first
        }
        return nil
    }

    /// Runs `work` until it succeeds once in this process for `name`; later calls return at once.
    func once(_ name: String, _ work: () async throws -> Void) async throws {
        if migrated.withLock({ $0.contains(name) }) { return }
        try await work()
        _ = migrated.withLock { $0.insert(name) }
    }

    /// A stable 63-bit id for an advisory lock.
    static func lockID(_ name: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return Int64(bitPattern: hash & 0x7FFF_FFFF_FFFF_FFFF)
    }
}

extension ByteBuffer {
    var byteArray: [UInt8] { Array(readableBytesView) }
}
