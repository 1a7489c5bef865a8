import Foundation

/// Exact search: every query compares against every stored vector (SIMD kernels, all cores for
/// scans over 32,768 vectors). The reference the HNSW index is measured against, and the right
/// choice up to some tens of thousands of vectors.
public final class FlatIndex: VectorIndex {
    let engine: IndexEngine

    /// An in-memory index.
    ///
    /// - Throws: ``VectorError`` `.invalidConfiguration` for dimensions outside 1...1536.
    public init(configuration: VectorIndexConfiguration, limits: VectorLimits = .vectorize) throws {
        engine = try IndexEngine(configuration: configuration, limits: limits, hnsw: nil, persistence: nil)
    }

    /// A persistent index under `stateDirectory/vectorize/` (see ``HNSWIndex/init(name:stateDirectory:configuration:parameters:limits:settings:)``).
    ///
    /// - Throws: ``VectorError`` `.invalidConfiguration` (including an existing index of another
    ///   shape), `.storage`.
    public init(
        name: String, stateDirectory: String, configuration: VectorIndexConfiguration, limits: VectorLimits = .vectorize,
        settings: SQLiteSettings = SQLiteSettings()
    ) throws {
        engine = try IndexEngine(
            configuration: configuration, limits: limits, hnsw: nil,
            persistence: VectorPersistence(name: name, stateDirectory: stateDirectory, settings: settings))
    }

    public func describe() async throws -> VectorIndexInfo { engine.describe() }
    public func insert(_ vectors: [VectorRecord]) async throws -> VectorMutationResult { VectorMutationResult(ids: try engine.write(vectors, replace: false)) }
    public func upsert(_ vectors: [VectorRecord]) async throws -> VectorMutationResult { VectorMutationResult(ids: try engine.write(vectors, replace: true)) }

    public func query(_ vector: [Float], options: VectorQueryOptions = VectorQueryOptions()) async throws -> VectorQueryResult {
        try engine.query(vector, options: options, efSearch: nil)
    }

    public func queryById(_ id: String, options: VectorQueryOptions = VectorQueryOptions()) async throws -> VectorQueryResult {
        guard let values = engine.storedValues(of: id) else { throw VectorError(.notFound, message: "no vector with id \"\(id)\"") }
        return try engine.query(values, options: options, efSearch: nil)
    }

    public func getByIds(_ ids: [String]) async throws -> [VectorRecord] { try engine.get(ids) }
    public func deleteByIds(_ ids: [String]) async throws -> VectorMutationResult { VectorMutationResult(ids: try engine.delete(ids)) }

    /// Writes the snapshot of a persistent index (a no-op in memory).
    ///
    /// - Throws: ``VectorError`` `.storage`.
    public func checkpoint() async throws { try engine.checkpoint() }
}

/// Approximate search over a hierarchical navigable small-world graph: logarithmic query time,
/// recall tuned by `efSearch`. Inserts are incremental; deletes leave tombstones (skipped in
/// results, still used for navigation) until they reach a quarter of the nodes, when the graph
/// is rebuilt without them. A query with a namespace or filter searches the graph, keeping only
/// matching nodes as results, when a sample says the filter keeps at least 5% of vectors, and
/// otherwise (or when the graph yields fewer than topK) answers exactly over the matching ones.
public final class HNSWIndex: VectorIndex {
    let engine: IndexEngine
    public var parameters: HNSWParameters { engine.hnsw! }

    /// An in-memory index.
    ///
    /// - Throws: ``VectorError`` `.invalidConfiguration`.
    public init(configuration: VectorIndexConfiguration, parameters: HNSWParameters = HNSWParameters(), limits: VectorLimits = .vectorize) throws {
        engine = try IndexEngine(configuration: configuration, limits: limits, hnsw: parameters, persistence: nil)
    }

    /// A persistent index: `stateDirectory/vectorize/<name>.sqlite` holds the vectors, ids,
    /// namespaces and metadata, committed before each write returns; `<name>.snapshot` holds the
    /// graph, written by ``checkpoint()`` and periodically. Reopening after a checkpoint answers
    /// exactly as before; after a crash the graph is rebuilt from the database.
    ///
    /// - Throws: ``VectorError`` `.invalidConfiguration` (including an existing index of another
    ///   shape), `.storage`.
    public init(
        name: String, stateDirectory: String, configuration: VectorIndexConfiguration, parameters: HNSWParameters = HNSWParameters(),
        limits: VectorLimits = .vectorize, settings: SQLiteSettings = SQLiteSettings()
    ) throws {
        engine = try IndexEngine(
            configuration: configuration, limits: limits, hnsw: parameters,
            persistence: VectorPersistence(name: name, stateDirectory: stateDirectory, settings: settings))
    }

    public func describe() async throws -> VectorIndexInfo { engine.describe() }
    public func insert(_ vectors: [VectorRecord]) async throws -> VectorMutationResult { VectorMutationResult(ids: try engine.write(vectors, replace: false)) }
    public func upsert(_ vectors: [VectorRecord]) async throws -> VectorMutationResult { VectorMutationResult(ids: try engine.write(vectors, replace: true)) }

    public func query(_ vector: [Float], options: VectorQueryOptions = VectorQueryOptions()) async throws -> VectorQueryResult {
        try engine.query(vector, options: options, efSearch: nil)
    }

    /// A query with its own `efSearch`.
    ///
    /// - Throws: as ``query(_:options:)``.
    public func query(_ vector: [Float], options: VectorQueryOptions = VectorQueryOptions(), efSearch: Int) throws -> VectorQueryResult {
        try engine.query(vector, options: options, efSearch: efSearch)
    }

    public func queryById(_ id: String, options: VectorQueryOptions = VectorQueryOptions()) async throws -> VectorQueryResult {
        guard let values = engine.storedValues(of: id) else { throw VectorError(.notFound, message: "no vector with id \"\(id)\"") }
        return try engine.query(values, options: options, efSearch: nil)
    }

    public func getByIds(_ ids: [String]) async throws -> [VectorRecord] { try engine.get(ids) }
    public func deleteByIds(_ ids: [String]) async throws -> VectorMutationResult { VectorMutationResult(ids: try engine.delete(ids)) }

    /// Rebuilds the graph without tombstones now.
    public func compact() { engine.compactNow() }

    /// Writes the snapshot of a persistent index (a no-op in memory).
    ///
    /// - Throws: ``VectorError`` `.storage`.
    public func checkpoint() async throws { try engine.checkpoint() }

    /// Bytes held per live vector: the vector, its graph links and bookkeeping.
    public var memoryPerVector: Double { engine.memoryPerVector }
}
