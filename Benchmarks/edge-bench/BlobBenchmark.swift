import Crypto
import EdgeBlob
import Foundation

/// `edge-bench blob`: FileBlob against plain file writes + fsync and plain reads, in the same run.
struct BlobBenchmark {
    let options: BenchOptions

    /// A body of `count` copies of one chunk, streamed (never whole in memory).
    struct Repeated: AsyncSequence, Sendable {
        typealias Element = [UInt8]
        let chunk: [UInt8]
        let count: Int

        struct AsyncIterator: AsyncIteratorProtocol {
            let chunk: [UInt8]
            var remaining: Int
            mutating func next() async -> [UInt8]? {
                guard remaining > 0 else { return nil }
                remaining -= 1
                return chunk
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(chunk: chunk, remaining: count) }
    }

    func run() async throws {
        let directory = try options.scratchDirectory("blob")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let bucket = try FileBlob(directory: directory + "/bucket")
        let plain = directory + "/plain"
        try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: true)

        // 4 KiB objects.
        let small = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var counter = 0
        let put4k = try await compare(rounds: options.rounds, duration: options.duration) {
            counter += 1
            _ = try await bucket.put("small-\(counter % 1000)", small)
        } peer: {
            counter += 1
            try PlainFiles.write(plain + "/small-\(counter % 1000)", chunks: [small])
        }
        BenchLine(suite: "blob", name: "file.put_4k", value: put4k.ours, unit: "objects/s", peer: "plain-file-fsync", peerValue: put4k.peer).print()
        var checksum = 0
        let get4k = try await compare(rounds: options.rounds, duration: options.duration) {
            counter += 1
            checksum &+= try await bucket.get("small-\(counter % 1000)")?.body?.bytes().count ?? 0
        } peer: {
            counter += 1
            checksum &+= try PlainFiles.read(plain + "/small-\(counter % 1000)")
        }
        guard checksum > 0 else { throw BenchError(message: "4 KiB gets read nothing") }
        BenchLine(suite: "blob", name: "file.get_4k", value: get4k.ours, unit: "objects/s", peer: "plain-file", peerValue: get4k.peer).print()

        // 256 MiB objects, streamed in 1 MiB chunks; MB/s, best of the rounds; resident memory, worst of the rounds.
        let chunk = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        let mebibytes = 256
        let megabytes = Double(mebibytes << 20) / 1_000_000
        var best = (put: 0.0, putPeer: 0.0, get: 0.0, getPeer: 0.0, putRSS: 0.0, getRSS: 0.0, md5: 0.0)
        for round in 0..<max(1, options.rounds - 1) {
            let putRSS = try await Memory.peakAbove {
                let start = seconds()
                _ = try await bucket.put("large", body: .stream(Repeated(chunk: chunk, count: mebibytes)), options: BlobPutOptions())
                best.put = max(best.put, megabytes / (seconds() - start))
            }
            // R2's etag is the MD5 of the body: the rate of one MD5 stream over the same chunks
            // bounds any single put.
            var start = seconds()
            var md5 = Insecure.MD5()
            for piece in Repeated(chunk: chunk, count: mebibytes).collectLazily() { md5.update(data: piece) }
            _ = md5.finalize()
            best.md5 = max(best.md5, megabytes / (seconds() - start))
            start = seconds()
            try PlainFiles.write(plain + "/large-\(round)", chunks: Repeated(chunk: chunk, count: mebibytes).collectLazily())
            best.putPeer = max(best.putPeer, megabytes / (seconds() - start))

            let getRSS = try await Memory.peakAbove {
                let start = seconds()
                var size = 0
                for try await piece in try await bucket.get("large")!.body! { size += piece.count }
                guard size == mebibytes << 20 else { throw BenchError(message: "read \(size) bytes") }
                best.get = max(best.get, megabytes / (seconds() - start))
            }
            start = seconds()
            guard try PlainFiles.read(plain + "/large-\(round)") == mebibytes << 20 else { throw BenchError(message: "plain read short") }
            best.getPeer = max(best.getPeer, megabytes / (seconds() - start))
            // Memory is a bound, not a best case: the worst round counts.
            best.putRSS = max(best.putRSS, putRSS)
            best.getRSS = max(best.getRSS, getRSS)
            try? FileManager.default.removeItem(atPath: plain + "/large-\(round)")
        }
        BenchLine(suite: "blob", name: "file.put_256m", value: best.put, unit: "MB/s", peer: "plain-file-fsync", peerValue: best.putPeer).print()
        BenchLine(
            suite: "blob", name: "file.put_256m.vs_md5", value: best.put, unit: "MB/s", peer: "md5-single-stream", peerValue: best.md5,
            extra: ["target_ratio": "0.9"]
        ).print()
        BenchLine(suite: "blob", name: "file.get_256m", value: best.get, unit: "MB/s", peer: "plain-file", peerValue: best.getPeer).print()
        let baseline = String(format: "%.1f", Double(try Memory.field("VmRSS")) / 1024)
        BenchLine(suite: "blob", name: "file.put_256m.rss", value: best.putRSS, unit: "MiB", extra: ["limit": "64", "baseline_mib": baseline]).print()
        BenchLine(suite: "blob", name: "file.get_256m.rss", value: best.getRSS, unit: "MiB", extra: ["limit": "64", "baseline_mib": baseline]).print()
        bucket.close()
    }
}

extension BlobBenchmark.Repeated {
    /// The chunks as a lazy sequence for the synchronous peer.
    func collectLazily() -> some Sequence<[UInt8]> {
        repeatElement(chunk, count: count)
    }
}

/// The peer: what an application without swift-edge would do.
enum PlainFiles {
    /// Writes the chunks to `path` (replacing it), fsyncs and closes.
    static func write(_ path: String, chunks: some Sequence<[UInt8]>) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw BenchError(message: "open \(path)") }
        defer { close(fd) }
        for chunk in chunks {
            let written = chunk.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard written == chunk.count else { throw BenchError(message: "write \(path)") }
        }
        guard fsync(fd) == 0 else { throw BenchError(message: "fsync \(path)") }
    }

    /// Reads `path` in 1 MiB chunks; returns its size.
    static func read(_ path: String) throws -> Int {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw BenchError(message: "open \(path)") }
        defer { close(fd) }
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let got = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard got >= 0 else { throw BenchError(message: "read \(path)") }
            if got == 0 { return total }
            total += got
        }
    }
}

/// Peak resident memory of this process during a piece of work.
enum Memory {
    /// Runs `body` and returns the peak resident set during it, in MiB above the resident set
    /// before it (Linux: the peak is reset through /proc/self/clear_refs).
    static func peakAbove(_ body: () async throws -> Void) async throws -> Double {
        try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
        let baseline = try field("VmRSS")
        try await body()
        return Double(try field("VmHWM") - baseline) / 1024
    }

    /// A kB field of /proc/self/status.
    static func field(_ name: String) throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
            if let value = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") { return value }
        }
        throw BenchError(message: "no \(name) in /proc/self/status")
    }
}
