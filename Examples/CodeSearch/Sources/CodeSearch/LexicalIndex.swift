import EdgeCore
import EdgeSQLite
import Embeddings
import Foundation
import GRDB

/// Keyword search over chunks that understands code identifiers: SQLite FTS5 with BM25 ranking,
/// where every identifier is also indexed as its pieces (`parseHTTPRequest` → `parse http
/// request`, `max_batch_size` → `max batch size`) and paths as their components, so a query in
/// plain words finds the code that spells them as identifiers.
public final class LexicalIndex: Sendable {
    private let queue: DatabaseQueue

    /// Opens (creating) the index at `path`.
    ///
    /// - Throws: when the database cannot be opened or SQLite lacks FTS5.
    public init(path: String) throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE VIRTUAL TABLE chunks USING fts5(id UNINDEXED, repo UNINDEXED, path, body, tokenize = 'unicode61 remove_diacritics 2');
                CREATE TABLE chunk_text (
                    id TEXT PRIMARY KEY, repo TEXT NOT NULL, path TEXT NOT NULL,
                    start_line INTEGER NOT NULL, end_line INTEGER NOT NULL, text TEXT NOT NULL
                );
                CREATE INDEX chunk_text_file ON chunk_text (repo, path);
                """)
        }
        queue = try SQLiteDatabase.openQueue(path: path, settings: SQLiteSettings(), label: "codesearch.lexical", migrator: migrator)
    }

    /// The text indexed for `text`: the text itself plus the pieces of every identifier in it.
    public static func expanded(_ text: String) -> String {
        var pieces: [String] = []
        for word in HashingEmbedder.words(text) {
            let split = HashingEmbedder.identifierPieces(word)
            if split.count > 1 { pieces += split }
        }
        return pieces.isEmpty ? text : text + "\n" + pieces.joined(separator: " ")
    }

    /// The key of a chunk across repositories: `repo|path#start-end`.
    public static func key(repo: String, chunk: CodeChunk) -> String { repo + "|" + chunk.id }

    /// Adds or replaces chunks (by repository and id), in one transaction; their text is kept for
    /// snippets.
    public func upsert(_ chunks: [CodeChunk], repo: String) throws {
        try queue.write { db in
            for chunk in chunks {
                let key = Self.key(repo: repo, chunk: chunk)
                try db.execute(sql: "DELETE FROM chunks WHERE id = ?", arguments: [key])
                try db.execute(sql: "INSERT OR REPLACE INTO chunk_text (id, repo, path, start_line, end_line, text) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [key, repo, chunk.path, chunk.startLine, chunk.endLine, chunk.text])
                let path = chunk.path.replacingOccurrences(of: "/", with: " ").replacingOccurrences(of: ".", with: " ")
                try db.execute(sql: "INSERT INTO chunks (id, repo, path, body) VALUES (?, ?, ?, ?)",
                               arguments: [key, repo, Self.expanded(path), Self.expanded(chunk.text)])
            }
        }
    }

    /// Removes chunks by key (``key(repo:chunk:)``).
    public func delete(keys ids: [String]) throws {
        try queue.write { db in
            for id in ids {
                try db.execute(sql: "DELETE FROM chunks WHERE id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM chunk_text WHERE id = ?", arguments: [id])
            }
        }
    }

    /// The stored chunks of `keys` that exist, with their repository.
    public func chunks(keys ids: [String]) throws -> [String: (repo: String, chunk: CodeChunk)] {
        try queue.read { db in
            var found: [String: (repo: String, chunk: CodeChunk)] = [:]
            for id in ids {
                if let row = try Row.fetchOne(db, sql: "SELECT repo, path, start_line, end_line, text FROM chunk_text WHERE id = ?", arguments: [id]) {
                    found[id] = (row["repo"], CodeChunk(path: row["path"], startLine: row["start_line"], endLine: row["end_line"], text: row["text"]))
                }
            }
            return found
        }
    }

    /// How many chunks are stored (of `repo`, or of every repository).
    public func count(repo: String? = nil) throws -> Int {
        try queue.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM chunk_text" + (repo == nil ? "" : " WHERE repo = ?"),
                             arguments: repo.map { [$0] } ?? []) ?? 0
        }
    }

    /// Every stored key (of `repo`, or of every repository), sorted.
    public func keys(repo: String? = nil) throws -> [String] {
        try queue.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM chunk_text" + (repo == nil ? "" : " WHERE repo = ?") + " ORDER BY id",
                                arguments: repo.map { [$0] } ?? [])
        }
    }

    /// The keys of the chunks stored for a file.
    public func chunkKeys(repo: String, path: String) throws -> [String] {
        try queue.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM chunk_text WHERE repo = ? AND path = ?", arguments: [repo, path])
        }
    }

    /// The keys of the best `limit` chunks for `query` by BM25 (path matches weigh double), best first.
    public func search(_ query: String, limit: Int = 50, repo: String? = nil) throws -> [(id: String, score: Double)] {
        let terms = Set(HashingEmbedder.words(query).flatMap { word -> [String] in
            let pieces = HashingEmbedder.identifierPieces(word)
            return [word.lowercased()] + (pieces.count > 1 ? pieces : [])
        }).filter { $0.count > 1 }.sorted()
        guard !terms.isEmpty else { return [] }
        // Each term quoted (FTS5 string syntax), any term may match.
        let match = terms.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: " OR ")
        return try queue.read { db in
            let sql = "SELECT id, bm25(chunks, 0, 0, 2.0, 1.0) AS rank FROM chunks WHERE chunks MATCH ?"
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
