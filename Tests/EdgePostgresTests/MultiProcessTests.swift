import EdgeCoordinator
import EdgePostgres
import EdgeQueue
import EdgeTesting
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// A child process whose stdout lines are collected as they come.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var collected: [String] = []

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let handle = output.fileHandleForReading
        Thread { [self] in
            var buffer: [UInt8] = []
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { return }
                buffer += chunk
                while let newline = buffer.firstIndex(of: 10) {
                    let line = String(decoding: buffer[..<newline], as: UTF8.self)
                    buffer.removeSubrange(...newline)
                    lock.withLock { collected.append(line) }
                }
            }
        }.start()
    }

    var lines: [String] { lock.withLock { collected } }

    /// A test that fails half-way leaves no process behind.
    deinit {
        if process.isRunning { kill() }
    }

    /// Waits (real time, bounded) until a line satisfies `predicate`.
    func waitFor(_ what: String, timeout: Double = 60, _ predicate: (String) -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if lines.contains(where: predicate) { return }
            if !process.isRunning { throw KillTestError(message: "the child exited before \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw KillTestError(message: "timed out waiting for \(what)")
    }

    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

@Suite("PostgreSQL shared by several processes", .enabled(if: postgresAvailable, skipReason))
struct MultiProcessTests {
    @Test("50,000 messages, two consumer processes, one SIGKILLed and restarted twice: none lost, duplicates counted")
    func queueSurvivesKills() async throws {
        let harness = try KillTest.executable(named: "edge-crash-harness")
        let scope = uniqueName("mp")
        let arguments = ["pg-queue-consumer", postgresURL!, scope, "2"]
        let pool = try database()
        let producer = try QueueProducer<Int>(queue: "work", backend: PostgresQueue(pool: pool, configuration: .init(listen: false, scope: scope)))

        var first = try ChildProcess(harness, arguments)
        let second = try ChildProcess(harness, arguments)
        try await first.waitFor("the first consumer") { $0 == "ready" }
        try await second.waitFor("the second consumer") { $0 == "ready" }
        let total = 50_000
        let sending = Task {
            for base in stride(from: 0, to: total, by: 100) {
                try await producer.sendBatch((base..<base + 100).map { QueueSendRequest(body: $0) })
            }
        }
        // Kill the first consumer twice while it is handling messages; restart it each time.
        var kills = 0
        for round in 1...2 {
            try await first.waitFor("consumer progress (round \(round))", timeout: 120) { line in
                line.hasPrefix("handled ") && (Int(line.dropFirst(8)) ?? 0) >= 2_000 * round
            }
            first.kill()
            kills += 1
            first = try ChildProcess(harness, arguments)
            try await first.waitFor("the restarted consumer") { $0 == "ready" }
        }
        try await sending.value

        // Wait until the ledger holds every number (leases of the killed process expire after 2 s).
        var recorded = 0
        let deadline = Date().addingTimeInterval(180)
        while Date() < deadline {
            recorded = try await count(pool, "SELECT count(*) FROM edge_test_ledger WHERE scope = \(scope)")
            if recorded == total, try await producer.backend.stats("work").backlog == 0 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        first.stop()
        second.stop()
        #expect(kills == 2)
        #expect(recorded == total, "every message was handled at least once")
        let deliveries = try await count(pool, "SELECT COALESCE(sum(deliveries), 0) FROM edge_test_ledger WHERE scope = \(scope)")
        let outOfRange = try await count(pool, "SELECT count(*) FROM edge_test_ledger WHERE scope = \(scope) AND (n < 0 OR n >= \(Int32(total)))")
        #expect(outOfRange == 0)
        #expect(try await producer.backend.stats("work").backlog == 0)
        // At-least-once: a batch handled by a killed consumer before its acknowledgement comes again.
        print("multi-process queue: \(total) messages, \(deliveries - total) duplicate deliveries after \(kills) kills")
        #expect(deliveries - total <= 2 * 100 * kills, "duplicates come only from batches in flight at a kill")
    }

    @Test("1,000 concurrent calls to one durable object through two processes never interleave; the counter ends exact")
    func durableObjectAcrossProcesses() async throws {
        let harness = try KillTest.executable(named: "edge-crash-harness")
        let name = uniqueName("counters")
        let processes = try (0..<2).map { _ in try ChildProcess(harness, ["pg-do-counter", postgresURL!, name, "500", "50"]) }
        for process in processes { try await process.waitFor("done", timeout: 300) { $0 == "done" } }
        let values = processes.flatMap { $0.lines.compactMap { Int($0) } }
        #expect(values.count == 1000)
        #expect(values.sorted() == Array(1...1000), "each call saw every call before it, in whichever process it ran")
        // Both processes served calls (ownership moved between them).
        #expect(processes.allSatisfy { $0.lines.compactMap { Int($0) }.count == 500 })
        let namespace = try DurableObjectNamespace<Counter>(name: name, pool: try database(), env: ())
        #expect(try await namespace.get(namespace.idFromName("shared")).call { try await $0.value() } == 1000)
    }

    func count(_ pool: PostgresPool, _ query: PostgresQuery) async throws -> Int {
        for try await value in try await pool.client.query(query).decode(Int64.self) { return Int(value) }
        return 0
    }
}

/// Reads the harness's counter ("count" in storage).
actor Counter: DurableObject {
    let state: DurableObjectState
    init(state: DurableObjectState, env: Void) { self.state = state }
    func value() throws -> Int { try state.storage.get("count", as: Int.self) ?? 0 }
    func increment() throws -> Int {
        let next = try value() + 1
        try state.storage.put("count", next)
        return next
    }
}
