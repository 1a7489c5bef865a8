import EdgeCore
import EdgeSQLite
import Foundation
import GRDB

/// Keyword search over chunks that understands code identifiers (``CodeTokenizer``): a chunk is
/// found by a query in plain words that its code spells as identifiers, or that its path names.
/// ``SQLiteLexicalIndex`` is SQLite FTS5 with BM25.
public protocol LexicalIndex: Sendable {
    /// Adds or replaces chunks (by key), atomically.
    ///
    /// - Throws: the index's errors.
    func upsert(_ chunks: [CodeChunk], repo: String) async throws
    /// Removes chunks by key; unknown keys are ignored.
    ///
    /// - Throws: the index's errors.
    func delete(keys: [String]) async throws
    /// The keys of the best `limit` chunks for `query` (of `repo`, or of every repository),
    /// best first, with their scores (higher is better).
    ///
    /// - Throws: the index's errors.
    func search(_ query: String, limit: Int, repo: String?) async throws -> [(id: String, score: Double)]
}

extension LexicalIndex {
    /// The best 50 chunks for `query` in every repository.
    ///
    /// - Throws: the index's errors.
    public func search(_ query: String) async throws -> [(id: String, score: Double)] {
        try await search(query, limit: 50, repo: nil)
    }
}

/// SQLite FTS5 with BM25 ranking, where every identifier is also indexed as its pieces and
/// paths as their components (path matches weigh double).
public final class SQLiteLexicalIndex: LexicalIndex {
    private let queue: DatabaseQueue

    /// Opens (creating) the index at `path`.
    ///
    /// - Throws: when the database cannot be opened or SQLite lacks FTS5.
    public init(path: String) throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: "CREATE VIRTUAL TABLE chunks USING fts5(id UNINDEXED, repo UNINDEXED, path, body, tokenize = 'unicode61 remove_diacritics 2')")
        }
        // v2: words stemmed (Porter), so "notifying observers" meets `notifyObserver`. The
        // stored text is tokenized again as it is copied.
        migrator.registerMigration("v2-porter") { db in
            try db.execute(
                sql: "CREATE VIRTUAL TABLE chunks_v2 USING fts5(id UNINDEXED, repo UNINDEXED, path, body, tokenize = 'porter unicode61 remove_diacritics 2')")
            try db.execute(sql: "INSERT INTO chunks_v2 (id, repo, path, body) SELECT id, repo, path, body FROM chunks")
            try db.execute(sql: "DROP TABLE chunks")
            try db.execute(sql: "ALTER TABLE chunks_v2 RENAME TO chunks")
        }
        // v3: the FTS5 row of each key in an ordinary table, so replacing or deleting a chunk
        // finds its row by key (FTS5 cannot index `id`: `DELETE ... WHERE id = ?` scanned the
        // whole index for every chunk, which made indexing quadratic in the corpus size).
        migrator.registerMigration("v3-row-by-key") { db in
            try db.execute(sql: "CREATE TABLE chunk_rows (id TEXT PRIMARY KEY, row INTEGER NOT NULL) WITHOUT ROWID")
            try db.execute(sql: "INSERT OR REPLACE INTO chunk_rows (id, row) SELECT id, rowid FROM chunks")
        }
        queue = try SQLiteDatabase.openQueue(path: path, settings: SQLiteSettings(), label: "codesearch.lexical", migrator: migrator)
    }

    public func upsert(_ chunks: [CodeChunk], repo: String) async throws {
        try await queue.write { db in
            for chunk in chunks {
                let key = StoredChunk.key(repo: repo, chunk: chunk)
                try Self.delete(key, db)
                let path = chunk.path.replacingOccurrences(of: "/", with: " ").replacingOccurrences(of: ".", with: " ")
                try db.execute(
                    sql: "INSERT INTO chunks (id, repo, path, body) VALUES (?, ?, ?, ?)",
                    arguments: [key, repo, CodeTokenizer.indexable(path), CodeTokenizer.indexable(chunk.text)])
                try db.execute(sql: "INSERT INTO chunk_rows (id, row) VALUES (?, ?)", arguments: [key, db.lastInsertedRowID])
            }
        }
    }

    public func delete(keys: [String]) async throws {
        try await queue.write { db in
            for key in keys { try Self.delete(key, db) }
        }
    }

    /// Removes `key`'s row, found through `chunk_rows` (FTS5 finds a row quickly only by rowid).
    private static func delete(_ key: String, _ db: Database) throws {
        guard let row = try Int64.fetchOne(db, sql: "DELETE FROM chunk_rows WHERE id = ? RETURNING row", arguments: [key]) else { return }
        try db.execute(sql: "DELETE FROM chunks WHERE rowid = ?", arguments: [row])
    }

    public func search(_ query: String, limit: Int, repo: String?) async throws -> [(id: String, score: Double)] {
        let terms = Set(CodeTokenizer.terms(query)).filter { $0.count > 1 }.sorted()
        guard !terms.isEmpty else { return [] }
        // Each term quoted (FTS5 string syntax), any term may match.
        let match = terms.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: " OR ")
        return try await queue.read { db in
            let sql =
                "SELECT id, bm25(chunks, 0, 0, 2.0, 1.0) AS rank FROM chunks WHERE chunks MATCH ?"
                + (repo == nil ? "" : " AND repo = ?") + " ORDER BY rank LIMIT ?"
            let arguments: StatementArguments = repo.map { [match, $0, limit] } ?? [match, limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in (id: row["id"], score: -(row["rank"] as Double)) }
        }
    }
}

/// Reciprocal-rank fusion: each list contributes 1 / (k + rank) to an id's score (rank from 1);
/// ids are returned by total, best first. k = 60 as in Cormack et al.; `weights` scale each list.
public func reciprocalRankFusion(_ rankings: [[String]], weights: [Double]? = nil, k: Double = 60) -> [(id: String, score: Double)] {
    var scores: [String: Double] = [:]
    var firstSeen: [String: Int] = [:]
    var order = 0
    for (list, ranking) in rankings.enumerated() {
        let weight = weights?[list] ?? 1
        for (rank, id) in ranking.enumerated() {
            scores[id, default: 0] += weight / (k + Double(rank + 1))
            if firstSeen[id] == nil {
                firstSeen[id] = order
                order += 1
            }
        }
    }
    return scores.map { (id: $0.key, score: $0.value) }.sorted { $0.score > $1.score || ($0.score == $1.score && firstSeen[$0.id]! < firstSeen[$1.id]!) }
}
