import EdgeQueue
import EdgeSQLite
import EdgeTesting
import Foundation
import Logging
import ServiceLifecycle
import Testing

func makeTemporaryDirectory(_ name: String = "queue") throws -> String {
    try TemporaryDirectory.make(name)
}

let sqliteHarness = QueueConformance.Harness { clock in
    try SQLiteQueue(path: try makeTemporaryDirectory() + "/queues.sqlite", configuration: .init(clock: clock))
} reopen: { backend, clock in
    let queue = backend as! SQLiteQueue
    queue.close()
    return try SQLiteQueue(path: queue.path, configuration: .init(clock: clock))
}

@Suite("Queue conformance")
struct QueueConformanceTests {
    @Test("MemoryQueue", arguments: QueueConformance.cases)
    func memory(_ check: QueueConformance.Case) async throws {
        try await check.run(QueueConformance.Harness { clock in MemoryQueue(clock: clock) })
    }

    @Test("SQLiteQueue", arguments: QueueConformance.cases + QueueConformance.durableCases)
    func sqlite(_ check: QueueConformance.Case) async throws {
        try await check.run(sqliteHarness)
    }
}

@Suite("SQLiteQueue")
struct SQLiteQueueTests {
    @Test("rows of batches: a send of 250 is three rows, claims of 150 split one, one settle acknowledges two claims' messages and ignores a stale lease")
    func batchedStatements() async throws {
        let limits = QueueLimits(maxBatchMessages: 250)
        let backend = try SQLiteQueue(path: try makeTemporaryDirectory() + "/queues.sqlite", configuration: .init(limits: limits))
        defer { backend.close() }
        try await backend.send("q", (0..<250).map { OutgoingMessage(body: Array("m\($0)".utf8)) })
        #expect(try await backend.stats("q").backlog == 250)
        let first = try await backend.claim("q", max: 150, visibilityTimeout: 600)
        let second = try await backend.claim("q", max: 150, visibilityTimeout: 600)
        #expect(first.count == 150 && second.count == 100)
        // Every message exactly once, in order, with its own body.
        #expect((first + second).map { String(decoding: $0.body, as: UTF8.self) } == (0..<250).map { "m\($0)" })
        // Acks of both claims (more than one DELETE's worth for the first), one of them with a
        // token that is not the message's: that message stays.
        let stale = QueueLease(messageID: second[0].lease.messageID, token: first[0].lease.token)
        let outcomes = first.map { MessageOutcome.ack($0.lease) } + [MessageOutcome.ack(stale)] + second.dropFirst().map { MessageOutcome.ack($0.lease) }
        try await backend.settle("q", outcomes)
        #expect(try await backend.stats("q").backlog == 1)
        let left = try await backend.peek("q", limit: 10)
        #expect(left.map(\.id) == [String(second[0].lease.messageID)])
    }

    @Test("a database written by the row-per-message schema (v2) opens with every message kept: ids, delays, leases, dead letters")
    func migratesRowPerMessage() async throws {
        let path = try makeTemporaryDirectory() + "/q.sqlite"
        let clock = TestClock()
        let now = Int64(clock.now.timeIntervalSince1970 * 1000)
        do {
            // What v1 and v2 created, as GRDB's migrator recorded them, with four messages.
            let old = try RawSQLiteConnection(path: path, readOnly: false, busyTimeoutMilliseconds: 1000)
            try old.execute(
                """
                CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                INSERT INTO grdb_migrations VALUES ('v1'), ('v2: trace context');
                CREATE TABLE messages (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, body BLOB NOT NULL, content_type TEXT NOT NULL,
                    sent_at INTEGER NOT NULL, visible_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, lease TEXT, source_queue TEXT,
                    trace_parent TEXT);
                CREATE INDEX messages_by_visibility ON messages (queue, visible_at, id);
                INSERT INTO messages (id, queue, body, content_type, sent_at, visible_at, attempts, lease, source_queue, trace_parent) VALUES
                    (7, 'jobs', X'6f6e65', 'text', \(now), \(now), 0, NULL, NULL, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'),
                    (8, 'jobs', X'74776f', 'text', \(now), \(now + 60_000), 0, NULL, NULL, NULL),
                    (9, 'jobs', X'03', 'bytes', \(now), \(now + 20_000), 1, 'a-lease-of-the-old-schema', NULL, NULL),
                    (300, 'dlq', X'34', 'json', \(now), \(now), 0, NULL, 'jobs', NULL);
                """)
        }
        let backend = try SQLiteQueue(path: path, configuration: .init(clock: clock))
        defer { backend.close() }
        #expect(try await backend.stats("jobs") == QueueStats(backlog: 3, inFlight: 1, delayed: 1, oldestMessageAge: 0))
        #expect(try await backend.peek("jobs", limit: 10).map(\.id) == ["7", "8", "9"])
        #expect(try await backend.peek("dlq", limit: 10).map(\.sourceQueue) == ["jobs"])
        let first = try await backend.claim("jobs", max: 10, visibilityTimeout: 30)
        #expect(first.map(\.lease.messageID) == [7] && first.map(\.body) == [Array("one".utf8)])
        #expect(first.first?.traceParent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" && first.first?.contentType == .text)
        // The message leased before the upgrade comes back when its lease ends, with its attempts.
        clock.advance(by: 20)
        let second = try await backend.claim("jobs", max: 10, visibilityTimeout: 30)
        #expect(second.map(\.lease.messageID) == [9] && second.first?.attempts == 2)
        // A new message gets an id above every id given before.
        try await backend.send("jobs", [OutgoingMessage(body: [1])])
        let newest = try await backend.peek("jobs", limit: 10).map { Int64($0.id)! }
        #expect(newest.count == 4 && newest.last! > 300)
        #expect(try await backend.redrive(from: "dlq", to: nil) == 1)
    }

    @Test("two handles on one file (as two processes) share the queue without sharing a lease")
    func sharedFile() async throws {
        let path = try makeTemporaryDirectory() + "/q.sqlite"
        let first = try SQLiteQueue(path: path)
        let second = try SQLiteQueue(path: path)
        let producer = try QueueProducer<Int>(queue: "jobs", backend: first)
        for start in stride(from: 0, to: 1000, by: 100) {
            try await producer.sendBatch((start..<(start + 100)).map { QueueSendRequest(body: $0) })
        }
        async let a = drain(first)
        async let b = drain(second)
        let (fromFirst, fromSecond) = try await (a, b)
        #expect(fromFirst.count + fromSecond.count == 1000)
        #expect(Set(fromFirst + fromSecond).count == 1000, "no message delivered to both")
    }

    func drain(_ backend: SQLiteQueue) async throws -> [Int64] {
        var ids: [Int64] = []
        while true {
            let batch = try await backend.claim("jobs", max: 10, visibilityTimeout: 600)
            if batch.isEmpty { return ids }
            ids += batch.map(\.lease.messageID)
            try await backend.settle("jobs", batch.map { .ack($0.lease) })
        }
    }

    @Test("a consumer in a ServiceGroup finishes its in-flight batch on graceful shutdown")
    func gracefulShutdown() async throws {
        let backend = try SQLiteQueue(path: try makeTemporaryDirectory() + "/q.sqlite")
        try await QueueProducer<Int>(queue: "jobs", backend: backend).sendBatch((0..<5).map { QueueSendRequest(body: $0) })
        let started = AsyncStream<Void>.makeStream()
        let release = AsyncStream<Void>.makeStream()
        let handled = Counter()
        let consumer = try QueueConsumer<Int>(queue: "jobs", backend: backend, configuration: .init(maxBatchSize: 5, maxBatchTimeout: 0)) { batch in
            started.continuation.yield()
            for await _ in release.stream { break }
            await handled.add(batch.messages.count)
        }
        let group = ServiceGroup(services: [consumer], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        for await _ in started.stream { break }
        await group.triggerGracefulShutdown()
        release.continuation.yield()
        try await running.value
        #expect(await handled.value == 5, "the batch in the handler was finished")
        #expect(try await backend.stats("jobs").backlog == 0, "and acknowledged before the consumer returned")
    }

    @Test("a consumer wakes at once for messages sent through the same backend")
    func wakesOnSend() async throws {
        // The clock never moves: once the consumer is parked on it, only the send's wake-up can deliver.
        let clock = TestClock()
        let backend = try SQLiteQueue(path: try makeTemporaryDirectory() + "/q.sqlite", configuration: .init(clock: clock))
        let received = AsyncStream<Int>.makeStream()
        let consumer = try QueueConsumer<Int>(queue: "jobs", backend: backend, configuration: .init(maxBatchSize: 1, pollInterval: 60)) { batch in
            for message in batch.messages { received.continuation.yield(message.body) }
        }
        let running = Task { try await consumer.run() }
        try await clock.waitForSleepers(1)
        try await QueueProducer<Int>(queue: "jobs", backend: backend).send(42)
        var iterator = received.stream.makeAsyncIterator()
        #expect(await iterator.next() == 42, "delivered without waiting for the 60 s poll interval")
        consumer.stop()
        try await running.value
    }
}

actor Counter {
    var value = 0
    func add(_ n: Int) { value += n }
}
