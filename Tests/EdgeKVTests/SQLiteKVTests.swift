import EdgeKV
import EdgeSQLite
import EdgeTesting
import Foundation
import Testing

@testable import EdgeCore

@Suite("SQLiteKV")
struct SQLiteKVTests {
    @Test("a namespace is one file under the state directory")
    func namespaceFile() async throws {
        let state = try makeTemporaryDirectory()
        let kv = try SQLiteKV(namespace: "EMBEDDING_CACHE", stateDirectory: state)
        try await kv.put("k", "v")
        #expect(kv.path == state + "/kv/EMBEDDING_CACHE.sqlite")
        #expect(FileManager.default.fileExists(atPath: kv.path))
        let other = try SQLiteKV(namespace: "other-ns.v2", stateDirectory: state)
        #expect(try await other.get("k") == nil, "namespaces do not share keys")
    }

    @Test(
        "namespace names that could escape the state directory are rejected",
        arguments: ["", "../x", "a/b", ".hidden", "x\u{0}y", String(repeating: "n", count: 129)])
    func badNamespaceNames(_ name: String) throws {
        let state = try makeTemporaryDirectory()
        #expect { try SQLiteKV(namespace: name, stateDirectory: state) } throws: { error in
            (error as? KVError)?.code == .invalidNamespaceName
        }
    }

    @Test("the database is in WAL mode with synchronous FULL")
    func durabilitySettings() async throws {
        let directory = try makeTemporaryDirectory()
        let kv = try SQLiteKV(path: directory + "/kv.sqlite")
        try await kv.put("k", "v")
        let connection = try RawSQLiteConnection(path: kv.path, readOnly: true, busyTimeoutMilliseconds: 1000)
        let statement = try connection.statement("PRAGMA journal_mode")
        defer { statement.reset() }
        #expect(try statement.step())
        #expect(statement.string(0) == "wal")
        #expect(FileManager.default.fileExists(atPath: kv.path + "-wal"))
        #expect(try await kv.writerSynchronousLevel() == 2, "commits are fsynced (synchronous = FULL)")
        let relaxed = try SQLiteKV(path: directory + "/relaxed.sqlite", configuration: .init(sqlite: SQLiteSettings(synchronous: .normal)))
        #expect(try await relaxed.writerSynchronousLevel() == 1, "the setting is honoured")
    }

    @Test("reads are not blocked by a write transaction held open by another connection")
    func readsConcurrentWithWrites() async throws {
        let directory = try makeTemporaryDirectory()
        let kv = try SQLiteKV(path: directory + "/kv.sqlite")
        try await kv.put("stable", "committed")
        // Another connection (as another process would) holds the write lock with uncommitted data.
        let other = try RawSQLiteConnection(path: kv.path, readOnly: false, busyTimeoutMilliseconds: 1000)
        try other.execute("BEGIN IMMEDIATE; INSERT INTO kv (key, value) VALUES ('pending', x'00');")
        #expect(try await kv.get("stable") == "committed", "a read proceeds while another writer holds the lock")
        #expect(try await kv.get("pending") == nil, "uncommitted data is invisible")
        #expect(try await kv.list().keys.map(\.name) == ["stable"])
        await #expect(throws: KVError.self, "a write waits for the other writer, then reports the busy database") {
            try await SQLiteKV(path: kv.path, configuration: .init(sqlite: SQLiteSettings(busyTimeout: .milliseconds(200)))).put("x", "y")
        }
        try other.execute("ROLLBACK")
        try await kv.put("after", "rollback")
        #expect(try await kv.get("pending") == nil)
    }

    @Test("two handles on one file see each other's commits at once")
    func sharedFile() async throws {
        let directory = try makeTemporaryDirectory()
        let first = try SQLiteKV(path: directory + "/kv.sqlite")
        let second = try SQLiteKV(path: directory + "/kv.sqlite")
        try await first.put("a", "from first")
        #expect(try await second.get("a") == "from first")
        try await second.delete("a")
        #expect(try await first.get("a") == nil)
    }

    @Test("configured limits replace Cloudflare's")
    func customLimits() async throws {
        let directory = try makeTemporaryDirectory()
        let limits = KVLimits(
            maxKeyBytes: 8, maxValueBytes: 16, maxMetadataBytes: 10, minimumExpirationSeconds: 5, maxBulkGetKeys: 2, maxBulkWriteEntries: 3, maxListLimit: 4)
        let clock = TestClock()
        for kv in [
            try SQLiteKV(path: directory + "/kv.sqlite", configuration: .init(limits: limits, clock: clock)) as any KVNamespace,
            MemoryKV(configuration: .init(limits: limits, clock: clock)),
        ] {
            await #expect(throws: KVError.self) { try await kv.put("123456789", "v") }
            await #expect(throws: KVError.self) { try await kv.put("k", String(repeating: "x", count: 17)) }
            await #expect(throws: KVError.self) { try await kv.put("k", "v", metadata: ["long": "metadata"]) }
            try await kv.put("k", "v", expirationTtl: 5)
            await #expect(throws: KVError.self) { _ = try await kv.get(["a", "b", "c"]) }
            await #expect(throws: KVError.self) { try await kv.delete(["a", "b", "c", "d"]) }
            await #expect(throws: KVError.self) { _ = try await kv.list(limit: 5) }
            do {
                _ = try await kv.list(limit: 5)
            } catch let error as KVError {
                #expect(error.limit == 4 && error.actual == 5)
            }
            try await kv.put((0..<3).map { KVWrite(key: "b\($0)", text: "v") })
            #expect(try await kv.list().keys.count == 4, "the default page size is the configured maximum")
        }
    }

    @Test("a closed namespace says so")
    func closed() async throws {
        let directory = try makeTemporaryDirectory()
        let kv = try SQLiteKV(path: directory + "/kv.sqlite")
        try kv.close()
        try kv.close()
        await #expect { try await kv.put("k", "v") } throws: { ($0 as? KVError)?.code == .closed }
        await #expect { _ = try await kv.get("k") } throws: { ($0 as? KVError)?.code == .closed }
    }

    @Test("expired keys left in the file are removed when it is opened again")
    func sweepOnOpen() async throws {
        let directory = try makeTemporaryDirectory()
        let clock = TestClock()
        let kv = try SQLiteKV(path: directory + "/kv.sqlite", configuration: .init(clock: clock, sweepInterval: 1_000_000))
        try await kv.put((0..<100).map { KVWrite(key: "t\($0)", text: "x", options: KVPutOptions(expirationTtl: 60)) })
        clock.advance(by: 3600)
        try await kv.put("live", "x")
        #expect(try await kv.storedKeyCount() == 101, "no sweep was due yet")
        try kv.close()
        let reopened = try SQLiteKV(path: directory + "/kv.sqlite", configuration: .init(clock: clock))
        #expect(try await reopened.storedKeyCount() == 1)
    }

    @Test("a file that is not a database is a storage error naming the path")
    func corruptFile() throws {
        let directory = try makeTemporaryDirectory()
        let path = directory + "/kv.sqlite"
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect { try SQLiteKV(path: path) } throws: { error in
            guard let error = error as? KVError else { return false }
            return error.code == .storageFailure && error.message.contains(path)
        }
    }
}
