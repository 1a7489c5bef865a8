import Foundation

/// Durability tests that kill a process: run a child that reports what it has done on stdout, one
/// line per acknowledged operation, SIGKILL it at a chosen moment, then check the storage it used.
public enum KillTest {
    /// An executable built by this package, found next to the running test binary (on Linux,
    /// `.build/<triple>/debug/`). The environment variable `EDGE_<NAME>` (upper-cased, `-` as `_`)
    /// overrides the location.
    ///
    /// - Throws: ``KillTestError`` when it is not there.
    public static func executable(named name: String) throws -> String {
        let variable = "EDGE_" + name.uppercased().replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: "EDGE_", with: "")
        if let override = ProcessInfo.processInfo.environment[variable] { return override }
        let current = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: current).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw KillTestError(message: "\(name) not found next to \(current); build it first (`swift build`) or set \(variable)")
    }

    /// Starts `executable` with `arguments`, collects the lines it prints, and once `killWhen`
    /// holds for the lines so far, waits `delay` seconds and kills it with SIGKILL. Returns every
    /// line it printed before it died.
    ///
    /// - Throws: ``KillTestError`` when the process exits by itself instead of being killed.
    public static func run(
        executable: String, arguments: [String], delay: Double = 0,
        killWhen: @escaping @Sendable ([String]) -> Bool
    ) async throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let reader = output.fileHandleForReading
        let pid = process.processIdentifier
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                var buffer: [UInt8] = []
                var lines: [String] = []
                var killed = false
                while true {
                    let chunk = reader.availableData
                    if chunk.isEmpty { break }  // EOF: the process is gone.
                    buffer += chunk
                    while let newline = buffer.firstIndex(of: 10) {
                        lines.append(String(decoding: buffer[..<newline], as: UTF8.self))
                        buffer.removeSubrange(...newline)
                    }
                    if !killed, killWhen(lines) {
                        if delay > 0 { usleep(useconds_t(delay * 1_000_000)) }
                        kill(pid, SIGKILL)
                        killed = true
                    }
                }
                process.waitUntilExit()
                if process.terminationReason == .uncaughtSignal, process.terminationStatus == SIGKILL {
                    continuation.resume(returning: lines)
                } else {
                    continuation.resume(
                        throwing: KillTestError(
                            message: "\(executable) exited with status \(process.terminationStatus) instead of being killed; last output: \(lines.suffix(5))"))
                }
            }
        }
    }
}

public struct KillTestError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(message: String) { self.message = message }
}

/// Fresh directories for tests.
public enum TemporaryDirectory {
    /// A new, empty directory under the system temporary directory (`swift-edge-tests/NAME-UUID`).
    ///
    /// - Throws: the file system's error when it cannot be created.
    public static func make(_ name: String) throws -> String {
        let path = NSTemporaryDirectory() + "swift-edge-tests/\(name)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
