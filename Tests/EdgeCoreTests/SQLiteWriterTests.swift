import EdgeSQLite
import Foundation
import Testing

@testable import EdgeCore

@Suite("SQLiteWriter")
struct SQLiteWriterTests {
    func makeDatabase() throws -> String {
        let directory = NSTemporaryDirectory() + "swift-edge-tests/writer-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/w.sqlite"
        let setup = try RawSQLiteConnection(path: path, readOnly: false, busyTimeoutMilliseconds: 1000)
        try setup.execute("PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        return path
    }

    func count(_ path: String) throws -> Int {
        let reader = SQLiteReaderPool(path: path, settings: SQLiteSettings())
        return try reader.read { connection in
            let statement = try connection.statement("SELECT count(*) FROM t")
            defer { statement.reset() }
            _ = try statement.step()
            return Int(statement.int64(0))
        }
    }

    @Test("concurrent writes are all committed and each caller gets its own result")
    func concurrentWrites() async throws {
        let path = try makeDatabase()
        let writer = try SQLiteWriter(path: path, settings: SQLiteSettings())
        let results = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for index in 0..<300 {
                group.addTask {
                    let value = try await writer.write { connection -> Int in
                        let statement = try connection.statement("INSERT INTO t (id, v) VALUES (?, ?)")
                        statement.bind(1, Int64(index))
                        statement.bind(2, "row \(index)")
                        try statement.run()
                        return index * 10
                    }
                    return (index, value)
                }
            }
            return try await group.reduce(into: [Int: Int]()) { $0[$1.0] = $1.1 }
        }
        #expect(results.count == 300)
        #expect(results.allSatisfy { $0.value == $0.key * 10 }, "every caller got the result of its own work")
        #expect(try count(path) == 300)
    }

    @Test("a failing write is rolled back alone; the writes committed with it stay")
    func failureIsolation() async throws {
        let path = try makeDatabase()
        let writer = try SQLiteWriter(path: path, settings: SQLiteSettings())
        struct Refused: Error {}
        let outcomes = await withTaskGroup(of: (Int, Bool).self) { group in
            for index in 0..<200 {
                group.addTask {
                    do {
                        try await writer.write { connection in
                            let statement = try connection.statement("INSERT INTO t (id, v) VALUES (?, 'x')")
                            statement.bind(1, Int64(index))
                            try statement.run()
                            if index % 5 == 0 { throw Refused() }
                        }
                        return (index, true)
                    } catch {
                        return (index, false)
                    }
                }
            }
            return await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        #expect(outcomes.filter { !$0.value }.keys.sorted() == Array(stride(from: 0, to: 200, by: 5)))
        #expect(try count(path) == 160, "the refused writes' inserts were rolled back, no others")
    }

    @Test("a closed writer refuses writes")
    func closed() async throws {
        let writer = try SQLiteWriter(path: try makeDatabase(), settings: SQLiteSettings())
        writer.close()
        await #expect(throws: SQLiteError.self) { try await writer.write { _ in 1 } }
    }
}
