import EdgeKV
import EdgeTesting
import Embeddings
import Foundation
import Synchronization
import Testing

/// A model that records what it is asked to embed.
final class CountingModel: EmbeddingModel {
    let inner = HashingEmbedder(dimensions: 16)
    let calls = Mutex<[[String]]>([])
    var modelID: String { "counting" }
    var dimensions: Int { 16 }
    var maxInputTokens: Int { 256 }
    var maxBatchSize: Int { 3 }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        try validate(texts)
        calls.withLock { $0.append(texts) }
        return try await inner.embed(texts)
    }
}

@Suite("CachedEmbeddingModel")
struct CacheTests {
    @Test("only misses reach the model, each distinct text once, in batches of its size; results in input order")
    func hitsAndMisses() async throws {
        let bindings = TestBindings()
        let base = CountingModel()
        let cached = try CachedEmbeddingModel(base, cache: bindings.kv("CACHE"))
        let first = try await cached.embed(["alpha", "beta", "alpha", "gamma", "delta"])
        #expect(base.calls.withLock { $0 } == [["alpha", "beta", "gamma"], ["delta"]])
        #expect(cached.statistics.hits == 0 && cached.statistics.misses == 5)
        let direct = try await base.inner.embed(["alpha", "beta", "alpha", "gamma", "delta"])
        #expect(first == direct, "results come back in input order")

        let second = try await cached.embed(["delta", "epsilon", "alpha"])
        #expect(base.calls.withLock { $0.last } == ["epsilon"])
        #expect(second == [direct[4], try await base.inner.embed("epsilon"), direct[0]])
        #expect(cached.statistics.hits == 2 && cached.statistics.misses == 6)
        let key = cached.key(for: "alpha")
        #expect(key.hasPrefix("embedding:counting:") && key.count == "embedding:counting:".count + 64)
        #expect(try await bindings.kv("CACHE").getBytes(key)?.count == 16 * 4)
    }

    @Test("entries expire after the TTL (default one hour)")
    func expiry() async throws {
        let bindings = TestBindings()
        let base = CountingModel()
        let cached = try CachedEmbeddingModel(base, cache: bindings.kv("CACHE"))
        _ = try await cached.embed(["alpha"])
        bindings.clock.advance(by: 3599)
        _ = try await cached.embed(["alpha"])
        #expect(base.calls.withLock { $0.count } == 1, "still cached before the hour")
        bindings.clock.advance(by: 2)
        _ = try await cached.embed(["alpha"])
        #expect(base.calls.withLock { $0.count } == 2, "expired after the hour")
        #expect(throws: EmbeddingError.self) { try CachedEmbeddingModel(base, cache: bindings.kv("CACHE"), ttl: 10) }
    }

    @Test("a corrupt cache entry is a miss and is overwritten")
    func corruptEntry() async throws {
        let bindings = TestBindings()
        let base = CountingModel()
        let cached = try CachedEmbeddingModel(base, cache: bindings.kv("CACHE"))
        try await bindings.kv("CACHE").put(cached.key(for: "alpha"), bytes: [1, 2, 3])
        let vector = try await cached.embed("alpha")
        #expect(vector == (try await base.inner.embed("alpha")))
        #expect(try await bindings.kv("CACHE").getBytes(cached.key(for: "alpha"))?.count == 64)
    }
}

@Suite("HashingEmbedder")
struct HashingTests {
    @Test("deterministic, normalised, and closer for texts that share identifier pieces")
    func similarity() async throws {
        let model = HashingEmbedder()
        let vectors = try await model.embed(["func parseHTTPRequest(data: Data)", "parse the http request", "a recipe for pancakes"])
        #expect(vectors == (try await HashingEmbedder().embed(["func parseHTTPRequest(data: Data)", "parse the http request", "a recipe for pancakes"])))
        for vector in vectors { #expect(abs(vector.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4) }
        #expect(cosineSimilarity(vectors[0], vectors[1]) > cosineSimilarity(vectors[0], vectors[2]))
        #expect(HashingEmbedder.identifierPieces("parseHTTPRequest_v2") == ["parse", "http", "request", "v", "2"])
    }
}
