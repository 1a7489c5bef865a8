import EdgeKV
import EdgeTesting
import Testing

@Suite("KV conformance")
struct KVConformanceTests {
    @Test("MemoryKV", arguments: KVConformance.cases)
    func memory(_ check: KVConformance.Case) async throws {
        try await check.run(KVConformance.Harness { clock in MemoryKV(clock: clock) })
    }

    @Test("SQLiteKV", arguments: KVConformance.cases + KVConformance.durableCases)
    func sqlite(_ check: KVConformance.Case) async throws {
        try await check.run(sqliteHarness)
    }

    @Test("the suite fails a backend that breaks the contract")
    func suiteCatchesBrokenBackend() async throws {
        // A backend that silently drops metadata must fail the metadata case: the suite can fail.
        let broken = KVConformance.Harness { clock in DropsMetadata(base: MemoryKV(clock: clock)) }
        let metadataCase = try #require(KVConformance.cases.first { $0.name.hasPrefix("metadata with values") })
        await #expect(throws: ConformanceFailure.self) {
            try await metadataCase.run(broken)
        }
    }
}

/// A deliberately wrong backend: stores values but forgets their metadata.
struct DropsMetadata: KVNamespace {
    let base: MemoryKV
    var limits: KVLimits { base.limits }
    func getWithMetadata(_ key: String) async throws -> KVEntry? { try await base.getWithMetadata(key) }
    func getWithMetadata(_ keys: [String]) async throws -> [String: KVEntry] { try await base.getWithMetadata(keys) }
    func put(_ key: String, value: [UInt8], options: KVPutOptions) async throws {
        var options = options
        options.metadata = nil
        try await base.put(key, value: value, options: options)
    }
    func put(_ entries: [KVWrite]) async throws { try await base.put(entries) }
    func delete(_ key: String) async throws { try await base.delete(key) }
    func delete(_ keys: [String]) async throws { try await base.delete(keys) }
    func list(_ options: KVListOptions) async throws -> KVListResult { try await base.list(options) }
}
