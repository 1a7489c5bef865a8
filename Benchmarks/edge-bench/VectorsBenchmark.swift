import Foundation
import VectorSearch

/// `edge-bench vectors --data DIR`: HNSWIndex and FlatIndex on the texmex files that
/// `Benchmarks/scripts/ann_peers.py gen DIR` writes, against hnswlib and faiss run by
/// `ann_peers.py run DIR` in the same session (same M = 16, efConstruction = 200, one thread).
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
        let peers = options.skipPeers || options.limit != nil ? [] : try runPeers(directory)

        // Build, one thread, inner product on unit vectors (= cosine).
        let index = try HNSWIndex(
            configuration: VectorIndexConfiguration(dimensions: dimensions, metric: .cosine),
            parameters: HNSWParameters(m: 16, efConstruction: 200, efSearch: 10))
        let records = base.enumerated().map { VectorRecord(id: String($0), values: $1) }
        let started = seconds()
        for start in stride(from: 0, to: records.count, by: 1000) {
            _ = try await index.insert(Array(records[start..<min(start + 1000, records.count)]))
        }
        let build = seconds() - started
        let hnswlib = peers.filter { $0.library == "hnswlib" }
        BenchLine(
            suite: "vectors", name: "hnsw.build", value: build, unit: "s", peer: hnswlib.isEmpty ? nil : "hnswlib", peerValue: hnswlib.first?.build,
            extra: [
                "n": "\(base.count)", "d": "\(dimensions)", "m": "16", "ef_construction": "200", "threads": "\(ProcessInfo.processInfo.activeProcessorCount)",
                "peer_threads": "1", "target_ratio": "1.0",
            ]
        ).print()

        for ef in efs {
            // The median of three passes over the queries (one pass is ~0.2 s, short enough for
            // this machine's noise to matter); the peer runs one pass.
            var found: [[Int]] = []
            var rates: [Double] = []
            for _ in 0..<3 {
                found = []
                let start = seconds()
                for query in queries {
                    let result = try index.query(query, options: VectorQueryOptions(topK: 10), efSearch: max(ef, 10))
                    found.append(result.matches.map { Int($0.id)! })
                }
                rates.append(Double(queries.count) / (seconds() - start))
            }
            let qps = rates.sorted()[1]
            let recall = Self.recall(found, truth, k: 10)
            let peerQPS = Self.interpolate(hnswlib, atRecall: recall)
            BenchLine(
                suite: "vectors", name: "hnsw.ef\(ef)", value: qps, unit: "queries/s", peer: peerQPS == nil ? nil : "hnswlib", peerValue: peerQPS,
                extra: [
                    "recall": String(format: "%.4f", recall), "ef": "\(ef)", "threads": "1",
                    "hnswlib_recall_at_ef": hnswlib.first { $0.ef == ef }.map { String(format: "%.4f", $0.recall) } ?? "null",
                ]
            ).print()
        }
        BenchLine(
            suite: "vectors", name: "hnsw.memory_per_vector", value: index.memoryPerVector, unit: "bytes",
            extra: ["raw_vector_bytes": "\(dimensions * 4)"]
        ).print()

        // Exact search.
        let flat = try FlatIndex(configuration: VectorIndexConfiguration(dimensions: dimensions, metric: .cosine))
        for start in stride(from: 0, to: records.count, by: 1000) { _ = try await flat.insert(Array(records[start..<min(start + 1000, records.count)])) }
        let sample = queries.prefix(200)
        var flatFound: [[Int]] = []
        let flatStart = seconds()
        for query in sample { flatFound.append(try await flat.query(query, options: VectorQueryOptions(topK: 10)).matches.map { Int($0.id)! }) }
        let flatQPS = Double(sample.count) / (seconds() - flatStart)
        let faiss = peers.first { $0.library == "faiss-flat" }
        BenchLine(
            suite: "vectors", name: "flat.query", value: flatQPS, unit: "queries/s", peer: faiss == nil ? nil : "faiss-flat", peerValue: faiss?.qps,
            extra: [
                "recall": String(format: "%.4f", Self.recall(flatFound, Array(truth.prefix(200)), k: 10)),
                "threads": "\(ProcessInfo.processInfo.activeProcessorCount)", "peer_threads": "1", "target_ratio": "0.8",
            ]
        ).print()
    }

    struct PeerLine {
        var library: String
        var ef: Int?
        var build: Double
        var qps: Double
        var recall: Double
    }

    func runPeers(_ directory: String) throws -> [PeerLine] {
        guard let script = [benchScript("ann_peers.py")].first(where: { FileManager.default.fileExists(atPath: $0) })
        else {
            FileHandle.standardError.write(Data("edge-bench: Benchmarks/scripts/ann_peers.py not found; printing without peers\n".utf8))
            return []
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "run", directory, "--ef", efs.map(String.init).joined(separator: ",")]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let library = object["library"] as? String,
                let qps = object["qps"] as? Double, let recall = object["recall"] as? Double
            else { return nil }
            return PeerLine(library: library, ef: object["ef"] as? Int, build: object["build_s"] as? Double ?? 0, qps: qps, recall: recall)
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
