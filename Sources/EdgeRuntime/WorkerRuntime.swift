import EdgeCore
import EdgeQueue
import EdgeS3
import Foundation
import HTTPTypes
import Logging
import Metrics
public import ServiceLifecycle
import Synchronization
import Tracing

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
    private let metrics: RuntimeMetrics
    private let watchdog: Watchdog<EdgeResponse>
    /// `config.limits`, kept apart so the request path does not copy the whole config.
    private let limits: EdgeConfig.Limits

    /// Builds the worker's `Env`: a missing or mistyped binding fails here, at startup.
    ///
    /// - Throws: ``ConfigError``.
    public convenience init(worker: W, bindings: EdgeBindings) throws {
        try self.init(worker: worker, bindings: bindings, servesS3Only: false)
    }

    /// `servesS3Only`: every request goes to the S3 API (its own port). `servesMetricsOnly`: the
    /// metrics endpoint's own port.
    init(worker: W, bindings: EdgeBindings, servesS3Only: Bool, servesMetricsOnly: Bool = false) throws {
        try Self.checkQueueHandlers(bindings.config)
        self.worker = worker
        self.bindings = bindings
        env = try W.makeEnv(bindings)
        watchdog = Watchdog(clock: bindings.clock)
        limits = bindings.config.limits
        idPrefix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        s3API = try bindings.s3API()
        self.servesS3Only = servesS3Only
        let settings = bindings.config.metrics
        metricsPath = settings.enabled && !servesS3Only && (servesMetricsOnly || settings.port == nil) ? settings.path : nil
        metrics = RuntimeMetrics(worker: bindings.config.name)
        let served = !servesS3Only && !servesMetricsOnly && bindings.config.dashboard.isServed(host: bindings.config.host)
        dashboard = served ? try Dashboard(bindings: bindings, log: requestLog, metricsPath: metricsPath) : nil
    }

    /// The local dashboard, when this runtime serves it.
    private let dashboard: Dashboard?
    /// The last requests answered, for the dashboard's live log.
    let requestLog = RequestLog()

    /// Where this runtime answers with the metrics scrape (``EdgeMetrics``), if it does.
    private let metricsPath: String?

    /// The S3 API, answering before the worker's limits (its bodies are as large as S3 allows).
    private let s3API: S3API?
    private let servesS3Only: Bool

    private var logger: Logger { bindings.logger }

    /// A new request id (a random prefix per runtime and a counter).
    public func newRequestID() -> String {
        "\(idPrefix)-\(requestCounter.add(1, ordering: .relaxed).newValue)"
    }

    /// The trace id of the span this task runs in, if any.
    private static func currentTraceID() -> String? { TraceContext.traceParent().flatMap(TraceContext.traceID(of:)) }

    private func context(_ requestID: String, traceID: String? = currentTraceID()) -> ExecutionContext {
        ExecutionContext(baseLogger: logger, requestID: requestID, tracker: tracker, traceID: traceID)
    }

    // MARK: fetch

    /// Handles one request with the configured limits. Never throws: an uncaught error becomes a
    /// 500 carrying the request id, a request over the wall-time limit a 503, a request beyond the
    /// concurrency limit a 503.
    public func handle(_ request: EdgeRequest, requestID: String? = nil) async -> EdgeResponse {
        let id = requestID ?? newRequestID()
        // Scrapes are answered first and left out of the request metrics they report.
        if let metricsPath, request.url.path == metricsPath {
            var response = EdgeMetrics.response(to: request)
            response.headers[.edgeRequestID] = id
            return response
        }
        // So are the dashboard's pages (its live log polls once a second).
        // (Not durable-object calls another process forwards here, which share the `/__edge/` prefix.)
        if let dashboard, dashboard.serves(request.url.path), !request.url.path.hasPrefix(ObjectForwarding.pathPrefix) {
            var response = await dashboard.handle(request)
            response.headers[.edgeRequestID] = id
            return response
        }
        // A server span continuing the caller's trace (`traceparent`), if any.
        return await withSpan("\(request.method.rawValue) \(request.url.path)", context: TraceContext.extract(from: request.headers), ofKind: .server) {
            span in
            span.attributes["http.request.method"] = request.method.rawValue
            span.attributes["url.path"] = request.url.path
            span.attributes["edge.request_id"] = id
            let response = await serve(request, id: id)
            span.attributes["http.response.status_code"] = response.status.code
            if response.status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
            return response
        }
    }

    private func serve(_ request: EdgeRequest, id: String) async -> EdgeResponse {
        let started = ContinuousClock.now
        let traceID = Self.currentTraceID()
        var response = await respond(request, id: id, traceID: traceID)
        response.headers[.edgeRequestID] = id
        let elapsed = ContinuousClock.now - started
        metrics.record(method: request.method.rawValue, status: response.status.code, duration: elapsed)
        let milliseconds = elapsed.inMilliseconds
        requestLog.record(method: request.method.rawValue, path: request.url.path, status: response.status.code, milliseconds: milliseconds, requestID: id)
        if logger.logLevel <= .info {
            var metadata: Logger.Metadata = [
                "request_id": "\(id)", "status": "\(response.status.code)", "ms": "\(String(format: "%.2f", milliseconds))",
            ]
            if let traceID { metadata["trace_id"] = "\(traceID)" }
            logger.info("\(request.method) \(request.url.path) \(response.status.code)", metadata: metadata)
        }
        return response
    }

    private func respond(_ request: EdgeRequest, id: String, traceID: String?) async -> EdgeResponse {
        if let s3API, servesS3Only || (bindings.config.s3API?.port == nil && s3API.accepts(request)) {
            return await s3API.handle(request)
        }
        var request = request
        let limit = limits.maxRequestBodyBytes
        // The body limit: a known size or a declared length over it is refused before the
        // handler runs; a stream is counted as it is read and cut off where it crosses the limit.
        if let size = request.body.count ?? request.headers[.contentLength].flatMap({ Int($0) }), size > limit {
            request.body.cancel()
            return Self.tooLarge(size, limit: limit, id: id)
        }
        let counted = request.body.isStream ? BodyLimit(limit) : nil
        if let counted { request.body = counted.wrap(request.body) }
        let active = inFlight.add(1, ordering: .relaxed).newValue
        defer { inFlight.subtract(1, ordering: .relaxed) }
        if active > limits.maxConcurrentRequests {
            return Self.errorResponse(503, "too many concurrent requests (limit \(limits.maxConcurrentRequests))", id: id)
        }
        // A durable-object call another process forwarded to this one, the object's owner.
        if let forwarded = await bindings.objectForwarding.receive(request) { return forwarded }
        let ctx = context(id, traceID: traceID)
        let handled = request
        let outcome = await watchdog.run(timeout: limits.requestTimeout.inSeconds) { [worker, env] in
            try await worker.fetch(handled, env: env, ctx: ctx)
        }
        if let counted, counted.exceeded {
            // Whatever the handler made of it, a body over the limit is refused.
            if case .finished(.success(let response)) = outcome { response.body.cancel() }
            ctx.logger.notice("request body over the limit", metadata: ["limit": "\(limit)", "path": "\(request.url.path)"])
            return Self.tooLarge(nil, limit: limit, id: id)
        }
        switch outcome {
        case .finished(.success(let response)):
            return response
        case .finished(.failure(let error as WebSocketError)) where error.code == .tooManySockets:
            ctx.logger.warning("WebSocket refused", metadata: ["reason": "\(error.message)", "path": "\(request.url.path)"])
            return Self.errorResponse(503, error.message, id: id)
        case .finished(.failure(let error)):
            ctx.logger.error("uncaught error in fetch handler", metadata: ["error": "\(error)", "path": "\(request.url.path)"])
            return Self.errorResponse(500, "internal error", id: id)
        case .timedOut:
            let milliseconds = Int(limits.requestTimeout.inSeconds * 1000)
            ctx.logger.error("fetch handler exceeded the wall-time limit", metadata: ["limit_ms": "\(milliseconds)"])
            return Self.errorResponse(503, "the request took longer than \(milliseconds) ms", id: id)
        }
    }

    static func tooLarge(_ size: Int?, limit: Int, id: String) -> EdgeResponse {
        errorResponse(413, "request body\(size.map { " of \($0) bytes" } ?? "") exceeds the limit of \(limit) bytes", id: id)
    }

    static func errorResponse(_ status: Int, _ message: String, id: String) -> EdgeResponse {
        let body = "{\"error\":\(jsonString(message)),\"requestId\":\(jsonString(id))}"
        return EdgeResponse(
            status: HTTPResponse.Status(code: status), headers: [.contentType: "application/json", .edgeRequestID: id], body: .text(body))
    }

    // MARK: WebSockets

    /// Runs an accepted WebSocket's handler with the configured limits: a message over
    /// `limits.max_websocket_message_bytes` closes it with 1009, no message within
    /// `limits.websocket_idle_timeout_ms` closes it with 1008, a handler that throws closes it
    /// with 1011 and nothing else; a handler that returns leaves it closed normally.
    public func runWebSocket(_ handler: @escaping WebSocketHandler, on socket: any EdgeWebSocket, requestID: String? = nil) async {
        let ctx = context(requestID ?? newRequestID())
        let watched = limits.webSocketIdleTimeout > .zero ? IdleWebSocket(socket, timeout: limits.webSocketIdleTimeout, clock: bindings.clock) : nil
        do {
            try await handler(watched ?? socket)
            await socket.close(.normalClosure, reason: "")
        } catch let error as WebSocketError where error.code == .messageTooBig || error.code == .idleTimeout || error.code == .closed {
            ctx.logger.notice("WebSocket closed", metadata: ["reason": "\(error.message)"])
        } catch {
            ctx.logger.error("WebSocket handler failed; the socket is closed with 1011", metadata: ["error": "\(error)"])
            await socket.close(.internalError, reason: "internal error")
        }
        watched?.stop()
    }

    private static func jsonString(_ text: String) -> String {
        String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
    }

    // MARK: queue and scheduled

    /// Every consumed queue has a handler, and no queue has two.
    ///
    /// - Throws: ``ConfigError`` `.missingBinding` naming the queue and the handlers there are.
    static func checkQueueHandlers(_ config: EdgeConfig) throws {
        var named = Set<String>()
        for handler in W.queues {
            guard let queue = handler.queue else { continue }
            guard named.insert(queue).inserted else {
                throw ConfigError(
                    .invalidValue, file: config.file, key: "queues.consumers", expected: "one handler per queue",
                    message: "\(W.self).queues has two handlers for queue \"\(queue)\"")
            }
        }
        let catchAll = W.queues.contains { $0.queue == nil }
        for (index, consumer) in config.queueConsumers.enumerated() where !catchAll && !named.contains(consumer.queue) {
            let handled = named.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
            throw ConfigError(
                .missingBinding, file: config.file, key: "queues.consumers[\(index)]", expected: "a queue \(W.self) handles",
                message:
                    "queue \"\(consumer.queue)\" is consumed, but \(W.self).queues has no handler for it (it handles: \(handled.isEmpty ? "none" : handled))")
        }
    }

    /// The handler of `queue`: the one naming it, else the worker's consume-all handler.
    func handler(for queue: String) -> QueueHandler<W>? {
        W.queues.first { $0.queue == queue } ?? W.queues.first { $0.queue == nil }
    }

    /// Runs a queue handler for one batch with a fresh execution context (what consumers call).
    ///
    /// - Throws: what the handler throws (the consumer then retries the batch).
    func deliver<Message>(_ batch: MessageBatch<Message>, _ handle: @Sendable (W, W.Env, ExecutionContext) async throws -> Void) async throws {
        try await handle(worker, env, context(newRequestID()))
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

    /// Awaits `waitUntil` work for at most `seconds` (default: the configured limit), then
    /// cancels what is left; returns how many were cancelled.
    @discardableResult
    public func drainWaitUntil(timeout seconds: Double? = nil) async -> Int {
        await tracker.drain(timeout: seconds ?? limits.waitUntilTimeout.inSeconds)
    }

    /// `waitUntil` work still running.
    public var pendingWaitUntil: Int { tracker.pending }

    /// Queue consumers for every `queues.consumers` entry, each delivering to the handler of
    /// its queue.
    ///
    /// - Throws: ``ConfigError`` for a queue without a handler; `QueueError` for invalid settings.
    public func consumers() throws -> [any QueueConsuming] {
        try config.queueConsumers.map { settings in
            guard let handler = handler(for: settings.queue) else {
                throw ConfigError(
                    .missingBinding, file: config.file, key: "queues.consumers", expected: "a queue \(W.self) handles",
                    message: "queue \"\(settings.queue)\" is consumed, but \(W.self).queues has no handler for it")
            }
            return try handler.makeConsumer(settings.queue, self, settings.configuration)
        }
    }

    /// Every background service: queue consumers, the cron trigger, durable-object alarm schedulers.
    public func backgroundServices() throws -> [any Service] {
        // The backends' own (a database pool) first: services shut down in reverse order, so
        // they outlive their users.
        var services = bindings.backendServices
        // The span exporter before them: it stops last and sends the final spans.
        if let tracing = bindings.tracingService { services.insert(tracing, at: 0) }
        services += try consumers()
        if !config.crons.isEmpty { services.append(CronService(runtime: self)) }
        services += bindings.namespaceServices
        services += try worker.backgroundServices()
        return services
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

/// Request metrics by worker (the config's `name`), method and status (no-ops until a metrics
/// backend is bootstrapped; see ``EdgeMetrics``). The counter and timer for each method and status
/// are made once and reused.
final class RuntimeMetrics: Sendable {
    private struct Key: Hashable { let method: String, status: Int }
    private let worker: String
    private let counters = Mutex<[Key: Counter]>([:])
    private let timers = Mutex<[String: Metrics.Timer]>([:])

    init(worker: String) { self.worker = worker }

    func record(method: String, status: Int, duration: Duration) {
        let counter = counters.withLock { counters in
            if let counter = counters[Key(method: method, status: status)] { return counter }
            let counter = Counter(label: "edge_http_requests_total", dimensions: [("worker", worker), ("method", method), ("status", "\(status)")])
            counters[Key(method: method, status: status)] = counter
            return counter
        }
        counter.increment()
        let timer = timers.withLock { timers in
            if let timer = timers[method] { return timer }
            let timer = Metrics.Timer(label: "edge_http_request_duration_seconds", dimensions: [("worker", worker), ("method", method)])
            timers[method] = timer
            return timer
        }
        timer.recordNanoseconds(duration.inNanoseconds)
    }
}

extension HTTPField.Name {
    /// `x-request-id`: the id of a request, in its response (the client's own when it sent one).
    static let edgeRequestID = HTTPField.Name("x-request-id")!
}
