import Foundation

/// One line of edge-bench output: a JSON object with `suite`, `name`, `value`, `unit` and, when a
/// peer ran in the same run, `peer`, `peer_value` and `ratio` (ours / peer; for durations where
/// lower is better the line says so with `lower_is_better`).
struct BenchLine {
    var suite: String
    var name: String
    var value: Double
    var unit: String
    var peer: String? = nil
    var peerValue: Double? = nil
    var extra: [String: String] = [:]

    func json() -> String {
        var fields: [(String, String)] = [
            ("suite", quote(suite)), ("name", quote(name)), ("value", number(value)), ("unit", quote(unit)),
        ]
        if let peer, let peerValue {
            fields.append(("peer", quote(peer)))
            fields.append(("peer_value", number(peerValue)))
            fields.append(("ratio", number(peerValue == 0 ? 0 : value / peerValue)))
        }
        // Extra values are JSON literals (numbers, or strings through `quote`); anything else is
        // quoted here, so the line stays JSON.
        for (key, value) in extra.sorted(by: { $0.key < $1.key }) { fields.append((key, Self.isJSONLiteral(value) ? value : quote(value))) }
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    static func isJSONLiteral(_ text: String) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)) != nil
    }

    func print() {
        let line = Array((json() + "\n").utf8)
        line.withUnsafeBytes { _ = write(1, $0.baseAddress, $0.count) }
    }
}

func quote(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}

func number(_ value: Double) -> String {
    if value.isNaN || value.isInfinite { return "null" }
    if value >= 100 { return String(format: "%.1f", value) }
    return String(format: "%.4f", value)
}

/// A peer script of `Benchmarks/scripts/` (found from this source file, so from any directory).
func benchScript(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts/\(name)").path
}

/// Monotonic seconds.
func seconds() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}

/// Runs `body` repeatedly for about `duration` seconds; returns operations per second, where
/// each call of `body` performs `opsPerCall` operations.
func measureRate(duration: Double, opsPerCall: Int = 1, _ body: () async throws -> Void) async rethrows -> Double {
    // Warm up.
    for _ in 0..<3 { try await body() }
    let start = seconds()
    var calls = 0
    var elapsed = 0.0
    repeat {
        for _ in 0..<16 { try await body() }
        calls += 16
        elapsed = seconds() - start
    } while elapsed < duration
    return Double(calls * opsPerCall) / elapsed
}

/// Measures `ours` and `peer` alternately for `rounds` rounds and keeps each side's best rate,
/// so both see the same machine state (page cache, CPU frequency, background load).
func compare(
    rounds: Int, duration: Double, opsPerCall: Int = 1, ours: () async throws -> Void, peer: () async throws -> Void
) async rethrows -> (ours: Double, peer: Double) {
    var best = (ours: 0.0, peer: 0.0)
    for _ in 0..<rounds {
        best.ours = max(best.ours, try await measureRate(duration: duration, opsPerCall: opsPerCall, ours))
        best.peer = max(best.peer, try await measureRate(duration: duration, opsPerCall: opsPerCall, peer))
    }
    return best
}

struct BenchOptions {
    var duration = 1.0
    var rounds = 3
    var directory: String?
    /// `--data DIR`: input files (the vectors suite).
    var dataDirectory: String?
    /// `--no-peers`: skip running the peer scripts (for profiling ours alone).
    var skipPeers = false
    /// `--limit N`: use only the first N base vectors.
    var limit: Int?
    /// `--eval FILE`: the queries of the codesearch suite.
    var evalFile: String?
    /// `--cache DIR`: keep the codesearch suite's embedding cache there between runs.
    var cacheDirectory: String?
    /// `--backend postgres`: run kv, queue or vectors on the PostgreSQL backends.
    var backend = "sqlite"
    /// `--url URL`: the PostgreSQL server (else `EDGE_POSTGRES_URL`).
    var url: String?
    /// `--port N`: the port of a server `edge-bench serve` starts (the S3 API's).
    var port: Int?
    /// `--corpus large`: the codesearch suite indexes the 10,000-file corpus instead of the dev sets.
    var corpus: String?
    /// `--model hashing`: the large corpus embedded by the hashing embedder instead of MiniLM
    /// (the pipeline without the neural model: chunking, lexical and vector indexes, storage).
    var model = "minilm"
    /// `--keep DIR`: the large corpus's index is built in DIR and kept; a later run with the same
    /// DIR finds it complete and measures the searches only.
    var keepDirectory: String?

    init(_ arguments: ArraySlice<String>) throws {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--seconds": duration = Double(iterator.next() ?? "") ?? duration
            case "--rounds": rounds = Int(iterator.next() ?? "") ?? rounds
            case "--dir": directory = iterator.next()
            case "--data": dataDirectory = iterator.next()
            case "--no-peers": skipPeers = true
            case "--limit": limit = Int(iterator.next() ?? "")
            case "--eval": evalFile = iterator.next()
            case "--cache": cacheDirectory = iterator.next()
            case "--backend": backend = iterator.next() ?? backend
            case "--url": url = iterator.next()
            case "--port": port = Int(iterator.next() ?? "")
            case "--corpus": corpus = iterator.next()
            case "--model": model = iterator.next() ?? model
            case "--keep": keepDirectory = iterator.next()
            default: throw BenchError(message: "unknown option \(argument)")
            }
        }
    }

    /// A fresh scratch directory (under --dir, or the system temporary directory).
    func scratchDirectory(_ name: String) throws -> String {
        let base = directory ?? NSTemporaryDirectory()
        let path = (base as NSString).appendingPathComponent("edge-bench-\(name)-\(getpid())")
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

struct BenchError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// Reads a child process's output line by line, blocking until a line (or the end) arrives.
final class LineReader {
    let handle: FileHandle
    var buffer: [UInt8] = []

    init(_ handle: FileHandle) { self.handle = handle }

    /// The next line without its newline, or nil at the end of the output.
    func next() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            let chunk = handle.availableData
            if chunk.isEmpty {
                guard !buffer.isEmpty else { return nil }
                defer { buffer.removeAll() }
                return String(decoding: buffer, as: UTF8.self)
            }
            buffer += chunk
        }
    }
}
