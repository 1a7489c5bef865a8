import CodeSearch
import Foundation
import GRDB
import Testing

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

    @Test("reciprocal-rank fusion rewards agreement between rankings")
    func fusion() {
        let fused = reciprocalRankFusion([["a", "b", "c"], ["b", "c", "d"]])
        #expect(fused.map(\.id) == ["b", "c", "a", "d"])
        #expect(abs(fused[0].score - (1.0 / 62 + 1.0 / 61)) < 1e-12)
        let weighted = reciprocalRankFusion([["a"], ["b"]], weights: [1, 2])
        #expect(weighted.map(\.id) == ["b", "a"])
    }
}
