import EdgeQueue
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
    @Test("batched statements: a send of 250 is three INSERTs, one settle acknowledges two claims' messages and ignores a stale lease")
    func batchedStatements() async throws {
        let limits = QueueLimits(maxBatchMessages: 250)
        let backend = try SQLiteQueue(path: try makeTemporaryDirectory() + "/queues.sqlite", configuration: .init(limits: limits))
        defer { backend.close() }
        try await backend.send("q", (0..<250).map { OutgoingMessage(body: Array("m\($0)".utf8)) })
        #expect(try await backend.stats("q").backlog == 250)
        let first = try await backend.claim("q", max: 150, visibilityTimeout: 60)
        let second = try await backend.claim("q", max: 150, visibilityTimeout: 60)
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
            let batch = try await backend.claim("jobs", max: 10, visibilityTimeout: 60)
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
