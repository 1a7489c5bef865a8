import EdgeKernels
import Foundation

/// The rules every ``VectorIndex`` backend applies the same way: the index's shape, record and
/// batch validation (Vectorize's limits), cosine normalisation, query option checks, and how a
/// distance becomes a score. Shared by the in-process indexes and the PostgreSQL one.
package struct VectorRules: Sendable {
    package let configuration: VectorIndexConfiguration
    package let limits: VectorLimits
    package var dimensions: Int { configuration.dimensions }

    /// - Throws: ``VectorError`` `.invalidConfiguration` for dimensions out of range.
    package init(configuration: VectorIndexConfiguration, limits: VectorLimits) throws {
        guard (1...limits.maxDimensions).contains(configuration.dimensions) else {
            throw VectorError(
                .invalidConfiguration, limit: limits.maxDimensions, actual: configuration.dimensions,
                message: "dimensions must be in 1...\(limits.maxDimensions), not \(configuration.dimensions)")
        }
        self.configuration = configuration
        self.limits = limits
    }

    /// The vector as stored: checked, and normalised for cosine.
    package func prepared(_ values: [Float], what: String) throws -> [Float] {
        guard values.count == dimensions else {
            throw VectorError(
                .wrongDimensions, limit: dimensions, actual: values.count,
                message: "\(what) has \(values.count) dimensions; this index has \(dimensions)")
        }
        let squares = values.withUnsafeBufferPointer { edge_dot($0.baseAddress!, $0.baseAddress!, Int32(values.count)) }
        // NaN and infinity make the sum of squares non-finite (as does overflow, also refused).
        guard squares.isFinite else { throw VectorError(.invalidValues, message: "\(what) holds NaN or infinity (or values too large to square)") }
        guard configuration.metric == .cosine else { return values }
        let norm = squares.squareRoot()
        guard norm > 0 else { throw VectorError(.invalidValues, message: "\(what) is a zero vector, which has no cosine similarity") }
        return values.map { $0 / norm }
    }

    package func validate(_ record: VectorRecord) throws -> [Float] {
        let idBytes = record.id.utf8.count
        guard idBytes > 0 else { throw VectorError(.invalidID, message: "a vector id must not be empty") }
        guard idBytes <= limits.maxIDBytes else {
            throw VectorError(
                .idTooLong, limit: limits.maxIDBytes, actual: idBytes,
                message: "vector id \"\(record.id.prefix(80))\" is \(idBytes) bytes; the limit is \(limits.maxIDBytes)")
        }
        if let namespace = record.namespace {
            guard !namespace.isEmpty, namespace.utf8.count <= limits.maxNamespaceBytes else {
                throw VectorError(
                    .invalidNamespace, limit: limits.maxNamespaceBytes, actual: namespace.utf8.count,
                    message: "namespace of vector \"\(record.id)\" must be 1...\(limits.maxNamespaceBytes) bytes")
            }
        }
        if let metadata = record.metadata {
            let size = (try? metadata.serialized().count) ?? Int.max
            guard size <= limits.maxMetadataBytes else {
                throw VectorError(
                    .metadataTooLarge, limit: limits.maxMetadataBytes, actual: size,
                    message: "metadata of vector \"\(record.id)\" is \(size) bytes serialized; the limit is \(limits.maxMetadataBytes)")
            }
        }
        return try prepared(record.values, what: "vector \"\(record.id)\"")
    }

    package func checkBatch(_ count: Int, what: String) throws {
        guard count <= limits.maxBatch else {
            throw VectorError(.batchTooLarge, limit: limits.maxBatch, actual: count, message: "\(count) \(what) in one call; the limit is \(limits.maxBatch)")
        }
    }

    /// Checks the options; returns the parsed filter.
    package func checkQuery(_ options: VectorQueryOptions) throws -> VectorFilter? {
        let withData = options.returnValues || options.returnMetadata == .all
        let limit = withData ? limits.maxTopKWithData : limits.maxTopK
        guard (1...limit).contains(options.topK) else {
            throw VectorError(
                .topKOutOfRange, limit: limit, actual: options.topK,
                message: "topK must be in 1...\(limit)\(withData ? " when values or all metadata are returned" : ""), not \(options.topK)")
        }
        return try options.filter.map(VectorFilter.init)
    }

    /// The score of a match at `distance` (lower is closer: 1 − cos, −dot, squared L2).
    package func score(_ distance: Float) -> Float {
        switch configuration.metric {
        case .cosine: return 1 - distance
        case .dotProduct: return -distance
        case .euclidean: return max(0, distance).squareRoot()
        }
    }

    /// `metadata` as a query returns it.
    package func returned(_ metadata: JSONValue?, _ returning: ReturnMetadata) -> JSONValue? {
        switch returning {
        case .none: return nil
        case .all: return metadata
        case .indexed:
            guard case .object(let fields)? = metadata else { return nil }
            return .object(fields.filter { configuration.indexedMetadataFields.contains($0.key) })
        }
    }
}
