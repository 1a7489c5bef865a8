import EdgeCoordinator
import EdgePostgres
import EdgeTesting
import Foundation
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

    /// Initialises and starts a new cluster on a free port: one below Linux's ephemeral range
    /// (32768-60999), so no client connection takes it while the server is down between a stop and
    /// a start (one in 55000-58000 was once taken before the first start); a port another listener
    /// holds is skipped (at most 10 tries).
    init() throws {
        var attempt = 0
        while true {
            let port = Int.random(in: 20_000...29_999)
            let directory = "/tmp/edge-pg-fault-\(UUID().uuidString.prefix(8).lowercased())"
            do {
                try Self.run("start", port: port, directory: directory)
                self.port = port
                self.directory = directory
                url = "postgres://edge@127.0.0.1:\(port)/edge"
                return
            } catch {
                Self.remove(directory)
                attempt += 1
                guard attempt < 10, "\(error)".contains("could not start server") else { throw error }
            }
        }
    }

    /// `.ci/postgres start`: starts the server (after a crash, PostgreSQL recovers from its WAL).
    func start() throws { try Self.run("start", port: port, directory: directory) }

    /// `.ci/postgres stop`: a clean ("fast") shutdown; sessions are ended, nothing is lost.
    func stop() throws { try Self.run("stop", port: port, directory: directory) }

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
        Self.remove(directory)
    }

    private static func remove(_ directory: String) {
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
    private static func run(_ command: String, port: Int, directory: String) throws {
        let log = directory + ".\(command).log"
        let shell = "EDGE_PG_PORT=\(port) EDGE_PG_DIR='\(directory)' '\(script)' \(command) > '\(log)' 2>&1"
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [String](["/bin/sh", "-c", shell]).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { throw PostgresFaultError(message: "cannot run \(script)") }
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

extension PostgresProcessTests {
    /// PostgreSQL goes away under a running application: stopped cleanly, then killed with SIGKILL
    /// (as a crashed machine would leave it), while durable-object calls and a queue producer and
    /// consumer run (edge-crash-harness `pg-faults`, a process of its own, so that the tests running
    /// beside this one in the test process cannot starve its tasks into timeouts). Calls made while
    /// the database is gone fail with the bindings' typed errors, on the pool's default timeouts
    /// (they do not hang: each outage lasts until failures have come back, and the server is only
    /// started again after that); once it is back the same pool reconnects, and nothing
    /// acknowledged is lost.
    @Suite("PostgreSQL faults", .enabled(if: postgresAvailable, skipReason), .serialized)
    struct PostgresFaultTests {
        @Test("stopped and SIGKILLed under load: typed errors while down, reconnection, nothing acknowledged lost, the counter exact")
        func dyingDatabase() async throws {
            // Starting and stopping the server wait for child processes: off the cooperative pool,
            // which the tests running beside this one need.
            let server = try await runBlocking { try PrivatePostgres() }
            defer { server.destroy() }
            let directory = try TemporaryDirectory.make("pg-faults")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let stopFile = directory + "/stop"
            let workload = try ChildProcess(try KillTest.executable(named: "edge-crash-harness"), ["pg-faults", server.url, stopFile])
            defer { workload.kill() }

            func numbers(_ prefix: String, _ lines: some Sequence<String>) -> [Int] {
                lines.compactMap { $0.hasPrefix(prefix + " ") ? Int($0.dropFirst(prefix.count + 1)) : nil }
            }
            func failures(_ prefix: String, _ lines: some Sequence<String>) -> [String] {
                lines.compactMap { $0.hasPrefix(prefix + " ") ? String($0.dropFirst(prefix.count + 1)) : nil }
            }
            /// Waits until, since line `start`, at least `increments` increments and `sends` sends of
            /// the kind `prefix` ("inc"/"sent" or "incfail"/"sendfail") were printed.
            func waitFor(_ what: String, succeeded: Bool, increments: Int, sends: Int) async throws {
                let start = workload.lines.count
                try await workload.waitUntil(what, timeout: 300) { lines in
                    let since = lines.dropFirst(start)
                    let counts =
                        succeeded
                        ? (numbers("inc", since).count, numbers("sent", since).count) : (failures("incfail", since).count, failures("sendfail", since).count)
                    return counts.0 >= increments && counts.1 >= sends
                }
            }

            try await workload.waitFor("the workload to start", timeout: 300) { $0 == "ready" }
            for fault in ["stop", "SIGKILL"] {
                try await waitFor("progress before the \(fault)", succeeded: true, increments: 50, sends: 20)
                if fault == "stop" { try await runBlocking { try server.stop() } } else { try await runBlocking { try server.kill() } }
                // The server stays down until calls made meanwhile have come back with errors.
                try await waitFor("calls to fail while the database is down (\(fault))", succeeded: false, increments: 4, sends: 2)
                try await runBlocking { try server.start() }
                // The same pool reconnects: calls succeed again.
                try await waitFor("calls to succeed again after the \(fault)", succeeded: true, increments: 50, sends: 20)
            }
            _ = FileManager.default.createFile(atPath: stopFile, contents: nil)
            try await workload.waitFor("the workload to stop", timeout: 300) { $0 == "stopped" }
            // Every acknowledged send is delivered.
            let sent = Set(numbers("sent", workload.lines))
            try await workload.waitUntil("the consumer to handle every acknowledged message", timeout: 300) { lines in
                Set(numbers("handled", lines)).isSuperset(of: sent)
            }
            workload.kill()
            let lines = workload.lines
            let increments = numbers("inc", lines), failedIncrements = failures("incfail", lines), failedSends = failures("sendfail", lines)

            // The counter, read through a namespace of the test's own once the workload's lease expires.
            let pool = try PostgresPool(url: server.url, maxConnections: 2, connectTimeout: testOperationTimeout, queryTimeout: testOperationTimeout)
            defer { pool.shutdown() }
            let namespace = try DurableObjectNamespace<Counter>(name: "faults", pool: pool, env: (), leaseSeconds: 3)
            let final = try await namespace.get(namespace.idFromName("counter")).call { try await $0.value() }
            print(
                "faults: \(increments.count) increments returned, \(failedIncrements.count) failed; \(sent.count) sends returned, "
                    + "\(failedSends.count) failed; \(numbers("handled", lines).count) deliveries; counter \(final)")

            #expect(!failedIncrements.contains { $0.hasPrefix("untyped") }, "\(failedIncrements.filter { $0.hasPrefix("untyped") }.prefix(3))")
            #expect(!failedSends.contains { $0.hasPrefix("untyped") }, "\(failedSends.filter { $0.hasPrefix("untyped") }.prefix(3))")
            // The counter is exact: no increment that returned was lost or applied twice (each value
            // returned once), and the only increments beyond those returned are failed calls whose
            // commit reached the database before the connection broke.
            #expect(Set(increments).count == increments.count, "a value was returned twice: an increment was lost")
            #expect(final >= (increments.max() ?? 0))
            #expect(final >= increments.count)
            #expect(final <= increments.count + failedIncrements.count)
            try await runBlocking { server.destroy() }
        }
    }
}
