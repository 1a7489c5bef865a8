import EdgeCoordinator
import EdgeTesting
import Foundation
import Testing

/// The output gate under SIGKILL: a child process increments a durable counter from 8 concurrent
/// callers and prints every value a call returned. After the kill, the stored count is at least
/// the largest value any caller was told: no response reported a write that the crash lost.
@Suite("Durable object output gate")
struct OutputGateCrashTests {
    @Test("a response never reports a write that a SIGKILL then loses", arguments: [20, 300, 1500])
    func killedCounter(responsesBeforeKill: Int) async throws {
        let directory = try makeTemporaryDirectory("do-crash")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/do.sqlite"
        let lines = try await KillTest.run(executable: try KillTest.executable(named: "edge-crash-harness"), arguments: ["do-counter", path]) {
            $0.count >= responsesBeforeKill
        }
        let reported = lines.compactMap(Int.init).max() ?? 0
        #expect(reported >= responsesBeforeKill)
        let namespace = try DurableObjectNamespace<Probe>(name: "counters", path: path, env: NoEnv())
        let stored = try await namespace.get(namespace.idFromName("crash")).call { probe in
            try await probe.run { storage in try storage.get("count", as: Int.self) ?? 0 }
        }
        #expect(stored >= reported, "stored count \(stored) is below the \(reported) a caller was told")
    }
}
