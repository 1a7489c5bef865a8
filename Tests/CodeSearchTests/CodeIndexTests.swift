import CodeSearch
import EdgeBlob
import EdgeTesting
import Embeddings
import Foundation
import Synchronization
import Testing
import VectorSearch

/// A fresh index (HashingEmbedder, in-memory HNSW, SQLite chunk store and lexical index in a
/// temporary state directory) and files written into a tree, for the CodeIndex suites.
protocol IndexFixtures {}

extension IndexFixtures {
    func makeIndex() throws -> (CodeIndex, any VectorIndex, String) {
        let state = NSTemporaryDirectory() + "swift-edge-tests/codeindex-\(UUID().uuidString)"
        let vectors = try HNSWIndex(configuration: VectorIndexConfiguration(dimensions: 384, indexedMetadataFields: ["repo", "key"]))
        let index = CodeIndex(
            model: HashingEmbedder(), vectors: vectors, chunks: try SQLiteChunkStore(path: state + "/chunks.sqlite"),
            lexical: try SQLiteLexicalIndex(path: state + "/lexical.sqlite"), artifacts: MemoryBlob())
        return (index, vectors, state)
    }

    func write(_ files: [String: String], to root: String) throws {
        for (path, text) in files {
            let url = URL(fileURLWithPath: root).appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
    }
}

@Suite("CodeIndex")
struct CodeIndexTests: IndexFixtures {
    @Test("index a tree, search it, re-index after a change without duplicates or stale chunks")
    func indexAndSearch() async throws {
        let (index, vectors, state) = try makeIndex()
        let root = state + "/repo"
        try write(
            [
                "Sources/HTTP/Parser.swift": "/// Parses an HTTP request.\nfunc parseHTTPRequest(_ bytes: [UInt8]) -> Request {\n    Request(bytes)\n}\n",
                "Sources/Auth/Webhook.swift": "func verifyWebhookSignature(_ body: [UInt8], header: String) -> Bool {\n    hmac(body) == header\n}\n",
                "Sources/Queue/Batch.swift": "struct BatchSettings {\n    var max_batch_size = 10\n}\n",
                "vendor/dep/Other.swift": "func parseHTTPRequest() {}\n",
                "logo.png": "\u{0}PNG",
            ], to: root)
        let first = try await index.index(source: .local(root), repo: "demo")
        #expect(first.files == 3 && first.skippedFiles == 1, "vendor/ is never listed; the PNG is read and skipped as binary")
        let results = try await index.search("parse the http request", top: 3)
        #expect(results.first?.path == "Sources/HTTP/Parser.swift")
        #expect(results.first?.startLine == 1 && results.first?.snippet.contains("parseHTTPRequest") == true)
        #expect(try await index.search("verify webhook signature", top: 1).first?.path == "Sources/Auth/Webhook.swift")
        #expect(try await index.search("max batch size", top: 1, repo: "demo").first?.path == "Sources/Queue/Batch.swift")
        #expect(try await index.search("max batch size", repo: "other").isEmpty)

        // The same tree again: nothing duplicated.
        #expect(try await vectors.describe().vectorCount == first.chunks, "one vector per chunk")
        let unchanged = try await index.index(source: .local(root), repo: "demo")
        #expect(unchanged.files == 0 && unchanged.unchangedFiles == 4, "an unchanged tree reads nothing")
        #expect(try await vectors.describe().vectorCount == first.chunks)

        // A changed file: its old chunk is replaced.
        try write(
            [
                "Sources/HTTP/Parser.swift":
                    "func tokenizeHeaders(_ text: String) -> [String] {\n    text.split(separator: \"\\n\").map(String.init)\n}\n\n// more\n"
            ], to: root)
        let second = try await index.index(source: .local(root), repo: "demo")
        #expect(second.files == 1 && second.removedChunks >= 1)
        #expect(try await vectors.describe().vectorCount == index.chunks.count(), "one vector per live chunk, none stale")
        let after = try await index.search("parse http request", top: 5)
        #expect(!after.contains { $0.snippet.contains("parseHTTPRequest") }, "stale chunks are gone")
        #expect(try await index.search("tokenize headers", top: 1).first?.path == "Sources/HTTP/Parser.swift")
    }

    @Test("a removed file leaves the index; a run interrupted by a failing model is completed by the next run")
    func removalAndInterruption() async throws {
        let state = NSTemporaryDirectory() + "swift-edge-tests/codeindex-\(UUID().uuidString)"
        let root = state + "/repo"
        var files: [String: String] = [:]
        for number in 0..<120 { files["Sources/File\(number).swift"] = "func function\(number)() -> Int {\n    \(number)\n}\n" }
        try write(files, to: root)
        let vectors = try HNSWIndex(configuration: VectorIndexConfiguration(dimensions: 384, indexedMetadataFields: ["repo", "key"]))
        let chunks = try SQLiteChunkStore(path: state + "/chunks.sqlite")
        let lexical = try SQLiteLexicalIndex(path: state + "/lexical.sqlite")
        let artifacts = MemoryBlob()
        let failing = CodeIndex(model: FailingAfter(batches: 1), vectors: vectors, chunks: chunks, lexical: lexical, artifacts: artifacts)
        await #expect(throws: EmbeddingError.self) { _ = try await failing.index(source: .local(root), repo: "demo") }
        #expect(try await vectors.describe().vectorCount < 120)

        let index = CodeIndex(model: HashingEmbedder(), vectors: vectors, chunks: chunks, lexical: lexical, artifacts: artifacts)
        _ = try await index.index(source: .local(root), repo: "demo")
        #expect(try await chunks.count() == 120)
        #expect(try await vectors.describe().vectorCount == 120, "the second run embedded what the first did not")

        try FileManager.default.removeItem(atPath: root + "/Sources/File7.swift")
        let removal = try await index.index(source: .local(root), repo: "demo")
        #expect(removal.removedFiles == 1 && removal.files == 0)
        #expect(try await chunks.count() == 119)
        #expect(try await vectors.describe().vectorCount == 119)
        #expect(try await artifacts.head("manifests/demo/Sources/File7.swift") == nil)
        #expect(try await artifacts.head("manifests/demo/Sources/File8.swift") != nil)
    }
}

/// Embeds `batches` batches, then fails.
final class FailingAfter: EmbeddingModel {
    let base = HashingEmbedder()
    let remaining: Mutex<Int>
    init(batches: Int) { remaining = Mutex(batches) }
    var modelID: String { base.modelID }
    var dimensions: Int { base.dimensions }
    var maxInputTokens: Int { base.maxInputTokens }
    var maxBatchSize: Int { base.maxBatchSize }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        let allowed = remaining.withLock { count in
            count -= 1
            return count >= 0
        }
        guard allowed else { throw EmbeddingError(.providerUnavailable, message: "provider unavailable") }
        return try await base.embed(texts)
    }
}

/// Another model with the hashing embedder's dimensions: its vectors are the hashing vectors
/// reversed (still unit length, but not comparable with the hashing model's).
struct ReversedHashingModel: EmbeddingModel {
    let base = HashingEmbedder()
    var modelID: String { "reversed-hashing-384" }
    var dimensions: Int { base.dimensions }
    var maxInputTokens: Int { base.maxInputTokens }
    var maxBatchSize: Int { base.maxBatchSize }
    var acceptsEmptyInput: Bool { true }
    func embed(_ texts: [String]) async throws -> [[Float]] { try await base.embed(texts).map { $0.reversed() } }
}

@Suite("CodeIndex: one model per index")
struct CodeIndexModelTests {
    @Test("an index records its model; another model is refused for search and writes, and indexing with it re-embeds every chunk")
    func modelSwitch() async throws {
        let state = try TemporaryDirectory.make("codeindex-model")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let root = state + "/repo"
        for (path, text) in [
            "Sources/Cron.swift": "func parseCronExpression(_ text: String) -> [Int] {\n    []\n}\n",
            "Sources/Mail.swift": "func sendWelcomeEmail(to user: String) {\n    print(user)\n}\n",
        ] {
            try FileManager.default.createDirectory(atPath: (root + "/" + path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: root + "/" + path, atomically: true, encoding: .utf8)
        }
        let vectors = try HNSWIndex(configuration: VectorIndexConfiguration(dimensions: 384, indexedMetadataFields: ["repo", "key"]))
        let chunks = try SQLiteChunkStore(path: state + "/chunks.sqlite")
        let artifacts = MemoryBlob()
        let hashing = CodeIndex(
            model: HashingEmbedder(), vectors: vectors, chunks: chunks, lexical: try SQLiteLexicalIndex(path: state + "/lexical.sqlite"),
            artifacts: artifacts)
        let reversed = hashing.with(model: ReversedHashingModel())

        #expect(try await hashing.modelRecord() == nil, "nothing written yet")
        #expect(try await reversed.search("cron").isEmpty, "an empty index answers any model")
        let first = try await hashing.index(source: .local(root), repo: "demo")
        #expect(first.embedded == 2)
        #expect(try await hashing.modelRecord() == IndexModelRecord(model: "hashing-384", dimensions: 384, complete: true))

        // Another model may not query nor extend it.
        await #expect(throws: CodeSearchError.self) { try await reversed.search("parse a cron expression") }
        do {
            _ = try await reversed.search("parse a cron expression")
        } catch let error as CodeSearchError {
            #expect(error.code == .modelMismatch)
            #expect(error.message.contains("hashing-384") && error.message.contains("reversed-hashing-384"))
        }
        await #expect(throws: CodeSearchError.self) { try await reversed.embed(keys: try await chunks.keys()) }
        await #expect(throws: CodeSearchError.self) { try await reversed.indexFiles(["Sources/Cron.swift"], source: .local(root), repo: "demo") }
        #expect(
            try await reversed.search("parse cron expression", mode: .lexical).first?.path == "Sources/Cron.swift",
            "a lexical search compares no vectors")

        // Indexing with it re-embeds every stored chunk, although no file changed.
        let second = try await reversed.index(source: .local(root), repo: "demo")
        #expect(second.files == 0 && second.unchangedFiles == 2)
        #expect(try await reversed.modelRecord()?.model == "reversed-hashing-384")
        let keys = try await chunks.keys()
        let stored = try await vectors.getByIds(keys.map(CodeIndex.vectorID))
        #expect(stored.count == keys.count)
        let texts = try await chunks.chunks(keys: keys)
        for record in stored {
            let key = keys.first { CodeIndex.vectorID($0) == record.id }!
            let chunk = texts[key]!.chunk
            let expected = try await ReversedHashingModel().embed("\(chunk.path)\n\(chunk.text)")
            #expect(cosineSimilarity(record.values, expected) > 0.99999, "every vector is the new model's")
        }
        #expect(try await reversed.search("parse a cron expression", top: 1).first?.path == "Sources/Cron.swift")
        await #expect(throws: CodeSearchError.self, "and now the first model is the foreign one") { try await hashing.search("cron") }
        #expect(try await reversed.adoptModel() == 0, "adopting the index's own model re-embeds nothing")
    }
}
