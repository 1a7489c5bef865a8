import EdgeCore
import EdgeQueue
public import Foundation
import HTTPTypes
public import Logging
public import ServiceLifecycle
import Synchronization

/// A worker: the application's handlers for HTTP requests, queue batches and cron triggers
/// (Cloudflare's `export default { fetch, queue, scheduled }`).
///
/// ```swift
/// struct Hello: Worker {
///     struct Env: Sendable { var greetings: any KVNamespace }
///     static func makeEnv(_ bindings: EdgeBindings) throws -> Env { Env(greetings: try bindings.kv("GREETINGS")) }
///
///     func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
///         .text(try await env.greetings.get("hello") ?? "hello, world")
///     }
/// }
/// ```
///
/// `makeEnv` runs once at startup: a binding it asks for that the config does not declare fails
/// startup with a ``ConfigError`` naming the binding and the file, never the first request.
///
/// Queues are typed: each queue's message type is declared once as a `QueueName`, producers are
/// bound to it (``EdgeBindings/queue(_:for:)``) and the worker lists a handler per queue it
/// consumes (``queues``):
///
/// ```swift
/// enum Queues { static let thumbnails = QueueName<ThumbnailJob>("thumbnails") }
///
/// struct Thumbnails: Worker {
///     struct Env: Sendable { var jobs: QueueProducer<ThumbnailJob> }
///     static func makeEnv(_ bindings: EdgeBindings) throws -> Env { Env(jobs: try bindings.queue("JOBS", for: Queues.thumbnails)) }
///     static let queues: [QueueHandler<Thumbnails>] = [
///         .consume(Queues.thumbnails) { worker, batch, env, ctx in
///             for message in batch.messages { ctx.logger.info("thumbnail \(message.body.key)") }
///         },
///     ]
/// }
/// ```
public protocol Worker: Sendable {
    /// The bindings the handlers receive, declared as a plain struct.
    associatedtype Env: Sendable

    /// Builds the `Env` from the configured bindings.
    ///
    /// - Throws: ``ConfigError`` for a missing or mistyped binding.
    static func makeEnv(_ bindings: EdgeBindings) throws -> Env

    /// Handles an HTTP request. The default answers 501.
    func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse

    /// The queues this worker consumes, each with the typed handler its batches go to. Every
    /// `queues.consumers` entry of the config must have one (checked at startup). Default: none.
    static var queues: [QueueHandler<Self>] { get }

    /// Handles a cron trigger. The default logs that nothing handled it.
    func scheduled(_ event: ScheduledEvent, env: Env, ctx: ExecutionContext) async throws

    /// Services the worker runs beside its runtime's own queue consumers, cron trigger and alarm
    /// schedulers (a router of WebAssembly workers runs its workers' there). Default: none.
    ///
    /// - Throws: what makes a service fail to start (a `ConfigError` for a consumer without a handler).
    func backgroundServices() throws -> [any Service]
}

/// Thrown by the default handlers.
public struct WorkerError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension Worker {
    public func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        .text("\(Self.self) has no fetch handler", status: 501)
    }

    public static var queues: [QueueHandler<Self>] { [] }

    public func backgroundServices() throws -> [any Service] { [] }

    public func scheduled(_ event: ScheduledEvent, env: Env, ctx: ExecutionContext) async throws {
        ctx.logger.warning("cron trigger fired but the worker has no scheduled handler", metadata: ["cron": "\(event.cron)"])
    }
}

/// One queue a worker consumes and the handler its batches go to, typed by the queue's
/// `QueueName`: a handler receives `MessageBatch<Message>` of exactly the type producers send.
/// A message whose body does not decode as `Message` is retried, then dead-lettered.
public struct QueueHandler<W: Worker>: Sendable {
    /// The queue it consumes; nil for ``consumeAll(as:_:)``.
    public let queue: String?
    /// The message type, for error messages.
    public let messageType: String
    let makeConsumer: @Sendable (_ queue: String, _ runtime: WorkerRuntime<W>, _ settings: QueueConsumerConfiguration) throws -> any QueueConsuming

    public typealias Handle<Message: Sendable> =
        @Sendable (_ worker: W, _ batch: MessageBatch<Message>, _ env: W.Env, _ ctx: ExecutionContext) async throws -> Void

    /// Consumes `queue`: its batches go to `handle`. A handler that throws has the whole batch
    /// retried; `message.retry()` and `message.ack()` decide per message.
    public static func consume<Message>(_ queue: QueueName<Message>, _ handle: @escaping Handle<Message>) -> QueueHandler<W> {
        QueueHandler(queue: queue.name, messageType: String(describing: Message.self)) { name, runtime, settings in
            try QueueConsumer<Message>(queue: name, backend: runtime.bindings.queueBackend, configuration: settings, logger: runtime.bindings.logger) { batch in
                try await runtime.deliver(batch) { worker, env, ctx in try await handle(worker, batch, env, ctx) }
            }
        }
    }

    /// Consumes every queue of the config that no ``consume(_:_:)`` handler names, with bodies
    /// as any JSON: for generic workers such as one that logs whatever it is given.
    public static func consumeAll(_ handle: @escaping Handle<JSONValue>) -> QueueHandler<W> {
        consumeAll(as: JSONValue.self, handle)
    }

    /// Consumes every queue of the config that no ``consume(_:_:)`` handler names, decoding
    /// bodies as `Message`.
    public static func consumeAll<Message: Codable & Sendable>(as type: Message.Type, _ handle: @escaping Handle<Message>) -> QueueHandler<W> {
        QueueHandler(queue: nil, messageType: String(describing: Message.self)) { name, runtime, settings in
            try QueueConsumer<Message>(queue: name, backend: runtime.bindings.queueBackend, configuration: settings, logger: runtime.bindings.logger) { batch in
                try await runtime.deliver(batch) { worker, env, ctx in try await handle(worker, batch, env, ctx) }
            }
        }
    }
}

/// A cron trigger firing.
public struct ScheduledEvent: Sendable, Hashable {
    /// The cron expression that fired, as written in the config.
    public var cron: String
    /// The minute it fired for.
    public var scheduledTime: Date

    public init(cron: String, scheduledTime: Date) {
        self.cron = cron
        self.scheduledTime = scheduledTime
    }
}

/// What a handler can do beyond returning: keep work running after the response (`waitUntil`),
/// and log with the request id.
public struct ExecutionContext: Sendable {
    /// Logs with this invocation's request id (metadata `request_id`) and, when it is traced,
    /// its trace id (`trace_id`).
    public var logger: Logger {
        var logger = baseLogger
        logger[metadataKey: "request_id"] = "\(requestID)"
        if let traceID { logger[metadataKey: "trace_id"] = "\(traceID)" }
        return logger
    }
    let baseLogger: Logger
    /// The id of this invocation (the `x-request-id` of a request).
    public let requestID: String
    /// The W3C trace id of this invocation's span, when a tracer is bootstrapped.
    public let traceID: String?
    let tracker: WaitUntilTracker

    init(baseLogger: Logger, requestID: String, tracker: WaitUntilTracker, traceID: String? = nil) {
        self.baseLogger = baseLogger
        self.requestID = requestID
        self.tracker = tracker
        self.traceID = traceID
    }

    /// Runs `work` after the handler returns (the response is not delayed by it). The runtime
    /// awaits such work before it shuts down, for at most `limits.wait_until_timeout_ms`; errors
    /// are logged.
    public func waitUntil(_ work: @escaping @Sendable () async throws -> Void) {
        tracker.add(work, logger: logger)
    }

    /// Accepted for compatibility; an uncaught error is always answered with a 500.
    public func passThroughOnException() {}
}

/// The work handed to `waitUntil`, awaited before shutdown.
final class WaitUntilTracker: Sendable {
    private struct State {
        var next = 0
        var tasks: [Int: Task<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    func add(_ work: @escaping @Sendable () async throws -> Void, logger: Logger) {
        state.withLock { state in
            state.next += 1
            let id = state.next
            state.tasks[id] = Task {
                do {
                    try await work()
                } catch {
                    logger.error("waitUntil work failed", metadata: ["error": "\(error)"])
                }
                self.state.withLock { _ = $0.tasks.removeValue(forKey: id) }
            }
        }
    }

    var pending: Int { state.withLock { $0.tasks.count } }

    /// Awaits the outstanding work for at most `timeout` seconds, then cancels what is left.
    /// Returns how many tasks were cancelled.
    @discardableResult
    func drain(timeout: Double) async -> Int {
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int(timeout * 1000)))
        while true {
            let tasks = state.withLock { Array($0.tasks.values) }
            if tasks.isEmpty { return 0 }
            if ContinuousClock.now >= deadline {
                for task in tasks { task.cancel() }
                return tasks.count
            }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }
}
