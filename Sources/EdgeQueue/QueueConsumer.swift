import EdgeCore
import Foundation
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization
import Tracing

/// Settings of a queue consumer (wrangler's `queues.consumers` entry). Defaults are Cloudflare's.
public struct QueueConsumerConfiguration: Sendable, Hashable {
    /// Most messages per batch, 1...100. Default 10.
    public var maxBatchSize: Int
    /// Longest wait for a batch to fill once its first message is claimed, 0...60 s. Default 5 s.
    public var maxBatchTimeout: Double
    /// Retries after the first delivery before a message is dead-lettered (or dropped), 0...100. Default 3.
    public var maxRetries: Int
    /// Delay of a retry that names none, 0...43,200 s. Default 0.
    public var retryDelay: Double
    /// Where messages go after `maxRetries` retries; `nil` drops them (with an error log and a metric).
    public var deadLetterQueue: String?
    /// How many batches are processed at once, 1...250. Default 1.
    public var maxConcurrency: Int
    /// How long a claimed message stays invisible to other consumers, 1...43,200 s. A message whose
    /// consumer dies is delivered again after it. While a handler runs, the consumer extends the
    /// leases of its batch every third of this time (a heartbeat), so a handler may take longer
    /// than the timeout without its messages being delivered twice; a handler that never returns
    /// holds its batch for as long as its process lives. Default 30 s.
    public var visibilityTimeout: Double
    /// How often an idle consumer looks for messages sent by other processes (messages sent
    /// through the same backend instance wake it at once). Default 0.1 s.
    public var pollInterval: Double

    public init(
        maxBatchSize: Int = 10, maxBatchTimeout: Double = 5, maxRetries: Int = 3, retryDelay: Double = 0,
        deadLetterQueue: String? = nil, maxConcurrency: Int = 1, visibilityTimeout: Double = 30, pollInterval: Double = 0.1
    ) {
        self.maxBatchSize = maxBatchSize
        self.maxBatchTimeout = maxBatchTimeout
        self.maxRetries = maxRetries
        self.retryDelay = retryDelay
        self.deadLetterQueue = deadLetterQueue
        self.maxConcurrency = maxConcurrency
        self.visibilityTimeout = visibilityTimeout
        self.pollInterval = pollInterval
    }

    /// - Throws: ``QueueError`` `.invalidConfiguration` naming the setting, its range and value.
    public func validate(queue: String) throws {
        func check(_ ok: Bool, _ name: String, _ range: String, _ value: Any) throws {
            if !ok {
                throw QueueError(.invalidConfiguration, queue: queue, message: "consumer of \(queue): \(name) is \(value); it must be in \(range)")
            }
        }
        try check((1...100).contains(maxBatchSize), "max_batch_size", "1...100", maxBatchSize)
        try check((0...60).contains(maxBatchTimeout), "max_batch_timeout", "0...60 s", maxBatchTimeout)
        try check((0...100).contains(maxRetries), "max_retries", "0...100", maxRetries)
        try check((0...43_200).contains(retryDelay), "retry_delay", "0...43200 s", retryDelay)
        try check((1...250).contains(maxConcurrency), "max_concurrency", "1...250", maxConcurrency)
        try check((1...43_200).contains(visibilityTimeout), "visibility_timeout", "1...43200 s", visibilityTimeout)
        try check(visibilityTimeout > maxBatchTimeout, "visibility_timeout", "more than max_batch_timeout (\(maxBatchTimeout) s)", visibilityTimeout)
        try check(pollInterval > 0 && pollInterval <= 60, "poll_interval", "(0, 60] s", pollInterval)
        if let deadLetterQueue {
            try QueueLimits.validateQueueName(deadLetterQueue)
            try check(deadLetterQueue != queue, "dead_letter_queue", "a queue other than \(queue)", deadLetterQueue)
        }
    }
}

/// Consumes a queue: claims batches, hands them to a handler, and acknowledges, retries or
/// dead-letters each message by the handler's outcome. A swift-service-lifecycle `Service`: run it
/// in a `ServiceGroup`; on graceful shutdown it stops claiming, finishes the batches it is
/// processing, gives back messages it claimed but had not yet handed over, and returns.
public final class QueueConsumer<Body: Decodable & Sendable>: Service {
    public typealias Handler = @Sendable (MessageBatch<Body>) async throws -> Void

    public let queue: String
    public let backend: any QueueBackend
    public let configuration: QueueConsumerConfiguration
    private let handler: Handler
    private let logger: Logger
    private let metrics: QueueMetrics
    private let stopping = Atomic<Bool>(false)
    private let lastGaugeUpdate = Mutex<Date>(.distantPast)

    /// - Throws: ``QueueError`` `.invalidQueueName` or `.invalidConfiguration`.
    public init(
        queue: String, backend: any QueueBackend, configuration: QueueConsumerConfiguration = QueueConsumerConfiguration(),
        logger: Logger = Logger(label: "swift-edge.queue"), handler: @escaping Handler
    ) throws {
        try QueueLimits.validateQueueName(queue)
        try configuration.validate(queue: queue)
        self.queue = queue
        self.backend = backend
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        metrics = QueueMetrics(queue: queue, deadLetterQueue: configuration.deadLetterQueue)
    }

    private var clock: any EdgeClock { backend.clock }

    // MARK: Running

    /// Runs until the task is cancelled or a graceful shutdown is requested.
    ///
    /// - Throws: only `CancellationError`; failures of the backend are logged and retried after
    ///   the poll interval, and failures of the handler become retries.
    public func run() async throws {
        let signal = backend.signal(for: queue)
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<configuration.maxConcurrency {
                    group.addTask { await self.workLoop() }
                }
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            signal.notify()
        }
    }

    /// Asks a running consumer to stop as on graceful shutdown.
    public func stop() {
        stopping.store(true, ordering: .relaxed)
        backend.signal(for: queue).notify()
    }

    private var shouldStop: Bool { stopping.load(ordering: .relaxed) || Task.isCancelled }

    private func workLoop() async {
        // Messages claimed in the same transaction as the last batch's outcomes (one commit
        // between batches, not two).
        var next: [ClaimedMessage] = []
        while !shouldStop {
            do {
                let batch = try await collectBatch(startingWith: next)
                next = []
                if batch.isEmpty { continue }
                if shouldStop {
                    try await backend.settle(queue, batch.map { .release($0.lease) })
                    return
                }
                let outcomes = await process(batch)
                if shouldStop {
                    try await backend.settle(queue, outcomes)
                } else {
                    next = try await backend.settleAndClaim(
                        queue, outcomes, max: configuration.maxBatchSize, visibilityTimeout: configuration.visibilityTimeout)
                }
                record(outcomes)
            } catch {
                logger.error("queue consumer failed; retrying", metadata: ["queue": "\(queue)", "error": "\(error)"])
                try? await clock.sleep(seconds: configuration.pollInterval)
            }
        }
        // Claimed with the last settlement but never handed over: given back.
        if !next.isEmpty { try? await backend.settle(queue, next.map { .release($0.lease) }) }
    }

    /// Claims a batch: up to `maxBatchSize` messages (starting with `initial`, already claimed),
    /// waiting at most `maxBatchTimeout` after the first for the batch to fill. Returns an empty
    /// batch when it should stop or the wait found nothing.
    private func collectBatch(startingWith initial: [ClaimedMessage]) async throws -> [ClaimedMessage] {
        let signal = backend.signal(for: queue)
        var claimed = initial
        var deadline: Date?
        var claimNow = initial.isEmpty
        while true {
            let generation = signal.generation
            if claimNow {
                claimed += try await backend.claim(
                    queue, max: configuration.maxBatchSize - claimed.count, visibilityTimeout: configuration.visibilityTimeout)
            }
            claimNow = true
            if claimed.count >= configuration.maxBatchSize || shouldStop { return claimed }
            let now = clock.now
            if !claimed.isEmpty {
                let due = deadline ?? now.addingTimeInterval(configuration.maxBatchTimeout)
                deadline = due
                if now >= due { return claimed }
            }
            var wake = deadline ?? now.addingTimeInterval(configuration.pollInterval)
            if deadline == nil {
                if let next = try await backend.nextVisibleTime(queue), next > now, next < wake { wake = next }
                if claimed.isEmpty, wake > now.addingTimeInterval(configuration.pollInterval) { wake = now.addingTimeInterval(configuration.pollInterval) }
            }
            await signal.wait(after: generation, until: wake, clock: clock)
            if claimed.isEmpty, shouldStop { return [] }
        }
    }

    /// Claims whatever is visible now (up to `maxBatchSize`, no waiting) and processes it as one
    /// batch. Returns how many messages were delivered. For tests and scripts that drive a
    /// consumer step by step.
    ///
    /// - Throws: ``QueueError`` when the backend fails; the handler's errors become retries.
    @discardableResult
    public func processAvailable() async throws -> Int {
        let batch = try await backend.claim(queue, max: configuration.maxBatchSize, visibilityTimeout: configuration.visibilityTimeout)
        if !batch.isEmpty {
            let outcomes = await process(batch)
            try await backend.settle(queue, outcomes)
            record(outcomes)
        }
        return batch.count
    }

    // MARK: Processing

    /// Hands `claimed` to the handler; returns each message's outcome, for the caller to settle.
    private func process(_ claimed: [ClaimedMessage]) async -> [MessageOutcome] {
        var outcomes: [MessageOutcome] = []
        // The decoded messages and their bodies side by side (arrays of a concrete type and of
        // `Body`, not of tuples: a tuple of a generic type costs a metadata lookup per element).
        var delivered: [ClaimedMessage] = []
        var bodies: [Body] = []
        delivered.reserveCapacity(claimed.count)
        bodies.reserveCapacity(claimed.count)
        let decoder = JSONDecoder()
        for message in claimed {
            do {
                bodies.append(try QueueCoding.decode(message.body, as: message.contentType, to: Body.self, decoder: decoder))
                delivered.append(message)
            } catch {
                logger.error("undecodable message", metadata: ["queue": "\(queue)", "message": "\(message.lease.messageID)", "error": "\(error)"])
                outcomes.append(failedDelivery(message, delay: configuration.retryDelay))
            }
        }
        if !delivered.isEmpty {
            let decisions = BatchDecisions(count: delivered.count)
            var messages: [Message<Body>] = []
            messages.reserveCapacity(delivered.count)
            for index in delivered.indices {
                let message = delivered[index]
                messages.append(
                    Message(
                        id: String(message.lease.messageID), timestamp: message.timestamp, body: bodies[index], attempts: message.attempts, index: index,
                        decisions: decisions))
            }
            var succeeded = true
            // The batch keeps its leases while the handler runs, however long it takes.
            let heartbeat = Task { await self.keepLeases(claimed.map(\.lease)) }
            defer { heartbeat.cancel() }
            do {
                // A consumer span continuing the trace of the batch's first traced message, linked
                // to the others' (a batch of one push's messages stays in one trace).
                let contexts = delivered.compactMap { TraceContext.context(traceParent: $0.traceParent) }
                let batch = MessageBatch(queue: queue, messages: messages, decisions: decisions)
                try await withSpan("process \(queue)", context: contexts.first ?? .topLevel, ofKind: .consumer) { span in
                    span.attributes["messaging.system"] = "swift-edge"
                    span.attributes["messaging.destination.name"] = queue
                    span.attributes["messaging.batch.message_count"] = messages.count
                    for context in contexts.dropFirst() { span.addLink(SpanLink(context: context, attributes: [:])) }
                    try await handler(batch)
                }
            } catch {
                succeeded = false
                logger.warning(
                    "queue handler threw; retrying the batch", metadata: ["queue": "\(queue)", "messages": "\(messages.count)", "error": "\(error)"])
            }
            let resolved = decisions.resolve(handlerSucceeded: succeeded)
            outcomes.reserveCapacity(outcomes.count + delivered.count)
            for index in delivered.indices {
                switch resolved[index] {
                case .ack: outcomes.append(.ack(delivered[index].lease))
                case .retry(let delay): outcomes.append(failedDelivery(delivered[index], delay: delay ?? configuration.retryDelay))
                }
            }
        }
        return outcomes
    }

    /// Extends `leases` every third of the visibility timeout until cancelled (when the handler
    /// returns), so a handler that outlives the timeout is not raced by a second delivery. A lease
    /// found lost (the consumer stalled longer than the whole timeout and the message was claimed
    /// again) is logged and dropped from the heartbeat; its settlement will be ignored.
    private func keepLeases(_ leases: [QueueLease]) async {
        var held = leases
        let interval = configuration.visibilityTimeout / 3
        // The batch may have been claimed up to max_batch_timeout before its handler started: the
        // first beat comes that much earlier (at once when the wait was longer than a third).
        var wait = max(0, interval - configuration.maxBatchTimeout)
        while !held.isEmpty, !Task.isCancelled {
            if wait > 0 {
                do { try await clock.sleep(seconds: wait) } catch { return }
            }
            wait = interval
            if Task.isCancelled { return }
            do {
                let kept = try await backend.extendLeases(queue, held, visibilityTimeout: configuration.visibilityTimeout)
                if kept.count < held.count {
                    logger.warning(
                        "lost the lease of messages still in the handler; they may be delivered again",
                        metadata: ["queue": "\(queue)", "lost": "\(held.count - kept.count)"])
                }
                held = kept
            } catch {
                logger.warning("could not extend the leases of a batch in the handler; trying again", metadata: ["queue": "\(queue)", "error": "\(error)"])
            }
        }
    }

    /// A retry, or after `maxRetries` retries a move to the dead-letter queue (or a drop).
    private func failedDelivery(_ message: ClaimedMessage, delay: Double) -> MessageOutcome {
        if message.attempts > configuration.maxRetries {
            if configuration.deadLetterQueue == nil {
                logger.error(
                    "message dropped after exhausting its retries (no dead-letter queue)",
                    metadata: ["queue": "\(queue)", "message": "\(message.lease.messageID)", "attempts": "\(message.attempts)"])
            }
            return .deadLetter(message.lease, queue: configuration.deadLetterQueue)
        }
        return .retry(message.lease, delaySeconds: min(max(0, delay), backend.limits.maxDelaySeconds))
    }

    private func record(_ outcomes: [MessageOutcome]) {
        var acked = 0, retried = 0, deadLettered = 0, dropped = 0
        for outcome in outcomes {
            switch outcome {
            case .ack: acked += 1
            case .retry: retried += 1
            case .deadLetter(_, let target): if target == nil { dropped += 1 } else { deadLettered += 1 }
            case .release: break
            }
        }
        metrics.acked.increment(by: acked)
        metrics.retried.increment(by: retried)
        metrics.deadLettered.increment(by: deadLettered)
        metrics.dropped.increment(by: dropped)
        let now = clock.now
        let due = lastGaugeUpdate.withLock { last -> Bool in
            guard now.timeIntervalSince(last) >= 1 else { return false }
            last = now
            return true
        }
        if due {
            let backend = self.backend, queue = self.queue, metrics = self.metrics
            let deadLetterQueue = configuration.deadLetterQueue
            Task {
                if let stats = try? await backend.stats(queue) { metrics.update(stats) }
                // The dead-letter queue's size, which no consumer of it may be reporting.
                if let deadLetterQueue, let stats = try? await backend.stats(deadLetterQueue) {
                    metrics.deadLetterBacklog?.record(stats.backlog)
                }
            }
        }
    }
}

/// Metrics of one queue (no-ops until the application bootstraps a metrics backend).
struct QueueMetrics: Sendable {
    let acked: Counter
    let retried: Counter
    let deadLettered: Counter
    let dropped: Counter
    let backlog: Gauge
    let inFlight: Gauge
    let oldestAge: Gauge
    /// `edge_queue_backlog` of the consumer's dead-letter queue, when it has one.
    let deadLetterBacklog: Gauge?

    init(queue: String, deadLetterQueue: String? = nil) {
        let dimensions = [("queue", queue)]
        acked = Counter(label: "edge_queue_acked_total", dimensions: dimensions)
        retried = Counter(label: "edge_queue_retried_total", dimensions: dimensions)
        deadLettered = Counter(label: "edge_queue_dead_lettered_total", dimensions: dimensions)
        dropped = Counter(label: "edge_queue_dropped_total", dimensions: dimensions)
        backlog = Gauge(label: "edge_queue_backlog", dimensions: dimensions)
        inFlight = Gauge(label: "edge_queue_in_flight", dimensions: dimensions)
        oldestAge = Gauge(label: "edge_queue_oldest_message_age_seconds", dimensions: dimensions)
        deadLetterBacklog = deadLetterQueue.map { Gauge(label: "edge_queue_backlog", dimensions: [("queue", $0)]) }
    }

    func update(_ stats: QueueStats) {
        backlog.record(stats.backlog)
        inFlight.record(stats.inFlight)
        oldestAge.record(stats.oldestMessageAge)
    }
}
