import Foundation
import GRDB
import Testing

@testable import CodeSearch

@Suite("Lexical search")
struct LexicalTests {
    func index() throws -> SQLiteLexicalIndex {
        let directory = NSTemporaryDirectory() + "swift-edge-tests/lexical-\(UUID().uuidString)"
        return try SQLiteLexicalIndex(path: directory + "/lexical.sqlite")
    }

    @Test("plain-word queries find identifiers spelled in camelCase and snake_case, and paths")
    func identifiers() async throws {
        let lexical = try index()
        try await lexical.upsert(
            [
                CodeChunk(path: "Sources/HTTP/Parser.swift", startLine: 1, endLine: 3, text: "func parseHTTPRequest(_ data: [UInt8]) -> Request"),
                CodeChunk(path: "Sources/Queue/Config.swift", startLine: 1, endLine: 2, text: "let max_batch_size = 100"),
                CodeChunk(path: "Sources/Auth/Webhook.swift", startLine: 5, endLine: 9, text: "func verify(signature: String) -> Bool"),
            ], repo: "demo")
        #expect(try await lexical.search("parse http request").first?.id == "demo|Sources/HTTP/Parser.swift#1-3")
        #expect(try await lexical.search("max batch size").first?.id == "demo|Sources/Queue/Config.swift#1-2")
        #expect(try await lexical.search("webhook").first?.id == "demo|Sources/Auth/Webhook.swift#5-9", "path components are searchable")
        #expect(try await lexical.search("verify", limit: 50, repo: "other").isEmpty, "the repo filter applies")
        _ = try await lexical.search("\"; DROP TABLE chunks; --")
        #expect(try await lexical.search("verify").count == 1, "a query with quotes is escaped, not executed")
        try await lexical.delete(keys: ["demo|Sources/HTTP/Parser.swift#1-3"])
        #expect(try await lexical.search("parse http request").first?.id != "demo|Sources/HTTP/Parser.swift#1-3")
        // Re-adding the same id replaces, never duplicates.
        let chunk = CodeChunk(path: "Sources/Auth/Webhook.swift", startLine: 5, endLine: 9, text: "func verify(signature: String) -> Bool")
        try await lexical.upsert([chunk, chunk], repo: "demo")
        #expect(try await lexical.search("verify signature").count == 1)
    }

    @Test("an index written before rows were kept by key opens, and its chunks are replaced and deleted by key")
    func migratesRowsByKey() async throws {
        let directory = NSTemporaryDirectory() + "swift-edge-tests/lexical-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/lexical.sqlite"
        // The schema as the v2 migration left it, with two chunks written by that version.
        let old = try DatabaseQueue(path: path)
        try await old.write { db in
            try db.execute(sql: "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
            try db.execute(sql: "INSERT INTO grdb_migrations VALUES ('v1'), ('v2-porter')")
            try db.execute(
                sql: "CREATE VIRTUAL TABLE chunks USING fts5(id UNINDEXED, repo UNINDEXED, path, body, tokenize = 'porter unicode61 remove_diacritics 2')")
            try db.execute(sql: "INSERT INTO chunks (id, repo, path, body) VALUES ('demo|a.swift#1-1', 'demo', 'a swift', 'func alpha()')")
            try db.execute(sql: "INSERT INTO chunks (id, repo, path, body) VALUES ('demo|b.swift#1-1', 'demo', 'b swift', 'func beta()')")
        }
        try old.close()
        let lexical = try SQLiteLexicalIndex(path: path)
        #expect(try await lexical.search("alpha").map(\.id) == ["demo|a.swift#1-1"])
        try await lexical.upsert([CodeChunk(path: "a.swift", startLine: 1, endLine: 1, text: "func gamma()")], repo: "demo")
        #expect(try await lexical.search("alpha").isEmpty, "the old row was replaced")
        #expect(try await lexical.search("gamma").map(\.id) == ["demo|a.swift#1-1"])
        try await lexical.delete(keys: ["demo|b.swift#1-1"])
        #expect(try await lexical.search("beta").isEmpty, "a row written before the migration is deleted by key")
    }

    /// The in-memory ranking against FTS5's `bm25()` on the same file: this package's own sources
    /// in two repositories, the dev sets' queries plus words FTS5 reads as phrases, before and
    /// after replacing and deleting chunks, and after another connection wrote the file.
    @Test("the in-memory ranking gives FTS5's bm25() scores, through replacements, deletions and another connection's writes")
    func inMemoryRankingMatchesFTS5() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
        let directory = NSTemporaryDirectory() + "swift-edge-tests/lexical-\(UUID().uuidString)"
        let path = directory + "/lexical.sqlite"
        let lexical = try SQLiteLexicalIndex(path: path)
        var files: [(repo: String, path: String, text: String)] = []
        for (repo, folder) in [("core", "Sources/EdgeCore"), ("queue", "Sources/EdgeQueue"), ("search", "Examples/CodeSearch/Sources/CodeSearch")] {
            let base = root.appendingPathComponent(folder).path
            for name in try FileManager.default.contentsOfDirectory(atPath: base).sorted() where name.hasSuffix(".swift") {
                files.append((repo, folder + "/" + name, try String(contentsOfFile: base + "/" + name, encoding: .utf8)))
            }
        }
        let chunker = CodeChunker()
        for file in files { try await lexical.upsert(chunker.chunks(path: file.path, text: file.text), repo: file.repo) }
        var queries: [String] = []
        for name in ["codesearch-dev.jsonl", "codesearch-dev-grdb.jsonl"] {
            let lines = try String(contentsOfFile: root.appendingPathComponent("Benchmarks/data/" + name).path, encoding: .utf8).split(separator: "\n")
            for line in lines {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                if let query = object?["query"] as? String { queries.append(query) }
            }
        }
        queries += ["max_batch_size retry_after", "visibility_timeout dead letter", "the", "a"]
        #expect(queries.count > 60)

        func compare(_ stage: String) async throws {
            var compared = 0
            for query in queries {
                for repo in [nil, "queue"] as [String?] {
                    let fast = try await lexical.search(query, limit: 50, repo: repo)
                    let reference = try await lexical.searchFTS5(query, limit: 50, repo: repo)
                    try #require(fast.count == reference.count, "\(stage): \(query) (\(repo ?? "all")): \(fast.count) results, FTS5 \(reference.count)")
                    for (a, b) in zip(fast, reference) {
                        try #require(abs(a.score - b.score) <= 1e-9 * max(1, abs(b.score)), "\(stage): \(query): score \(a.score) against FTS5's \(b.score)")
                    }
                    // Rows of equal score may come in either order; the sets of ids match where
                    // the last score is not shared with rows left out.
                    if let last = reference.last?.score, reference.count < 50 || fast.filter({ abs($0.score - last) <= 1e-9 * abs(last) }).count == 1 {
                        #expect(Set(fast.map(\.id)) == Set(reference.map(\.id)), "\(stage): \(query)")
                    }
                    compared += fast.count
                }
            }
            #expect(compared > 2000, "\(stage): the queries found rows")
        }
        try await compare("loaded")
        #expect(try await lexical.warm() > 300)
        // Replacements and deletions after the postings are in memory.
        for file in files.prefix(8) {
            try await lexical.upsert(chunker.chunks(path: file.path, text: file.text.replacingOccurrences(of: "func", with: "func retry")), repo: file.repo)
        }
        let removed = files.suffix(6).flatMap { file in chunker.chunks(path: file.path, text: file.text).map { StoredChunk.key(repo: file.repo, chunk: $0) } }
        try await lexical.delete(keys: removed)
        try await compare("after replacing and deleting")
        // Every chunk replaced three times: more dead rows than live ones, so the postings compact.
        for round in 1...3 {
            for file in files {
                try await lexical.upsert(chunker.chunks(path: file.path, text: file.text + "\n// round \(round)"), repo: file.repo)
            }
        }
        try await compare("after the postings compacted")
        // Another connection writes the file: the next search loads the postings again.
        let other = try SQLiteLexicalIndex(path: path)
        try await other.upsert([CodeChunk(path: "Sources/Odd.swift", startLine: 1, endLine: 1, text: "func zebraQuokka()")], repo: "queue")
        #expect(try await lexical.search("zebra quokka").map(\.id) == ["queue|Sources/Odd.swift#1-1"])
        try await compare("after another connection wrote")
    }

    @Test("identifiers split into their pieces: camelCase, acronyms, snake_case, digits")
    func tokenizer() {
        #expect(CodeTokenizer.identifierPieces("parseHTTPRequest_v2") == ["parse", "http", "request", "v", "2"])
        #expect(CodeTokenizer.identifierPieces("max_batch_size") == ["max", "batch", "size"])
        #expect(CodeTokenizer.identifierPieces("URLSession") == ["url", "session"])
        #expect(CodeTokenizer.identifierPieces("utf8") == ["utf", "8"])
        #expect(CodeTokenizer.identifierPieces("kebab-case-name") == ["kebab", "case", "name"])
        #expect(CodeTokenizer.identifierPieces("__init__") == ["init"])
        #expect(CodeTokenizer.identifierPieces("plain") == ["plain"])
        #expect(CodeTokenizer.terms("Parse the HTTPRequest") == ["parse", "the", "httprequest", "http", "request"])
        #expect(CodeTokenizer.indexable("let maxBatchSize = 1") == "let maxBatchSize = 1\nmax batch size")
    }

    @Test("the tokenizer's ASCII paths split exactly as classifying every Character does, in text mixing any script")
    func tokenizerFastPaths() {
        // Mostly ASCII, as source is, with letters, digits and marks beyond it: accented letters
        // (precomposed and combining), Greek, CJK, Arabic-Indic digits, an emoji with its
        // modifier, CR LF, and a combining mark right after a line feed.
        let pieces = [
            "parse", "HTTP", "Request", "_", "-", "v2", "9", " ", " ", ".", "(", "\n", "\r\n", "\t", "é", "e\u{301}", "Ωmega", "数据", "\u{663}",
            "👍🏽", "’", "\n\u{301}", "X", "x",
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let text = (0..<Int.random(in: 0...40, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined()
            let words = CodeTokenizer.words(text)
            #expect(words == CodeTokenizer.wordsByCharacter(Substring(text)), "\(text.debugDescription)")
            for word in words {
                #expect(CodeTokenizer.identifierPieces(word) == CodeTokenizer.identifierPiecesByCharacter(word), "\(word.debugDescription)")
            }
        }
    }

    @Test("reciprocal-rank fusion rewards agreement between rankings")
    func fusion() {
        let fused = reciprocalRankFusion([["a", "b", "c"], ["b", "c", "d"]])
        #expect(fused.map(\.id) == ["b", "c", "a", "d"])
        #expect(abs(fused[0].score - (1.0 / 62 + 1.0 / 61)) < 1e-12)
        let weighted = reciprocalRankFusion([["a"], ["b"]], weights: [1, 2])
        #expect(weighted.map(\.id) == ["b", "a"])
    }
}
