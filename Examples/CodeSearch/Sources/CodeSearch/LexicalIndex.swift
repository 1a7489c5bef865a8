import EdgeCore
import EdgeSQLite
import Foundation
import GRDB
import GRDBSQLite
import Synchronization

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
///
/// FTS5 holds the index on disk; searches are ranked from a copy of its posting lists in memory
/// (``TermPostings``), with the very scores FTS5's `bm25()` gives (``searchFTS5(_:limit:repo:)``
/// computes them in SQLite, to compare): `bm25()` reads every matching row's position lists,
/// a few microseconds each, which at a quarter of a million chunks made a query take hundreds of
/// milliseconds. The copy is loaded from FTS5's vocabulary on the first search (or by
/// ``warm()``), kept current by this index's own writes, and loaded again when another
/// connection has written the file. A query word FTS5 reads as several tokens (`max_batch_size`)
/// is a phrase: its rows and scores come from FTS5, and are added in.
public final class SQLiteLexicalIndex: LexicalIndex {
    private let queue: DatabaseQueue
    /// The in-memory postings (nil until loaded) and the file's `data_version` they reflect.
    /// Touched only inside `queue`'s closures, which run one at a time.
    private let memory = Mutex<Memory>(Memory())

    private struct Memory {
        var postings: TermPostings?
        var dataVersion: Int64 = -1
    }

    /// The table's tokenizer, to read documents and queries as FTS5 does.
    private static let tokenizer = FTS5TokenizerDescriptor(components: ["porter", "unicode61", "remove_diacritics", "2"])
    /// The ranking's column weights, as given to `bm25()` (path, body).
    private static let pathWeight: Float = 2
    private static let bodyWeight: Float = 1

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
        // Every token of every row, in term order: what the posting lists are loaded from.
        try queue.inDatabase { db in
            try db.execute(sql: "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunk_instances USING fts5vocab(main, chunks, instance)")
        }
    }

    /// A change to the in-memory postings, applied once its transaction commits.
    private enum Change: Sendable {
        case remove(row: Int64)
        case add(row: Int64, key: String, repo: String, frequencies: [String: Float], length: Int)
    }

    public func upsert(_ chunks: [CodeChunk], repo: String) async throws {
        try await queue.write { db in
            let tokenizer = try self.loaded ? db.makeTokenizer(Self.tokenizer) : nil
            var changes: [Change] = []
            for chunk in chunks {
                let key = StoredChunk.key(repo: repo, chunk: chunk)
                if let row = try Self.delete(key, db) { changes.append(.remove(row: row)) }
                let path = CodeTokenizer.indexable(chunk.path.replacingOccurrences(of: "/", with: " ").replacingOccurrences(of: ".", with: " "))
                let body = CodeTokenizer.indexable(chunk.text)
                try db.execute(sql: "INSERT INTO chunks (id, repo, path, body) VALUES (?, ?, ?, ?)", arguments: [key, repo, path, body])
                let row = db.lastInsertedRowID
                try db.execute(sql: "INSERT INTO chunk_rows (id, row) VALUES (?, ?)", arguments: [key, row])
                if let tokenizer {
                    var frequencies: [String: Float] = [:]
                    var length = 0
                    for (text, weight) in [(path, Self.pathWeight), (body, Self.bodyWeight)] {
                        for (token, flags) in try tokenizer.tokenize(document: text) where !flags.contains(.colocated) {
                            frequencies[token, default: 0] += weight
                            length += 1
                        }
                    }
                    changes.append(.add(row: row, key: key, repo: repo, frequencies: frequencies, length: length))
                }
            }
            self.apply(changes, onCommitOf: db)
        }
    }

    public func delete(keys: [String]) async throws {
        try await queue.write { db in
            var changes: [Change] = []
            for key in keys {
                if let row = try Self.delete(key, db) { changes.append(.remove(row: row)) }
            }
            self.apply(changes, onCommitOf: db)
        }
    }

    /// Whether the postings are in memory (then writes keep them current).
    private var loaded: Bool { memory.withLock { $0.postings != nil } }

    /// Applies `changes` to the in-memory postings when the current transaction commits (in the
    /// database's queue, so no search or load runs between the commit and the change).
    private func apply(_ changes: [Change], onCommitOf db: Database) {
        guard !changes.isEmpty, loaded else { return }
        db.afterNextTransaction { _ in
            self.memory.withLock { memory in
                guard memory.postings != nil else { return }
                for change in changes {
                    switch change {
                    case .remove(let row): memory.postings!.remove(row: row)
                    case .add(let row, let key, let repo, let frequencies, let length):
                        memory.postings!.add(row: row, key: key, repository: repo, frequencies: frequencies, length: length)
                    }
                }
            }
        }
    }

    /// Removes `key`'s row, found through `chunk_rows` (FTS5 finds a row quickly only by rowid);
    /// returns the row it removed.
    private static func delete(_ key: String, _ db: Database) throws -> Int64? {
        guard let row = try Int64.fetchOne(db, sql: "DELETE FROM chunk_rows WHERE id = ? RETURNING row", arguments: [key]) else { return nil }
        try db.execute(sql: "DELETE FROM chunks WHERE rowid = ?", arguments: [row])
        return row
    }

    /// The query's terms: each word and identifier piece of two characters or more, once.
    private static func terms(_ query: String) -> [String] {
        Set(CodeTokenizer.terms(query)).filter { $0.count > 1 }.sorted()
    }

    /// `terms` as an FTS5 query: each quoted (FTS5 string syntax), any may match.
    private static func match(_ terms: [String]) -> String {
        terms.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: " OR ")
    }

    /// FTS5's own ranking of `match`: rowids, keys and scores, best first.
    private static func ranked(_ match: String, limit: Int?, repo: String?, _ db: Database) throws -> [(row: Int64, id: String, score: Double)] {
        var sql = "SELECT rowid, id, bm25(chunks, 0, 0, \(pathWeight), \(bodyWeight)) AS rank FROM chunks WHERE chunks MATCH ?"
        var arguments: StatementArguments = [match]
        if let repo {
            sql += " AND repo = ?"
            arguments += [repo]
        }
        sql += " ORDER BY rank, rowid"
        if let limit {
            sql += " LIMIT ?"
            arguments += [limit]
        }
        return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in (row: row[0], id: row[1], score: -(row[2] as Double)) }
    }

    public func search(_ query: String, limit: Int, repo: String?) async throws -> [(id: String, score: Double)] {
        let terms = Self.terms(query)
        guard !terms.isEmpty, limit > 0 else { return [] }
        return try await queue.read { db in
            let tokenizer = try db.makeTokenizer(Self.tokenizer)
            var phrases: [TermPostings.Phrase] = []
            for term in terms {
                let tokens = try tokenizer.tokenize(query: term).filter { !$0.flags.contains(.colocated) }
                if tokens.count == 1 {
                    phrases.append(.token(tokens[0].token))
                } else if tokens.count > 1 {
                    // A phrase: FTS5 finds its rows and scores them (its share of the sum).
                    phrases.append(.scored(try Self.ranked(Self.match([term]), limit: nil, repo: repo, db).map { ($0.row, $0.score) }))
                }
            }
            let postings = try self.current(db)
            return postings.search(phrases, limit: limit, repository: repo)
        }
    }

    /// The postings as the file holds them now: loaded on first use, and again when another
    /// connection has written the file since (its `data_version` changed).
    private func current(_ db: Database) throws -> TermPostings {
        let version = try Int64.fetchOne(db, sql: "PRAGMA data_version") ?? 0
        return try memory.withLock { memory in
            if let postings = memory.postings, memory.dataVersion == version { return postings }
            let postings = try Self.load(db)
            memory.postings = postings
            memory.dataVersion = version
            return postings
        }
    }

    /// Loads the posting lists into memory now rather than on the first search (which pays it
    /// otherwise: about a second per 20,000 chunks here). Returns how many chunks they hold.
    ///
    /// - Throws: the database's errors.
    @discardableResult
    public func warm() async throws -> Int {
        try await queue.read { db in try self.current(db).liveDocuments }
    }

    /// The same ranking as ``search(_:limit:repo:)``, computed by SQLite: one FTS5 `MATCH` of
    /// the terms ordered by `bm25()`. For checking the in-memory ranking and for comparing their
    /// speed.
    ///
    /// - Throws: the database's errors.
    public func searchFTS5(_ query: String, limit: Int, repo: String?) async throws -> [(id: String, score: Double)] {
        let terms = Self.terms(query)
        guard !terms.isEmpty, limit > 0 else { return [] }
        return try await queue.read { db in try Self.ranked(Self.match(terms), limit: limit, repo: repo, db).map { (id: $0.id, score: $0.score) } }
    }

    /// Reads every chunk's tokens from FTS5's vocabulary (in term order, then row, column and
    /// offset) into posting lists: one posting per term and row, its weighted count.
    private static func load(_ db: Database) throws -> TermPostings {
        var postings = TermPostings()
        let documents = try Row.fetchCursor(db, sql: "SELECT rowid, id, repo FROM chunks ORDER BY rowid")
        while let row = try documents.next() { _ = postings.appendDocument(row: row[0], key: row[1], repository: row[2]) }
        guard let connection = db.sqliteConnection else { return postings }
        var handle: OpaquePointer?
        let sql = "SELECT term, doc, col FROM temp.chunk_instances"
        guard sqlite3_prepare_v2(connection, sql, -1, &handle, nil) == SQLITE_OK, let statement = handle else {
            throw DatabaseError(resultCode: .SQLITE_ERROR, message: String(cString: sqlite3_errmsg(connection)), sql: sql)
        }
        defer { sqlite3_finalize(statement) }
        var lengths = [Int](repeating: 0, count: postings.liveDocuments)
        var previous: [UInt8] = []
        var term: Int32 = -1
        var document: UInt32 = .max
        var frequency: Float = 0
        func flush() {
            if document != .max, term >= 0 { postings.append(term: term, .init(document: document, frequency: frequency)) }
            document = .max
            frequency = 0
        }
        while true {
            let code = sqlite3_step(statement)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(connection)), sql: sql)
            }
            let bytes = Int(sqlite3_column_bytes(statement, 0))
            let text = sqlite3_column_text(statement, 0)
            let buffer = UnsafeBufferPointer(start: text, count: text == nil ? 0 : bytes)
            if !buffer.elementsEqual(previous) {
                flush()
                previous = Array(buffer)
                term = postings.termID(String(decoding: buffer, as: UTF8.self))
            }
            guard let here = postings.document(row: sqlite3_column_int64(statement, 1)) else { continue }
            if here != document {
                flush()
                document = here
            }
            // Columns are named: `path` weighs 2, `body` 1 (the key and repository are not indexed).
            let column = sqlite3_column_text(statement, 2)
            frequency += column?.pointee == UInt8(ascii: "p") ? pathWeight : bodyWeight
            lengths[Int(here)] += 1
        }
        flush()
        for (document, length) in lengths.enumerated() where length > 0 { postings.setLength(UInt32(document), length) }
        return postings
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
