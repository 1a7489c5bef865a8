import CodeSearch
import EdgePostgres
import Foundation
import PostgresNIO
import Testing

@Suite(
    "CodeSearch's chunk store and lexical index in PostgreSQL",
    .enabled(if: postgresURL != nil, "EDGE_POSTGRES_URL is not set: start a server with `.ci/postgres start` and export the URL it prints"))
struct PostgresStoresTests {
    let chunks: [CodeChunk] = [
        CodeChunk(
            path: "Sources/Cron/CronParser.swift", startLine: 1, endLine: 3, text: "/// Parses a cron expression.\nfunc parseCronExpression(_ text: String) {}"),
        CodeChunk(path: "Sources/Mail/Mailer.swift", startLine: 1, endLine: 2, text: "func sendWelcomeEmail(to user: String) {}"),
        CodeChunk(
            path: "Sources/Observation/Observers.swift", startLine: 4, endLine: 9, text: "func notifyObservers() {\n    for o in observers { o.changed() }\n}"),
        CodeChunk(path: "Sources/Queue/Batch.swift", startLine: 1, endLine: 3, text: "struct BatchSettings {\n    var max_batch_size = 10\n}"),
    ]

    @Test("chunks: upsert, read back, count and list by repository and file, replace, delete")
    func chunkStore() async throws {
        let pool = try PostgresPool(url: postgresURL!, connectTimeout: testOperationTimeout, queryTimeout: testOperationTimeout)
        defer { pool.shutdown() }
        let store = PostgresChunkStore(pool: pool, namespace: "test_\(UUID().uuidString.prefix(8))")
        try await store.upsert(chunks, repo: "a")
        try await store.upsert([chunks[0]], repo: "b")
        let counts = (a: try await store.count(repo: "a"), b: try await store.count(repo: "b"), all: try await store.count())
        #expect(counts.a == 4 && counts.b == 1 && counts.all == 5)
        let key = StoredChunk.key(repo: "a", chunk: chunks[3])
        #expect(try await store.chunks(keys: [key, "a|missing#1-1"]) == [key: StoredChunk(repo: "a", chunk: chunks[3])])
        #expect(try await store.keys(repo: "a", path: "Sources/Queue/Batch.swift") == [key])
        #expect(try await store.keys(repo: "a") == chunks.map { StoredChunk.key(repo: "a", chunk: $0) }.sorted())
        var changed = chunks[3]
        changed.text = "struct BatchSettings {}"
        try await store.upsert([changed, changed], repo: "a")
        #expect(try await store.chunks(keys: [key])[key]?.chunk.text == "struct BatchSettings {}")
        try await store.delete(keys: [key, "a|unknown#1-1"])
        #expect(try await store.count(repo: "a") == 3)
        try await store.delete(keys: try await store.keys())
        #expect(try await store.count() == 0)
    }

    @Test("lexical: identifier pieces, stemming, paths, repository filter, replace and delete; the best hits agree with SQLite's")
    func lexicalIndex() async throws {
        let pool = try PostgresPool(url: postgresURL!, connectTimeout: testOperationTimeout, queryTimeout: testOperationTimeout)
        defer { pool.shutdown() }
        let index = PostgresLexicalIndex(pool: pool, namespace: "test_\(UUID().uuidString.prefix(8))")
        let directory = NSTemporaryDirectory() + "swift-edge-tests/lexical-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let sqlite = try SQLiteLexicalIndex(path: directory + "/lexical.sqlite")
        try await index.upsert(chunks, repo: "a")
        try await sqlite.upsert(chunks, repo: "a")
        for (query, file) in [
            ("parse a cron expression", "CronParser"), ("send the welcome email", "Mailer"), ("notifying the observer", "Observers"),
            ("max batch size", "Batch"), ("mail", "Mailer"),
        ] {
            let hits = try await index.search(query, limit: 3, repo: nil)
            #expect(hits.first?.id.contains("/\(file).swift") == true, "\(query): \(hits)")
            let fromSQLite = try await sqlite.search(query, limit: 3, repo: nil)
            #expect(hits.first?.id == fromSQLite.first?.id, "\(query): as SQLite")
            #expect(hits.map(\.score) == hits.map(\.score).sorted(by: >) && hits.allSatisfy { $0.score > 0 })
        }
        #expect(try await index.search("parse a cron expression", limit: 3, repo: "b").isEmpty, "only repository b")
        #expect(try await index.search("the of a", limit: 3, repo: nil).isEmpty, "stop words alone match nothing")

        // Replaced text is searched as it is now; deleted chunks are gone, and so are their postings.
        var changed = chunks[1]
        changed.text = "func sendInvoice(to customer: String) {}"
        try await index.upsert([changed], repo: "a")
        #expect(try await index.search("welcome email", limit: 3, repo: nil).allSatisfy { !$0.id.contains("Mailer") })
        #expect(try await index.search("invoice", limit: 3, repo: nil).first?.id.contains("Mailer") == true)
        try await index.delete(keys: chunks.map { StoredChunk.key(repo: "a", chunk: $0) })
        #expect(try await index.search("invoice cron observers batch", limit: 10, repo: nil).isEmpty)
        let rows = try await pool.client.query("SELECT count(*) FROM codesearch_postings WHERE namespace = \(index.namespace)")
        for try await count in rows.decode(Int64.self) { #expect(count == 0) }
    }
}
