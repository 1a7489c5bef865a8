import EdgeQueue
import Foundation
import GRDBSQLite
import Synchronization

/// `edge-bench queue`: durable end-to-end throughput of SQLiteQueue (send in batches of 100,
/// consume in batches of 100, acknowledge) with 1 and 2 consumers, against a plain SQLite job table
/// driven naively (one transaction per message) in the same run; and enqueue-to-handler latency
/// at a steady 1,000 messages/s.
struct QueueBenchmark {
    let options: BenchOptions

    func run() async throws {
        let directory = try options.scratchDirectory("queue")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let total = 200_000
        let naiveTotal = 3_000
        for consumers in [1, 2] {
            var best = 0.0
            var naiveBest = 0.0
            for round in 0..<max(1, options.rounds - 1) {
                best = max(best, try await endToEnd(path: directory + "/e2e-\(consumers)-\(round).sqlite", messages: total, consumers: consumers))
                naiveBest = max(
                    naiveBest, try NaiveQueue.endToEnd(path: directory + "/naive-\(consumers)-\(round).sqlite", messages: naiveTotal, consumers: consumers))
            }
            BenchLine(
                suite: "queue", name: consumers == 1 ? "sqlite.e2e_1consumer" : "sqlite.e2e_2consumers", value: best, unit: "messages/s",
                peer: "naive-sqlite", peerValue: naiveBest, extra: ["messages": "\(total)", "target": "50000"]
            ).print()
        }
        let (p50, p99) = try await latency(path: directory + "/latency.sqlite", rate: 1000, seconds: 3)
        BenchLine(suite: "queue", name: "sqlite.latency_p50", value: p50, unit: "ms", extra: ["rate": "1000"]).print()
        BenchLine(suite: "queue", name: "sqlite.latency_p99", value: p99, unit: "ms", extra: ["rate": "1000"]).print()
    }

    /// Sends `messages` in batches of 100 while `consumers` consumers drain them; messages/s from
    /// the first send to the last acknowledgement.
    func endToEnd(path: String, messages: Int, consumers: Int) async throws -> Double {
        let backend = try SQLiteQueue(path: path)
        defer { backend.close() }
        return try await Self.endToEnd(backend, messages: messages, consumers: consumers)
    }

    /// The end-to-end run on any backend (the PostgreSQL suite runs it on PostgresQueue).
    static func endToEnd(_ backend: any QueueBackend, messages: Int, consumers: Int) async throws -> Double {
        let producer = try QueueProducer<Int>(queue: "bench", backend: backend)
        let handled = Atomic<Int>(0)
        let done = AsyncStream<Void>.makeStream()
        let configuration = QueueConsumerConfiguration(maxBatchSize: 100, maxBatchTimeout: 0.05, visibilityTimeout: 60)
        let workers = try (0..<consumers).map { _ in
            try QueueConsumer<Int>(queue: "bench", backend: backend, configuration: configuration) { batch in
                if handled.add(batch.messages.count, ordering: .relaxed).newValue >= messages { done.continuation.yield() }
            }
        }
        let start = seconds()
        let running = workers.map { worker in Task { try await worker.run() } }
        for base in stride(from: 0, to: messages, by: 100) {
            try await producer.sendBatch((base..<(base + 100)).map { QueueSendRequest(body: $0) })
        }
        for await _ in done.stream { break }
        // The last batch's acknowledgement commits right after its handler returns: wait for it.
        while try await backend.stats("bench").backlog > 0 { try await Task.sleep(for: .milliseconds(1)) }
        let elapsed = seconds() - start
        for worker in workers { worker.stop() }
        for task in running { try await task.value }
        return Double(messages) / elapsed
    }

    /// Sends one message per millisecond for `seconds`; returns p50 and p99 of the time from the
    /// send call to the handler, in ms.
    func latency(path: String, rate: Int, seconds duration: Int) async throws -> (Double, Double) {
        let backend = try SQLiteQueue(path: path)
        defer { backend.close() }
        let producer = try QueueProducer<Double>(queue: "latency", backend: backend)
        let samples = Mutex<[Double]>([])
        let consumer = try QueueConsumer<Double>(
            queue: "latency", backend: backend,
            configuration: QueueConsumerConfiguration(maxBatchSize: 100, maxBatchTimeout: 0, visibilityTimeout: 60)
        ) { batch in
            let now = seconds()
            samples.withLock { samples in for message in batch.messages { samples.append((now - message.body) * 1000) } }
        }
        let running = Task { try await consumer.run() }
        let clock = ContinuousClock()
        let start = clock.now
        let count = rate * duration
        for index in 0..<count {
            try await Task.sleep(until: start.advanced(by: .microseconds(index * 1_000_000 / rate)), clock: clock)
            try await producer.send(seconds())
        }
        while samples.withLock({ $0.count }) < count { try await Task.sleep(for: .milliseconds(5)) }
        consumer.stop()
        try await running.value
        let sorted = samples.withLock { $0 }.sorted()
        return (sorted[sorted.count / 2], sorted[Int(Double(sorted.count) * 0.99)])
    }
}

/// The floor: a plain SQLite table used the naive way, one transaction per step of each message
/// (insert; claim with select + update; delete), same WAL and `synchronous = FULL`.
enum NaiveQueue {
    static func open(_ path: String) throws -> OpaquePointer {
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nil) == SQLITE_OK, let db else {
            throw BenchError(message: "cannot open \(path)")
        }
        sqlite3_busy_timeout(db, 10_000)
        sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;", nil, nil, nil)
        return db
    }

    static func exec(_ db: OpaquePointer, _ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw BenchError(message: String(cString: sqlite3_errmsg(db))) }
    }

    /// One consumer: claim the oldest unclaimed job (select + update in a transaction), then delete it.
    static func consume(_ path: String) throws {
        let db = try open(path)
        defer { sqlite3_close_v2(db) }
        while true {
            try exec(db, "BEGIN IMMEDIATE")
            var statement: OpaquePointer?
            sqlite3_prepare_v2(db, "SELECT id FROM jobs WHERE claimed = 0 ORDER BY id LIMIT 1", -1, &statement, nil)
            let found = sqlite3_step(statement) == SQLITE_ROW
            let id = found ? sqlite3_column_int64(statement, 0) : 0
            sqlite3_finalize(statement)
            if !found {
                try exec(db, "COMMIT")
                return
            }
            try exec(db, "UPDATE jobs SET claimed = 1 WHERE id = \(id)")
            try exec(db, "COMMIT")
            try exec(db, "DELETE FROM jobs WHERE id = \(id)")
        }
    }

    static func endToEnd(path: String, messages: Int, consumers: Int) throws -> Double {
        let setup = try open(path)
        try exec(setup, "CREATE TABLE jobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL, claimed INTEGER NOT NULL DEFAULT 0)")
        let start = seconds()
        for index in 0..<messages {
            try exec(setup, "INSERT INTO jobs (body) VALUES (x'\(String(format: "%08x", index))')")
        }
        sqlite3_close_v2(setup)
        let failures = Atomic<Int>(0)
        let finished = DispatchGroup()
        for _ in 0..<consumers {
            finished.enter()
            Thread.detachNewThread {
                do { try consume(path) } catch { failures.add(1, ordering: .relaxed) }
                finished.leave()
            }
        }
        finished.wait()
        guard failures.load(ordering: .relaxed) == 0 else { throw BenchError(message: "naive consumer failed") }
        return Double(messages) / (seconds() - start)
    }
}
