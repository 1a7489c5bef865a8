import EdgeCore
import EdgeQueue
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Runs one worker over its bindings: handles requests with the configured limits, delivers
/// queue batches and cron triggers, tracks `waitUntil` work. The HTTP host (``EdgeHost``) and the
/// test client (EdgeTesting) both drive a runtime.
public final class WorkerRuntime<W: Worker>: Sendable {
    public let worker: W
    public let env: W.Env
    public let bindings: EdgeBindings
    public var config: EdgeConfig { bindings.config }
    let tracker = WaitUntilTracker()
    private let inFlight = Atomic<Int>(0)
    private let requestCounter = Atomic<Int>(0)
    private let idPrefix: String
    private let metrics = RuntimeMetrics()

    /// Builds the worker's `Env`: a missing or mistyped binding fails here, at startup.
    ///
    /// - Throws: ``ConfigError``.
    public init(worker: W, bindings: EdgeBindings) throws {
        self.worker = worker
        self.bindings = bindings
        env = try W.makeEnv(bindings)
        idPrefix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    }

    private var logger: Logger { bindings.logger }

    func newRequestID() -> String {
        "\(idPrefix)-\(requestCounter.add(1, ordering: .relaxed).newValue)"
    }

    private func context(_ requestID: String) -> ExecutionContext {
        var logger = self.logger
        logger[metadataKey: "request_id"] = "\(requestID)"
        return ExecutionContext(logger: logger, requestID: requestID, tracker: tracker)
    }

    // MARK: fetch

    /// Handles one request with the configured limits. Never throws: an uncaught error becomes a
    /// 500 carrying the request id, a request over the wall-time limit a 503, a request beyond the
    /// concurrency limit a 503.
    public func handle(_ request: EdgeRequest, requestID: String? = nil) async -> EdgeResponse {
        let id = requestID ?? newRequestID()
        let started = ContinuousClock.now
        var response = await respond(request, id: id)
        response.headers["x-request-id"] = id
        let elapsed = ContinuousClock.now - started
        metrics.record(method: request.method, status: response.status, duration: elapsed)
        logger.info("\(request.method) \(request.pathOnly) \(response.status)", metadata: [
            "request_id": "\(id)", "status": "\(response.status)",
            "ms": "\(String(format: "%.2f", Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000))",
        ])
        return response
    }

    private func respond(_ request: EdgeRequest, id: String) async -> EdgeResponse {
        let limits = config.limits
        if request.body.count > limits.maxRequestBodyBytes {
            return Self.tooLarge(request.body.count, limit: limits.maxRequestBodyBytes, id: id)
        }
        let active = inFlight.add(1, ordering: .relaxed).newValue
        defer { inFlight.subtract(1, ordering: .relaxed) }
        if active > limits.maxConcurrentRequests {
            return Self.errorResponse(503, "too many concurrent requests (limit \(limits.maxConcurrentRequests))", id: id)
        }
        let ctx = context(id)
        let outcome = await Self.race(timeout: Double(limits.requestTimeoutMilliseconds) / 1000, clock: bindings.clock) { [worker, env] in
            try await worker.fetch(request, env: env, ctx: ctx)
        }
        switch outcome {
        case .finished(.success(let response)):
            return response
        case .finished(.failure(let error)):
            ctx.logger.error("uncaught error in fetch handler", metadata: ["error": "\(error)", "path": "\(request.pathOnly)"])
            return Self.errorResponse(500, "internal error", id: id)
        case .timedOut:
            ctx.logger.error("fetch handler exceeded the wall-time limit", metadata: ["limit_ms": "\(limits.requestTimeoutMilliseconds)"])
            return Self.errorResponse(503, "the request took longer than \(limits.requestTimeoutMilliseconds) ms", id: id)
        }
    }

    static func tooLarge(_ size: Int?, limit: Int, id: String) -> EdgeResponse {
        errorResponse(413, "request body\(size.map { " of \($0) bytes" } ?? "") exceeds the limit of \(limit) bytes", id: id)
    }

    static func errorResponse(_ status: Int, _ message: String, id: String) -> EdgeResponse {
        let body = "{\"error\":\(jsonString(message)),\"requestId\":\(jsonString(id))}"
        return EdgeResponse(status: status, headers: ["content-type": "application/json", "x-request-id": id], body: Array(body.utf8))
    }

    private static func jsonString(_ text: String) -> String {
        String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
    }

    enum RaceOutcome<T: Sendable>: Sendable {
        case finished(Result<T, any Error>)
        case timedOut
    }

    /// Runs `work`, giving up (and cancelling it) after `timeout` seconds of `clock` time. The
    /// caller is answered at the timeout even if the work ignores cancellation.
    static func race<T: Sendable>(timeout: Double, clock: any EdgeClock, _ work: @escaping @Sendable () async throws -> T) async -> RaceOutcome<T> {
        let deadline = clock.now.addingTimeInterval(timeout)
        return await withCheckedContinuation { (continuation: CheckedContinuation<RaceOutcome<T>, Never>) in
            let box = ContinuationBox(continuation)
            let task = Task {
                let result: Result<T, any Error>
                do { result = .success(try await work()) } catch { result = .failure(error) }
                if box.claim() { box.resume(.finished(result)) }
                box.cancelTimer()
            }
            box.setTimer(Task {
                do { try await clock.sleep(until: deadline) } catch { return }
                if box.claim() {
                    task.cancel()
                    box.resume(.timedOut)
                }
            })
        }
    }

    // MARK: queue and scheduled

    /// Delivers a batch to the worker's `queue` handler (what configured consumers call).
    ///
    /// - Throws: what the handler throws (the consumer then retries the batch).
    public func deliver(_ batch: MessageBatch<W.QueueMessage>) async throws {
        let ctx = context(newRequestID())
        try await worker.queue(batch, env: env, ctx: ctx)
    }

    /// Runs the worker's `scheduled` handler for `cron`.
    ///
    /// - Throws: what the handler throws.
    public func runScheduled(_ event: ScheduledEvent) async throws {
        let ctx = context(newRequestID())
        do {
            try await worker.scheduled(event, env: env, ctx: ctx)
        } catch {
            ctx.logger.error("scheduled handler failed", metadata: ["cron": "\(event.cron)", "error": "\(error)"])
            throw error
        }
    }

    /// Awaits `waitUntil` work for at most the configured limit; returns how many were cancelled.
    @discardableResult
    public func drainWaitUntil() async -> Int {
        await tracker.drain(timeout: Double(config.limits.waitUntilTimeoutMilliseconds) / 1000)
    }

    /// `waitUntil` work still running.
    public var pendingWaitUntil: Int { tracker.pending }

    /// Queue consumers for every `queues.consumers` entry, each delivering to the worker.
    public func consumers() throws -> [QueueConsumer<W.QueueMessage>] {
        try config.queueConsumers.map { settings in
            try QueueConsumer<W.QueueMessage>(queue: settings.queue, backend: bindings.queueBackend, configuration: settings.configuration,
                                              logger: logger) { [self] batch in try await self.deliver(batch) }
        }
    }

    /// Every background service: queue consumers, the cron trigger, durable-object alarm schedulers.
    public func backgroundServices() throws -> [any Service] {
        var services: [any Service] = try consumers()
        if !config.crons.isEmpty { services.append(CronService(runtime: self)) }
        services += bindings.services
        return services
    }
}

/// Resumes a continuation once, and owns the timer racing it.
final class ContinuationBox<T: Sendable>: Sendable {
    private let claimed = Atomic<Bool>(false)
    private let continuation: CheckedContinuation<T, Never>
    private let timer = Mutex<(task: Task<Void, Never>?, cancelled: Bool)>((nil, false))

    init(_ continuation: CheckedContinuation<T, Never>) { self.continuation = continuation }

    func claim() -> Bool { !claimed.exchange(true, ordering: .acquiringAndReleasing) }
    func resume(_ value: T) { continuation.resume(returning: value) }

    func setTimer(_ task: Task<Void, Never>) {
        let cancelNow = timer.withLock { state -> Bool in
            state.task = task
            return state.cancelled
        }
        if cancelNow { task.cancel() }
    }

    func cancelTimer() {
        timer.withLock { state -> Task<Void, Never>? in
            state.cancelled = true
            return state.task
        }?.cancel()
    }
}

/// Fires the configured cron triggers into the worker's `scheduled` handler.
struct CronService<W: Worker>: Service {
    let runtime: WorkerRuntime<W>

    func run() async throws {
        let clock = runtime.bindings.clock
        await cancelWhenGracefulShutdown {
            var last = clock.now
            while !Task.isCancelled {
                let upcoming = runtime.config.crons.compactMap { schedule in schedule.nextFire(after: last).map { (schedule, $0) } }
                guard let next = upcoming.map(\.1).min() else { return }
                do { try await clock.sleep(until: next) } catch { return }
                for (schedule, time) in upcoming where time == next {
                    try? await runtime.runScheduled(ScheduledEvent(cron: schedule.expression, scheduledTime: time))
                }
                last = next
            }
        }
    }
}

/// Request metrics (no-ops until the application bootstraps a metrics backend).
struct RuntimeMetrics: Sendable {
    func record(method: String, status: Int, duration: Duration) {
        Counter(label: "edge_http_requests_total", dimensions: [("method", method), ("status", "\(status)")]).increment()
        Metrics.Timer(label: "edge_http_request_duration", dimensions: [("method", method)]).recordNanoseconds(
            Int64(duration.components.seconds) * 1_000_000_000 + Int64(duration.components.attoseconds / 1_000_000_000))
    }
}
