import EdgeCoordinator
import EdgePostgres
import EdgeTesting
import Testing

@Suite("Durable objects on PostgreSQL", .enabled(if: postgresAvailable, skipReason))
struct PostgresCoordinatorTests {
    @Test("coordinator conformance", arguments: CoordinatorConformance.cases)
    func conformance(_ check: CoordinatorConformance.Case) async throws {
        // A new namespace on the same name is another owner (as another process would be):
        // the durability case shows the first hand its object over.
        try await check.run(CoordinatorConformance.Harness { name, _, env, configuration in
            try DurableObjectNamespace(name: name, pool: try database(), env: env, configuration: configuration)
        })
    }
}
