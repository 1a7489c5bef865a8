import EdgeCore
import Foundation
import Logging
import PostgresNIO
public import VectorSearch

/// A `VectorIndex` on pgvector: one table per index (`"vec_NAME"`: id, namespace, metadata as
/// `jsonb`, the embedding as `vector(D)`) with an HNSW index for the configured metric. Vectorize
/// semantics and limits as the in-process indexes (the vector conformance suite runs against
/// all of them): cosine vectors are stored normalised; metadata filters are translated to SQL on
/// the `jsonb` column; namespaces are a column.
///
/// Queries run with `hnsw.ef_search` = `max(efSearch, 2 × topK)` and, when a filter or a
/// namespace applies, `hnsw.iterative_scan = relaxed_order`, so a selective filter still returns
/// `topK` matches when they exist.
public final class PgVectorIndex: VectorIndex {
    public let name: String
    public let pool: PostgresPool
    let rules: VectorRules
    public var configuration: VectorIndexConfiguration { rules.configuration }
    public let efSearch: Int
    private let table: String
    private let logger: Logger

    /// Opens index `name` (1...59 letters, digits, `_`, `-`, `.`). Its table and HNSW index are
    /// created by the first operation, which also checks that an existing index has the same
    /// dimensions and metric (else that operation throws `.invalidConfiguration`).
    ///
    /// - Parameters:
    ///   - name: the index's name.
    ///   - pool: the database.
    ///   - configuration: dimensions, metric and the metadata fields filters may use.
    ///   - limits: Vectorize's limits by default.
    ///   - m: the HNSW index's `m` (pgvector's default 16).
    ///   - efConstruction: the HNSW index's `ef_construction` (pgvector's default 64).
    ///   - efSearch: `hnsw.ef_search` for queries.
    /// - Throws: `VectorError` `.invalidConfiguration` for a bad name or dimensions. Operations
    ///   throw `.storage` when PostgreSQL fails (pgvector missing: `CREATE EXTENSION vector`
    ///   needs it installed).
    public init(
        name: String, pool: PostgresPool, configuration: VectorIndexConfiguration, limits: VectorLimits = .vectorize,
        m: Int = 16, efConstruction: Int = 64, efSearch: Int = 40
    ) throws {
        guard ByteKeys.isSafeResourceName(name, maxLength: 59) else {
            throw VectorError(
                .invalidConfiguration, limit: 59, actual: name.utf8.count,
                message: "index name \"\(name)\" must be 1...59 letters, digits, '_', '-' or '.'")
        }
        rules = try VectorRules(configuration: configuration, limits: limits)
        self.name = name
        self.pool = pool
        self.efSearch = max(1, efSearch)
        table = "\"vec_\(name)\""
        logger = pool.logger
        self.m = m
        self.efConstruction = efConstruction
    }

    private let m: Int
    private let efConstruction: Int

    /// Creates the table and its indexes on first use, and checks the stored shape.
    private func prepare() async throws {
        let configuration = rules.configuration, table = self.table, name = self.name, logger = self.logger, m = self.m, efConstruction = self.efConstruction
        let operators: String
        switch configuration.metric {
        case .cosine: operators = "vector_cosine_ops"
        case .euclidean: operators = "vector_l2_ops"
        case .dotProduct: operators = "vector_ip_ops"
        }
        try await pool.migrate(
            "edge_vector_indexes.v1",
            [
                "CREATE EXTENSION IF NOT EXISTS vector",
                "CREATE TABLE IF NOT EXISTS edge_vector_indexes (name text PRIMARY KEY, dimensions integer NOT NULL, metric text NOT NULL)",
            ])
        try await pool.once("vec:\(name)") {
            let (dimensions, metric) = try await pool.withTransaction { connection -> (Int32, String) in
                try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresPool.lockID("vec:" + name)))", logger: logger)
                try await connection.query(
                    """
                    INSERT INTO edge_vector_indexes (name, dimensions, metric) VALUES (\(name), \(Int32(configuration.dimensions)), \(configuration.metric.rawValue))
                    ON CONFLICT (name) DO NOTHING
                    """, logger: logger)
                try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            CREATE TABLE IF NOT EXISTS \(table) (
                                id text PRIMARY KEY, namespace text, metadata jsonb, embedding vector(\(configuration.dimensions)) NOT NULL)
                            """), logger: logger)
                try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            CREATE INDEX IF NOT EXISTS "vec_\(name)_hnsw" ON \(table) USING hnsw (embedding \(operators)) WITH (m = \(m), ef_construction = \(efConstruction))
                            """), logger: logger)
                try await connection.query(
                    PostgresQuery(unsafeSQL: "CREATE INDEX IF NOT EXISTS \"vec_\(name)_namespace\" ON \(table) (namespace)"), logger: logger)
                let rows = try await connection.query("SELECT dimensions, metric FROM edge_vector_indexes WHERE name = \(name)", logger: logger)
                for try await row in rows.decode((Int32, String).self) { return row }
                return (Int32(configuration.dimensions), configuration.metric.rawValue)
            }
            guard Int(dimensions) == configuration.dimensions, metric == configuration.metric.rawValue else {
                throw VectorError(
                    .invalidConfiguration,
                    message:
                        "index \(name) exists with \(dimensions) dimensions and metric \(metric); asked for \(configuration.dimensions) and \(configuration.metric.rawValue)"
                )
            }
        }
    }

    private func storage<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            try await prepare()
            return try await pool.withConnection(body)
        } catch let error as VectorError {
            throw error
        } catch {
            throw VectorError(.storage, message: "pgvector index \(name): \(String(reflecting: error))")
        }
    }

    /// pgvector's text form: `[1,2.5,-3]`.
    static func literal(_ values: [Float]) -> String {
        "[" + values.map { "\($0)" }.joined(separator: ",") + "]"
    }

    static func parse(_ text: String) -> [Float] {
        text.dropFirst().dropLast().split(separator: ",").compactMap { Float($0) }
    }

    // MARK: Writes

    public func describe() async throws -> VectorIndexInfo {
        try await storage { [self] connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)"), logger: logger)
            for try await count in rows.decode(Int64.self) {
                return VectorIndexInfo(dimensions: rules.dimensions, metric: rules.configuration.metric, vectorCount: Int(count))
            }
            return VectorIndexInfo(dimensions: rules.dimensions, metric: rules.configuration.metric, vectorCount: 0)
        }
    }

    public func insert(_ vectors: [VectorRecord]) async throws -> VectorMutationResult {
        try await write(vectors, replace: false)
    }

    public func upsert(_ vectors: [VectorRecord]) async throws -> VectorMutationResult {
        try await write(vectors, replace: true)
    }

    /// Validates everything first; then one statement. Upsert: the last record of an id in the
    /// batch wins; insert: ids already stored are skipped and the first record of an id wins.
    private func write(_ records: [VectorRecord], replace: Bool) async throws -> VectorMutationResult {
        try rules.checkBatch(records.count, what: "vectors")
        let prepared = try records.map { try rules.validate($0) }
        var chosen: [String: Int] = [:]
        var order: [String] = []
        for (index, record) in records.enumerated() {
            if chosen[record.id] == nil { order.append(record.id) }
            if replace || chosen[record.id] == nil { chosen[record.id] = index }
        }
        guard !order.isEmpty else { return VectorMutationResult(ids: []) }
        let rows = order.map { chosen[$0]! }
        let ids = rows.map { records[$0].id }
        let namespaces = rows.map { records[$0].namespace ?? "" }
        let metadata = try rows.map { row -> String in try records[row].metadata.map { String(decoding: try $0.serialized(), as: UTF8.self) } ?? "" }
        let embeddings = rows.map { Self.literal(prepared[$0]) }
        let written: Set<String> = try await storage { [self] connection in
            var bindings = PostgresBindings()
            bindings.append(ids)
            bindings.append(namespaces)
            bindings.append(metadata)
            bindings.append(embeddings)
            let conflict =
                replace
                ? "ON CONFLICT (id) DO UPDATE SET namespace = excluded.namespace, metadata = excluded.metadata, embedding = excluded.embedding"
                : "ON CONFLICT (id) DO NOTHING"
            let query = PostgresQuery(
                unsafeSQL: """
                    INSERT INTO \(table) (id, namespace, metadata, embedding)
                    SELECT i, NULLIF(n, ''), NULLIF(m, '')::jsonb, e::vector FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(i, n, m, e)
                    \(conflict) RETURNING id
                    """, binds: bindings)
            var written = Set<String>()
            for try await id in try await connection.query(query, logger: logger).decode(String.self) { written.insert(id) }
            return written
        }
        return VectorMutationResult(ids: order.filter { written.contains($0) })
    }

    public func deleteByIds(_ ids: [String]) async throws -> VectorMutationResult {
        try rules.checkBatch(ids.count, what: "ids")
        guard !ids.isEmpty else { return VectorMutationResult(ids: []) }
        let deleted: Set<String> = try await storage { [self] connection in
            var bindings = PostgresBindings()
            bindings.append(ids)
            var deleted = Set<String>()
            let query = PostgresQuery(unsafeSQL: "DELETE FROM \(table) WHERE id = ANY($1::text[]) RETURNING id", binds: bindings)
            for try await id in try await connection.query(query, logger: logger).decode(String.self) { deleted.insert(id) }
            return deleted
        }
        var seen = Set<String>()
        return VectorMutationResult(ids: ids.filter { deleted.contains($0) && seen.insert($0).inserted })
    }

    // MARK: Reads

    public func getByIds(_ ids: [String]) async throws -> [VectorRecord] {
        try rules.checkBatch(ids.count, what: "ids")
        guard !ids.isEmpty else { return [] }
        let found: [String: VectorRecord] = try await storage { [self] connection in
            var bindings = PostgresBindings()
            bindings.append(ids)
            let query = PostgresQuery(
                unsafeSQL: "SELECT id, namespace, metadata::text, embedding::text FROM \(table) WHERE id = ANY($1::text[])", binds: bindings)
            var found: [String: VectorRecord] = [:]
            for try await (id, namespace, metadata, embedding) in try await connection.query(query, logger: logger).decode(
                (String, String?, String?, String).self)
            {
                found[id] = VectorRecord(
                    id: id, values: Self.parse(embedding), namespace: namespace,
                    metadata: try metadata.map { try JSONValue(parsing: Data($0.utf8)) })
            }
            return found
        }
        return ids.compactMap { found[$0] }
    }

    public func queryById(_ id: String, options: VectorQueryOptions) async throws -> VectorQueryResult {
        guard let record = try await getByIds([id]).first else { throw VectorError(.notFound, message: "no vector with id \"\(id)\"") }
        return try await query(record.values, options: options)
    }

    public func query(_ vector: [Float], options: VectorQueryOptions) async throws -> VectorQueryResult {
        let filter = try rules.checkQuery(options)
        let query = try rules.prepared(vector, what: "the query vector")
        var bindings = PostgresBindings()
        bindings.append(Self.literal(query))
        var conditions: [String] = []
        if let namespace = options.namespace {
            bindings.append(namespace)
            conditions.append("namespace = $\(bindings.count)")
        }
        for condition in filter?.conditions ?? [] {
            conditions.append(Self.sql(condition, bindings: &bindings))
        }
        let distance: String
        switch rules.configuration.metric {
        case .cosine: distance = "embedding <=> $1::vector"
        case .euclidean: distance = "embedding <-> $1::vector"
        case .dotProduct: distance = "embedding <#> $1::vector"
        }
        let columns =
            "id, namespace, " + (options.returnMetadata == .none ? "NULL::text" : "metadata::text") + ", "
            + (options.returnValues ? "embedding::text" : "NULL::text")
        let sql = """
            SELECT \(columns), (\(distance))::float8 AS distance FROM \(table)
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY \(distance) LIMIT \(options.topK)
            """
        let topK = options.topK
        let efSearch = max(self.efSearch, 2 * topK)
        return try await storage { [self, conditions, bindings] connection in
            try await connection.withTransaction(logger: logger) { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL hnsw.ef_search = \(min(1000, efSearch))"), logger: logger)
                if !conditions.isEmpty {
                    // A filter or namespace: keep scanning the graph until topK rows pass it.
                    try await connection.query("SET LOCAL hnsw.iterative_scan = relaxed_order", logger: logger)
                }
                var matches: [VectorMatch] = []
                let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
                for try await (id, namespace, metadata, embedding, distance) in rows.decode((String, String?, String?, String?, Double).self) {
                    let stored = try metadata.map { try JSONValue(parsing: Data($0.utf8)) }
                    let score: Float = rules.configuration.metric == .euclidean ? Float(distance) : rules.score(Float(distance))
                    matches.append(
                        VectorMatch(
                            id: id, score: score, values: embedding.map(Self.parse), namespace: namespace,
                            metadata: options.returnMetadata == .none ? nil : rules.returned(stored, options.returnMetadata)))
                }
                // relaxed_order may return near-ties out of order: sort by score as the other indexes do.
                matches.sort { rules.configuration.metric == .euclidean ? $0.score < $1.score : $0.score > $1.score }
                return VectorQueryResult(matches: Array(matches.prefix(topK)))
            }
        }
    }

    /// One filter condition as SQL on the `jsonb` column, with the semantics of `VectorFilter`:
    /// numbers compare by value, strings by UTF-8 bytes (`COLLATE "C"`), ranges only between
    /// values of the same kind, and on a missing field only `$ne` and `$nin` hold.
    static func sql(_ condition: VectorFilter.Condition, bindings: inout PostgresBindings) -> String {
        let field = "(metadata #> \(placeholder(condition.path.split(separator: ".").map(String.init), &bindings))::text[])"
        switch condition.op {
        case .eq: return "\(field) = \(placeholder(jsonText(condition.value), &bindings))::jsonb"
        case .ne: return "\(field) IS DISTINCT FROM \(placeholder(jsonText(condition.value), &bindings))::jsonb"
        case .in: return "\(field) = ANY(\(placeholder(jsonItems(condition.value), &bindings))::jsonb[])"
        case .nin: return "COALESCE(NOT (\(field) = ANY(\(placeholder(jsonItems(condition.value), &bindings))::jsonb[])), true)"
        case .lt, .lte, .gt, .gte:
            let op = [VectorFilter.Operator.lt: "<", .lte: "<=", .gt: ">", .gte: ">="][condition.op]!
            switch condition.value {
            case .int(let number):
                return "(jsonb_typeof(\(field)) = 'number' AND (\(field))::float8 \(op) \(placeholder(Double(number), &bindings))::float8)"
            case .double(let number):
                return "(jsonb_typeof(\(field)) = 'number' AND (\(field))::float8 \(op) \(placeholder(number, &bindings))::float8)"
            case .string(let text):
                return "(jsonb_typeof(\(field)) = 'string' AND (\(field) #>> '{}') COLLATE \"C\" \(op) \(placeholder(text, &bindings))::text COLLATE \"C\")"
            default:
                return "false"
            }
        }
    }

    /// Appends `value` to `bindings`; returns its placeholder (`$N`).
    static func placeholder<Value: PostgresDynamicTypeEncodable>(_ value: Value, _ bindings: inout PostgresBindings) -> String {
        bindings.append(value)
        return "$\(bindings.count)"
    }

    static func jsonText(_ value: JSONValue) -> String {
        (try? value.serialized()).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    static func jsonItems(_ value: JSONValue) -> [String] {
        guard case .array(let items) = value else { return [] }
        return items.map(jsonText)
    }
}
