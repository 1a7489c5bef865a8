import Crypto
public import EdgeBlob
import EdgeCore
public import Embeddings
import Foundation
public import VectorSearch

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

/// What an indexing run (or one batch of it) did.
public struct IndexSummary: Codable, Sendable, Hashable {
    /// Files read, chunked and indexed.
    public var files = 0
    /// Files left out by the ``FileFilter`` (binary, vendored, too large).
    public var skippedFiles = 0
    /// Files whose content had not changed since they were indexed.
    public var unchangedFiles = 0
    /// Files that disappeared, with all their chunks.
    public var removedFiles = 0
    /// Chunks written (new or changed files).
    public var chunks = 0
    /// Stale chunks removed (of changed and removed files).
    public var removedChunks = 0
    /// Chunks embedded and stored in the vector index.
    public var embedded = 0
    /// Embeddings served from the cache.
    public var cacheHits = 0

    public init() {}

    public mutating func add(_ other: IndexSummary) {
        files += other.files
        skippedFiles += other.skippedFiles
        unchangedFiles += other.unchangedFiles
        removedFiles += other.removedFiles
        chunks += other.chunks
        removedChunks += other.removedChunks
        embedded += other.embedded
        cacheHits += other.cacheHits
    }
}

/// What changed in a repository since its last completed index: the work an indexing job does.
public struct IndexPlan: Codable, Sendable, Hashable {
    public var repo: String
    /// The commit indexed, when the source is one.
    public var revision: String?
    /// Every file of the new state with its content fingerprint.
    public var files: [String: String]
    /// Files new or changed since the last snapshot, sorted.
    public var changed: [String]
    /// Files gone since the last snapshot, sorted.
    public var removed: [String]
}

/// Which embedding model the vectors of an index come from, kept in the artifacts bucket
/// (`index/model.json`). An index holds one model's embeddings: vectors of two models are not
/// comparable, so indexing with another model re-embeds every stored chunk
/// (``CodeIndex/adoptModel(progress:)``) and searching with another is refused.
public struct IndexModelRecord: Codable, Sendable, Hashable {
    /// The model's ``EmbeddingModel/modelID`` (`all-MiniLM-L6-v2`, `hashing-384`, ...).
    public var model: String
    public var dimensions: Int
    /// False while the stored chunks are being re-embedded with `model`: an interrupted switch
    /// is finished by the next ``CodeIndex/adoptModel(progress:)``.
    public var complete: Bool

    public init(model: String, dimensions: Int, complete: Bool) {
        self.model = model
        self.dimensions = dimensions
        self.complete = complete
    }
}

/// The per-file manifest kept in the artifacts bucket: which chunks a file produced.
struct FileManifest: Codable, Sendable {
    var path: String
    var fingerprint: String
    var chunks: [String]
}

/// One step of indexing: files to read and chunk, and files removed.
public struct FileBatch: Codable, Sendable, Hashable {
    public var paths: [String]
    public var removed: [String]

    public init(paths: [String] = [], removed: [String] = []) {
        self.paths = paths
        self.removed = removed
    }
}

/// Chunks, embeds and indexes repositories, and answers hybrid queries: the semantic ranking
/// (embeddings in a vector index) fused with the identifier-aware lexical ranking by reciprocal
/// rank. The building block under the CodeSearch worker (one stage per queue) and the CLI (all
/// stages in one process).
///
/// Artifacts in the bucket: `snapshots/REPO/current.json` (the last completed index: every
/// file's fingerprint), `snapshots/REPO/REVISION.json` (the same for a commit), and
/// `manifests/REPO/PATH` (a file's fingerprint and chunk keys).
public final class CodeIndex: Sendable {
    public let model: any EmbeddingModel
    public let vectors: any VectorIndex
    /// The chunks' text, by key: what results, snippets and embeddings are made from.
    public let chunks: any ChunkStore
    public let lexical: any LexicalIndex
    public let artifacts: any BlobBucket
    public let chunker: CodeChunker
    public let filter: FileFilter
    /// Files per file-indexing batch (50) and texts per embedding batch (128, or the model's
    /// maximum when smaller).
    public let filesPerBatch: Int
    public var textsPerBatch: Int { max(1, min(128, model.maxBatchSize)) }

    /// `vectors` must have `model.dimensions` dimensions and index the metadata fields `repo`
    /// and `key` (``VectorIndexConfiguration/indexedMetadataFields``), which search reads back.
    public init(
        model: any EmbeddingModel, vectors: any VectorIndex, chunks: any ChunkStore, lexical: any LexicalIndex, artifacts: any BlobBucket,
        chunker: CodeChunker = CodeChunker(), filter: FileFilter = FileFilter(), filesPerBatch: Int = 50
    ) {
        self.model = model
        self.vectors = vectors
        self.chunks = chunks
        self.lexical = lexical
        self.artifacts = artifacts
        self.chunker = chunker
        self.filter = filter
        self.filesPerBatch = max(1, filesPerBatch)
    }

    /// The vector id of a chunk: Vectorize ids are at most 64 bytes, so a digest of its key.
    public static func vectorID(_ key: String) -> String {
        Hex.encode(SHA256.hash(data: Array(key.utf8)).prefix(16))
    }

    /// The id of a chunk's second vector, the embedding of its ``ChunkGloss`` (when it has one).
    public static func glossVectorID(_ key: String) -> String {
        vectorID(key + "#gloss")
    }

    /// The ids of the vectors a stored chunk has in the vector index: its text's, and its
    /// gloss's when it has one.
    public static func vectorIDs(of stored: StoredChunk) -> [String] {
        [vectorID(stored.key)] + (ChunkGloss.gloss(of: stored.chunk) == nil ? [] : [glossVectorID(stored.key)])
    }

    /// The same index with another model (the stores shared).
    public func with(model: any EmbeddingModel) -> CodeIndex {
        CodeIndex(
            model: model, vectors: vectors, chunks: chunks, lexical: lexical, artifacts: artifacts, chunker: chunker, filter: filter,
            filesPerBatch: filesPerBatch)
    }

    // MARK: Batches

    /// The file batches of `plan`, each of at most ``filesPerBatch`` files: changed files first,
    /// then removed ones. Indexing in this process and the worker's queue stages cut work the same way.
    public func fileBatches(_ plan: IndexPlan) -> [FileBatch] {
        Self.slices(plan.changed, of: filesPerBatch).map { FileBatch(paths: $0) }
            + Self.slices(plan.removed, of: filesPerBatch).map { FileBatch(removed: $0) }
    }

    /// `keys` in embedding batches of at most ``textsPerBatch``.
    public func embeddingBatches(_ keys: [String]) -> [[String]] {
        Self.slices(keys, of: textsPerBatch)
    }

    static func slices<T>(_ items: [T], of size: Int) -> [[T]] {
        stride(from: 0, to: items.count, by: size).map { Array(items[$0..<min(items.count, $0 + size)]) }
    }

    static func snapshotKey(repo: String, revision: String? = nil) -> String { "snapshots/\(repo)/\(revision ?? "current").json" }
    static let modelRecordKey = "index/model.json"
    static func manifestKey(repo: String, path: String) -> String { "manifests/\(repo)/\(path)" }

    // MARK: The model of the index

    /// The model the index's vectors come from; nil for an index nothing was written to yet
    /// (or one written before the model was recorded).
    ///
    /// - Throws: blob errors; `DecodingError` for a corrupt record.
    public func modelRecord() async throws -> IndexModelRecord? {
        guard let stored = try await artifacts.get(Self.modelRecordKey), let body = stored.body else { return nil }
        return try JSONDecoder().decode(IndexModelRecord.self, from: Data(try await body.bytes()))
    }

    private func recordModel(complete: Bool) async throws {
        let record = IndexModelRecord(model: model.modelID, dimensions: model.dimensions, complete: complete)
        _ = try await artifacts.put(Self.modelRecordKey, Array(try JSONEncoder().encode(record)))
    }

    /// Makes ``model`` the index's model: a new index records it; an index built with another
    /// model (or with an unrecorded one) has every stored chunk re-embedded with ``model`` into
    /// the vector index, replacing each chunk's vector, before the record says so. Returns how
    /// many chunks were re-embedded (0 when the index already held ``model``'s embeddings).
    /// `progress` is called with the chunks done and the total.
    ///
    /// - Throws: embedding, vector-index and blob errors; an interrupted switch is finished by the
    ///   next call (searches are refused until then).
    @discardableResult
    public func adoptModel(progress: @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }) async throws -> Int {
        let record = try await modelRecord()
        if let record, record.model == model.modelID, record.complete { return 0 }
        let keys = try await chunks.keys()
        if record == nil, keys.isEmpty {
            try await recordModel(complete: true)
            return 0
        }
        try await recordModel(complete: false)
        var done = 0
        progress(done, keys.count)
        for batch in embeddingBatches(keys) {
            _ = try await storeEmbeddings(keys: batch)
            done += batch.count
            progress(done, keys.count)
        }
        try await recordModel(complete: true)
        return keys.count
    }

    /// Writing with ``model`` is allowed: the index holds its embeddings (or nothing yet, in
    /// which case the model is recorded now).
    ///
    /// - Throws: ``CodeSearchError`` `.modelMismatch` naming both models.
    func requireWritableModel() async throws {
        guard let record = try await modelRecord() else {
            guard try await chunks.count() == 0 else { throw unrecordedModel() }
            try await recordModel(complete: true)
            return
        }
        guard record.model == model.modelID else {
            throw CodeSearchError(
                .modelMismatch,
                "the index holds embeddings of \(record.model), not of \(model.modelID): vectors of two models "
                    + "cannot be mixed; index with \(model.modelID) from the command line (`code-search index`), which re-embeds "
                    + "every stored chunk, or configure \(record.model)")
        }
    }

    /// Searching with ``model`` is allowed: the index holds its embeddings only.
    ///
    /// - Throws: ``CodeSearchError`` `.modelMismatch` naming both models, or saying a switch is unfinished.
    func requireSearchableModel() async throws {
        guard let record = try await modelRecord() else {
            guard try await chunks.count() == 0 else { throw unrecordedModel() }
            return
        }
        guard record.model == model.modelID else {
            throw CodeSearchError(
                .modelMismatch,
                "the index was built with \(record.model); a query embedded with \(model.modelID) "
                    + "would be compared with vectors of another model. Search with the model the index was built with, "
                    + "or index again with \(model.modelID) (`code-search index`), which re-embeds every stored chunk")
        }
        guard record.complete else {
            throw CodeSearchError(
                .modelMismatch,
                "the index is being re-embedded with \(record.model) and holds vectors of two models "
                    + "until that finishes; run `code-search index` (or wait for the indexing in progress) to complete it")
        }
    }

    private func unrecordedModel() -> CodeSearchError {
        CodeSearchError(
            .modelMismatch,
            "the index holds chunks but no record of the model they were embedded with (it predates the "
                + "record); index again (`code-search index`), which re-embeds every stored chunk with \(model.modelID)")
    }

    // MARK: Stages

    /// Lists `source` and compares it with the repository's last completed snapshot. Also stores
    /// the listing as `snapshots/REPO/REVISION.json` for a commit.
    ///
    /// - Throws: ``RepositoryError``; blob errors.
    public func plan(source: RepositorySource, repo: String) async throws -> IndexPlan {
        let listed = try source.files(filter: filter)
        var files: [String: String] = [:]
        for (path, fingerprint) in listed { files[path] = fingerprint }
        let previous = try await snapshot(repo: repo) ?? [:]
        let plan = IndexPlan(
            repo: repo, revision: source.revision, files: files,
            changed: files.filter { previous[$0.key] != $0.value }.map(\.key).sorted(),
            removed: previous.keys.filter { files[$0] == nil }.sorted())
        if let revision = source.revision {
            _ = try await artifacts.put(Self.snapshotKey(repo: repo, revision: revision), Array(try JSONEncoder().encode(files)))
        }
        return plan
    }

    /// The fingerprints of the repository's last completed index, if any.
    public func snapshot(repo: String) async throws -> [String: String]? {
        guard let stored = try await artifacts.get(Self.snapshotKey(repo: repo)), let body = stored.body else { return nil }
        return try JSONDecoder().decode([String: String].self, from: Data(try await body.bytes()))
    }

    /// Records `plan` as the repository's completed state (the base of the next plan).
    public func commit(_ plan: IndexPlan) async throws {
        _ = try await artifacts.put(Self.snapshotKey(repo: plan.repo), Array(try JSONEncoder().encode(plan.files)))
    }

    /// Indexes some files of a repository: each changed file is read, filtered, chunked; its
    /// chunks replace the file's previous ones in the chunk store and the lexical index (stale
    /// chunks also leave the vector index) and its manifest is written. Removed files lose all their chunks. Returns
    /// what it did and, in `keys`, the chunks to embed (with ``embed(keys:)``).
    ///
    /// Idempotent: running it again with the same input leaves the same state (a file whose
    /// manifest already has its fingerprint is not re-chunked, but its chunks are handed out for
    /// embedding again, in case a previous run stopped before embedding them).
    ///
    /// - Throws: ``RepositoryError``; ``CodeSearchError`` `.modelMismatch` when the index holds
    ///   another model's embeddings; index and blob errors.
    public func indexFiles(
        _ paths: [String], removed: [String] = [], source: RepositorySource, repo: String
    ) async throws -> (summary: IndexSummary, keys: [String]) {
        try await requireWritableModel()
        var summary = IndexSummary()
        var keys: [String] = []
        let contents = try source.read(paths)
        var stale: [String] = []
        var fresh: [CodeChunk] = []
        var manifests: [FileManifest] = []
        var dropped: [String] = []
        for path in removed + paths.filter({ contents[$0] == nil }) {
            stale += try await existingKeys(repo: repo, path: path)
            dropped.append(path)
            summary.removedFiles += 1
        }
        for path in paths {
            guard let bytes = contents[path] else { continue }
            guard filter.verdict(path: path, bytes: bytes) == .index else {
                // A file that became binary or too large leaves the index.
                stale += try await existingKeys(repo: repo, path: path)
                dropped.append(path)
                summary.skippedFiles += 1
                continue
            }
            let fingerprint = RepositorySource.fingerprint(bytes)
            if let manifest = try await manifest(repo: repo, path: path), manifest.fingerprint == fingerprint {
                summary.unchangedFiles += 1
                keys += manifest.chunks
                continue
            }
            let chunks = chunker.indexedChunks(path: path, text: String(decoding: bytes, as: UTF8.self))
            let chunkKeys = chunks.map { StoredChunk.key(repo: repo, chunk: $0) }
            let keep = Set(chunkKeys)
            stale += try await existingKeys(repo: repo, path: path).filter { !keep.contains($0) }
            fresh += chunks
            keys += chunkKeys
            manifests.append(FileManifest(path: path, fingerprint: fingerprint, chunks: chunkKeys))
            summary.files += 1
            summary.chunks += chunks.count
        }
        if !stale.isEmpty {
            _ = try await vectors.deleteByIds(stale.flatMap { [Self.vectorID($0), Self.glossVectorID($0)] })
            try await lexical.delete(keys: stale)
            try await chunks.delete(keys: stale)
            summary.removedChunks += stale.count
        }
        try await chunks.upsert(fresh, repo: repo)
        try await lexical.upsert(fresh, repo: repo)
        // Manifests last: a manifest vouches that its chunks are stored.
        for manifest in manifests {
            _ = try await artifacts.put(Self.manifestKey(repo: repo, path: manifest.path), Array(try JSONEncoder().encode(manifest)))
        }
        if !dropped.isEmpty { try await artifacts.delete(dropped.map { Self.manifestKey(repo: repo, path: $0) }) }
        return (summary, keys)
    }

    private func manifest(repo: String, path: String) async throws -> FileManifest? {
        guard let stored = try await artifacts.get(Self.manifestKey(repo: repo, path: path)), let body = stored.body else { return nil }
        return try? JSONDecoder().decode(FileManifest.self, from: Data(try await body.bytes()))
    }

    /// The chunk keys a file has now: its manifest's and the chunk store's (both, so a run
    /// interrupted between the two leaves nothing behind).
    private func existingKeys(repo: String, path: String) async throws -> [String] {
        var keys = Set(try await chunks.keys(repo: repo, path: path))
        if let manifest = try await manifest(repo: repo, path: path) { keys.formUnion(manifest.chunks) }
        return keys.sorted()
    }

    /// Embeds the chunks of `keys` (read back from the chunk store; keys no longer there are
    /// skipped: their file changed since) and stores them in the vector index, batch by batch.
    ///
    /// - Throws: ``CodeSearchError`` `.modelMismatch` when the index holds another model's
    ///   embeddings; embedding and vector-index errors.
    public func embed(keys: [String]) async throws -> IndexSummary {
        try await requireWritableModel()
        return try await storeEmbeddings(keys: keys)
    }

    private func storeEmbeddings(keys: [String]) async throws -> IndexSummary {
        var summary = IndexSummary()
        let stored = try await chunks.chunks(keys: keys)
        let present = keys.compactMap { key in stored[key].map { (key: key, stored: $0) } }
        // Each chunk's text, and its gloss where it has one: two vectors that both lead to it.
        let texts = present.flatMap { item -> [(id: String, key: String, repo: String, text: String)] in
            let chunk = item.stored.chunk
            var texts = [(Self.vectorID(item.key), item.key, item.stored.repo, "\(chunk.path)\n\(chunk.text)")]
            if let gloss = ChunkGloss.gloss(of: chunk) { texts.append((Self.glossVectorID(item.key), item.key, item.stored.repo, gloss)) }
            return texts
        }
        for batch in Self.slices(texts, of: textsPerBatch) {
            let result = try await model.embedReportingCache(batch.map(\.text))
            summary.cacheHits += result.cacheHits
            _ = try await vectors.upsert(
                zip(batch, result.embeddings).map { item, values in
                    VectorRecord(id: item.id, values: values, namespace: nil, metadata: ["repo": .string(item.repo), "key": .string(item.key)])
                })
        }
        summary.embedded += present.count
        return summary
    }

    // MARK: All stages in one process

    /// Indexes `source` as repository `repo` in this process: the index first adopts ``model``
    /// (``adoptModel(progress:)``: an index built with another model is re-embedded), then plan,
    /// then the plan's ``fileBatches(_:)``, each batch's chunks in ``embeddingBatches(_:)`` (the
    /// batches the worker's queue stages use), then the snapshot. Only what changed since the last completed index is
    /// read. `progress` is called after every step with the totals so far, the files handled and
    /// the files planned.
    ///
    /// - Throws: ``RepositoryError``; embedding, index and blob errors. An interrupted run is
    ///   completed by the next one.
    public func index(
        source: RepositorySource, repo: String,
        progress: @Sendable (_ done: IndexSummary, _ filesHandled: Int, _ filesPlanned: Int) -> Void = { _, _, _ in }
    ) async throws -> IndexSummary {
        try await adoptModel()
        let plan = try await plan(source: source, repo: repo)
        var summary = IndexSummary()
        let planned = plan.changed.count + plan.removed.count
        var handled = 0
        progress(summary, handled, planned)
        for batch in fileBatches(plan) {
            let (done, keys) = try await indexFiles(batch.paths, removed: batch.removed, source: source, repo: repo)
            summary.add(done)
            handled += batch.paths.count + batch.removed.count
            progress(summary, handled, planned)
            for keys in embeddingBatches(keys) {
                summary.add(try await embed(keys: keys))
                progress(summary, handled, planned)
            }
        }
        try await commit(plan)
        summary.unchangedFiles += plan.files.count - plan.changed.count
        return summary
    }

    /// Checkpoints the vector index (a persistent index writes its snapshot, so the next open is fast).
    ///
    /// - Throws: the index's storage errors.
    public func checkpoint() async throws {
        try await vectors.checkpoint()
    }

    /// Which rankings a search uses.
    public enum SearchMode: String, Sendable, CaseIterable {
        /// Semantic and lexical, fused by file (the default).
        case hybrid
        /// Embeddings in the vector index only.
        case semantic
        /// BM25 over identifier pieces only.
        case lexical
    }

    /// Which files a search returns.
    public enum SearchKind: String, Sendable, CaseIterable {
        /// Code and documentation; documentation ranks below code that matches as well.
        case all
        /// Source files only.
        case code
        /// Documentation only (``isDocumentation(_:)``).
        case docs
    }

    /// Whether `path` is documentation rather than code: Markdown, reStructuredText, AsciiDoc or
    /// plain text, and anything in a DocC catalog (`.docc`).
    public static func isDocumentation(_ path: String) -> Bool {
        let lower = path.lowercased()
        if lower.contains(".docc/") { return true }
        return [".md", ".markdown", ".rst", ".adoc", ".txt"].contains { lower.hasSuffix($0) }
    }

    /// How a hybrid search weighs its evidence; see the CodeSearch guide for the measurements
    /// behind each value.
    public struct Ranking: Sendable, Hashable {
        /// The semantic ranking's weight against the lexical one's (1).
        public var semanticWeight = 1.3
        /// A file's score in one ranking is its best chunk's plus this much of its next two
        /// chunks' (several matching chunks are evidence too).
        public var followingChunks = 0.1
        /// Documentation's score is multiplied by this in ``SearchKind/all`` searches, so a
        /// document outranks code only when it matches clearly better.
        public var documentationFactor = 0.7

        public init() {}
    }

    /// The `top` best files for `query`, each as its best-matching chunk, best first.
    ///
    /// Each ranking (the vector index's 100 nearest vectors — a chunk's text and its gloss —, the lexical index's
    /// ``candidates`` best) scores files by their best chunk plus a little of their next ones,
    /// normalised by the ranking's best file; a hybrid search adds the two with
    /// ``Ranking/semanticWeight``. A file is shown by the chunk that scored best in it.
    ///
    /// - Throws: ``CodeSearchError`` `.modelMismatch` when a semantic ranking is asked of an index
    ///   built with another model (or being re-embedded); embedding and index errors.
    public func search(
        _ query: String, top: Int = 10, repo: String? = nil, mode: SearchMode = .hybrid, kind: SearchKind = .all, ranking: Ranking = Ranking()
    ) async throws -> [SearchResult] {
        var rankings: [(weight: Double, hits: [(id: String, score: Double)])] = []
        if mode != .lexical {
            rankings.append((mode == .hybrid ? ranking.semanticWeight : 1, try await semanticHits(query, repo: repo)))
        }
        if mode != .semantic {
            // A kind filter drops candidates after the rankings: ask the lexical index for more.
            rankings.append((1, try await lexical.search(query, limit: kind == .all ? Self.candidates : 4 * Self.candidates, repo: repo)))
        }
        let keys = Set(rankings.flatMap { $0.hits.map(\.id) })
        let stored = try await chunks.chunks(keys: Array(keys))
        func wanted(_ path: String) -> Bool {
            switch kind {
            case .all: true
            case .code: !Self.isDocumentation(path)
            case .docs: Self.isDocumentation(path)
            }
        }
        // Per ranking: each file's score (best chunk plus a little of the next two), then
        // normalised by the best file's; a chunk's own score normalised the same way.
        var fileScores: [String: Double] = [:]
        var chunkScores: [String: Double] = [:]
        for (weight, hits) in rankings {
            var byFile: [String: [Double]] = [:]
            for hit in hits {
                guard let found = stored[hit.id], wanted(found.chunk.path) else { continue }
                byFile[found.repo + "|" + found.chunk.path, default: []].append(hit.score)
            }
            let aggregated = byFile.mapValues { scores -> Double in
                let sorted = scores.sorted(by: >)
                return sorted[0] + ranking.followingChunks * sorted.dropFirst().prefix(2).reduce(0, +)
            }
            guard let best = aggregated.values.max(), best > 0 else { continue }
            for (file, score) in aggregated { fileScores[file, default: 0] += weight * score / best }
            for hit in hits { chunkScores[hit.id, default: 0] += weight * hit.score / best }
        }
        var bestChunk: [String: (key: String, score: Double)] = [:]
        for (key, score) in chunkScores {
            guard let found = stored[key], wanted(found.chunk.path) else { continue }
            let file = found.repo + "|" + found.chunk.path
            // A file's card shows the file only when no chunk of it matched.
            let rank = found.chunk.isCard ? score - 1_000 : score
            if let current = bestChunk[file], current.score > rank || (current.score == rank && current.key < key) { continue }
            bestChunk[file] = (key, rank)
        }
        var ordered: [(file: String, score: Double)] = []
        for (file, score) in fileScores {
            let path = file.split(separator: "|", maxSplits: 1).last.map(String.init) ?? file
            let demoted = kind == .all && Self.isDocumentation(path)
            ordered.append((file, demoted ? score * ranking.documentationFactor : score))
        }
        ordered.sort { $0.score > $1.score || ($0.score == $1.score && $0.file < $1.file) }
        let terms = Set(CodeTokenizer.terms(query))
        return ordered.prefix(top).compactMap { file -> SearchResult? in
            guard let key = bestChunk[file.file]?.key, let found = stored[key] else { return nil }
            let chunk = found.chunk
            return SearchResult(
                repo: found.repo, path: chunk.path, startLine: max(1, chunk.startLine), endLine: chunk.endLine, score: file.score,
                snippet: Self.snippet(chunk.text, terms: terms))
        }
    }

    /// The semantic ranking alone: the keys of the ``candidates`` chunks nearest to `query`'s
    /// embedding (of `repo`, or of every repository), best first.
    ///
    /// - Throws: ``CodeSearchError`` `.modelMismatch` when the index holds another model's embeddings; embedding
    ///   and vector-index errors.
    public func vectorCandidates(_ query: String, repo: String?) async throws -> [String] {
        try await semanticHits(query, repo: repo).map(\.id)
    }

    /// The semantic ranking with scores (the similarity of the chunk's nearer vector).
    func semanticHits(_ query: String, repo: String?) async throws -> [(id: String, score: Double)] {
        try await requireSearchableModel()
        let embedding = try await model.embed(query)
        var options = VectorQueryOptions(topK: min(100, 2 * Self.candidates))
        if let repo { options.filter = ["repo": .string(repo)] }
        options.returnMetadata = .indexed
        // A chunk may match by its text and by its gloss: it ranks where it first appears.
        var seen = Set<String>()
        return try await vectors.query(embedding, options: options).matches.compactMap { match -> (id: String, score: Double)? in
            guard case .string(let key)? = match.metadata?[path: "key"], seen.insert(key).inserted else { return nil }
            return (key, Double(match.score))
        }
    }

    /// Candidates taken from each ranking before fusion.
    public static let candidates = 50

    /// The (up to) three lines of `text` sharing the most words with the query, in order.
    static func snippet(_ text: String, terms: Set<String>) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let scored = lines.enumerated().map { index, line -> (Int, Int) in
            (index, Set(CodeTokenizer.terms(line)).intersection(terms).count)
        }
        let best = scored.filter { !lines[$0.0].trimmingCharacters(in: .whitespaces).isEmpty }
            .sorted { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }.prefix(3).map(\.0).sorted()
        return best.map { lines[$0].trimmingCharacters(in: .whitespaces) }.joined(separator: "\n")
    }
}
