import EdgePostgres
import EdgeTesting
import Testing
import VectorSearch

@Suite("PgVectorIndex", .enabled(if: postgresAvailable, skipReason))
struct PgVectorIndexTests {
    @Test("vector conformance", arguments: VectorConformance.cases + VectorConformance.durableCases)
    func conformance(_ check: VectorConformance.Case) async throws {
        let name = uniqueName("t")
        // Each metric gets its own index; a reopen opens the same one again.
        try await check.run(
            VectorConformance.Harness(
                exact: false, recallFloor: 0.95,
                reopen: { index, _ in
                    let pg = index as! PgVectorIndex
                    return try PgVectorIndex(name: pg.name, pool: pg.pool, configuration: pg.configuration)
                }
            ) { configuration in
                try PgVectorIndex(
                    name: "\(name)-\(configuration.metric.rawValue)-\(configuration.dimensions)", pool: try database(), configuration: configuration)
            })
    }

    @Test("an index reopened with other dimensions or another metric is refused")
    func shapeMismatch() async throws {
        let name = uniqueName("shape")
        _ = try await PgVectorIndex(name: name, pool: try database(), configuration: VectorIndexConfiguration(dimensions: 8)).describe()
        // Another process (its own pool) opens the same index with another shape.
        let other = try PostgresPool(url: postgresURL!, maxConnections: 2, connectTimeout: testOperationTimeout, queryTimeout: testOperationTimeout)
        await #expect(throws: VectorError.self) {
            _ = try await PgVectorIndex(name: name, pool: other, configuration: VectorIndexConfiguration(dimensions: 16)).describe()
        }
        await #expect(throws: VectorError.self) {
            _ = try await PgVectorIndex(name: name, pool: other, configuration: VectorIndexConfiguration(dimensions: 8, metric: .euclidean)).describe()
        }
    }
}
