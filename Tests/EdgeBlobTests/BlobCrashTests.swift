import Crypto
import EdgeBlob
import EdgeTesting
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
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let mebibytes = 100
        // Kill during the first overwrite: after version 0 committed and version 1 started.
        let lines = try await KillTest.run(
            executable: try KillTest.executable(named: "edge-crash-harness"),
            arguments: ["blob-overwriter", directory, "\(mebibytes)"], delay: delay
        ) { $0.contains("writing 1") }
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

/// Streaming keeps memory bounded: a child process (alone, so no other test's allocations count)
/// puts a 128 MiB object as a stream and reads it back, and reports the peak resident set above
/// where it started for each. Edge's limit for streamed bodies is 64 MiB; the chunked path should
/// stay far below it, whatever the object's size.
@Suite("FileBlob streaming memory")
struct BlobStreamingMemoryTests {
    @Test("a 128 MiB put and get each stay under 64 MiB of resident growth")
    func boundedMemory() async throws {
        let directory = try makeTemporaryDirectory("blob-memory")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let child = try ChildProcess(try KillTest.executable(named: "edge-crash-harness"), ["blob-stream-memory", directory, "128"])
        try await child.waitFor("the get's figure", timeout: 300) { $0.hasPrefix("get ") }
        let figures = Dictionary(
            child.lines.compactMap { line -> (String, Int)? in
                let parts = line.split(separator: " ")
                guard parts.count == 2, let kilobytes = Int(parts[1]) else { return nil }
                return (String(parts[0]), kilobytes)
            }, uniquingKeysWith: { $1 })
        let put = try #require(figures["put"]), get = try #require(figures["get"])
        print("streaming 128 MiB through FileBlob: resident growth \(put) kB on put, \(get) kB on get")
        #expect(put < 64 << 10, "a streamed 128 MiB put grew the resident set by \(put) kB")
        #expect(get < 64 << 10, "a streamed 128 MiB get grew the resident set by \(get) kB")
        // The bound is not vacuous: the object stored is twice the limit.
        let stored = try FileManager.default.contentsOfDirectory(atPath: directory + "/objects").map {
            (try FileManager.default.attributesOfItem(atPath: directory + "/objects/" + $0)[.size] as? Int) ?? 0
        }
        #expect(stored.contains(128 << 20))
    }
}
