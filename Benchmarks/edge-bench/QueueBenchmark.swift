import EdgeQueue
import Foundation
import GRDBSQLite
import Synchronization

/// `edge-bench queue`: durable end-to-end throughput of SQLiteQueue (send in batches of 100,
/// consume in batches of 100, acknowledge; 8-byte bodies, as the peers') with 1 and 2 consumers, against the best plain-SQL
/// SQLite job table (batched inserts, claims and deletes; `JobTableQueue`) and Redis Streams with
/// `appendfsync always` (`RedisStreamsQueue`) in the same run, alternating rounds, medians; and
/// enqueue-to-handler latency at a steady 1,000 messages/s.
struct QueueBenchmark {
    let options: BenchOptions

    func run() async throws {
        let directory = try options.scratchDirectory("queue")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let total = 200_000
        let redis = try RedisStreamsQueue.start(directory: directory)
        defer { if let redis { RedisStreamsQueue.stop(redis.process) } }
        let rounds = max(3, options.rounds)
        for consumers in [1, 2] {
            var ours: [Double] = [], table: [Double] = [], streams: [Double] = []
            for round in 0..<rounds {
                ours.append(try await endToEnd(path: directory + "/e2e-\(consumers)-\(round).sqlite", messages: total, consumers: consumers))
                table.append(try JobTableQueue.endToEnd(path: directory + "/table-\(consumers)-\(round).sqlite", messages: total, consumers: consumers))
                if let redis {
                    streams.append(
                        try RedisStreamsQueue.endToEnd(port: redis.port, stream: "bench-\(consumers)-\(round)", messages: total, consumers: consumers))
                }
            }
            let suffix = consumers == 1 ? "" : "_2consumers"
            if consumers == 1 {
                // The same run with JSON bodies (a typed `Int` queue), ours only: what encoding costs.
                var json: [Double] = []
                for round in 0..<rounds {
                    json.append(try await endToEnd(path: directory + "/json-\(round).sqlite", messages: total, consumers: 1, jsonBodies: true))
                }
                BenchLine(
                    suite: "queue", name: "sqlite.e2e_json_bodies", value: median(json), unit: "messages/s",
                    extra: ["messages": "\(total)", "consumers": "1", "rounds": "\(rounds)"]
                ).print()
            }
            BenchLine(
                suite: "queue", name: "sqlite.e2e\(suffix)_vs_job_table", value: median(ours), unit: "messages/s", peer: "sqlite-job-table-batched",
                peerValue: median(table), extra: ["messages": "\(total)", "consumers": "\(consumers)", "rounds": "\(rounds)", "target_ratio": "1.0"]
            ).print()
            if redis != nil {
                BenchLine(
                    suite: "queue", name: "sqlite.e2e\(suffix)_vs_redis_streams", value: median(ours), unit: "messages/s",
                    peer: "redis-streams-appendfsync-always",
                    peerValue: median(streams), extra: ["messages": "\(total)", "consumers": "\(consumers)", "rounds": "\(rounds)", "target_ratio": "1.0"]
                ).print()
            } else {
                print("queue sqlite.e2e\(suffix)_vs_redis_streams skipped: redis-server is not installed (apt-get install redis-server)")
            }
        }
        let (p50, p99) = try await latency(path: directory + "/latency.sqlite", rate: 1000, seconds: 3)
        BenchLine(suite: "queue", name: "sqlite.latency_p50", value: p50, unit: "ms", extra: ["rate": "1000"]).print()
        BenchLine(suite: "queue", name: "sqlite.latency_p99", value: p99, unit: "ms", extra: ["rate": "1000"]).print()
    }

    /// Sends `messages` in batches of 100 while `consumers` consumers drain them; messages/s from
    /// the first send to the last acknowledgement.
    func endToEnd(path: String, messages: Int, consumers: Int, jsonBodies: Bool = false) async throws -> Double {
        let backend = try SQLiteQueue(path: path)
        defer { backend.close() }
        return try await Self.endToEnd(backend, messages: messages, consumers: consumers, jsonBodies: jsonBodies)
    }

    /// The end-to-end run on any backend (the PostgreSQL suite runs it on PostgresQueue). With
    /// `prefilled`, every message is sent before the consumers start and only they are timed.
    /// Bodies are 8 raw bytes (`.bytes`), as the peers store them; with `jsonBodies`, an `Int`
    /// encoded and decoded as JSON (a typed queue's default).
    static func endToEnd(
        _ backend: any QueueBackend, messages: Int, consumers: Int, prefilled: Bool = false, jsonBodies: Bool = false
    ) async throws -> Double {
        if jsonBodies {
            return try await endToEnd(backend, messages: messages, consumers: consumers, prefilled: prefilled) { QueueSendRequest(body: $0) }
        }
        return try await endToEnd(backend, messages: messages, consumers: consumers, prefilled: prefilled) {
            QueueSendRequest(body: withUnsafeBytes(of: UInt64($0).littleEndian) { [UInt8]($0) }, contentType: .bytes)
        }
    }

    private static func endToEnd<Body: Codable & Sendable>(
        _ backend: any QueueBackend, messages: Int, consumers: Int, prefilled: Bool, request: (Int) -> QueueSendRequest<Body>
    ) async throws -> Double {
        let producer = try QueueProducer<Body>(queue: "bench", backend: backend)
        func produce() async throws {
            for base in stride(from: 0, to: messages, by: 100) {
                try await producer.sendBatch((base..<(base + 100)).map(request))
            }
        }
        if prefilled { try await produce() }
        let handled = Atomic<Int>(0)
        let done = AsyncStream<Void>.makeStream()
        let configuration = QueueConsumerConfiguration(maxBatchSize: 100, maxBatchTimeout: 0, visibilityTimeout: 60)
        let workers = try (0..<consumers).map { _ in
            try QueueConsumer<Body>(queue: "bench", backend: backend, configuration: configuration) { batch in
                if handled.add(batch.messages.count, ordering: .relaxed).newValue >= messages { done.continuation.yield() }
            }
        }
        let start = seconds()
        let running = workers.map { worker in Task { try await worker.run() } }
        if !prefilled { try await produce() }
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
