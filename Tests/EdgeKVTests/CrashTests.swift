import EdgeKV
import EdgeTesting
import Foundation
import Testing

/// Durability is shown by killing a writer, not assumed: a child process puts keys and reports
/// each put that returned; the test SIGKILLs it mid-stream and then reads every reported key.
@Suite("SQLiteKV crash safety")
struct CrashTests {
    /// The value edge-crash-harness stores under key-N (Tests/CrashHarness/main.swift).
    func crashValue(_ index: Int) -> String {
        String(repeating: "v\(index);", count: index % 10 == 9 ? 20_000 : 8)
    }

    @Test("every put acknowledged before SIGKILL is readable afterwards", arguments: [50, 400, 1500])
    func killedWriter(acknowledgementsBeforeKill: Int) async throws {
        let directory = try makeTemporaryDirectory("crash")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/kv.sqlite"
        let lines = try await KillTest.run(executable: try KillTest.executable(named: "edge-crash-harness"), arguments: ["kv-writer", path]) {
            $0.count >= acknowledgementsBeforeKill
        }
        let acknowledged = lines.compactMap { Int($0) }
        #expect(acknowledged.count >= acknowledgementsBeforeKill)
        #expect(acknowledged == Array(0..<acknowledged.count), "acknowledgements arrive in order")

        let kv = try SQLiteKV(path: path)
        var missing: [Int] = []
        for index in acknowledged {
            if try await kv.get("key-\(index)") != crashValue(index) { missing.append(index) }
        }
        #expect(missing.isEmpty, "acknowledged puts lost after SIGKILL: \(missing.prefix(20))")
        // The file is consistent and writable after the crash.
        try await kv.put("after-crash", "ok")
        #expect(try await kv.get("after-crash") == "ok")
    }
}
