import CodeSearch
import EdgeBlob
import EdgeKV
import Embeddings
import Foundation
import GRDB
import VectorSearch

/// `edge-bench codesearch`: the CodeSearch pipeline on a real tree (default: the hummingbird
/// 2.28.1 `Sources/` checked out under `.build/checkouts`, or `--data DIR`) with MiniLM —
/// retrieval quality on the dev set (MRR@10 by file), a full index, a re-index after touching one
/// file, and search latency with a warm model.
///
/// MRR@10 by file: a query's results are collapsed to distinct files in rank order; its score is
/// 1 / rank of the first of the first ten files that is in `relevant`, else 0. Peers measured in
/// the same run on the same chunks: plain BM25 (SQLite FTS5 over the chunk text, no identifier
/// splitting) and MiniLM alone (the vector index only), the issue's two baselines.
struct CodeSearchBenchmark {
    let options: BenchOptions

    struct Query: Decodable {
        var query: String
        var relevant: [String]
    }

    func run() async throws {
        let tree = options.dataDirectory ?? FileManager.default.currentDirectoryPath + "/.build/checkouts/hummingbird/Sources"
        guard FileManager.default.fileExists(atPath: tree) else {
            throw BenchError(message: "no source tree at \(tree): build once (`swift build`) so SwiftPM checks out hummingbird, or pass --data DIR")
        }
        let queries = try loadQueries()
        let scratch = try options.scratchDirectory("codesearch")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // Index a copy, so touching a file never changes the checkout.
        let root = scratch + "/Sources"
        try FileManager.default.copyItem(atPath: tree, toPath: root)

        let base = try MiniLM(directory: MiniLM.locateOrInstallWeights { FileHandle.standardError.write(Data("edge-bench: \($0)\n".utf8)) })
        let cache = try SQLiteKV(namespace: "EMBEDDING_CACHE", stateDirectory: scratch)
        let model = try CachedEmbeddingModel(base, cache: cache, ttl: nil)
        let vectors = try HNSWIndex(
            name: "code", stateDirectory: scratch,
            configuration: VectorIndexConfiguration(dimensions: 384, indexedMetadataFields: ["repo", "key"]))
        let index = CodeIndex(
            model: model, vectors: vectors, chunks: try SQLiteChunkStore(path: scratch + "/chunks.sqlite"),
            lexical: try SQLiteLexicalIndex(path: scratch + "/lexical.sqlite"), artifacts: try FileBlob(bucket: "artifacts", stateDirectory: scratch))

        // Full index with an empty embedding cache.
        var started = seconds()
        let full = try await index.index(source: .local(root), repo: "hummingbird")
        let fullSeconds = seconds() - started
        BenchLine(
            suite: "codesearch", name: "index.full", value: fullSeconds, unit: "s",
            extra: [
                "files": "\(full.files)", "chunks": "\(full.chunks)", "files_per_s": number(Double(full.files) / fullSeconds),
                "chunks_per_s": number(Double(full.chunks) / fullSeconds), "model": quote(base.modelID), "lower_is_better": "true",
            ]
        ).print()

        // Touch one file (a new comment line) and re-index the tree.
        let touched = try await index.chunks.keys(repo: "hummingbird").first.map { String($0.split(separator: "|")[1].split(separator: "#")[0]) } ?? ""
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: root + "/" + touched))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("\n// touched by edge-bench\n".utf8))
        try handle.close()
        started = seconds()
        let again = try await index.index(source: .local(root), repo: "hummingbird")
        let reindexSeconds = seconds() - started
        BenchLine(
            suite: "codesearch", name: "index.reindex_one_file", value: reindexSeconds, unit: "s",
            extra: ["files": "\(again.files)", "chunks": "\(again.chunks)", "cache_hits": "\(again.cacheHits)", "target": "2", "lower_is_better": "true"]
        ).print()

        // Retrieval quality: ours (hybrid) next to BM25 alone and MiniLM alone.
        let peer = try PlainBM25(chunks: try await index.chunks.chunks(keys: try await index.chunks.keys(repo: "hummingbird")).values.map(\.chunk))
        var ours = 0.0, semantic = 0.0, lexical = 0.0, bm25 = 0.0
        for query in queries {
            ours += Self.reciprocalRank(try await index.search(query.query, top: 50, mode: .hybrid).map(\.path), relevant: query.relevant)
            semantic += Self.reciprocalRank(try await index.search(query.query, top: 50, mode: .semantic).map(\.path), relevant: query.relevant)
            lexical += Self.reciprocalRank(try await index.search(query.query, top: 50, mode: .lexical).map(\.path), relevant: query.relevant)
            bm25 += Self.reciprocalRank(try peer.search(query.query, limit: 50), relevant: query.relevant)
        }
        let count = Double(queries.count)
        BenchLine(
            suite: "codesearch", name: "dev.mrr10", value: ours / count, unit: "MRR", peer: "bm25-fts5", peerValue: bm25 / count,
            extra: [
                "queries": "\(queries.count)", "target": "0.9", "semantic_only": number(semantic / count),
                "lexical_only": number(lexical / count),
            ]
        ).print()
        BenchLine(suite: "codesearch", name: "dev.mrr10.semantic_only", value: semantic / count, unit: "MRR", extra: ["baseline": "0.867"]).print()
        BenchLine(
            suite: "codesearch", name: "dev.mrr10.lexical_only", value: lexical / count, unit: "MRR", peer: "bm25-fts5", peerValue: bm25 / count,
            extra: ["baseline": "0.733"]
        ).print()

        // Latency of a search with a warm model (no result cache): every query, several rounds.
        var latencies: [Double] = []
        for _ in 0..<max(4, options.rounds * 3) {
            for query in queries {
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
    }

    /// The dev set: `--eval FILE`, else `Benchmarks/data/codesearch-dev.jsonl` of this checkout.
    func loadQueries() throws -> [Query] {
        let path = options.evalFile ?? FileManager.default.currentDirectoryPath + "/Benchmarks/data/codesearch-dev.jsonl"
        guard let data = FileManager.default.contents(atPath: path) else { throw BenchError(message: "cannot read the dev set \(path) (--eval FILE)") }
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

/// The BM25 peer: SQLite FTS5 over the raw chunk text with the default tokenizer, ranked by
/// `bm25()` — keyword search as a plain setup does it (no identifier splitting, no paths).
struct PlainBM25 {
    let queue: DatabaseQueue

    init(chunks: [CodeChunk]) throws {
        queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE VIRTUAL TABLE chunks USING fts5(path UNINDEXED, body)")
            for chunk in chunks {
                try db.execute(sql: "INSERT INTO chunks (path, body) VALUES (?, ?)", arguments: [chunk.path, chunk.text])
            }
        }
    }

    /// The paths of the best `limit` chunks, any query word matching.
    func search(_ query: String, limit: Int) throws -> [String] {
        let words = query.lowercased().split { !$0.isLetter && !$0.isNumber }.map { "\"\($0)\"" }
        guard !words.isEmpty else { return [] }
        return try queue.read { db in
            try String.fetchAll(
                db, sql: "SELECT path FROM chunks WHERE chunks MATCH ? ORDER BY bm25(chunks) LIMIT ?",
                arguments: [words.joined(separator: " OR "), limit])
        }
    }
}
