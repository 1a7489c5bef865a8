import Crypto
import EdgeCore
import Embeddings
import Foundation
import VectorSearch

/// One search hit.
public struct SearchResult: Codable, Sendable, Hashable {
    public var repo: String
    /// Relative to the indexed root.
    public var path: String
    public var startLine: Int
    public var endLine: Int
    public var score: Double
    /// The chunk's lines that best match the query (up to three).
    public var snippet: String
}

/// What an indexing run did.
public struct IndexSummary: Sendable, Hashable {
    public var files = 0
    public var skippedFiles = 0
    public var chunks = 0
    public var removedChunks = 0
}

/// Chunks, embeds and indexes source trees, and answers hybrid queries: the semantic ranking
/// (embeddings in a vector index) fused with the identifier-aware lexical ranking by reciprocal
/// rank. The building block under the CodeSearch worker and CLI.
public final class CodeIndex: Sendable {
    public let model: any EmbeddingModel
    public let vectors: any VectorIndex
    public let lexical: LexicalIndex
    public let chunker: CodeChunker
    public let filter: FileFilter

    /// `vectors` must have `model.dimensions` dimensions and index the metadata fields `repo`
    /// and `key` (``VectorIndexConfiguration/indexedMetadataFields``), which search reads back.
    public init(model: any EmbeddingModel, vectors: any VectorIndex, lexical: LexicalIndex, chunker: CodeChunker = CodeChunker(), filter: FileFilter = FileFilter()) {
        self.model = model
        self.vectors = vectors
        self.lexical = lexical
        self.chunker = chunker
        self.filter = filter
    }

    /// The vector id of a chunk: Vectorize ids are at most 64 bytes, so a digest of its key.
    static func vectorID(_ key: String) -> String {
        Hex.encode(SHA256.hash(data: Array(key.utf8)).prefix(16))
    }

    /// Indexes the files of `directory` (walked recursively, skipping what ``FileFilter``
    /// refuses) as repository `repo`. Chunks of files that changed are replaced; unchanged chunks
    /// keep their vectors (and a cached model skips their embeddings).
    ///
    /// - Throws: embedding, vector-index and storage errors.
    public func index(directory: String, repo: String, progress: @Sendable (IndexSummary) -> Void = { _ in }) async throws -> IndexSummary {
        var summary = IndexSummary()
        let root = URL(fileURLWithPath: directory).standardized
        let paths = (FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String } ?? []).sorted()
        var pending: [CodeChunk] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root.appendingPathComponent(path).path, isDirectory: &isDirectory), !isDirectory.boolValue,
                  let data = FileManager.default.contents(atPath: root.appendingPathComponent(path).path) else { continue }
            let bytes = Array(data)
            guard filter.verdict(path: path, bytes: bytes) == .index else {
                summary.skippedFiles += 1
                continue
            }
            summary.files += 1
            let chunks = chunker.chunks(path: path, text: String(decoding: bytes, as: UTF8.self))
            let keep = Set(chunks.map { LexicalIndex.key(repo: repo, chunk: $0) })
            let stale = try lexical.chunkKeys(repo: repo, path: path).filter { !keep.contains($0) }
            if !stale.isEmpty {
                _ = try await vectors.deleteByIds(stale.map(Self.vectorID))
                try lexical.delete(keys: stale)
                summary.removedChunks += stale.count
            }
            pending += chunks
            summary.chunks += chunks.count
            if pending.count >= 128 {
                try await store(pending, repo: repo)
                pending.removeAll()
                progress(summary)
            }
        }
        try await store(pending, repo: repo)
        progress(summary)
        return summary
    }

    private func store(_ chunks: [CodeChunk], repo: String) async throws {
        guard !chunks.isEmpty else { return }
        for start in stride(from: 0, to: chunks.count, by: max(1, min(128, model.maxBatchSize))) {
            let batch = Array(chunks[start..<min(chunks.count, start + max(1, min(128, model.maxBatchSize)))])
            let embeddings = try await model.embed(batch.map { "\($0.path)\n\($0.text)" })
            _ = try await vectors.upsert(zip(batch, embeddings).map { chunk, values in
                VectorRecord(id: Self.vectorID(LexicalIndex.key(repo: repo, chunk: chunk)), values: values, namespace: nil,
                             metadata: ["repo": .string(repo), "key": .string(LexicalIndex.key(repo: repo, chunk: chunk))])
            })
            try lexical.upsert(batch, repo: repo)
        }
    }

    /// The `top` best chunks for `query`: semantic and lexical rankings (50 each) fused by
    /// reciprocal rank.
    ///
    /// - Throws: embedding and index errors.
    public func search(_ query: String, top: Int = 10, repo: String? = nil) async throws -> [SearchResult] {
        let embedding = try await model.embed(query)
        var options = VectorQueryOptions(topK: 50)
        if let repo { options.filter = ["repo": .string(repo)] }
        options.returnMetadata = .indexed
        let semantic = try await vectors.query(embedding, options: options).matches.compactMap { match -> String? in
            if case .string(let key)? = match.metadata?[path: "key"] { return key }
            return nil
        }
        let keyword = try lexical.search(query, limit: 50, repo: repo).map(\.id)
        let fused = Array(reciprocalRankFusion([semantic, keyword]).prefix(top))
        let stored = try lexical.chunks(keys: fused.map(\.id))
        let terms = Set(HashingEmbedder.words(query).flatMap { [$0.lowercased()] + HashingEmbedder.identifierPieces($0) })
        return fused.compactMap { hit in
            guard let (repo, chunk) = stored[hit.id] else { return nil }
            return SearchResult(repo: repo, path: chunk.path, startLine: chunk.startLine, endLine: chunk.endLine, score: hit.score,
                                snippet: Self.snippet(chunk.text, terms: terms))
        }
    }

    /// The (up to) three lines of `text` sharing the most words with the query, in order.
    static func snippet(_ text: String, terms: Set<String>) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let scored = lines.enumerated().map { index, line -> (Int, Int) in
            let words = HashingEmbedder.words(line).flatMap { [$0.lowercased()] + HashingEmbedder.identifierPieces($0) }
            return (index, Set(words).intersection(terms).count)
        }
        let best = scored.filter { !lines[$0.0].trimmingCharacters(in: .whitespaces).isEmpty }
            .sorted { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }.prefix(3).map(\.0).sorted()
        return best.map { lines[$0].trimmingCharacters(in: .whitespaces) }.joined(separator: "\n")
    }
}
