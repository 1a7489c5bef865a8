import Dispatch
public import Foundation

/// A server under test in a process of its own: started from an executable of this package,
/// its port read from the first line it prints (`… http://127.0.0.1:PORT`), stopped or killed
/// at will, its memory read from `/proc`.
public final class ServerProcess: @unchecked Sendable {
    public let process = Process()
    /// The port the server printed.
    public let port: Int

    /// The host the server printed (`127.0.0.1` unless it listens elsewhere).
    public let host: String

    /// Starts `executable` (an absolute path, or a product of this package found as
    /// ``KillTest/executable(named:)`` finds it) and waits for its first line.
    ///
    /// - Throws: ``KillTestError`` when it exits before printing a port.
    public init(executable: String, arguments: [String], environment extra: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : try KillTest.executable(named: executable))
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment.merge(extra) { $1 }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        // Its standard error goes to a file, whose last lines explain a server that exits early.
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("server-process-\(UUID().uuidString).stderr")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errors)
        defer { try? FileManager.default.removeItem(at: errors) }
        try process.run()
        var line: [UInt8] = []
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            guard let first = byte.first else {
                process.waitUntilExit()
                let tail = ((try? String(contentsOf: errors, encoding: .utf8)) ?? "").split(separator: "\n").suffix(20).joined(separator: "\n")
                throw KillTestError(
                    message:
                        "\(executable) \(arguments.prefix(6).joined(separator: " ")) exited (status \(process.terminationStatus)) before saying where it listens; its last lines:\n\(tail)"
                )
            }
            if first == 10 { break }
            line.append(first)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let port = text.split(separator: ":").last.flatMap({ Int($0) }) else {
            throw KillTestError(message: "\(executable) printed \"\(text)\", not an address with a port")
        }
        self.port = port
        // "… http://HOST:PORT": the host between "//" and the last ":".
        if let slashes = text.range(of: "//"), let colon = text.lastIndex(of: ":"), slashes.upperBound < colon {
            host = String(text[slashes.upperBound..<colon])
        } else {
            host = "127.0.0.1"
        }
    }

    /// The base URL, `http://HOST:PORT`.
    public var url: String { "http://\(host):\(port)" }

    /// The process's resident memory now and at its peak, in bytes (`VmRSS`, `VmHWM` of
    /// `/proc/PID/status`; Linux).
    public func memory() -> (resident: Int, peak: Int) {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        func kilobytes(_ field: String) -> Int {
            let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
            return (Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty }.map(String.init) ?? "") ?? 0) * 1024
        }
        return (kilobytes("VmRSS"), kilobytes("VmHWM"))
    }

    /// Kills it with SIGKILL and waits for it.
    public func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Asks it to stop (SIGTERM) and waits for it.
    public func stop() {
        process.terminate()
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}

/// Runs a command of the machine (`curl`, `python3`, …) to completion without holding a thread
/// of Swift's cooperative pool, so a server in the same process keeps answering it meanwhile.
public enum ExternalCommand {
    /// Runs `arguments` (the first is looked up in `PATH`); returns its exit status and what it
    /// printed on standard output (with standard error when `mergeStandardError`, else standard
    /// error is discarded). `environment` is added to this process's.
    ///
    /// - Throws: when the command cannot be started.
    public static func run(
        _ arguments: [String], environment: [String: String] = [:], mergeStandardError: Bool = false
    ) async throws -> (
        status: Int32, output: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        merged.merge(environment) { $1 }
        process.environment = merged
        let output = Pipe()
        process.standardOutput = output
        process.standardError = mergeStandardError ? output : FileHandle.nullDevice
        try process.run()
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let data = output.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: (process.terminationStatus, String(decoding: data, as: UTF8.self)))
            }
        }
    }
}

/// Runs blocking work — waiting for a child process, reading its pipes to the end — on a thread
/// of its own, off Swift concurrency's cooperative pool. That pool has one thread per core: a
/// test that blocks one of them for the seconds a child process runs stalls every other test's
/// tasks meanwhile, in-process servers included.
///
/// - Throws: what `work` throws.
public func runBlocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
