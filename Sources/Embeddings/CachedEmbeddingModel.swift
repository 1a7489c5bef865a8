import Crypto
import EdgeCore
public import EdgeKV
import Foundation
import Metrics
import Synchronization

/// Wraps any ``EmbeddingModel`` with an embedding cache in any `KVNamespace`.
///
/// Each text is cached under `embedding:<model id>:<sha256 of the text, hex>` as its float32
/// vector in little-endian bytes, with a TTL (default one hour, as the seed platform does). A call
/// looks every text up first (bulk gets of 100 keys), sends only the misses to the model (each
/// distinct text once, in batches of the model's `maxBatchSize`), stores them, and returns the
/// vectors in input order.
public final class CachedEmbeddingModel: EmbeddingModel, Sendable {
    public let base: any EmbeddingModel
    public let cache: any KVNamespace
    /// Seconds a cached embedding lives; at least 60 (KV's minimum). `nil` keeps entries forever.
    public let ttl: Int64?
    public var modelID: String { base.modelID }
    public var dimensions: Int { base.dimensions }
    public var maxInputTokens: Int { base.maxInputTokens }
    public let maxBatchSize: Int
    public var acceptsEmptyInput: Bool { base.acceptsEmptyInput }

    private let counts = Mutex<(hits: Int, misses: Int)>((0, 0))
    private let hitCounter: Counter
    private let missCounter: Counter

    /// - Parameters:
    ///   - base: the model whose embeddings are cached.
    ///   - cache: the KV namespace they are kept in.
    ///   - ttl: seconds an entry lives (default 3600); must be at least 60, or nil for no expiry.
    ///   - maxBatchSize: the most texts one call accepts (default 1000); misses are sent to `base`
    ///     in batches of its own `maxBatchSize`.
    /// - Throws: ``EmbeddingError`` `.invalidModel` when `ttl` is under 60 s.
    public init(_ base: any EmbeddingModel, cache: any KVNamespace, ttl: Int64? = 3600, maxBatchSize: Int = 1000) throws {
        if let ttl, ttl < 60 {
            throw EmbeddingError(.invalidModel, limit: 60, actual: Int(ttl), message: "cache ttl of \(ttl) s is under KV's minimum of 60 s")
        }
        self.base = base
        self.cache = cache
        self.ttl = ttl
        self.maxBatchSize = maxBatchSize
        hitCounter = Counter(label: "edge_embedding_cache_hits_total", dimensions: [("model", base.modelID)])
        missCounter = Counter(label: "edge_embedding_cache_misses_total", dimensions: [("model", base.modelID)])
    }

    /// Hits and misses since this model was made.
    public var statistics: (hits: Int, misses: Int) { counts.withLock { $0 } }

    /// The cache key of `text`.
    public func key(for text: String) -> String {
        let digest = SHA256.hash(data: Array(text.utf8))
        return "embedding:\(modelID):" + Hex.encode(digest)
    }

    /// - Throws: ``EmbeddingError`` (validation, or the base model's errors); `KVError` when the
    ///   cache fails.
    public func embed(_ texts: [String]) async throws -> [[Float]] {
        try await embedReportingCache(texts).embeddings
    }

    /// ``embed(_:)`` that also says how many of `texts` were served from the cache (the
    /// per-call share of ``statistics``, exact under concurrent callers).
    ///
    /// - Throws: as ``embed(_:)``.
    public func embedReportingCache(_ texts: [String]) async throws -> (embeddings: [[Float]], cacheHits: Int) {
        try validate(texts)
        let keys = texts.map(key(for:))
        var found: [String: [Float]] = [:]
        let distinctKeys = Array(Set(keys))
        for start in stride(from: 0, to: distinctKeys.count, by: 100) {
            let entries = try await cache.getWithMetadata(Array(distinctKeys[start..<min(start + 100, distinctKeys.count)]))
            for (key, entry) in entries {
                if let vector = Self.decode(entry.value, dimensions: dimensions) { found[key] = vector }
            }
        }
        // Misses: each distinct text once.
        var missing: [(key: String, text: String)] = []
        var queued = Set<String>()
        for (index, key) in keys.enumerated() where found[key] == nil && queued.insert(key).inserted {
            missing.append((key, texts[index]))
        }
        let hits = keys.count - keys.filter { found[$0] == nil }.count
        counts.withLock {
            $0.hits += hits
            $0.misses += keys.count - hits
        }
        hitCounter.increment(by: hits)
        missCounter.increment(by: keys.count - hits)
        let chunk = max(1, base.maxBatchSize)
        for start in stride(from: 0, to: missing.count, by: chunk) {
            let slice = Array(missing[start..<min(start + chunk, missing.count)])
            let vectors = try await base.embed(slice.map(\.text))
            guard vectors.count == slice.count else {
                throw EmbeddingError(.malformedResponse, message: "\(modelID) returned \(vectors.count) embeddings for \(slice.count) texts")
            }
            var writes: [KVWrite] = []
            for (item, vector) in zip(slice, vectors) {
                found[item.key] = vector
                writes.append(KVWrite(key: item.key, value: Self.encode(vector), options: KVPutOptions(expirationTtl: ttl)))
            }
            try await cache.put(writes)
        }
        return (keys.map { found[$0]! }, hits)
    }

    static func encode(_ vector: [Float]) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(vector.count * 4)
        for value in vector {
            let bits = value.bitPattern.littleEndian
            withUnsafeBytes(of: bits) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    /// The vector in `bytes`, or nil when they are not `dimensions` floats (a corrupt or foreign
    /// entry, treated as a miss and overwritten).
    static func decode(_ bytes: [UInt8], dimensions: Int) -> [Float]? {
        guard bytes.count == dimensions * 4 else { return nil }
        return bytes.withUnsafeBytes { raw in
            (0..<dimensions).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }
}
