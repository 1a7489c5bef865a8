import Crypto
import EdgeBlob
import Foundation
import Testing

/// A child process overwrites a 100 MiB object in a loop; the test SIGKILLs it in the middle of an
/// overwrite and checks the key holds exactly the old or the new bytes, and that reopening leaves
/// no orphaned file.
@Suite("FileBlob crash safety")
struct BlobCrashTests {
    /// The 1 MiB chunk edge-crash-harness repeats (Tests/CrashHarness/main.swift).
    func blobChunk(_ variant: Int) -> [UInt8] {
        (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* (variant == 0 ? 7 : 13) &+ variant) }
    }

    func expectedDigest(_ variant: Int, mebibytes: Int) -> String {
        var sha = SHA256()
        let chunk = blobChunk(variant)
        for _ in 0..<mebibytes { sha.update(data: chunk) }
        return hex(sha.finalize())
    }

    @Test("SIGKILL during a 100 MiB overwrite leaves the old or the new bytes and no orphans", arguments: [0.02, 0.15, 0.4])
    func killedOverwrite(delay: Double) async throws {
        let directory = try makeTemporaryDirectory("blob-crash")
        let mebibytes = 100
        // Kill during the first overwrite: after version 0 committed and version 1 started.
        let lines = try await runAndKill(arguments: ["blob-overwriter", directory, "\(mebibytes)"], until: { $0.contains("writing 1") }, delay: delay)
        #expect(lines.contains("committed 0"))
        let digests = [expectedDigest(0, mebibytes: mebibytes), expectedDigest(1, mebibytes: mebibytes)]

        let bucket = try FileBlob(directory: directory)
        let stream = try #require(try await bucket.get("big")?.body)
        var sha = SHA256()
        var size = 0
        for try await chunk in stream {
            sha.update(data: chunk)
            size += chunk.count
        }
        #expect(size == mebibytes << 20)
        #expect(digests.contains(hex(sha.finalize())), "the object holds exactly the old or the new bytes")
        let objects = try FileManager.default.contentsOfDirectory(atPath: directory + "/objects")
        #expect(objects.count == 1, "no orphaned body: \(objects)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/tmp").isEmpty, "no temporary file remains")
    }
}

func crashHarnessPath() throws -> String {
    if let override = ProcessInfo.processInfo.environment["EDGE_CRASH_HARNESS"] { return override }
    let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
    for _ in 0..<3 {
        let candidate = directory.appendingPathComponent("edge-crash-harness").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    throw HarnessError(message: "edge-crash-harness not found next to \(executable); run `swift build` first or set EDGE_CRASH_HARNESS")
}

struct HarnessError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Runs edge-crash-harness, collects its output lines, and once `ready(lines)` holds waits
/// `delay` seconds and SIGKILLs it. Returns every line it printed.
func runAndKill(arguments: [String], until ready: @escaping @Sendable ([String]) -> Bool, delay: Double) async throws -> [String] {
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
            var lines: [String] = []
            var killed = false
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer += chunk
                while let newline = buffer.firstIndex(of: 10) {
                    lines.append(String(decoding: buffer[..<newline], as: UTF8.self))
                    buffer.removeSubrange(...newline)
                }
                if !killed, ready(lines) {
                    usleep(useconds_t(delay * 1_000_000))
                    kill(pid, SIGKILL)
                    killed = true
                }
            }
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal, process.terminationStatus == SIGKILL {
                continuation.resume(returning: lines)
            } else {
                continuation.resume(throwing: HarnessError(message: "edge-crash-harness exited with status \(process.terminationStatus) instead of being killed; output: \(lines.suffix(5))"))
            }
        }
    }
}
