import EdgeQueue
import EdgeTesting
import Foundation
import Testing

/// 50,000 numbered messages; consumer processes are SIGKILLed at random ten times while draining.
/// Every number must be handled at least once; duplicates (at-least-once redeliveries) are counted.
@Suite("SQLiteQueue crash safety")
struct QueueCrashTests {
    @Test("no message is lost when consumers are killed ten times while draining 50,000")
    func killedConsumers() async throws {
        let directory = try makeTemporaryDirectory("queue-crash")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/queues.sqlite"
        let backend = try SQLiteQueue(path: path)
        let producer = try QueueProducer<Int>(queue: "numbers", backend: backend)
        let total = 50_000
        for start in stride(from: 0, to: total, by: 100) {
            try await producer.sendBatch((start..<(start + 100)).map { QueueSendRequest(body: $0) })
        }
        let harness = try KillTest.executable(named: "edge-crash-harness")
        var handled: [Int] = []
        var generator = SystemRandomNumberGenerator()
        let kills = 10, batchSize = 100
        for _ in 0..<kills {
            let killAfter = Int.random(in: 500...3000, using: &generator)
            let lines = try await KillTest.run(executable: harness, arguments: ["queue-consumer", path, "numbers", "1"]) { $0.count >= killAfter }
            let numbers = lines.compactMap(Int.init)
            // One consumer never sees a message twice: it holds the lease of the batch it handles.
            #expect(Set(numbers).count == numbers.count, "a message delivered twice within one consumer's life")
            handled += numbers
        }
        // A last consumer drains what is left (killed messages reappear after the 1 s visibility timeout).
        let last = Collected()
        let consumer = try QueueConsumer<Int>(
            queue: "numbers", backend: backend, configuration: .init(maxBatchSize: 100, maxBatchTimeout: 0, visibilityTimeout: 1)
        ) { batch in
            await last.add(batch.messages.map(\.body))
        }
        while try await backend.stats("numbers").backlog > 0 {
            if try await consumer.processAvailable() == 0 { try await Task.sleep(for: .milliseconds(50)) }
        }
        handled += await last.values
        let seen = Set(handled)
        let missing = (0..<total).filter { !seen.contains($0) }
        let duplicates = handled.count - seen.count
        print("queue crash test: \(handled.count) deliveries of \(total) messages, \(duplicates) duplicates")
        #expect(missing.isEmpty, "lost messages: \(missing.prefix(20))")
        // A kill can leave at most the batch in the handler unacknowledged (one batch at a time,
        // up to 100 messages): only those come back, so duplicates are bounded by kills x batch.
        #expect(duplicates <= kills * batchSize, "\(duplicates) duplicates from \(kills) kills of batches of \(batchSize)")
    }
}

actor Collected {
    var values: [Int] = []
    func add(_ more: [Int]) { values += more }
}
