import EdgeCore
import EdgeSQLite
import Foundation
import GRDB

/// A chunk as stored, with the repository it belongs to.
public struct StoredChunk: Sendable, Hashable {
    public var repo: String
    public var chunk: CodeChunk

    public init(repo: String, chunk: CodeChunk) {
        self.repo = repo
        self.chunk = chunk
    }

    /// Its key across repositories: `repo|path#start-end`.
    public var key: String { StoredChunk.key(repo: repo, chunk: chunk) }

    /// The key of `chunk` of `repo`: `repo|path#start-end`.
    public static func key(repo: String, chunk: CodeChunk) -> String { repo + "|" + chunk.id }
}

/// Where the chunks of every indexed repository are kept, by key: what search results, snippets
/// and embeddings are made from. ``SQLiteChunkStore`` keeps them in one file.
public protocol ChunkStore: Sendable {
    /// Adds or replaces chunks (by key), atomically.
    ///
    /// - Throws: the store's errors.
    func upsert(_ chunks: [CodeChunk], repo: String) async throws
    /// Removes chunks by key; unknown keys are ignored.
    ///
    /// - Throws: the store's errors.
    func delete(keys: [String]) async throws
    /// The stored chunks of `keys` that exist.
    ///
    /// - Throws: the store's errors.
    func chunks(keys: [String]) async throws -> [String: StoredChunk]
    /// How many chunks are stored (of `repo`, or of every repository).
    ///
    /// - Throws: the store's errors.
    func count(repo: String?) async throws -> Int
    /// Every key (of `repo`, or of every repository), sorted.
    ///
    /// - Throws: the store's errors.
    func keys(repo: String?) async throws -> [String]
    /// The keys of the chunks of one file.
    ///
    /// - Throws: the store's errors.
    func keys(repo: String, path: String) async throws -> [String]
}

extension ChunkStore {
    /// How many chunks are stored in every repository.
    ///
    /// - Throws: the store's errors.
    public func count() async throws -> Int { try await count(repo: nil) }

    /// Every key of every repository, sorted.
    ///
    /// - Throws: the store's errors.
    public func keys() async throws -> [String] { try await keys(repo: nil) }
}

/// Chunks in a SQLite file (WAL, synchronous FULL).
public final class SQLiteChunkStore: ChunkStore {
    private let queue: DatabaseQueue

    /// Opens (creating) the store at `path`.
    ///
    /// - Throws: when the database cannot be opened.
    public init(path: String) throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE chunk_text (
                        id TEXT PRIMARY KEY, repo TEXT NOT NULL, path TEXT NOT NULL,
                        start_line INTEGER NOT NULL, end_line INTEGER NOT NULL, text TEXT NOT NULL
                    );
                    CREATE INDEX chunk_text_file ON chunk_text (repo, path);
                    """)
        }
        queue = try SQLiteDatabase.openQueue(path: path, settings: SQLiteSettings(), label: "codesearch.chunks", migrator: migrator)
    }

    public func upsert(_ chunks: [CodeChunk], repo: String) async throws {
        try await queue.write { db in
            for chunk in chunks {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO chunk_text (id, repo, path, start_line, end_line, text) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [StoredChunk.key(repo: repo, chunk: chunk), repo, chunk.path, chunk.startLine, chunk.endLine, chunk.text])
            }
        }
    }

    public func delete(keys: [String]) async throws {
        try await queue.write { db in
            for key in keys { try db.execute(sql: "DELETE FROM chunk_text WHERE id = ?", arguments: [key]) }
        }
    }

    public func chunks(keys: [String]) async throws -> [String: StoredChunk] {
        try await queue.read { db in
            var found: [String: StoredChunk] = [:]
            for key in keys {
                if let row = try Row.fetchOne(db, sql: "SELECT repo, path, start_line, end_line, text FROM chunk_text WHERE id = ?", arguments: [key]) {
                    found[key] = StoredChunk(
                        repo: row["repo"],
                        chunk: CodeChunk(
                            path: row["path"], startLine: row["start_line"],
                            endLine: row["end_line"], text: row["text"]))
                }
            }
            return found
        }
    }

    public func count(repo: String?) async throws -> Int {
        try await queue.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM chunk_text" + (repo == nil ? "" : " WHERE repo = ?"), arguments: repo.map { [$0] } ?? []) ?? 0
        }
    }

    public func keys(repo: String?) async throws -> [String] {
        try await queue.read { db in
            try String.fetchAll(
                db, sql: "SELECT id FROM chunk_text" + (repo == nil ? "" : " WHERE repo = ?") + " ORDER BY id", arguments: repo.map { [$0] } ?? [])
        }
    }

    public func keys(repo: String, path: String) async throws -> [String] {
        try await queue.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM chunk_text WHERE repo = ? AND path = ? ORDER BY id", arguments: [repo, path])
        }
    }
}
