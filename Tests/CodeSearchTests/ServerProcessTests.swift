import EdgeTesting
import Testing

/// `ServerProcess`, which the CodeSearch process tests start their servers with.
@Suite("ServerProcess")
struct ServerProcessTests {
    @Test("a server that exits before printing its address: the error gives its exit status and the last lines of its standard error")
    func exitsEarly() throws {
        let error = try #require(throws: KillTestError.self) {
            try ServerProcess(executable: "/bin/sh", arguments: ["-c", "echo 'starting' >&2; echo 'cannot reach the database' >&2; exit 3"])
        }
        #expect(error.message.contains("exited (status 3) before saying where it listens"))
        #expect(error.message.contains("starting\ncannot reach the database"))
    }
}
