import EdgeKV
import Foundation
import Testing

/// Durability is shown by killing a writer, not assumed: a child process puts keys and reports
/// each put that returned; the test SIGKILLs it mid-stream and then reads every reported key.
@Suite("SQLiteKV crash safety")
struct CrashTests {
    /// The value edge-crash-harness stores under key-N (Tests/CrashHarness/main.swift).
    func crashValue(_ index: Int) -> String {
        String(repeating: "v\(index);", count: index % 10 == 9 ? 20_000 : 8)
    }

    @Test("every put acknowledged before SIGKILL is readable afterwards", arguments: [50, 400, 1500])
    func killedWriter(acknowledgementsBeforeKill: Int) async throws {
        let directory = try makeTemporaryDirectory("crash")
        let path = directory + "/kv.sqlite"
        let acknowledged = try await runAndKill(arguments: ["kv-writer", path], after: acknowledgementsBeforeKill)
        #expect(acknowledged.count >= acknowledgementsBeforeKill)
        #expect(acknowledged == Array(0..<acknowledged.count), "acknowledgements arrive in order")

        let kv = try SQLiteKV(path: path)
        var missing: [Int] = []
        for index in acknowledged {
            if try await kv.get("key-\(index)") != crashValue(index) { missing.append(index) }
        }
        #expect(missing.isEmpty, "acknowledged puts lost after SIGKILL: \(missing.prefix(20))")
        // The file is consistent and writable after the crash.
        try await kv.put("after-crash", "ok")
        #expect(try await kv.get("after-crash") == "ok")
    }
}

/// The edge-crash-harness executable, built by `swift build` / `swift test` next to the test bundle.
func crashHarnessPath() throws -> String {
    if let override = ProcessInfo.processInfo.environment["EDGE_CRASH_HARNESS"] { return override }
    let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
    // On Linux the test binary is `.build/<triple>/debug/swift-edgePackageTests.xctest`.
    for _ in 0..<3 {
        let candidate = directory.appendingPathComponent("edge-crash-harness").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    throw CrashHarnessMissing(searchedFrom: executable)
}

struct CrashHarnessMissing: Error, CustomStringConvertible {
    var searchedFrom: String
    var description: String { "edge-crash-harness not found next to \(searchedFrom); run `swift build` first or set EDGE_CRASH_HARNESS" }
}

/// Starts edge-crash-harness with `arguments`, reads the numbers it acknowledges until it has
/// `after` of them, SIGKILLs it, and returns every number it acknowledged before dying.
func runAndKill(arguments: [String], after: Int) async throws -> [Int] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try crashHarnessPath())
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let reader = output.fileHandleForReading
    let pid = process.processIdentifier

    return try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            var buffer: [UInt8] = []
            var numbers: [Int] = []
            var killed = false
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }  // EOF: the process is gone.
                buffer += chunk
                while let newline = buffer.firstIndex(of: 10) {
                    if let number = Int(String(decoding: buffer[..<newline], as: UTF8.self)) { numbers.append(number) }
                    buffer.removeSubrange(...newline)
                }
                if !killed, numbers.count >= after {
                    kill(pid, SIGKILL)
                    killed = true
                }
            }
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal, process.terminationStatus == SIGKILL {
                continuation.resume(returning: numbers)
            } else {
                continuation.resume(throwing: CrashHarnessExited(status: process.terminationStatus, acknowledged: numbers.count))
            }
        }
    }
}

struct CrashHarnessExited: Error, CustomStringConvertible {
    var status: Int32
    var acknowledged: Int
    var description: String { "edge-crash-harness exited with status \(status) after \(acknowledged) acknowledgements instead of being killed" }
}
