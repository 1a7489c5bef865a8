public import Foundation

/// A child process whose stdout lines are collected as they come.
public final class ChildProcess: @unchecked Sendable {
    public let process = Process()
    private let lock = NSLock()
    private var collected: [String] = []

    /// Starts `executable` with `arguments`.
    ///
    /// - Throws: when it cannot be started.
    /// - Parameters:
    ///   - executable: the path of the executable.
    ///   - arguments: its arguments.
    ///   - directory: the working directory (default: the test's).
    ///   - standardError: collect the lines of standard error too (where `edge dev` logs).
    ///   - environment: added to this process's environment.
    public init(
        _ executable: String, _ arguments: [String], directory: String? = nil, standardError: Bool = false, environment: [String: String] = [:]
    )
        throws
    {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
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

    /// The lines so far.
    public var lines: [String] { lock.withLock { collected } }

    /// A test that fails half-way leaves no process behind.
    deinit {
        if process.isRunning { kill() }
    }

    /// Waits (real time, bounded) until a line satisfies `predicate`.
    ///
    /// - Throws: ``KillTestError`` when the child exits first or `timeout` passes.
    public func waitFor(_ what: String, timeout: Double = 300, _ predicate: (String) -> Bool) async throws {
        try await waitUntil(what, timeout: timeout) { $0.contains(where: predicate) }
    }

    /// Waits (real time, bounded) until the lines so far satisfy `condition`.
    ///
    /// - Throws: ``KillTestError`` when the child exits first or `timeout` passes.
    public func waitUntil(_ what: String, timeout: Double = 300, _ condition: ([String]) -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(lines) { return }
            if !process.isRunning {
                throw KillTestError(message: "the child exited (status \(process.terminationStatus)) before \(what); its last lines: \(lines.suffix(5))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        // Once more: a waiter resumed late (a loaded machine) must not miss a line that came in time.
        if condition(lines) { return }
        throw KillTestError(message: "timed out waiting for \(what)")
    }

    /// Kills it with SIGKILL and waits for it.
    public func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Asks it to stop (SIGTERM) and waits for it; after `grace` seconds (a process that blocks
    /// or ignores SIGTERM, as one started from a thread with SIGTERM blocked may) kills it.
    public func stop(grace: Double = 5) {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
