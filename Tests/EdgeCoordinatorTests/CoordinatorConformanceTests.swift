import EdgeCoordinator
import EdgeTesting
import Testing

@Suite("Coordinator conformance")
struct CoordinatorConformanceTests {
    /// One SQLite file per namespace name in a directory of this run.
    static let directory = try! makeTemporaryDirectory("do-conformance")

    @Test("SQLite namespace", arguments: CoordinatorConformance.cases)
    func sqlite(_ check: CoordinatorConformance.Case) async throws {
        try await check.run(
            CoordinatorConformance.Harness { name, _, env, configuration in
                try DurableObjectNamespace(name: name, path: Self.directory + "/\(name).sqlite", env: env, configuration: configuration)
            })
    }
}
