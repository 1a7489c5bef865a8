import EdgeCore
import EdgeQueue
import Foundation
import Logging
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
public protocol Worker: Sendable {
    /// The bindings the handlers receive, declared as a plain struct.
    associatedtype Env: Sendable
    /// The body type of the messages the `queue` handler receives.
    associatedtype QueueMessage: Codable & Sendable = JSONValue

    /// Builds the `Env` from the configured bindings.
    ///
    /// - Throws: ``ConfigError`` for a missing or mistyped binding.
    static func makeEnv(_ bindings: EdgeBindings) throws -> Env

    /// Handles an HTTP request. The default answers 501.
    func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse

    /// Handles a batch from a queue this worker consumes. The default throws, so the messages are
    /// retried and eventually dead-lettered.
    func queue(_ batch: MessageBatch<QueueMessage>, env: Env, ctx: ExecutionContext) async throws

    /// Handles a cron trigger. The default logs that nothing handled it.
    func scheduled(_ event: ScheduledEvent, env: Env, ctx: ExecutionContext) async throws
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

    public func queue(_ batch: MessageBatch<QueueMessage>, env: Env, ctx: ExecutionContext) async throws {
        throw WorkerError(message: "\(Self.self) has no queue handler, but consumes \(batch.queue)")
    }

    public func scheduled(_ event: ScheduledEvent, env: Env, ctx: ExecutionContext) async throws {
        ctx.logger.warning("cron trigger fired but the worker has no scheduled handler", metadata: ["cron": "\(event.cron)"])
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
    /// Logs with this invocation's request id (metadata `request_id`).
    public var logger: Logger {
        var logger = baseLogger
        logger[metadataKey: "request_id"] = "\(requestID)"
        return logger
    }
    let baseLogger: Logger
    /// The id of this invocation (the `x-request-id` of a request).
    public let requestID: String
    let tracker: WaitUntilTracker

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
