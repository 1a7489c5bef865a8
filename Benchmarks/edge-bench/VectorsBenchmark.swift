import Foundation
import VectorSearch

/// `edge-bench vectors --data DIR`: HNSWIndex and FlatIndex on the texmex files that
/// `Benchmarks/scripts/ann_peers.py gen DIR` writes, against hnswlib, faiss and usearch run by
/// `ann_peers.py run DIR --serve` in the same session: same M = 16 and efConstruction = 200,
/// builds on every core for both sides, queries one at a time on one thread (exact search on
/// every core), and rounds alternating between the peers and ours, each side's median reported.
///
/// Needs `pip install numpy packaging hnswlib faiss-cpu 'usearch==2.21.0'` for the peers.
struct VectorsBenchmark {
    let options: BenchOptions
    let efs = [10, 20, 40, 80, 160, 320]

    func run() async throws {
        guard let directory = options.dataDirectory else {
            throw BenchError(message: "vectors needs --data DIR (make it with: python3 Benchmarks/scripts/ann_peers.py gen DIR)")
        }
        let base = Array(try Self.readVectors("\(directory)/base.fvecs").prefix(options.limit ?? Int.max))
        let queries = try Self.readVectors("\(directory)/query.fvecs")
        let truth = try Self.readVectors("\(directory)/gt.ivecs", integers: true).map { $0.map { Int($0) } }
        let dimensions = base.first?.count ?? 0
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let rounds = max(3, options.rounds)
        // The peers build first, on as many threads as ours, and wait; nothing else runs meanwhile.
        let peers = options.skipPeers || options.limit != nil ? nil : try PeerServer(directory: directory, efs: efs, threads: threads)

        // Build: HNSWIndex links nodes from every core.
        let index = try HNSWIndex(
            configuration: VectorIndexConfiguration(dimensions: dimensions, metric: .cosine),
            parameters: HNSWParameters(m: 16, efConstruction: 200, efSearch: 10))
        let records = base.enumerated().map { VectorRecord(id: String($0), values: $1) }
        let started = seconds()
        for start in stride(from: 0, to: records.count, by: 1000) {
            _ = try await index.insert(Array(records[start..<min(start + 1000, records.count)]))
        }
        let build = seconds() - started
        let flat = try FlatIndex(configuration: VectorIndexConfiguration(dimensions: dimensions, metric: .cosine))
        for start in stride(from: 0, to: records.count, by: 1000) { _ = try await flat.insert(Array(records[start..<min(start + 1000, records.count)])) }
        let flatQueries = Array(queries.prefix(200))

        // Rounds, alternating: one pass of every peer at every ef, then one pass of ours; each
        // side's figure is its median over the rounds.
        var peerLines: [PeerLine] = []
        var ours: [Int: [Double]] = [:]
        var oursRecall: [Int: Double] = [:]
        var flatRates: [Double] = []
        var flatRecall = 0.0
        for _ in 0..<rounds {
            if let peers { peerLines += try peers.round() }
            for ef in efs {
                var found: [[Int]] = []
                let start = seconds()
                for query in queries {
                    let result = try index.query(query, options: VectorQueryOptions(topK: 10), efSearch: max(ef, 10))
                    found.append(result.matches.map { Int($0.id)! })
                }
                ours[ef, default: []].append(Double(queries.count) / (seconds() - start))
                oursRecall[ef] = Self.recall(found, truth, k: 10)
            }
            var found: [[Int]] = []
            let start = seconds()
            for query in flatQueries { found.append(try await flat.query(query, options: VectorQueryOptions(topK: 10)).matches.map { Int($0.id)! }) }
            flatRates.append(Double(flatQueries.count) / (seconds() - start))
            flatRecall = Self.recall(found, Array(truth.prefix(flatQueries.count)), k: 10)
        }
        peers?.stop()
        let byLibrary = Self.medians(peerLines)

        let hnswlib = byLibrary["hnswlib"] ?? []
        BenchLine(
            suite: "vectors", name: "hnsw.build", value: build, unit: "s", peer: hnswlib.isEmpty ? nil : "hnswlib", peerValue: hnswlib.first?.build,
            extra: [
                "n": "\(base.count)", "d": "\(dimensions)", "m": "16", "ef_construction": "200", "threads": "\(threads)", "peer_threads": "\(threads)",
                "faiss_hnsw_build_s": (byLibrary["faiss-hnsw"]?.first?.build).map { String(format: "%.1f", $0) } ?? "null",
                "usearch_build_s": (byLibrary["usearch"]?.first?.build).map { String(format: "%.1f", $0) } ?? "null", "target_ratio": "1.0",
            ]
        ).print()
        for ef in efs {
            let recall = oursRecall[ef] ?? 0
            let peerQPS = Self.interpolate(hnswlib, atRecall: recall)
            func other(_ library: String) -> String {
                Self.interpolate(byLibrary[library] ?? [], atRecall: recall).map { String(format: "%.0f", $0) } ?? "null"
            }
            BenchLine(
                suite: "vectors", name: "hnsw.ef\(ef)", value: Self.median(ours[ef] ?? []), unit: "queries/s", peer: peerQPS == nil ? nil : "hnswlib",
                peerValue: peerQPS,
                extra: [
                    "recall": String(format: "%.4f", recall), "ef": "\(ef)", "threads": "1", "rounds": "\(rounds)",
                    "hnswlib_recall_at_ef": hnswlib.first { $0.ef == ef }.map { String(format: "%.4f", $0.recall) } ?? "null",
                    "faiss_hnsw_qps_at_recall": other("faiss-hnsw"), "usearch_qps_at_recall": other("usearch"),
                ].merging(ef == 40 ? ["target": quote("recall >= 0.95 at ratio >= 1.0")] : [:]) { $1 }
            ).print()
        }
        BenchLine(
            suite: "vectors", name: "hnsw.memory_per_vector", value: index.memoryPerVector, unit: "bytes",
            extra: ["raw_vector_bytes": "\(dimensions * 4)"]
        ).print()
        let faiss = byLibrary["faiss-flat"]?.first
        BenchLine(
            suite: "vectors", name: "flat.query", value: Self.median(flatRates), unit: "queries/s", peer: faiss == nil ? nil : "faiss-flat",
            peerValue: faiss?.qps,
            extra: [
                "recall": String(format: "%.4f", flatRecall), "queries": "\(flatQueries.count)", "threads": "\(threads)",
                "peer_threads": faiss?.threads.map(String.init) ?? "null", "rounds": "\(rounds)", "target_ratio": "0.8",
            ]
        ).print()
    }

    struct PeerLine {
        var library: String
        var ef: Int?
        var build: Double
        var qps: Double
        var recall: Double
        var threads: Int?
    }

    /// Per library, one line per ef with the median queries/s over the rounds.
    static func medians(_ lines: [PeerLine]) -> [String: [PeerLine]] {
        var result: [String: [PeerLine]] = [:]
        for (library, ofLibrary) in Dictionary(grouping: lines, by: \.library) {
            result[library] = Dictionary(grouping: ofLibrary) { $0.ef ?? -1 }.values.map { passes in
                var line = passes[0]
                line.qps = median(passes.map(\.qps))
                // The thread count faiss's exact search was fastest on, most often.
                line.threads = Dictionary(grouping: passes.compactMap(\.threads)) { $0 }.max { $0.value.count < $1.value.count }?.key
                return line
            }
            .sorted { ($0.ef ?? -1) < ($1.ef ?? -1) }
        }
        return result
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// `ann_peers.py run DIR --serve`: the peers' indexes built once in a child process, then one
    /// pass of every library at every ef per `round()`.
    final class PeerServer {
        let process = Process()
        let input = Pipe()
        let lines: LineReader

        init(directory: String, efs: [Int], threads: Int) throws {
            let script = benchScript("ann_peers.py")
            guard FileManager.default.fileExists(atPath: script) else { throw BenchError(message: "Benchmarks/scripts/ann_peers.py not found") }
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "python3", script, "run", directory, "--ef", efs.map(String.init).joined(separator: ","), "--threads", "\(threads)", "--serve",
            ]
            let output = Pipe()
            process.standardOutput = output
            process.standardInput = input
            lines = LineReader(output.fileHandleForReading)
            try process.run()
            while let line = lines.next() {
                if Self.object(line)?["ready"] != nil { return }
                FileHandle.standardError.write(Data("edge-bench: ann_peers.py: \(line)\n".utf8))
            }
            throw BenchError(message: "ann_peers.py ended before its indexes were built (pip install numpy packaging hnswlib faiss-cpu 'usearch==2.21.0')")
        }

        func round() throws -> [PeerLine] {
            input.fileHandleForWriting.write(Data("round\n".utf8))
            var result: [PeerLine] = []
            while let line = lines.next() {
                guard let object = Self.object(line) else { continue }
                if object["done"] != nil { return result }
                if let library = object["library"] as? String, let qps = object["qps"] as? Double, let recall = object["recall"] as? Double {
                    result.append(
                        PeerLine(
                            library: library, ef: object["ef"] as? Int, build: object["build_s"] as? Double ?? 0, qps: qps, recall: recall,
                            threads: object["threads"] as? Int))
                }
            }
            throw BenchError(message: "ann_peers.py ended in the middle of a round")
        }

        func stop() {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }

        static func object(_ line: String) -> [String: Any]? {
            try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        }
    }

    /// The peer's QPS at `recall`, interpolated linearly between its measured (recall, QPS) points.
    static func interpolate(_ points: [PeerLine], atRecall recall: Double) -> Double? {
        let sorted = points.sorted { $0.recall < $1.recall }
        guard let first = sorted.first, let last = sorted.last else { return nil }
        if recall <= first.recall { return first.qps }
        if recall >= last.recall { return last.qps }
        for (low, high) in zip(sorted, sorted.dropFirst()) where recall >= low.recall && recall <= high.recall {
            let t = high.recall == low.recall ? 0 : (recall - low.recall) / (high.recall - low.recall)
            return low.qps + t * (high.qps - low.qps)
        }
        return nil
    }

    static func recall(_ found: [[Int]], _ truth: [[Int]], k: Int) -> Double {
        var hits = 0
        for (result, expected) in zip(found, truth) { hits += Set(result.prefix(k)).intersection(expected.prefix(k)).count }
        return Double(hits) / Double(found.count * k)
    }

    /// texmex .fvecs / .ivecs: per row an int32 dimension, then the values.
    static func readVectors(_ path: String, integers: Bool = false) throws -> [[Float]] {
        guard let data = FileManager.default.contents(atPath: path) else { throw BenchError(message: "cannot read \(path)") }
        return data.withUnsafeBytes { raw -> [[Float]] in
            var rows: [[Float]] = []
            var offset = 0
            while offset + 4 <= raw.count {
                let dimensions = Int(raw.loadUnaligned(fromByteOffset: offset, as: Int32.self))
                offset += 4
                rows.append(
                    (0..<dimensions).map { index in
                        integers
                            ? Float(raw.loadUnaligned(fromByteOffset: offset + index * 4, as: Int32.self))
                            : raw.loadUnaligned(fromByteOffset: offset + index * 4, as: Float.self)
                    })
                offset += dimensions * 4
            }
            return rows
        }
    }
}
