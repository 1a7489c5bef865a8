import EdgeCore
import EdgeKV
import EdgeSQLite
import Foundation
import GRDBSQLite

/// `edge-bench kv`: SQLiteKV against the same operations written directly on the SQLite C API
/// (same schema, WAL, `synchronous = FULL`, prepared statements), in the same run.
struct KVBenchmark {
    let options: BenchOptions
    let keyCount = 10_000
    let value = String(repeating: "x", count: 100)

    func run() async throws {
        let directory = try options.scratchDirectory("kv")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ours = try SQLiteKV(path: directory + "/ours.sqlite")
        let peer = try RawSQLiteKV(path: directory + "/peer.sqlite")
        let keys = (0..<keyCount).map { String(format: "key-%06d", $0) }

        // Load both with the same data.
        for chunk in stride(from: 0, to: keyCount, by: 1000) {
            let slice = keys[chunk..<min(chunk + 1000, keyCount)]
            try await ours.put(slice.map { KVWrite(key: $0, text: value) })
            try peer.putBatch(Array(slice), value: value)
        }

        // Point gets of random existing keys.
        var generator = SplitMix64(seed: 42)
        let lookups = (0..<4096).map { _ in keys[Int(generator.next() % UInt64(keyCount))] }
        var position = 0
        var checksum = 0
        let get = try await compare(rounds: options.rounds, duration: options.duration) {
            position = (position + 1) & 4095
            checksum &+= try await ours.get(lookups[position])?.utf8.count ?? 0
        } peer: {
            position = (position + 1) & 4095
            checksum &+= try peer.get(lookups[position])?.utf8.count ?? 0
        }
        guard checksum > 0 else { throw BenchError(message: "gets found nothing") }
        BenchLine(suite: "kv", name: "sqlite.get", value: get.ours, unit: "ops/s", peer: "raw-sqlite", peerValue: get.peer).print()

        // Single puts, each its own committed (fsynced) transaction.
        var counter = 0
        let put = try await compare(rounds: options.rounds, duration: options.duration) {
            counter += 1
            try await ours.put("put-\(counter)", value)
        } peer: {
            counter += 1
            try peer.put("put-\(counter)", value: value)
        }
        BenchLine(suite: "kv", name: "sqlite.put", value: put.ours, unit: "ops/s", peer: "raw-sqlite", peerValue: put.peer).print()

        // Puts from 32 concurrent tasks, each committed before it returns: group commit folds the
        // puts that arrive during one commit into the next transaction (no peer: one raw
        // connection serialises its callers).
        var concurrentBest = 0.0
        for round in 0..<options.rounds {
            let perTask = 200
            let start = seconds()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<32 {
                    group.addTask {
                        for index in 0..<perTask { try await ours.put("concurrent-\(round)-\(task)-\(index)", value) }
                    }
                }
                try await group.waitForAll()
            }
            concurrentBest = max(concurrentBest, Double(32 * perTask) / (seconds() - start))
        }
        BenchLine(suite: "kv", name: "sqlite.put_concurrent", value: concurrentBest, unit: "ops/s", extra: ["tasks": "32"]).print()

        // Batched puts: 100 entries per committed transaction; the rate counts entries.
        let batch = try await compare(rounds: options.rounds, duration: options.duration, opsPerCall: 100) {
            counter += 1
            let base = counter
            try await ours.put((0..<100).map { KVWrite(key: "batch-\(base)-\($0)", text: value) })
        } peer: {
            counter += 1
            let base = counter
            try peer.putBatch((0..<100).map { "batch-\(base)-\($0)" }, value: value)
        }
        BenchLine(suite: "kv", name: "sqlite.put_batch", value: batch.ours, unit: "ops/s", peer: "raw-sqlite", peerValue: batch.peer).print()

        // Lists: one page of 1000 keys under the "key-" prefix, starting at a random point.
        let starts = (0..<64).map { _ in String(format: "key-%06d", Int(generator.next() % UInt64(keyCount - 1000))) }
        var listed = 0
        let list = try await compare(rounds: options.rounds, duration: options.duration) {
            position = (position + 1) & 63
            let cursor = "c1." + Data(starts[position].utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
            listed &+= try await ours.list(prefix: "key-", limit: 1000, cursor: cursor).keys.count
        } peer: {
            position = (position + 1) & 63
            listed &+= try peer.list(prefix: "key-", after: starts[position], limit: 1000)
        }
        guard listed > 0 else { throw BenchError(message: "lists found nothing") }
        BenchLine(
            suite: "kv", name: "sqlite.list", value: list.ours, unit: "lists/s", peer: "raw-sqlite", peerValue: list.peer,
            extra: ["keys_per_list": "1000"]
        ).print()

        // MemoryKV point gets (no peer: the in-memory backend is for tests).
        let memory = MemoryKV()
        try await memory.put(keys.map { KVWrite(key: $0, text: value) })
        var best = 0.0
        for _ in 0..<options.rounds {
            best = max(
                best,
                try await measureRate(duration: options.duration) {
                    position = (position + 1) & 4095
                    checksum &+= try await memory.get(lookups[position])?.utf8.count ?? 0
                })
        }
        BenchLine(suite: "kv", name: "memory.get", value: best, unit: "ops/s").print()
        try ours.close()
    }
}

/// The peer: the same table and queries on the raw SQLite C API, one connection, prepared
/// statements, WAL and `synchronous = FULL` like SQLiteKV's defaults.
final class RawSQLiteKV {
    let db: OpaquePointer
    let getStatement: OpaquePointer
    let upsertStatement: OpaquePointer
    let listStatement: OpaquePointer
    let begin: OpaquePointer
    let commit: OpaquePointer

    init(path: String) throws {
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let handle else {
            throw BenchError(message: "cannot open \(path)")
        }
        db = handle
        func exec(_ sql: String) throws {
            guard sqlite3_exec(handle, sql, nil, nil, nil) == SQLITE_OK else { throw BenchError(message: String(cString: sqlite3_errmsg(handle))) }
        }
        func prepare(_ sql: String) throws -> OpaquePointer {
            var statement: OpaquePointer?
            guard sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK, let statement else {
                throw BenchError(message: String(cString: sqlite3_errmsg(handle)))
            }
            return statement
        }
        try exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        try exec(
            """
            CREATE TABLE kv (key TEXT NOT NULL PRIMARY KEY, value BLOB NOT NULL, expiration INTEGER, metadata TEXT);
            CREATE INDEX kv_by_expiration ON kv(expiration) WHERE expiration IS NOT NULL;
            """)
        getStatement = try prepare("SELECT value, expiration, metadata FROM kv WHERE key = ?1 AND (expiration IS NULL OR expiration > ?2)")
        upsertStatement = try prepare(
            """
            INSERT INTO kv (key, value, expiration, metadata) VALUES (?, ?, ?, ?)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value, expiration = excluded.expiration, metadata = excluded.metadata
            """)
        listStatement = try prepare(
            "SELECT key, expiration, metadata FROM kv WHERE key >= ?1 AND key < ?4 AND (expiration IS NULL OR expiration > ?2) ORDER BY key LIMIT ?3")
        begin = try prepare("BEGIN IMMEDIATE")
        commit = try prepare("COMMIT")
    }

    deinit {
        for statement in [getStatement, upsertStatement, listStatement, begin, commit] { sqlite3_finalize(statement) }
        sqlite3_close_v2(db)
    }

    private func check(_ rc: Int32, _ expected: Int32 = SQLITE_DONE) throws {
        guard rc == expected else { throw BenchError(message: String(cString: sqlite3_errmsg(db))) }
    }

    func get(_ key: String) throws -> String? {
        defer { sqlite3_reset(getStatement) }
        let now = Int64(Date().timeIntervalSince1970)
        var key = key
        key.withUTF8 { _ = sqlite3_bind_text(getStatement, 1, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), Int32($0.count), nil) }
        sqlite3_bind_int64(getStatement, 2, now)
        let rc = sqlite3_step(getStatement)
        if rc == SQLITE_DONE { return nil }
        try check(rc, SQLITE_ROW)
        let count = Int(sqlite3_column_bytes(getStatement, 0))
        let bytes = sqlite3_column_blob(getStatement, 0)!.assumingMemoryBound(to: UInt8.self)
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    private func insert(_ key: String, value: String) throws {
        defer { sqlite3_reset(upsertStatement) }
        var key = key
        var value = value
        key.withUTF8 { _ = sqlite3_bind_text(upsertStatement, 1, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), Int32($0.count), nil) }
        try value.withUTF8 { buffer in
            sqlite3_bind_blob(upsertStatement, 2, buffer.baseAddress, Int32(buffer.count), nil)
            sqlite3_bind_null(upsertStatement, 3)
            sqlite3_bind_null(upsertStatement, 4)
            try check(sqlite3_step(upsertStatement))
        }
    }

    private func transaction(_ body: () throws -> Void) throws {
        try check(sqlite3_step(begin))
        sqlite3_reset(begin)
        do {
            try body()
        } catch {
            sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
            throw error
        }
        try check(sqlite3_step(commit))
        sqlite3_reset(commit)
    }

    func put(_ key: String, value: String) throws {
        try transaction { try insert(key, value: value) }
    }

    func putBatch(_ keys: [String], value: String) throws {
        try transaction {
            for key in keys { try insert(key, value: value) }
        }
    }

    /// One page of keys after `after` under `prefix`; returns how many were read.
    func list(prefix: String, after: String, limit: Int) throws -> Int {
        defer { sqlite3_reset(listStatement) }
        let lower = Array(after.utf8) + [0]
        var upper = Array(prefix.utf8)
        upper[upper.count - 1] += 1
        lower.withUnsafeBufferPointer {
            _ = sqlite3_bind_text(
                listStatement, 1, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), Int32($0.count),
                unsafeBitCast(-1, to: sqlite3_destructor_type.self))
        }
        upper.withUnsafeBufferPointer {
            _ = sqlite3_bind_text(
                listStatement, 4, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), Int32($0.count),
                unsafeBitCast(-1, to: sqlite3_destructor_type.self))
        }
        sqlite3_bind_int64(listStatement, 2, Int64(Date().timeIntervalSince1970))
        sqlite3_bind_int64(listStatement, 3, Int64(limit + 1))
        var names: [(String, Int64?, String?)] = []
        while true {
            let rc = sqlite3_step(listStatement)
            if rc == SQLITE_DONE { break }
            try check(rc, SQLITE_ROW)
            if names.count == limit { break }
            let name = String(cString: sqlite3_column_text(listStatement, 0))
            let expiration = sqlite3_column_type(listStatement, 1) == SQLITE_NULL ? nil : Optional(sqlite3_column_int64(listStatement, 1))
            let metadata = sqlite3_column_type(listStatement, 2) == SQLITE_NULL ? nil : Optional(String(cString: sqlite3_column_text(listStatement, 2)))
            names.append((name, expiration, metadata))
        }
        return names.count
    }
}
