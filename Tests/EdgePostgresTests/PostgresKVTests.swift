import EdgeKV
import EdgePostgres
import EdgeTesting
import Foundation
import Testing

@Suite("PostgresKV", .enabled(if: postgresAvailable, skipReason))
struct PostgresKVTests {
    /// Each case gets a namespace of its own; reopening opens the same namespace again.
    static let harness = KVConformance.Harness { clock in
        try PostgresKV(namespace: uniqueName("kv"), pool: try database(), configuration: .init(clock: clock))
    } reopen: { kv, clock in
        let postgres = kv as! PostgresKV
        return try PostgresKV(namespace: postgres.namespace, pool: postgres.pool, configuration: .init(clock: clock))
    }

    @Test("KV conformance", arguments: KVConformance.cases + KVConformance.durableCases)
    func conformance(_ check: KVConformance.Case) async throws {
        try await check.run(Self.harness)
    }

    @Test("list pages stay stable while another writer inserts and deletes keys")
    func stablePagingUnderWrites() async throws {
        let kv = try PostgresKV(namespace: uniqueName("paging"), pool: try database())
        for start in stride(from: 0, to: 3000, by: 1000) {
            try await kv.put((start..<start + 1000).map { KVWrite(key: String(format: "key-%05d", $0 * 2), value: [1]) })
        }
        // A writer adds odd keys and deletes even keys above 4000 while a reader pages.
        let writer = Task {
            for number in stride(from: 1, to: 6000, by: 2) {
                try await kv.put(String(format: "key-%05d", number), "x")
                if number > 4000 { try await kv.delete(String(format: "key-%05d", number - 1)) }
            }
        }
        var seen: [String] = []
        var cursor: String?
        repeat {
            let page = try await kv.list(KVListOptions(prefix: "key-", limit: 100, cursor: cursor))
            seen += page.keys.map(\.name)
            cursor = page.cursor
        } while cursor != nil
        try await writer.value
        #expect(seen == seen.sorted(), "keys come in order across pages")
        #expect(Set(seen).count == seen.count, "no key is listed twice")
        // Every even key below 4000 was never touched: each must have been listed.
        let untouched = (0..<2000).map { String(format: "key-%05d", $0 * 2) }
        #expect(Set(untouched).isSubset(of: Set(seen)))
    }
}
