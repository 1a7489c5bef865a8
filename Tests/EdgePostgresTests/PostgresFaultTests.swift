import EdgeCoordinator
import EdgePostgres
import EdgeQueue
import EdgeTesting
import Foundation
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A PostgreSQL server of the test's own (`.ci/postgres` with its own port and directory), which
/// the test can stop, kill and start again without disturbing the server the other tests share.
final class PrivatePostgres: Sendable {
    let port: Int
    let directory: String
    let url: String

    private static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".ci/postgres").path
    }

    /// Initialises and starts a new cluster on a free port.
    init() throws {
        port = Int.random(in: 55_000...58_000)
        directory = "/tmp/edge-pg-fault-\(UUID().uuidString.prefix(8).lowercased())"
        url = "postgres://edge@127.0.0.1:\(port)/edge"
        try start()
    }

    /// `.ci/postgres start`: starts the server (after a crash, PostgreSQL recovers from its WAL).
    func start() throws { try run("start") }

    /// `.ci/postgres stop`: a clean ("fast") shutdown; sessions are ended, nothing is lost.
    func stop() throws { try run("stop") }

    /// SIGKILLs the postmaster and every process it started, as a crashed machine would leave
    /// the data directory.
    func kill() throws {
        let pidFile = try String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8)
        guard let postmaster = pid_t(pidFile.split(separator: "\n").first ?? "") else {
            throw PostgresFaultError(message: "no pid in \(directory)/data/postmaster.pid")
        }
        // Stopped first, so it forks no backend between the listing and the kill.
        Glibc.kill(postmaster, SIGSTOP)
        let children = Self.children(of: postmaster)
        Glibc.kill(postmaster, SIGKILL)
        for child in children { Glibc.kill(child, SIGKILL) }
        // Wait until every one is gone (their shared memory must be released before a restart).
        let deadline = Date().addingTimeInterval(60)
        while ([postmaster] + children).contains(where: { Glibc.kill($0, 0) == 0 && !Self.isZombie($0) }), Date() < deadline {
            usleep(20_000)
        }
    }

    /// Stops the server and removes its directory.
    func destroy() {
        try? stop()
        try? FileManager.default.removeItem(atPath: directory)
        for command in ["start", "stop"] { try? FileManager.default.removeItem(atPath: directory + ".\(command).log") }
    }

    private static func children(of parent: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == parent ? pid : nil
        }
    }

    private static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }

    /// Runs the script through posix_spawn with its output in a file: the server it starts
    /// inherits no pipe of ours (a pipe would never reach end of file while the server runs).
    private func run(_ command: String) throws {
        let log = directory + ".\(command).log"
        let shell = "EDGE_PG_PORT=\(port) EDGE_PG_DIR='\(directory)' '\(Self.script)' \(command) > '\(log)' 2>&1"
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [String](["/bin/sh", "-c", shell]).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { throw PostgresFaultError(message: "cannot run \(Self.script)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw PostgresFaultError(message: ".ci/postgres \(command) failed (status \(status)): \(output)")
        }
    }
}

struct PostgresFaultError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A value several tasks share, behind a lock.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

/// What the workload saw: every call's outcome, in order.
struct FaultLog: Sendable {
    /// Values durable-object increments returned.
    var increments: [Int] = []
    /// Increments that failed, with their error.
    var failedIncrements: [String] = []
    /// Queue messages whose send returned.
    var sent: Set<Int> = []
    /// Sends that failed, with their error.
    var failedSends: [String] = []
    /// Bodies the consumer handled (with repeats).
    var handled: [Int] = []
}

/// PostgreSQL goes away under a running application: stopped cleanly, then killed with SIGKILL
/// (as a crashed machine would leave it), while durable-object calls and a queue producer and
/// consumer run. Calls made while it is gone fail with the bindings' typed errors (they do not
/// hang: each outage lasts until failures have come back, and the server is only started again
/// after that); once it is back the same pool reconnects, and nothing acknowledged is lost.
@Suite("PostgreSQL faults", .enabled(if: postgresAvailable, skipReason), .serialized)
struct PostgresFaultTests {
    @Test("stopped and SIGKILLed under load: typed errors while down, reconnection, nothing acknowledged lost, the counter exact")
    func dyingDatabase() async throws {
        let server = try PrivatePostgres()
        defer { server.destroy() }
        var quiet = Logger(label: "faults")
        quiet.logLevel = .critical
        let pool = try PostgresPool(url: server.url, maxConnections: 8, operationTimeout: .seconds(3), logger: quiet)
        defer { pool.shutdown() }

        let namespace = try DurableObjectNamespace<Counter>(
            name: "faults", pool: pool, env: (), configuration: .init(logger: quiet), leaseSeconds: 3)
        let renewal = Task { try await namespace.run() }
        defer { renewal.cancel() }
        let counter = namespace.get(namespace.idFromName("counter"))
        let backend = PostgresQueue(pool: pool, configuration: .init(scope: "faults", logger: quiet))
        let producer = try QueueProducer<Int>(queue: "work", backend: backend)

        let log = Shared(FaultLog())
        let consumer = try QueueConsumer<Int>(
            queue: "work", backend: backend,
            configuration: QueueConsumerConfiguration(maxBatchSize: 20, maxBatchTimeout: 0, visibilityTimeout: 5, pollInterval: 0.05),
            logger: quiet
        ) { batch in
            let bodies = batch.messages.map(\.body)
            log.withLock { $0.handled += bodies }
        }
        let consuming = Task { try await consumer.run() }
        defer { consuming.cancel() }

        let running = Shared(true)
        let workload = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        while running.withLock({ $0 }) {
                            do {
                                let value = try await counter.call { try await $0.increment() }
                                log.withLock { $0.increments.append(value) }
                            } catch let error as CoordinatorError {
                                log.withLock { $0.failedIncrements.append("\(error.code)") }
                                try? await Task.sleep(for: .milliseconds(50))
                            } catch {
                                log.withLock { $0.failedIncrements.append("untyped: \(String(reflecting: error))") }
                                try? await Task.sleep(for: .milliseconds(50))
                            }
                        }
                    }
                }
                group.addTask {
                    var next = 0
                    while running.withLock({ $0 }) {
                        do {
                            try await producer.send(next)
                            log.withLock { _ = $0.sent.insert(next) }
                        } catch let error as QueueError {
                            log.withLock { $0.failedSends.append("\(error.code)") }
                            try? await Task.sleep(for: .milliseconds(50))
                        } catch {
                            log.withLock { $0.failedSends.append("untyped: \(String(reflecting: error))") }
                            try? await Task.sleep(for: .milliseconds(50))
                        }
                        next += 1
                    }
                }
            }
        }

        /// Waits (bounded: a bound reached means the workload hung) until the log satisfies `condition`.
        func waitFor(_ what: String, _ condition: @escaping @Sendable (FaultLog) -> Bool) async throws {
            let deadline = Date().addingTimeInterval(180)
            while !log.withLock({ condition($0) }) {
                guard Date() < deadline else {
                    let seen = log.withLock {
                        "\($0.increments.count) increments, \($0.failedIncrements.count) failed, \($0.sent.count) sent, \($0.failedSends.count) failed"
                    }
                    throw PostgresFaultError(message: "waited 180 s for \(what); so far \(seen)")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        for fault in ["stop", "SIGKILL"] {
            let before = log.withLock {
                (increments: $0.increments.count, sent: $0.sent.count, failed: $0.failedIncrements.count, failedSends: $0.failedSends.count)
            }
            try await waitFor("progress before the \(fault)") { $0.increments.count >= before.increments + 50 && $0.sent.count >= before.sent + 20 }
            if fault == "stop" { try await runBlocking { try server.stop() } } else { try await runBlocking { try server.kill() } }
            // The server stays down until calls made meanwhile have come back with errors.
            try await waitFor("calls to fail while the database is down (\(fault))") {
                $0.failedIncrements.count >= before.failed + 4 && $0.failedSends.count >= before.failedSends + 2
            }
            let during = log.withLock { (increments: $0.increments.count, sent: $0.sent.count) }
            try await runBlocking { try server.start() }
            // The same pool reconnects: calls succeed again.
            try await waitFor("calls to succeed again after the \(fault)") {
                $0.increments.count >= during.increments + 50 && $0.sent.count >= during.sent + 20
            }
        }
        running.withLock { $0 = false }
        await workload.value

        // Every acknowledged send is delivered.
        try await waitFor("the consumer to handle every acknowledged message") { Set($0.handled).isSuperset(of: $0.sent) }
        let final = try await counter.call { try await $0.value() }
        let seen = log.withLock { $0 }
        print(
            "faults: \(seen.increments.count) increments returned, \(seen.failedIncrements.count) failed; \(seen.sent.count) sends returned, "
                + "\(seen.failedSends.count) failed; \(seen.handled.count) deliveries; counter \(final)")

        #expect(!seen.failedIncrements.contains { $0.hasPrefix("untyped") }, "\(seen.failedIncrements.filter { $0.hasPrefix("untyped") }.prefix(3))")
        #expect(!seen.failedSends.contains { $0.hasPrefix("untyped") }, "\(seen.failedSends.filter { $0.hasPrefix("untyped") }.prefix(3))")
        // The counter is exact: no increment that returned was lost or applied twice (each value
        // returned once), and the only increments beyond those returned are failed calls whose
        // commit reached the database before the connection broke.
        #expect(Set(seen.increments).count == seen.increments.count, "a value was returned twice: an increment was lost")
        #expect(final >= (seen.increments.max() ?? 0))
        #expect(final >= seen.increments.count)
        #expect(final <= seen.increments.count + seen.failedIncrements.count)
    }
}
