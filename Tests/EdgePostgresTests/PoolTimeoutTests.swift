import EdgeKV
import EdgePostgres
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// The pool's two limits: a call waits for a connection at most `connectTimeout` (then it has sent
/// nothing) and runs on it at most `queryTimeout` (then its connection is closed under it).
@Suite("PostgreSQL pool timeouts")
struct PoolTimeoutTests {
    @Test("a database nobody answers for: calls fail with PostgresTimeoutError (connecting) and the binding's storage error")
    func unreachable() async throws {
        // Nothing listens on port 1 of the loopback interface: every connection attempt is refused.
        let pool = try PostgresPool(url: "postgres://edge@127.0.0.1:1/edge", maxConnections: 2, connectTimeout: .milliseconds(300))
        defer { pool.shutdown() }
        await #expect {
            _ = try await pool.withConnection { _ in 1 }
        } throws: { error in
            (error as? PostgresTimeoutError)?.phase == .connecting && "\(error)".contains("nothing was sent")
        }
        let kv = try PostgresKV(namespace: "unreachable", pool: pool)
        await #expect {
            try await kv.put("key", "value")
        } throws: { error in
            (error as? KVError)?.code == .storageFailure && "\(error)".contains("connect timeout")
        }
    }

}

@Suite("PostgreSQL pool timeouts on a live server", .enabled(if: postgresAvailable, skipReason))
struct LivePoolTimeoutTests {
    @Test("every connection busy: a call gives up after the connect timeout without taking one, and the pool serves afterwards")
    func exhausted() async throws {
        let url = postgresURL!
        let pool = try PostgresPool(url: url, maxConnections: 1, connectTimeout: .milliseconds(500), queryTimeout: testOperationTimeout)
        defer { pool.shutdown() }
        // One call holds the only connection until the test lets it go.
        let (held, holding) = AsyncStream.makeStream(of: Void.self)
        let (release, releasing) = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            defer { holding.finish() }
            return try await retryingTimeouts {
                try await pool.withConnection { connection in
                    try await connection.query("SELECT 1", logger: pool.logger)
                    holding.yield()
                    for await _ in release { break }
                    return 1
                }
            }
        }
        var holds = false
        for await _ in held {
            holds = true
            break
        }
        if !holds { _ = try await holder.value }  // throws why the holder never got the connection
        try #require(holds, "the holder never got the pool's connection")
        await #expect {
            _ = try await pool.withConnection { _ in 2 }
        } throws: { error in
            (error as? PostgresTimeoutError)?.phase == .connecting
        }
        releasing.yield()
        #expect(try await holder.value == 1)
        // The request that gave up was withdrawn: the connection is free for the next call.
        let value = try await retryingTimeouts {
            try await pool.withConnection { connection in
                for try await value in try await connection.query("SELECT 3", logger: pool.logger).decode(Int.self) { return value }
                return 0
            }
        }
        #expect(value == 3)
    }

    @Test("an operation past the query timeout: its connection is closed, its transaction rolled back, the pool serves afterwards")
    func queryTimeout() async throws {
        let url = postgresURL!
        let pool = try PostgresPool(url: url, maxConnections: 2, connectTimeout: testOperationTimeout, queryTimeout: .seconds(1))
        defer { pool.shutdown() }
        let table = "pool_timeout_" + uniqueName("t").replacingOccurrences(of: "-", with: "_")
        let marker = uniqueName("stuck")
        try await retryingTimeouts {
            try await pool.withConnection { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "CREATE TABLE IF NOT EXISTS \(table) (id text PRIMARY KEY)"), logger: pool.logger)
            }
        }
        await #expect {
            try await pool.withTransaction { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "INSERT INTO \(table) VALUES ('written')"), logger: pool.logger)
                // The server notices the closed connection while it sleeps (PostgreSQL 14+).
                try await connection.query("SET LOCAL client_connection_check_interval = 100", logger: pool.logger)
                let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT pg_sleep(60) /* \(marker) */"), logger: pool.logger)
                for try await _ in rows {}
            }
        } throws: { error in
            (error as? PostgresTimeoutError)?.phase == .running && "\(error)".contains("may or may not have been applied")
        }
        // Once the server has ended the abandoned statement, its insert is gone (rolled back).
        let checker = try database()
        var running = true
        for _ in 0..<600 where running {
            running = try await checker.withConnection { connection in
                let rows = try await connection.query(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE \("%" + marker + "%") AND pid <> pg_backend_pid()", logger: checker.logger)
                for try await count in rows.decode(Int64.self) { return count > 0 }
                return false
            }
            if running { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(!running, "the server still runs the statement whose connection was closed")
        let rows = try await checker.withConnection { connection in
            var count = 0
            for try await _ in try await connection.query(PostgresQuery(unsafeSQL: "SELECT id FROM \(table)"), logger: checker.logger) { count += 1 }
            return count
        }
        #expect(rows == 0)
        // The pool replaced the closed connection.
        let value = try await retryingTimeouts {
            try await pool.withConnection { connection in
                for try await value in try await connection.query("SELECT 7", logger: pool.logger).decode(Int.self) { return value }
                return 0
            }
        }
        #expect(value == 7)
        try await checker.withConnection { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE \(table)"), logger: checker.logger)
        }
    }
}

/// Runs `call` again while it fails with ``PostgresTimeoutError`` (at most 50 attempts). These
/// tests' limits are short, and the whole suite's process can be starved for longer than them on a
/// loaded machine, so a call expected to succeed may time out once; a pool that is really broken
/// fails every attempt.
@discardableResult
func retryingTimeouts<T>(_ call: () async throws -> T) async throws -> T {
    var attempts = 0
    while true {
        do {
            return try await call()
        } catch is PostgresTimeoutError where attempts < 50 {
            attempts += 1
        }
    }
}
