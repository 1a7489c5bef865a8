import EdgeCore
public import EdgeQueue
import Foundation
import Synchronization

/// The conformance suite every `QueueBackend` passes, driven through `QueueProducer` and
/// `QueueConsumer` on a ``TestClock``: batching by size and by timeout, delays, retries with
/// delays, attempts, dead-letter queues and redrive, visibility timeouts, concurrent consumers and
/// limits.
///
/// ```swift
/// @Test(arguments: QueueConformance.cases)
/// func conformance(_ check: QueueConformance.Case) async throws {
///     try await check.run(QueueConformance.Harness { clock in MemoryQueue(clock: clock) })
/// }
/// ```
public enum QueueConformance {
    public typealias Harness = ConformanceHarness<any QueueBackend>
    public typealias Case = ConformanceCase<any QueueBackend>
    typealias Context = ConformanceContext<any QueueBackend>

    public static let cases: [Case] = [
        sendAndConsume, contentTypes, batchSizeAndTimeout, delays, perMessageRetry, handlerFailure, batchWideCalls,
        deadLetterAfterMaxRetries, dropWithoutDeadLetterQueue, redrive, visibilityTimeout, leaseExtension, heartbeat, concurrentConsumers,
        concurrentBatches, limits, consumerConfiguration, stopWhileIdle, settleAndClaim, acknowledgeAndClaim, traceContext, mixedBatch,
    ]

    public static let durableCases: [Case] = [reopen]

    struct Job: Codable, Equatable, Sendable {
        var n: Int
        var name: String
    }

    /// Batches a handler received, in order.
    final class Received<Body: Sendable>: Sendable {
        private let batches = Mutex<[[Message<Body>]]>([])
        func add(_ batch: MessageBatch<Body>) { batches.withLock { $0.append(batch.messages) } }
        var all: [[Message<Body>]] { batches.withLock { $0 } }
        var count: Int { batches.withLock { $0.count } }
    }

    /// Checks `condition` every millisecond until it holds. The 600 s of real time it allows turn
    /// a hang into a failure (generous: a full parallel test run on two cores can keep a task from
    /// running for a minute); nothing waits for them when the code under test works.
    static func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(600))
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(1))
        }
        if try await condition() { return }
        throw ConformanceFailure(message: "timed out waiting for: \(what)", location: "QueueConformance")
    }

    static func consumer<Body: Decodable & Sendable>(
        _ c: Context, queue: String = "jobs", body type: Body.Type,
        configuration: QueueConsumerConfiguration = QueueConsumerConfiguration(),
        handler: @escaping QueueConsumer<Body>.Handler
    ) throws -> QueueConsumer<Body> {
        try QueueConsumer(queue: queue, backend: c.binding, configuration: configuration, handler: handler)
    }

    // MARK: Cases

    static let settleAndClaim = Case("settleAndClaim applies the outcomes, then claims the next batch") { c in
        let queue = c.binding
        try await queue.send("jobs", (1...4).map { OutgoingMessage(body: Array("m\($0)".utf8)) })
        let first = try await queue.claim("jobs", max: 2, visibilityTimeout: 30)
        try Check.equal(first.map { String(decoding: $0.body, as: UTF8.self) }, ["m1", "m2"], "the first claim")
        let next = try await queue.settleAndClaim(
            "jobs", [.ack(first[0].lease), .retry(first[1].lease, delaySeconds: 0)], max: 10, visibilityTimeout: 30)
        // The retried message is visible again at once: it is claimed with the two not yet delivered.
        try Check.equal(Set(next.map { String(decoding: $0.body, as: UTF8.self) }), ["m2", "m3", "m4"], "the next claim")
        try Check.equal(next.first { $0.lease.messageID == first[1].lease.messageID }?.attempts, 2, "the retried message's second attempt")
        try Check.equal(try await queue.stats("jobs").backlog, 3, "the acknowledged message is gone")
        let none = try await queue.settleAndClaim("jobs", [.ack(first[1].lease)], max: 0, visibilityTimeout: 30)
        try Check.equal(none.count, 0, "max 0 claims nothing")
        try Check.equal(try await queue.stats("jobs").backlog, 3, "a settlement under an old lease is ignored")
        // With max 0 and a message visible (the one released here), still nothing is claimed.
        let released = try await queue.settleAndClaim("jobs", [.release(next[0].lease)], max: 0, visibilityTimeout: 30)
        try Check.equal(released.count, 0, "max 0 claims nothing, though a message is visible")
        try Check.equal(try await queue.claim("jobs", max: 10, visibilityTimeout: 30).map(\.lease.messageID), [next[0].lease.messageID], "the released message")
    }

    static let acknowledgeAndClaim = Case(
        "settleAndClaim with acknowledgements only: the acknowledged are gone and never claimed again, even past their lease; a stale acknowledgement changes nothing"
    ) { c in
        let queue = c.binding
        func bodies(_ messages: [ClaimedMessage]) -> [String] { messages.map { String(decoding: $0.body, as: UTF8.self) } }
        try await queue.send("jobs", (1...6).map { OutgoingMessage(body: Array("m\($0)".utf8)) })
        let first = try await queue.claim("jobs", max: 2, visibilityTimeout: 30)
        try Check.equal(bodies(first), ["m1", "m2"], "the first claim")
        let second = try await queue.settleAndClaim("jobs", first.map { .ack($0.lease) }, max: 2, visibilityTimeout: 30)
        try Check.equal(bodies(second), ["m3", "m4"], "the next claim")
        try Check.equal(try await queue.stats("jobs").backlog, 4, "two acknowledged")
        // m3's and m4's leases expire; acknowledging m3 late still deletes it, and the claim
        // beside it takes m4 again with m5 and m6, never m3.
        c.clock.advance(by: 31)
        let third = try await queue.settleAndClaim("jobs", [.ack(second[0].lease), .ack(first[0].lease)], max: 10, visibilityTimeout: 30)
        try Check.equal(Set(bodies(third)), ["m4", "m5", "m6"], "the claim beside a late acknowledgement")
        try Check.equal(third.first { $0.lease.messageID == second[1].lease.messageID }?.attempts, 2, "m4's second attempt")
        try Check.equal(try await queue.stats("jobs").backlog, 3, "m3 acknowledged; m1's second acknowledgement changed nothing")
        // m4's first lease is stale now: acknowledging under it leaves m4 to its new lease.
        let fourth = try await queue.settleAndClaim("jobs", [.ack(second[1].lease)], max: 10, visibilityTimeout: 30)
        try Check.equal(bodies(fourth), [], "nothing was free")
        try Check.equal(try await queue.stats("jobs").backlog, 3, "m4 kept under its new lease")
    }

    static let traceContext = Case("a message keeps the traceparent it was sent with, through a retry; one sent without has none") { c in
        let queue = c.binding
        let traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        try await queue.send("jobs", [OutgoingMessage(body: Array("traced".utf8), traceParent: traceParent), OutgoingMessage(body: Array("plain".utf8))])
        let first = try await queue.claim("jobs", max: 10, visibilityTimeout: 30)
        try Check.equal(first.map(\.traceParent), [traceParent, nil], "as sent")
        try await queue.settle("jobs", [.retry(first[0].lease, delaySeconds: 0), .ack(first[1].lease)])
        let again = try await queue.claim("jobs", max: 10, visibilityTimeout: 30)
        try Check.equal(again.map(\.traceParent), [traceParent], "after a retry")
    }

    static let mixedBatch = Case("one batch of messages with their own content types, delays and trace contexts keeps each message's own, in order") {
        c in
        let queue = c.binding
        let traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        try await queue.send(
            "jobs",
            [
                OutgoingMessage(body: Array("1".utf8), contentType: .json), OutgoingMessage(body: Array("two".utf8), contentType: .text, delaySeconds: 10),
                OutgoingMessage(body: [3], contentType: .bytes, traceParent: traceParent), OutgoingMessage(body: Array("4".utf8), contentType: .json),
            ])
        let now = try await queue.claim("jobs", max: 10, visibilityTimeout: 30)
        try Check.equal(now.map(\.body), [Array("1".utf8), [3], Array("4".utf8)], "the undelayed messages, in the order sent")
        try Check.equal(now.map(\.contentType), [.json, .bytes, .json], "their content types")
        try Check.equal(now.map(\.traceParent), [nil, traceParent, nil], "their trace contexts")
        try await queue.settle("jobs", now.map { .ack($0.lease) })
        c.clock.advance(by: 10)
        let later = try await queue.claim("jobs", max: 10, visibilityTimeout: 30)
        try Check.equal(later.map(\.body), [Array("two".utf8)], "the delayed message after its delay")
        try Check.equal(later.map(\.contentType), [.text], "its content type")
    }

    static let sendAndConsume = Case("send, consume, acknowledge") { c in
        let producer = try QueueProducer<Job>(queue: "jobs", backend: c.binding)
        try await producer.send(Job(n: 1, name: "one"))
        try await producer.sendBatch([QueueSendRequest(body: Job(n: 2, name: "two")), QueueSendRequest(body: Job(n: 3, name: "three"))])
        try Check.equal(try await c.binding.stats("jobs").backlog, 3, "backlog after sending")
        let received = Received<Job>()
        let consumer = try consumer(c, body: Job.self) { received.add($0) }
        try Check.equal(try await consumer.processAvailable(), 3, "one batch of three")
        let batch = received.all.first ?? []
        try Check.equal(batch.map(\.body.n), [1, 2, 3], "bodies in send order")
        try Check.equal(batch.map(\.attempts), [1, 1, 1], "attempts start at 1")
        try Check.equal(Set(batch.map(\.id)).count, 3, "ids are unique")
        try Check.that(batch.allSatisfy { abs($0.timestamp.timeIntervalSince(c.clock.now)) < 0.002 }, "timestamps are the send time")
        try Check.equal(
            try await c.binding.stats("jobs"), QueueStats(backlog: 0, inFlight: 0, delayed: 0, oldestMessageAge: 0), "acknowledged messages are gone")
        try Check.equal(try await consumer.processAvailable(), 0, "nothing is delivered twice")
    }

    static let contentTypes = Case("json, text and bytes bodies") { c in
        try await QueueProducer<String>(queue: "text", backend: c.binding).send("héllo", contentType: .text)
        try await QueueProducer<[UInt8]>(queue: "bytes", backend: c.binding).send([0, 255, 7], contentType: .bytes)
        let texts = Received<String>()
        try await consumer(c, queue: "text", body: String.self) { texts.add($0) }.processAvailable()
        try Check.equal(texts.all.first?.first?.body, "héllo", "text body")
        let bytes = Received<[UInt8]>()
        try await consumer(c, queue: "bytes", body: [UInt8].self) { bytes.add($0) }.processAvailable()
        try Check.equal(bytes.all.first?.first?.body, [0, 255, 7], "bytes body")
        let peeked = try await c.binding.peek("text", limit: 10)
        try Check.equal(peeked.count, 0, "consumed")
        try await Check.throwsError(QueueError.self, "a text message with an Int body", matching: { $0.code == .contentTypeMismatch }) {
            try await QueueProducer<Int>(queue: "text", backend: c.binding).send(5, contentType: .text)
        }
    }

    static let batchSizeAndTimeout = Case("batches flush when full or when max_batch_timeout passes") { c in
        let producer = try QueueProducer<Job>(queue: "jobs", backend: c.binding)
        try await producer.sendBatch((1...7).map { QueueSendRequest(body: Job(n: $0, name: "")) })
        let received = Received<Job>()
        let consumer = try consumer(c, body: Job.self, configuration: QueueConsumerConfiguration(maxBatchSize: 3, maxBatchTimeout: 5)) { received.add($0) }
        let running = Task { try await consumer.run() }
        try await eventually("two full batches") { received.count == 2 }
        try await c.clock.waitForSleepers(1)
        try Check.equal(received.count, 2, "the partial batch waits for the timeout")
        c.clock.advance(by: 5)
        try await eventually("the partial batch after the timeout") { received.count == 3 }
        try Check.equal(received.all.map { $0.map(\.body.n) }, [[1, 2, 3], [4, 5, 6], [7]], "batch contents")
        consumer.stop()
        try await running.value
    }

    static let delays = Case("delayed sends become visible after their delay") { c in
        let producer = try QueueProducer<Job>(queue: "jobs", backend: c.binding)
        try await producer.send(Job(n: 1, name: "later"), delaySeconds: 30)
        let received = Received<Job>()
        let consumer = try consumer(c, body: Job.self) { received.add($0) }
        try Check.equal(try await consumer.processAvailable(), 0, "not visible before the delay")
        try Check.equal(try await c.binding.stats("jobs").delayed, 1, "counted as delayed")
        c.clock.advance(by: 29)
        try Check.equal(try await consumer.processAvailable(), 0, "not visible 1 s early")
        c.clock.advance(by: 1)
        try Check.equal(try await consumer.processAvailable(), 1, "visible after the delay")
    }

    static let perMessageRetry = Case("a message retried with a delay comes back later, with attempts counted") { c in
        let producer = try QueueProducer<Job>(queue: "jobs", backend: c.binding)
        try await producer.sendBatch([QueueSendRequest(body: Job(n: 1, name: "flaky")), QueueSendRequest(body: Job(n: 2, name: "fine"))])
        let received = Received<Job>()
        let consumer = try consumer(c, body: Job.self) { batch in
            received.add(batch)
            for message in batch.messages where message.body.n == 1 && message.attempts == 1 { message.retry(delaySeconds: 10) }
        }
        try Check.equal(try await consumer.processAvailable(), 2, "first delivery")
        try Check.equal(try await c.binding.stats("jobs").backlog, 1, "the other message was acknowledged on return")
        try Check.equal(try await consumer.processAvailable(), 0, "the retry waits for its delay")
        c.clock.advance(by: 10)
        try Check.equal(try await consumer.processAvailable(), 1, "redelivered after the delay")
        try Check.equal(received.all.last?.first?.attempts, 2, "second attempt")
        try Check.equal(try await c.binding.stats("jobs").backlog, 0, "acknowledged the second time")
    }

    static let handlerFailure = Case("a throwing handler retries every message it did not acknowledge") { c in
        let producer = try QueueProducer<Job>(queue: "jobs", backend: c.binding)
        try await producer.sendBatch((1...3).map { QueueSendRequest(body: Job(n: $0, name: "")) })
        struct Boom: Error {}
        let received = Received<Job>()
        let consumer = try consumer(c, body: Job.self, configuration: QueueConsumerConfiguration(retryDelay: 5)) { batch in
            received.add(batch)
            if batch.messages[0].attempts == 1 {
                batch.messages[0].ack()
                throw Boom()
            }
        }
        try await consumer.processAvailable()
        c.clock.advance(by: 4)
        try Check.equal(try await consumer.processAvailable(), 0, "the retry honours retry_delay")
        c.clock.advance(by: 1)
        try await consumer.processAvailable()
        try Check.equal(received.all.last?.map(\.body.n), [2, 3], "the explicitly acknowledged message is not retried")
        try Check.equal(received.all.last?.map(\.attempts), [2, 2], "attempts counted")
    }

    static let batchWideCalls = Case("retryAll and ackAll") { c in
        let producer = try QueueProducer<Job>(queue: "jobs", backend: c.binding)
        try await producer.sendBatch((1...2).map { QueueSendRequest(body: Job(n: $0, name: "")) })
        struct Boom: Error {}
        let consumer = try consumer(c, body: Job.self) { batch in
            if batch.messages[0].attempts == 1 {
                batch.messages[1].ack()
                batch.retryAll(delaySeconds: 3)
            } else {
                batch.ackAll()
                throw Boom()
            }
        }
        try await consumer.processAvailable()
        try Check.equal(try await c.binding.stats("jobs").backlog, 1, "retryAll spares the explicitly acknowledged message")
        c.clock.advance(by: 3)
        try Check.equal(try await consumer.processAvailable(), 1, "retried after the retryAll delay")
        try Check.equal(try await c.binding.stats("jobs").backlog, 0, "ackAll stands even though the handler threw")
    }

    static let deadLetterAfterMaxRetries = Case("after max_retries a message moves to the dead-letter queue") { c in
        try await QueueProducer<Job>(queue: "jobs", backend: c.binding).send(Job(n: 9, name: "poison"))
        struct Boom: Error {}
        let attempts = Received<Job>()
        let consumer = try consumer(c, body: Job.self, configuration: QueueConsumerConfiguration(maxRetries: 2, deadLetterQueue: "jobs-dlq")) { batch in
            attempts.add(batch)
            throw Boom()
        }
        for _ in 0..<3 { try await consumer.processAvailable() }
        try Check.equal(attempts.all.map { $0.map(\.attempts) }, [[1], [2], [3]], "delivered 1 + max_retries times")
        try Check.equal(try await c.binding.stats("jobs").backlog, 0, "gone from the queue")
        let dead = try await c.binding.peek("jobs-dlq", limit: 10)
        try Check.equal(dead.count, 1, "in the dead-letter queue")
        try Check.equal(dead.first?.sourceQueue, "jobs", "remembers its source queue")
        try Check.equal(try dead.first.map { try JSONDecoder().decode(Job.self, from: Data($0.body)) }, Job(n: 9, name: "poison"), "body kept")
    }

    static let dropWithoutDeadLetterQueue = Case("without a dead-letter queue an exhausted message is dropped") { c in
        try await QueueProducer<Job>(queue: "jobs", backend: c.binding).send(Job(n: 1, name: ""))
        struct Boom: Error {}
        let consumer = try consumer(c, body: Job.self, configuration: QueueConsumerConfiguration(maxRetries: 0)) { _ in throw Boom() }
        try await consumer.processAvailable()
        try Check.equal(try await c.binding.stats("jobs").backlog, 0, "dropped after one delivery with max_retries 0")
    }

    static let redrive = Case("dead-lettered messages are listed and redriven to their source queue") { c in
        let producer = try QueueProducer<Job>(queue: "jobs", backend: c.binding)
        try await producer.sendBatch((1...3).map { QueueSendRequest(body: Job(n: $0, name: "")) })
        let healthy = Atomic<Bool>(false)
        struct Boom: Error {}
        let received = Received<Job>()
        let consumer = try consumer(c, body: Job.self, configuration: QueueConsumerConfiguration(maxRetries: 0, deadLetterQueue: "dlq")) { batch in
            received.add(batch)
            if !healthy.load(ordering: .relaxed) { throw Boom() }
        }
        try await consumer.processAvailable()
        try Check.equal(try await c.binding.peek("dlq", limit: 10).count, 3, "all three dead-lettered")
        healthy.store(true, ordering: .relaxed)
        try Check.equal(try await c.binding.redrive(from: "dlq", to: nil), 3, "three redriven")
        try Check.equal(try await c.binding.stats("dlq").backlog, 0, "the dead-letter queue is empty")
        try Check.equal(try await consumer.processAvailable(), 3, "redriven messages are delivered again")
        try Check.equal(received.all.last?.map(\.attempts), [1, 1, 1], "as fresh messages")
        try Check.equal(try await c.binding.stats("jobs").backlog, 0, "and acknowledged")
    }

    static let visibilityTimeout = Case("a claimed message is redelivered after its visibility timeout; stale settlements are ignored") { c in
        try await QueueProducer<Job>(queue: "jobs", backend: c.binding).send(Job(n: 1, name: ""))
        let first = try await c.binding.claim("jobs", max: 10, visibilityTimeout: 30)
        try Check.equal(first.count, 1, "claimed")
        try Check.equal(try await c.binding.stats("jobs").inFlight, 1, "in flight")
        try Check.equal(try await c.binding.claim("jobs", max: 10, visibilityTimeout: 30).count, 0, "not visible while leased")
        c.clock.advance(by: 30)
        let second = try await c.binding.claim("jobs", max: 10, visibilityTimeout: 30)
        try Check.equal(second.map(\.attempts), [2], "redelivered after the lease expired, attempts counted")
        try await c.binding.settle("jobs", [.ack(first[0].lease)])
        try Check.equal(try await c.binding.stats("jobs").backlog, 1, "the expired lease's ack is ignored")
        try await c.binding.settle("jobs", [.ack(second[0].lease)])
        try Check.equal(try await c.binding.stats("jobs").backlog, 0, "the live lease's ack counts")
    }

    static let leaseExtension = Case("a held lease is extended; an expired and reclaimed one is not") { c in
        try await QueueProducer<Job>(queue: "jobs", backend: c.binding).send(Job(n: 1, name: ""))
        let first = try await c.binding.claim("jobs", max: 10, visibilityTimeout: 30)
        c.clock.advance(by: 20)
        try Check.equal(try await c.binding.extendLeases("jobs", first.map(\.lease), visibilityTimeout: 30), first.map(\.lease), "extended")
        c.clock.advance(by: 20)
        try Check.equal(try await c.binding.claim("jobs", max: 10, visibilityTimeout: 30).count, 0, "still leased 40 s after the claim")
        try Check.equal(try await c.binding.extendLeases("other", first.map(\.lease), visibilityTimeout: 30), [], "only in its own queue")
        c.clock.advance(by: 30)
        let second = try await c.binding.claim("jobs", max: 10, visibilityTimeout: 30)
        try Check.equal(second.map(\.attempts), [2], "claimed again once the extension ran out")
        try Check.equal(try await c.binding.extendLeases("jobs", first.map(\.lease), visibilityTimeout: 30), [], "the old lease is not extended")
        try await c.binding.settle("jobs", [.ack(second[0].lease)])
        try Check.equal(try await c.binding.extendLeases("jobs", second.map(\.lease), visibilityTimeout: 30), [], "nor a settled one")
    }

    static let heartbeat = Case("a handler running past the visibility timeout keeps its lease: delivered once") { c in
        try await QueueProducer<Job>(queue: "jobs", backend: c.binding).send(Job(n: 1, name: ""))
        let received = Received<Job>()
        let release = AsyncStream<Void>.makeStream()
        let consumer = try consumer(c, body: Job.self, configuration: QueueConsumerConfiguration(visibilityTimeout: 30)) { batch in
            received.add(batch)
            for await _ in release.stream { break }
        }
        let processing = Task { try await consumer.processAvailable() }
        // Five visibility timeouts pass, a third at a time; the heartbeat sleeping on the clock
        // extends the lease at each step (it sleeps again only after the extension returned).
        for _ in 0..<15 {
            try await c.clock.waitForSleepers(1)
            c.clock.advance(by: 10)
        }
        try await c.clock.waitForSleepers(1)
        try Check.equal(try await c.binding.claim("jobs", max: 10, visibilityTimeout: 30).count, 0, "not delivered again while the handler runs")
        release.continuation.yield()
        try Check.equal(try await processing.value, 1, "one batch")
        try Check.equal(received.all.map { $0.map(\.attempts) }, [[1]], "delivered once")
        try Check.equal(try await c.binding.stats("jobs").backlog, 0, "and acknowledged")
        try Check.equal(c.clock.sleeperCount, 0, "the heartbeat stopped with the handler")
    }

    static let concurrentBatches = Case("max_concurrency 4: four batches in handlers at once, every message once") { c in
        let producer = try QueueProducer<Int>(queue: "jobs", backend: c.binding)
        try await producer.sendBatch((0..<12).map { QueueSendRequest(body: $0) })
        let received = Received<Int>()
        let inHandlers = Observed((now: 0, most: 0))
        let consumer = try consumer(
            c, body: Int.self, configuration: QueueConsumerConfiguration(maxBatchSize: 1, maxConcurrency: 4, visibilityTimeout: 30)
        ) { batch in
            await inHandlers.update { $0 = (now: $0.now + 1, most: max($0.most, $0.now + 1)) }
            // Each handler waits until four were inside at once: with fewer workers this never ends.
            try await inHandlers.wait { $0.most >= 4 }
            received.add(batch)
            await inHandlers.update { $0.now -= 1 }
        }
        let running = Task { try await consumer.run() }
        try await eventually("twelve batches") { received.count == 12 }
        consumer.stop()
        try await running.value
        try Check.equal(await inHandlers.value.most, 4, "four at once, never more")
        try Check.equal(received.all.flatMap { $0.map(\.body) }.sorted(), Array(0..<12), "every message once")
        try Check.equal(try await c.binding.stats("jobs").backlog, 0, "all acknowledged")
    }

    static let concurrentConsumers = Case("concurrent consumers never share a live lease") { c in
        let producer = try QueueProducer<Int>(queue: "jobs", backend: c.binding)
        for start in stride(from: 0, to: 600, by: 100) {
            try await producer.sendBatch((start..<(start + 100)).map { QueueSendRequest(body: $0) })
        }
        let backend = c.binding
        let claims = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for _ in 0..<6 {
                group.addTask {
                    var ids: [Int64] = []
                    while true {
                        let batch = try await backend.claim("jobs", max: 7, visibilityTimeout: 60)
                        if batch.isEmpty { return ids }
                        ids += batch.map(\.lease.messageID)
                    }
                }
            }
            return try await group.reduce(into: [Int64]()) { $0 += $1 }
        }
        try Check.equal(claims.count, 600, "every message claimed")
        try Check.equal(Set(claims).count, 600, "no message claimed twice")
    }

    static let limits = Case("message, batch and delay limits") { c in
        let producer = try QueueProducer<[UInt8]>(queue: "jobs", backend: c.binding)
        try await producer.send([UInt8](repeating: 1, count: 128 * 1024), contentType: .bytes)
        let big = try await Check.throwsError(QueueError.self, "a 128 KiB + 1 message", matching: { $0.code == .messageTooLarge }) {
            try await producer.send([UInt8](repeating: 1, count: 128 * 1024 + 1), contentType: .bytes)
        }
        try Check.equal(big.limit, 128 * 1024, "names the limit")
        try Check.equal(big.actual, 128 * 1024 + 1, "names the size")
        try await Check.throwsError(QueueError.self, "101 messages", matching: { $0.code == .tooManyMessages && $0.limit == 100 }) {
            try await producer.sendBatch((0...100).map { _ in QueueSendRequest(body: [1], contentType: .bytes) })
        }
        try await Check.throwsError(QueueError.self, "an empty batch", matching: { $0.code == .tooManyMessages }) { try await producer.sendBatch([]) }
        try await Check.throwsError(QueueError.self, "a 300 KiB batch", matching: { $0.code == .batchTooLarge && $0.limit == 256 * 1024 }) {
            try await producer.sendBatch((0..<3).map { _ in QueueSendRequest(body: [UInt8](repeating: 2, count: 100 * 1024), contentType: .bytes) })
        }
        for delay in [-1.0, 43_201] {
            try await Check.throwsError(QueueError.self, "delay \(delay)", matching: { $0.code == .invalidDelay }) {
                try await producer.send([1], contentType: .bytes, delaySeconds: delay)
            }
        }
        try await Check.throwsError(QueueError.self, "a bad queue name", matching: { $0.code == .invalidQueueName }) {
            _ = try QueueProducer<Int>(queue: "../etc", backend: c.binding)
        }
        try Check.equal(try await c.binding.stats("jobs").backlog, 1, "only the valid message was stored")
    }

    static let consumerConfiguration = Case("consumer settings are validated") { c in
        let bad: [QueueConsumerConfiguration] = [
            QueueConsumerConfiguration(maxBatchSize: 101), QueueConsumerConfiguration(maxBatchSize: 0),
            QueueConsumerConfiguration(maxBatchTimeout: 61), QueueConsumerConfiguration(maxRetries: 101),
            QueueConsumerConfiguration(retryDelay: -1), QueueConsumerConfiguration(deadLetterQueue: "jobs"),
            QueueConsumerConfiguration(maxConcurrency: 0), QueueConsumerConfiguration(maxBatchTimeout: 40, visibilityTimeout: 30),
        ]
        for configuration in bad {
            try await Check.throwsError(
                QueueError.self, "configuration \(configuration)", matching: { $0.code == .invalidConfiguration || $0.code == .invalidQueueName }
            ) {
                _ = try consumer(c, body: Int.self, configuration: configuration) { _ in }
            }
        }
    }

    static let stopWhileIdle = Case("an idle consumer stops when asked") { c in
        let consumer = try consumer(c, body: Int.self) { _ in }
        let running = Task { try await consumer.run() }
        try await c.clock.waitForSleepers(1)
        consumer.stop()
        try await running.value
    }

    static let reopen = Case("sent messages survive reopening") { c in
        try await QueueProducer<Job>(queue: "jobs", backend: c.binding).sendBatch((1...5).map { QueueSendRequest(body: Job(n: $0, name: "")) })
        let claimed = try await c.binding.claim("jobs", max: 2, visibilityTimeout: 30)
        try await c.binding.settle("jobs", claimed.map { .ack($0.lease) })
        let reopened = try await c.reopen()
        try Check.equal(try await reopened.stats("jobs").backlog, 3, "unacknowledged messages are still there")
        let rest = try await reopened.claim("jobs", max: 10, visibilityTimeout: 30)
        try Check.equal(try rest.map { try JSONDecoder().decode(Job.self, from: Data($0.body)).n }, [3, 4, 5], "in order")
    }
}
