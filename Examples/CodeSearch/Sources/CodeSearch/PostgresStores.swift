public import EdgePostgres
import Foundation
import PostgresNIO
import Synchronization

/// Chunks in PostgreSQL (table `codesearch_chunks`), so every process that shares the database
/// shares them; `namespace` keeps several indexes apart in one database.
public final class PostgresChunkStore: ChunkStore {
    let pool: PostgresPool
    public let namespace: String

    /// Uses `pool`'s database; the table is created on first use.
    public init(pool: PostgresPool, namespace: String = "code") {
        self.pool = pool
        self.namespace = namespace
    }

    static let schema = [
        """
        CREATE TABLE IF NOT EXISTS codesearch_chunks (
            namespace text NOT NULL, key text NOT NULL, repo text NOT NULL, path text NOT NULL,
            start_line integer NOT NULL, end_line integer NOT NULL, body text NOT NULL,
            PRIMARY KEY (namespace, key))
        """,
        "CREATE INDEX IF NOT EXISTS codesearch_chunks_file ON codesearch_chunks (namespace, repo, path)",
    ]

    /// Runs `body` on a connection of `pool` once the schema exists; database errors (the pool's
    /// timeouts included) become ``CodeSearchError`` `.storageFailure`.
    static func storage<T: Sendable>(
        _ pool: PostgresPool, _ schema: (String, [String]), _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        do {
            try await pool.migrate(schema.0, schema.1)
            return try await pool.withConnection(body)
        } catch let error as CodeSearchError {
            throw error
        } catch {
            throw CodeSearchError(.storageFailure, "PostgreSQL failure: \(String(reflecting: error))")
        }
    }

    private func storage<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await Self.storage(pool, ("codesearch_chunks.v1", Self.schema), body)
    }

    public func upsert(_ chunks: [CodeChunk], repo: String) async throws {
        // One row per key (the last wins), as repeated upserts would leave it.
        var rows: [String: CodeChunk] = [:]
        for chunk in chunks { rows[StoredChunk.key(repo: repo, chunk: chunk)] = chunk }
        guard !rows.isEmpty else { return }
        let keys = Array(rows.keys)
        let values = keys.map { rows[$0]! }
        try await storage { [self] connection in
            _ = try await connection.query(
                """
                INSERT INTO codesearch_chunks (namespace, key, repo, path, start_line, end_line, body)
                SELECT \(namespace), t.key, \(repo), t.path, t.start_line, t.end_line, t.body
                FROM unnest(\(keys)::text[], \(values.map(\.path))::text[], \(values.map { Int32($0.startLine) })::integer[],
                            \(values.map { Int32($0.endLine) })::integer[], \(values.map(\.text))::text[]) AS t(key, path, start_line, end_line, body)
                ON CONFLICT (namespace, key) DO UPDATE SET repo = excluded.repo, path = excluded.path,
                    start_line = excluded.start_line, end_line = excluded.end_line, body = excluded.body
                """, logger: pool.logger)
        }
    }

    public func delete(keys: [String]) async throws {
        guard !keys.isEmpty else { return }
        try await storage { [self] connection in
            _ = try await connection.query("DELETE FROM codesearch_chunks WHERE namespace = \(namespace) AND key = ANY(\(keys))", logger: pool.logger)
        }
    }

    public func chunks(keys: [String]) async throws -> [String: StoredChunk] {
        guard !keys.isEmpty else { return [:] }
        return try await storage { [self] connection in
            let rows = try await connection.query(
                "SELECT key, repo, path, start_line, end_line, body FROM codesearch_chunks WHERE namespace = \(namespace) AND key = ANY(\(keys))",
                logger: pool.logger)
            var found: [String: StoredChunk] = [:]
            for try await (key, repo, path, start, end, body) in rows.decode((String, String, String, Int32, Int32, String).self) {
                found[key] = StoredChunk(repo: repo, chunk: CodeChunk(path: path, startLine: Int(start), endLine: Int(end), text: body))
            }
            return found
        }
    }

    public func count(repo: String?) async throws -> Int {
        try await storage { [self] connection in
            let rows =
                if let repo {
                    try await connection.query("SELECT count(*) FROM codesearch_chunks WHERE namespace = \(namespace) AND repo = \(repo)", logger: pool.logger)
                } else {
                    try await connection.query("SELECT count(*) FROM codesearch_chunks WHERE namespace = \(namespace)", logger: pool.logger)
                }
            for try await count in rows.decode(Int64.self) { return Int(count) }
            return 0
        }
    }

    public func keys(repo: String?) async throws -> [String] {
        try await storage { [self] connection in
            let rows =
                if let repo {
                    try await connection.query(
                        "SELECT key FROM codesearch_chunks WHERE namespace = \(namespace) AND repo = \(repo) ORDER BY key COLLATE \"C\"", logger: pool.logger)
                } else {
                    try await connection.query(
                        "SELECT key FROM codesearch_chunks WHERE namespace = \(namespace) ORDER BY key COLLATE \"C\"", logger: pool.logger)
                }
            var keys: [String] = []
            for try await key in rows.decode(String.self) { keys.append(key) }
            return keys
        }
    }

    public func keys(repo: String, path: String) async throws -> [String] {
        try await storage { [self] connection in
            let rows = try await connection.query(
                "SELECT key FROM codesearch_chunks WHERE namespace = \(namespace) AND repo = \(repo) AND path = \(path) ORDER BY key COLLATE \"C\"",
                logger: pool.logger)
            var keys: [String] = []
            for try await key in rows.decode(String.self) { keys.append(key) }
            return keys
        }
    }
}

/// The lexical index in PostgreSQL: BM25 computed in SQL over postings made by PostgreSQL's
/// English text search (stemmed, stop words dropped) from the same identifier-split text the
/// SQLite index holds, with the same parameters as SQLite FTS5's `bm25()`: k1 = 1.2, b = 0.75,
/// idf = ln((N − n + 0.5) / (n + 0.5)), path terms counting double.
///
/// Tables `codesearch_lexical` (a row per chunk: its length in terms) and `codesearch_postings`
/// (a row per term of a chunk: its weighted frequency); `namespace` keeps indexes apart.
public final class PostgresLexicalIndex: LexicalIndex {
    let pool: PostgresPool
    public let namespace: String
    /// Rows written since the tables were last analysed: after a bulk load the planner's
    /// statistics are refreshed, so searches use the term index rather than a plan made for
    /// empty tables (measured: a hybrid search took 450 ms at p50 before, 20 ms after, on 58,000 postings).
    private let written = Mutex(0)

    /// Uses `pool`'s database; the tables are created on first use.
    public init(pool: PostgresPool, namespace: String = "code") {
        self.pool = pool
        self.namespace = namespace
    }

    static let schema = [
        """
        CREATE TABLE IF NOT EXISTS codesearch_lexical (
            namespace text NOT NULL, key text NOT NULL, repo text NOT NULL, length integer NOT NULL,
            PRIMARY KEY (namespace, key))
        """,
        """
        CREATE TABLE IF NOT EXISTS codesearch_postings (
            namespace text NOT NULL, term text NOT NULL, key text NOT NULL, tf real NOT NULL,
            PRIMARY KEY (namespace, term, key))
        """,
        "CREATE INDEX IF NOT EXISTS codesearch_postings_key ON codesearch_postings (namespace, key)",
    ]

    private func storage<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await PostgresChunkStore.storage(pool, ("codesearch_lexical.v1", Self.schema), body)
    }

    public func upsert(_ chunks: [CodeChunk], repo: String) async throws {
        var rows: [String: CodeChunk] = [:]
        for chunk in chunks { rows[StoredChunk.key(repo: repo, chunk: chunk)] = chunk }
        guard !rows.isEmpty else { return }
        let keys = Array(rows.keys)
        let paths = keys.map { key in
            CodeTokenizer.indexable(rows[key]!.path.replacingOccurrences(of: "/", with: " ").replacingOccurrences(of: ".", with: " "))
        }
        let bodies = keys.map { CodeTokenizer.indexable(rows[$0]!.text) }
        try await storage { [self] connection in
            try await connection.withTransaction(logger: pool.logger) { connection in
                try await connection.query(
                    "DELETE FROM codesearch_postings WHERE namespace = \(namespace) AND key = ANY(\(keys))", logger: pool.logger)
                try await connection.query(
                    """
                    WITH docs AS (
                        SELECT t.key, setweight(to_tsvector('english', t.path), 'A') || setweight(to_tsvector('english', t.body), 'D') AS v
                        FROM unnest(\(keys)::text[], \(paths)::text[], \(bodies)::text[]) AS t(key, path, body)
                    ), counted AS (
                        INSERT INTO codesearch_lexical (namespace, key, repo, length)
                        SELECT \(namespace), key, \(repo), coalesce((SELECT sum(coalesce(array_length(u.positions, 1), 1)) FROM unnest(v) u), 0)::integer
                        FROM docs
                        ON CONFLICT (namespace, key) DO UPDATE SET repo = excluded.repo, length = excluded.length
                    )
                    INSERT INTO codesearch_postings (namespace, term, key, tf)
                    SELECT \(namespace), u.lexeme, d.key, sum(CASE w WHEN 'A' THEN 2.0 ELSE 1.0 END)
                    FROM docs d, unnest(d.v) u, unnest(u.weights) w
                    GROUP BY d.key, u.lexeme
                    """, logger: pool.logger)
            }
            let due = written.withLock { count -> Bool in
                count += keys.count
                guard count >= Self.analyzeEvery else { return false }
                count = 0
                return true
            }
            if due {
                _ = try await connection.query("ANALYZE codesearch_postings", logger: pool.logger)
                _ = try await connection.query("ANALYZE codesearch_lexical", logger: pool.logger)
            }
        }
    }

    /// Chunks written between two refreshes of the planner's statistics.
    static let analyzeEvery = 1_000

    public func delete(keys: [String]) async throws {
        guard !keys.isEmpty else { return }
        try await storage { [self] connection in
            try await connection.withTransaction(logger: pool.logger) { connection in
                try await connection.query(
                    "DELETE FROM codesearch_postings WHERE namespace = \(namespace) AND key = ANY(\(keys))", logger: pool.logger)
                try await connection.query(
                    "DELETE FROM codesearch_lexical WHERE namespace = \(namespace) AND key = ANY(\(keys))", logger: pool.logger)
            }
        }
    }

    public func search(_ query: String, limit: Int, repo: String?) async throws -> [(id: String, score: Double)] {
        let terms = Set(CodeTokenizer.terms(query)).filter { $0.count > 1 }.sorted()
        guard !terms.isEmpty, limit > 0 else { return [] }
        let text = terms.joined(separator: " ")
        return try await storage { [self] connection in
            // BM25 as FTS5 computes it: N and the average length over the whole index, a term's
            // idf from the chunks that hold it, a chunk's score summed over the query's terms.
            let rows = try await connection.query(
                """
                WITH q AS MATERIALIZED (SELECT array_agg(DISTINCT u.lexeme) AS terms FROM unnest(to_tsvector('english', \(text))) u),
                matched AS MATERIALIZED (
                    SELECT p.key, p.term, p.tf, l.length, l.repo FROM codesearch_postings p
                    CROSS JOIN LATERAL (
                        SELECT l.length, l.repo FROM codesearch_lexical l WHERE l.namespace = \(namespace) AND l.key = p.key
                    ) l
                    WHERE p.namespace = \(namespace) AND p.term = ANY ((SELECT terms FROM q)::text[])
                ),
                df AS MATERIALIZED (SELECT term, count(*)::float8 AS df FROM matched GROUP BY term),
                stats AS MATERIALIZED (
                    SELECT count(*)::float8 AS n, greatest(avg(length), 1)::float8 AS avgdl FROM codesearch_lexical WHERE namespace = \(namespace)
                )
                SELECT m.key, sum(greatest(ln((s.n - df.df + 0.5) / (df.df + 0.5)), 1e-6)
                           * (m.tf * 2.2) / (m.tf + 1.2 * (0.25 + 0.75 * m.length / s.avgdl)))::float8 AS score
                FROM matched m
                JOIN df ON df.term = m.term
                CROSS JOIN stats s
                WHERE \(repo)::text IS NULL OR m.repo = \(repo)
                GROUP BY m.key
                ORDER BY score DESC, m.key
                LIMIT \(Int32(limit))
                """, logger: pool.logger)
            var results: [(id: String, score: Double)] = []
            for try await (key, score) in rows.decode((String, Double).self) { results.append((key, score)) }
            return results
        }
    }
}
