import CodeSearch
import EdgeBlob
import Embeddings
import Foundation
import GRDB
import Testing
import VectorSearch

@Suite("CodeSearch ranking: glosses, stemming, files, documentation")
struct RankingTests: IndexFixtures {
    @Test("a gloss keeps a chunk's comment prose and first declaration, drops markers and code examples, in any language")
    func glosses() throws {
        let swift = CodeChunk(
            path: "Sources/Observation/RemoveDuplicates.swift", startLine: 1, endLine: 12,
            text: """
                /// Notifies only values that don't match the previously observed value.
                ///
                /// ```swift
                /// let observation = ValueObservation.tracking(fetch).removeDuplicates()
                /// ```
                @inlinable
                public func removeDuplicates() -> Self {
                    mapReducer { RemoveDuplicates($0) }
                }
                """)
        let gloss = try #require(ChunkGloss.gloss(of: swift))
        #expect(gloss.hasPrefix("sources observation remove duplicates\npublic func removeDuplicates() -> Self {\n"))
        #expect(gloss.contains("Notifies only values that don't match the previously observed value."))
        #expect(!gloss.contains("tracking(fetch)") && !gloss.contains("///") && !gloss.contains("```"), "\(gloss)")

        let python = CodeChunk(
            path: "pkg/retry.py", startLine: 1, endLine: 6,
            text:
                "def backoff(attempt):\n    \"\"\"Return how long to wait before the next attempt,\n    doubling each time up to a cap.\"\"\"\n    return min(2 ** attempt, 60)\n"
        )
        let pythonGloss = try #require(ChunkGloss.gloss(of: python))
        #expect(pythonGloss.contains("def backoff(attempt):") && pythonGloss.contains("doubling each time up to a cap."))
        #expect(!pythonGloss.contains("return min"))

        let c = CodeChunk(
            path: "src/ring.c", startLine: 1, endLine: 5,
            text: "/**\n * A ring buffer of fixed capacity that overwrites the oldest entry.\n */\nstruct ring { int head; };\n")
        #expect(ChunkGloss.gloss(of: c)?.contains("A ring buffer of fixed capacity that overwrites the oldest entry.") == true)

        let bare = CodeChunk(path: "a.swift", startLine: 1, endLine: 3, text: "func f() {\n    // tiny\n}\n")
        #expect(ChunkGloss.gloss(of: bare) == nil, "too little prose for a gloss")
    }

    @Test("a gloss reads documentation comments before other comments, and leaves out the tags that describe a signature")
    func glossesPreferDocumentation() throws {
        let swift = CodeChunk(
            path: "Sources/Observation/RemoveDuplicates.swift", startLine: 1, endLine: 14,
            text: """
                /// Notifies only values that don't match the previously observed value.
                ///
                /// - parameter predicate: A closure to evaluate whether two values are
                ///   equivalent, for purposes of filtering.
                /// - returns: A new observation.
                public func removeDuplicates(by predicate: @escaping (Value, Value) -> Bool) -> Self {
                    // The predicate is marked `sending`, which allows us to statically
                    // determine that it will have no other uses after this call.
                    nonisolated(unsafe) let predicate = predicate
                    return mapReducer { RemoveDuplicates($0, predicate: predicate) }
                }
                """)
        let gloss = try #require(ChunkGloss.gloss(of: swift))
        #expect(gloss.hasSuffix("\nNotifies only values that don't match the previously observed value."), "\(gloss)")

        // The comment a chunk opens with is its declaration's documentation, whatever its
        // marker (Go documents with `//`); a tag ends it.
        let go = CodeChunk(
            path: "pool/pool.go", startLine: 1, endLine: 9,
            text: """
                // Get returns a connection from the pool, dialing a new one when none is idle.
                //
                // @return the connection
                func (p *Pool) Get() (*Conn, error) {
                    // Reuse the most recently returned connection first,
                    // its socket is the likeliest to be alive.
                    return p.dial()
                }
                """)
        let goGloss = try #require(ChunkGloss.gloss(of: go))
        #expect(goGloss.hasSuffix("Get returns a connection from the pool, dialing a new one when none is idle."), "\(goGloss)")

        // Without documentation, the other comments are the prose.
        let c = CodeChunk(
            path: "src/pool.c", startLine: 1, endLine: 5,
            text: """
                static int pick(struct pool *p) {
                    /* Reuse the most recently returned connection first,
                       its socket is the likeliest to be alive. */
                    return p->last;
                }
                """)
        #expect(ChunkGloss.gloss(of: c)?.contains("Reuse the most recently returned connection first, its socket is the likeliest to be alive.") == true)

        let rust = CodeChunk(
            path: "src/lib.rs", startLine: 1, endLine: 9,
            text: """
                /// Parses a duration such as `5s` or `2m` into seconds.
                ///
                /// # Errors
                ///
                /// Returns `ParseError::Unit` when the unit is unknown.
                pub fn parse(text: &str) -> Result<u64, ParseError> {
                    todo!()
                }
                """)
        let rustGloss = try #require(ChunkGloss.gloss(of: rust))
        #expect(rustGloss.hasSuffix("Parses a duration such as `5s` or `2m` into seconds."), "\(rustGloss)")
    }

    @Test("a file's card lists its documented declarations with their first sentence; it is indexed, never shown as line 0")
    func cards() async throws {
        let source = """
            /// Opens a connection pool with one writer and several readers. Readers never block.
            final class DatabasePool {
                /// Reads from the database in a reader connection of the pool. The closure may run concurrently.
                func read() {}

                func helper() {}
            }
            """
        let chunks = CodeChunker(maxLines: 3, overlap: 0).indexedChunks(path: "Sources/Core/DatabasePool.swift", text: source)
        let card = try #require(chunks.last)
        #expect(card.isCard && card.startLine == 0 && card.endLine == chunks.dropLast().map(\.endLine).max())
        #expect(card.text.hasPrefix("sources core database pool\n"))
        #expect(card.text.contains("func read() {} Reads from the database in a reader connection of the pool"), "\(card.text)")
        #expect(!card.text.contains("helper"), "undocumented declarations stay out")
        #expect(CodeChunker().indexedChunks(path: "a.swift", text: "func f() {}\n").count == 1, "one chunk: no card")

        let (index, _, state) = try makeIndex()
        defer { try? FileManager.default.removeItem(atPath: state) }
        try write(
            [
                "Sources/Core/DatabasePool.swift": source + "\n" + String(repeating: "// padding\n", count: 80),
                "Sources/Core/DatabaseQueue.swift": "/// A queue of database work, run one job at a time.\nfinal class DatabaseQueue {\n    func run() {}\n}\n",
                "Sources/Net/ConnectionLimiter.swift":
                    "/// Limits how many connections a client opens at once.\nstruct ConnectionLimiter {\n    var limit = 4\n}\n",
            ], to: state + "/repo")
        _ = try await index.index(source: .local(state + "/repo"), repo: "demo")
        // The card holds the pool's path words and its documented declarations' first sentences:
        // the lexical index finds it by words the card alone puts together.
        let cardKey = try #require(try await index.chunks.keys().first { $0.contains("DatabasePool.swift#0-") })
        #expect(try await index.lexical.search("opens pool writer readers reader connection", limit: 3, repo: nil).contains { $0.id == cardKey })
        #expect(try await index.chunks.keys().contains { $0.hasSuffix("#0-\(source.split(separator: "\n", omittingEmptySubsequences: false).count + 81)") })
        for mode in CodeIndex.SearchMode.allCases {
            let results = try await index.search("connection pool with one writer and several readers", top: 5, mode: mode)
            #expect(results.first?.path == "Sources/Core/DatabasePool.swift" && results.allSatisfy { $0.startLine >= 1 }, "\(mode): \(results)")
        }
    }

    @Test("results are files (each by its best chunk); documentation ranks below code that matches as well; --kind filters")
    func filesAndKinds() async throws {
        let (index, vectors, state) = try makeIndex()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let root = state + "/repo"
        let members = (0..<6).map { "    /// Retries a failed delivery with exponential backoff, attempt \($0).\n    func retryDelivery\($0)() {}\n" }
        try write(
            [
                "Sources/Retry.swift": "struct Retry {\n" + members.joined(separator: "\n") + "}\n",
                "Sources/Other.swift": "/// Formats a date for a log line.\nfunc formatDate() -> String { \"\" }\n",
                "Docs/retry.md": "# Retrying deliveries\n\nA failed delivery is retried with exponential backoff.\n",
            ], to: root)
        _ = try await index.index(source: .local(root), repo: "demo")

        let all = try await index.search("retry a failed delivery with exponential backoff", top: 10)
        #expect(Set(all.map(\.path)).count == all.count, "one result per file: \(all.map(\.path))")
        #expect(all.first?.path == "Sources/Retry.swift", "code first: \(all.map(\.path))")
        #expect(all.contains { $0.path == "Docs/retry.md" })
        let code = try await index.search("retry a failed delivery with exponential backoff", top: 10, kind: .code)
        #expect(!code.isEmpty && !code.contains { CodeIndex.isDocumentation($0.path) })
        let docs = try await index.search("retry a failed delivery with exponential backoff", top: 10, kind: .docs)
        #expect(docs.map(\.path) == ["Docs/retry.md"])
        // The factor decides between a document and code that match alike: boosted, the document
        // leads; demoted (the default), the code does.
        let alike = state + "/alike"
        try write(
            [
                "Sources/Backoff.swift": "/// Doubles the wait before each new attempt, up to a cap.\nfunc backoffDelay(attempt: Int) -> Double { 0 }\n",
                "Docs/backoff.md": "# Backoff\n\nDoubles the wait before each new attempt, up to a cap.\n",
            ], to: alike)
        _ = try await index.index(source: .local(alike), repo: "alike")
        var boosted = CodeIndex.Ranking()
        boosted.documentationFactor = 3
        let query = "doubles the wait before each new attempt up to a cap"
        #expect(try await index.search(query, top: 2, repo: "alike", ranking: boosted).first?.path == "Docs/backoff.md")
        #expect(try await index.search(query, top: 2, repo: "alike").first?.path == "Sources/Backoff.swift")
        for mode in CodeIndex.SearchMode.allCases {
            #expect(try await index.search("exponential backoff", top: 10, mode: mode, kind: .docs).allSatisfy { CodeIndex.isDocumentation($0.path) })
        }

        // Every chunk with enough comment prose has a second vector; a changed file takes both away.
        let stored = try await index.chunks.chunks(keys: try await index.chunks.keys())
        let expected = stored.values.reduce(0) { $0 + CodeIndex.vectorIDs(of: $1).count }
        #expect(expected > stored.count, "some chunks have glosses")
        #expect(try await vectors.describe().vectorCount == expected)
        try write(["Sources/Retry.swift": "struct Retry {}\n"], to: root)
        _ = try await index.index(source: .local(root), repo: "demo")
        let after = try await index.chunks.chunks(keys: try await index.chunks.keys())
        #expect(try await vectors.describe().vectorCount == after.values.reduce(0) { $0 + CodeIndex.vectorIDs(of: $1).count })
    }

    @Test("the lexical index stems words, and an index of the previous version keeps its rows when it is opened")
    func stemming() async throws {
        let state = NSTemporaryDirectory() + "swift-edge-tests/lexical-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: state) }
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        // A version 1 index, as an older release left it.
        let old = try DatabaseQueue(path: state + "/lexical.sqlite")
        try await old.write { db in
            try db.execute(sql: "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
            try db.execute(sql: "INSERT INTO grdb_migrations VALUES ('v1')")
            try db.execute(sql: "CREATE VIRTUAL TABLE chunks USING fts5(id UNINDEXED, repo UNINDEXED, path, body, tokenize = 'unicode61 remove_diacritics 2')")
            try db.execute(
                sql:
                    "INSERT INTO chunks VALUES ('demo|Sources/Observer.swift#1-3', 'demo', 'Sources Observer swift', 'func notifyObservers() {}\nnotify observers')"
            )
        }
        try old.close()
        let index = try SQLiteLexicalIndex(path: state + "/lexical.sqlite")
        #expect(try await index.search("notifying the observer").map(\.id) == ["demo|Sources/Observer.swift#1-3"], "stemmed: notifying ~ notify")
        try await index.upsert([CodeChunk(path: "Sources/Shared.swift", startLine: 1, endLine: 1, text: "final class SharedObservation {}")], repo: "demo")
        #expect(try await index.search("share an observation").first?.id == "demo|Sources/Shared.swift#1-1")
    }
}
