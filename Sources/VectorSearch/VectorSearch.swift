// VectorSearch: the Vectorize-compatible VectorIndex binding, with an exact FlatIndex and an
// HNSWIndex, metadata filters and SQLite persistence.
public import EdgeCore
import Foundation

/// How vectors are compared. Scores follow Vectorize: cosine similarity and dot product (higher is
/// closer), euclidean distance (lower is closer).
public enum VectorMetric: String, Sendable, Hashable, Codable, CaseIterable {
    case cosine
    case euclidean
    case dotProduct = "dot-product"
}

/// An index's fixed shape.
public struct VectorIndexConfiguration: Sendable, Hashable {
    /// 1...1536.
    public var dimensions: Int
    public var metric: VectorMetric
    /// Metadata fields returned by `returnMetadata: .indexed` (Vectorize's metadata indexes).
    public var indexedMetadataFields: [String]

    public init(dimensions: Int, metric: VectorMetric = .cosine, indexedMetadataFields: [String] = []) {
        self.dimensions = dimensions
        self.metric = metric
        self.indexedMetadataFields = indexedMetadataFields
    }
}

/// A vector with its id, optional namespace and JSON metadata.
public struct VectorRecord: Sendable, Hashable {
    public var id: String
    public var values: [Float]
    public var namespace: String?
    public var metadata: JSONValue?

    public init(id: String, values: [Float], namespace: String? = nil, metadata: JSONValue? = nil) {
        self.id = id
        self.values = values
        self.namespace = namespace
        self.metadata = metadata
    }
}

/// What a query returns with each match.
public enum ReturnMetadata: String, Sendable, Hashable {
    case none
    /// Only the fields named in `indexedMetadataFields`.
    case indexed
    case all
}

public struct VectorQueryOptions: Sendable, Hashable {
    /// 1...100, or 1...20 when values or all metadata are returned (Vectorize's limits).
    public var topK: Int
    /// Only vectors of this namespace; applied before the filter.
    public var namespace: String?
    /// A metadata filter: `{"field": value}`, `{"field": {"$gte": 1, "$lt": 5}}`, `$eq $ne $in $nin
    /// $lt $lte $gt $gte`, dotted paths for nested fields; keys are ANDed.
    public var filter: JSONValue?
    public var returnValues: Bool
    public var returnMetadata: ReturnMetadata

    public init(topK: Int = 5, namespace: String? = nil, filter: JSONValue? = nil, returnValues: Bool = false, returnMetadata: ReturnMetadata = .none) {
        self.topK = topK
        self.namespace = namespace
        self.filter = filter
        self.returnValues = returnValues
        self.returnMetadata = returnMetadata
    }
}

public struct VectorMatch: Sendable, Hashable {
    public var id: String
    public var score: Float
    public var values: [Float]?
    public var namespace: String?
    public var metadata: JSONValue?

    public init(id: String, score: Float, values: [Float]?, namespace: String?, metadata: JSONValue?) {
        self.id = id
        self.score = score
        self.values = values
        self.namespace = namespace
        self.metadata = metadata
    }
}

public struct VectorQueryResult: Sendable, Hashable {
    /// Closest first.
    public var matches: [VectorMatch]
    public var count: Int { matches.count }

    public init(matches: [VectorMatch]) {
        self.matches = matches
    }
}

public struct VectorMutationResult: Sendable, Hashable {
    /// The ids written (or deleted).
    public var ids: [String]
    public var count: Int { ids.count }

    public init(ids: [String]) {
        self.ids = ids
    }
}

public struct VectorIndexInfo: Sendable, Hashable {
    public var dimensions: Int
    public var metric: VectorMetric
    public var vectorCount: Int

    public init(dimensions: Int, metric: VectorMetric, vectorCount: Int) {
        self.dimensions = dimensions
        self.metric = metric
        self.vectorCount = vectorCount
    }
}

/// Vectorize's limits, as configurable values.
public struct VectorLimits: Sendable, Hashable {
    public var maxDimensions = 1536
    public var maxIDBytes = 64
    public var maxNamespaceBytes = 64
    public var maxMetadataBytes = 10 * 1024
    /// topK without values or full metadata.
    public var maxTopK = 100
    /// topK when values or all metadata are returned.
    public var maxTopKWithData = 20
    /// Vectors per insert / upsert, ids per getByIds / deleteByIds.
    public var maxBatch = 1000

    public init() {}

    public static let vectorize = VectorLimits()
}

/// Why a vector operation was refused.
public struct VectorError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case wrongDimensions, invalidValues, invalidID, idTooLong, invalidNamespace, metadataTooLarge
        case invalidFilter, topKOutOfRange, batchTooLarge, invalidConfiguration, notFound, storage
    }

    public var code: Code
    public var limit: Int?
    public var actual: Int?
    public var message: String

    public init(_ code: Code, limit: Int? = nil, actual: Int? = nil, message: String) {
        self.code = code
        self.limit = limit
        self.actual = actual
        self.message = message
    }

    public var description: String { message }
}

/// A Vectorize index: the binding.
///
/// Unlike Vectorize, whose writes become visible asynchronously, a write here is visible to the
/// next query (and durable, for persistent indexes) when the call returns.
public protocol VectorIndex: Sendable {
    func describe() async throws -> VectorIndexInfo

    /// Adds vectors; ids already present are skipped (not replaced). Returns the ids added.
    ///
    /// - Throws: ``VectorError`` `.wrongDimensions`, `.invalidValues` (NaN, infinity, or a zero
    ///   vector under cosine), `.invalidID`, `.idTooLong`, `.invalidNamespace`, `.metadataTooLarge`,
    ///   `.batchTooLarge`; `.storage` when a persistent index cannot write.
    func insert(_ vectors: [VectorRecord]) async throws -> VectorMutationResult

    /// Adds or replaces vectors. Returns the ids written.
    ///
    /// - Throws: as ``insert(_:)``.
    func upsert(_ vectors: [VectorRecord]) async throws -> VectorMutationResult

    /// The `topK` closest vectors to `vector`, closest first.
    ///
    /// - Throws: ``VectorError`` `.wrongDimensions`, `.invalidValues`, `.topKOutOfRange`, `.invalidFilter`.
    func query(_ vector: [Float], options: VectorQueryOptions) async throws -> VectorQueryResult

    /// The vectors closest to the stored vector `id` (itself included).
    ///
    /// - Throws: ``VectorError`` `.notFound` for an unknown id, and as ``query(_:options:)``.
    func queryById(_ id: String, options: VectorQueryOptions) async throws -> VectorQueryResult

    /// The stored vectors of `ids` that exist, in the order asked.
    ///
    /// - Throws: ``VectorError`` `.batchTooLarge`.
    func getByIds(_ ids: [String]) async throws -> [VectorRecord]

    /// Deletes `ids`; returns the ids that existed.
    ///
    /// - Throws: ``VectorError`` `.batchTooLarge`; `.storage`.
    func deleteByIds(_ ids: [String]) async throws -> VectorMutationResult

    /// Makes the index quick to open again: a persistent index that keeps a snapshot next to
    /// its log (``FlatIndex``, ``HNSWIndex``) writes it. Writes are durable without it. Default:
    /// nothing to do.
    ///
    /// - Throws: ``VectorError`` `.storage`.
    func checkpoint() async throws
}

extension VectorIndex {
    public func checkpoint() async throws {}
}
