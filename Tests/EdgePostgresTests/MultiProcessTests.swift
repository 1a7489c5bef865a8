import EdgeCoordinator
import EdgePostgres
import EdgeTesting
import Foundation
import Testing

@Suite("PostgreSQL shared by several processes", .enabled(if: postgresAvailable, skipReason))
struct MultiProcessTests {
    @Test(
        "1,000 concurrent stub.call closures on one durable object from two processes never interleave (the object moves between them); the counter ends exact")
    func durableObjectAcrossProcesses() async throws {
        let harness = try KillTest.executable(named: "edge-crash-harness")
        let name = uniqueName("counters")
        let processes = try (0..<2).map { _ in try ChildProcess(harness, ["pg-do-counter", postgresURL!, name, "500", "50"], standardError: true) }
        for process in processes { try await process.waitFor("done", timeout: 300) { $0 == "done" } }
        let values = processes.flatMap { $0.lines.compactMap { Int($0) } }
        #expect(values.count == 1000)
        // Both processes served calls (ownership moved between them).
        #expect(processes.allSatisfy { $0.lines.compactMap { Int($0) }.count == 500 })
        let namespace = try DurableObjectNamespace<Counter>(name: name, pool: try database(), env: ())
        #expect(values.sorted() == Array(1...1000), "each call saw every call before it, in whichever process it ran")
        #expect(try await namespace.get(namespace.idFromName("shared")).call { try await $0.value() } == 1000)
    }
}

/// Reads the harness's counter ("count" in storage).
actor Counter: DurableObject {
    let state: DurableObjectState
    init(state: DurableObjectState, env: Void) { self.state = state }
    func value() throws -> Int { try state.storage.get("count", as: Int.self) ?? 0 }
    func increment() throws -> Int {
        let next = try value() + 1
        try state.storage.put("count", next)
        return next
    }
}
