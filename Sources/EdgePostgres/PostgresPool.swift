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

/// A PostgreSQL operation that did not finish within the pool's ``PostgresPool/operationTimeout``:
/// the database is down, unreachable or overloaded. The operation may still complete later (a write
/// may or may not have been applied); the backends report it as their own storage failure.
public struct PostgresTimeoutError: Error, Sendable, CustomStringConvertible {
    /// The pool's limit.
    public var limit: Duration
    /// The database, without its password.
    public var url: String
    public var description: String {
        "PostgreSQL at \(url) did not answer within \(limit) (the pool's operation timeout): the server is down, unreachable or overloaded"
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
    /// How long one operation of a backend (a query or a transaction, waiting for a connection
    /// included) may take before it fails with ``PostgresTimeoutError``; `nil` waits for ever.
    public let operationTimeout: Duration?
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
    ///   - operationTimeout: how long one operation may take, waiting for a connection included,
    ///     before it fails (as the backend's storage failure, wrapping ``PostgresTimeoutError``);
    ///     while the database is down, calls fail after this long instead of waiting for it.
    ///     `nil` (the default): no limit. An operation past the limit is abandoned, not cancelled,
    ///     and keeps its connection until it ends: under a load that makes operations slower than
    ///     the limit, abandoned work piles up, so choose a limit well above the slowest expected
    ///     operation.
    ///   - logger: the pool's and its users' logger.
    /// - Throws: ``PostgresURLError`` for a URL that is not one of these forms.
    public init(
        url: String, maxConnections: Int = 16, operationTimeout: Duration? = nil, logger: Logger = Logger(label: "swift-edge.postgres")
    ) throws {
        var configuration = try Self.configuration(url: url)
        configuration.options.maximumConnections = maxConnections
        configuration.options.minimumConnections = 0
        self.url = url
        self.logger = logger
        self.operationTimeout = operationTimeout
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
                try await client.withTransaction(logger: logger) { connection in
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

    /// Runs `work`, giving up after ``operationTimeout`` with ``PostgresTimeoutError``.
    ///
    /// The work runs in a task of its own so that the caller can return while it is stuck: a
    /// query on a connection whose server vanished, or a request waiting for a connection that
    /// cannot be made, need not honour cancellation. On timeout (or when the caller is cancelled)
    /// the work is abandoned, not cancelled: cancelling a transaction half-way could hand its
    /// connection back to the pool still inside the transaction, holding its locks. It ends by
    /// itself when the database answers or the pool gives up; a write may so land after its caller
    /// saw the timeout (durable-object commits that do are refused by their lease's epoch).
    func bounded<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let limit = operationTimeout else { return try await work() }
        let race = RaceBox<T>()
        let redactedURL = Self.redacted(url)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let cancelled = race.state.withLock { race in
                    race.continuation = continuation
                    return race.cancelled
                }
                if cancelled {
                    race.state.withLock { $0.finish() }?.resume(throwing: CancellationError())
                    return
                }
                Task {
                    let result: Result<T, any Error>
                    do { result = .success(try await work()) } catch { result = .failure(error) }
                    race.state.withLock { $0.finish() }?.resume(with: result)
                }
                let timer = Task {
                    try? await Task.sleep(for: limit)
                    guard !Task.isCancelled else { return }
                    race.state.withLock { $0.finish() }?.resume(throwing: PostgresTimeoutError(limit: limit, url: redactedURL))
                }
                race.state.withLock { race in
                    if race.continuation == nil { timer.cancel() } else { race.timer = timer }
                }
            }
        } onCancel: {
            race.state.withLock { race in
                race.cancelled = true
                return race.finish()
            }?.resume(throwing: CancellationError())
        }
    }

    /// The shared state of one bounded operation.
    private final class RaceBox<T: Sendable>: Sendable {
        let state = Mutex(Race<T>())
    }

    /// Who finishes first among a bounded operation, its timer and its caller's cancellation.
    private struct Race<T: Sendable>: ~Copyable {
        var continuation: CheckedContinuation<T, any Error>?
        var timer: Task<Void, Never>?
        var cancelled = false

        /// Takes the continuation (nil once someone else resumed it) and stops the timer.
        mutating func finish() -> CheckedContinuation<T, any Error>? {
            let taken = continuation
            continuation = nil
            timer?.cancel()
            timer = nil
            return taken
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
