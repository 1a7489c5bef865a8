import EdgeCoordinator
import EdgePostgres
import EdgeTesting
import Foundation
import Testing

/// A child process whose stdout lines are collected as they come.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var collected: [String] = []

    /// - Parameters:
    ///   - directory: the working directory (default: the test's).
    ///   - standardError: collect the lines of standard error too (where `edge dev` logs).
    init(_ executable: String, _ arguments: [String], directory: String? = nil, standardError: Bool = false) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = standardError ? output : FileHandle.nullDevice
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
        try await waitUntil(what, timeout: timeout) { $0.contains(where: predicate) }
    }

    /// Waits (real time, bounded) until the lines so far satisfy `condition`.
    func waitUntil(_ what: String, timeout: Double = 60, _ condition: ([String]) -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(lines) { return }
            if !process.isRunning {
                throw KillTestError(message: "the child exited (status \(process.terminationStatus)) before \(what); its last lines: \(lines.suffix(5))")
            }
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
    @Test(
        "1,000 concurrent stub.call closures on one durable object from two processes never interleave (the object moves between them); the counter ends exact")
    func durableObjectAcrossProcesses() async throws {
        let harness = try KillTest.executable(named: "edge-crash-harness")
        let name = uniqueName("counters")
        let processes = try (0..<2).map { _ in try ChildProcess(harness, ["pg-do-counter", postgresURL!, name, "500", "50"], standardError: true) }
        for process in processes { try await process.waitFor("done", timeout: 300) { $0 == "done" } }
        let values = processes.flatMap { $0.lines.compactMap { Int($0) } }
        #expect(values.count == 1000)
        // Both processes served calls (ownership moved between them).
        #expect(processes.allSatisfy { $0.lines.compactMap { Int($0) }.count == 500 })
        let namespace = try DurableObjectNamespace<Counter>(name: name, pool: try database(), env: ())
        #expect(values.sorted() == Array(1...1000), "each call saw every call before it, in whichever process it ran")
        #expect(try await namespace.get(namespace.idFromName("shared")).call { try await $0.value() } == 1000)
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
