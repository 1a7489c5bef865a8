public import EdgeCore
public import EdgeQueue
public import EdgeRuntime
import EdgeTesting
public import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore

/// Runs a worker in-process over in-memory bindings on a `TestClock`: send it requests, queue
/// batches and cron events without a socket — or, with ``live(_:)``, through a real HTTP socket.
///
/// ```swift
/// let client = try WorkerTestClient(MyWorker(), config: #"{ "name": "t", "kv_namespaces": [{ "binding": "CACHE" }] }"#)
/// let response = await client.fetch("/hello")
/// #expect(response.status == 200)
/// ```
public final class WorkerTestClient<W: Worker>: Sendable {
    public let runtime: WorkerRuntime<W>
    public let clock: TestClock
    public var bindings: EdgeBindings { runtime.bindings }

    /// - Parameters:
    ///   - worker: the worker under test.
    ///   - config: the config file's text (JSON with comments).
    ///   - providers: the backends the config may name (every binding is in memory whatever it
    ///     names; the names are still checked, as the host would).
    ///   - clock: the clock of every binding; advance it instead of sleeping.
    ///   - secrets: values of the declared secrets.
    /// - Throws: `ConfigError` exactly as the host would at startup.
    public convenience init(
        _ worker: W, config: String, providers: BackendProviders = .builtIn, clock: TestClock = TestClock(),
        secrets: [String: String] = [:]
    ) throws {
        try self.init(
            worker, config: try EdgeConfig.parse(config, file: "test-config.jsonc", providers: providers), providers: providers,
            clock: clock, secrets: secrets)
    }

    /// - Parameters:
    ///   - worker: the worker under test.
    ///   - config: the config, built in code.
    ///   - providers: the backends the config may name (every binding is in memory whatever it names).
    ///   - clock: the clock of every binding; advance it instead of sleeping.
    ///   - secrets: values of the declared secrets (the secrets file is not read).
    /// - Throws: `ConfigError` exactly as the host would at startup.
    public init(
        _ worker: W, config: EdgeConfig, providers: BackendProviders = .builtIn, clock: TestClock = TestClock(),
        secrets: [String: String] = [:]
    ) throws {
        self.clock = clock
        var config = config
        config.secretsFile = "/nonexistent/.dev.vars"
        runtime = try WorkerRuntime(
            worker: worker,
            bindings: EdgeBindings(
                config: config, providers: providers, clock: clock, inMemory: true,
                environment: secrets))
    }

    /// Sends a request to the worker's `fetch` (no socket).
    public func fetch(_ request: EdgeRequest) async -> EdgeResponse {
        await runtime.handle(request)
    }

    /// Sends a request to the worker's `fetch` (no socket).
    public func fetch(_ path: String, method: String = "GET", headers: [String: String] = [:], body: [UInt8] = []) async -> EdgeResponse {
        await runtime.handle(EdgeRequest(method: method, path: path, headers: headers, body: body))
    }

    /// Sends `messages` to `queue` and has the queue's configured consumer deliver everything
    /// visible now, batch by batch, to the worker's handler for it. Returns how many deliveries
    /// were made (retries delayed to the future are left for a later call after advancing the clock).
    ///
    /// - Throws: `QueueError` for invalid messages, `ConfigError` when `queue` has no consumer.
    @discardableResult
    public func queue<Message>(_ queue: QueueName<Message>, _ messages: [Message]) async throws -> Int {
        if !messages.isEmpty {
            let producer = try QueueProducer(queue, backend: bindings.queueBackend)
            for start in stride(from: 0, to: messages.count, by: 100) {
                try await producer.sendBatch(messages[start..<min(start + 100, messages.count)].map { QueueSendRequest(body: $0) })
            }
        }
        return try await deliverQueue(queue.name)
    }

    /// Delivers what is visible now in `queue` through its configured consumer; returns how many.
    ///
    /// - Throws: `ConfigError` when the config has no consumer for `queue`.
    @discardableResult
    public func deliverQueue(_ queue: String) async throws -> Int {
        guard let consumer = try runtime.consumers().first(where: { $0.queue == queue }) else {
            throw ConfigError(
                .missingBinding, file: runtime.config.file, key: "queues.consumers", expected: "a consumer of \(queue)",
                message: "no queues.consumers entry consumes \"\(queue)\"")
        }
        var total = 0
        while true {
            let delivered = try await consumer.processAvailable()
            if delivered == 0 { return total }
            total += delivered
        }
    }

    /// Fires the worker's `scheduled` handler as the cron `cron` would at `time` (default: now).
    ///
    /// - Throws: what the handler throws.
    public func scheduled(_ cron: String, at time: Date? = nil) async throws {
        try await runtime.runScheduled(ScheduledEvent(cron: cron, scheduledTime: time ?? clock.now))
    }

    /// Awaits the work handlers gave to `ctx.waitUntil`.
    public func settle() async {
        await runtime.drainWaitUntil()
    }

    /// Serves the worker on a real socket (an ephemeral port on 127.0.0.1) for the duration of `body`.
    ///
    /// - Throws: what `body` throws, or a server error.
    public func live<Value: Sendable>(_ body: @escaping @Sendable (LiveWorkerClient) async throws -> Value) async throws -> Value {
        let app = try EdgeHost(runtime: runtime).application(port: 0)
        return try await app.test(.live) { client in
            try await body(LiveWorkerClient(client: client))
        }
    }
}

/// Sends real HTTP requests to a worker served by ``WorkerTestClient/live(_:)``.
public struct LiveWorkerClient: Sendable {
    let client: any TestClientProtocol

    /// The port the server listens on.
    public var port: Int? { client.port }

    /// Sends `request` over the socket.
    ///
    /// - Throws: connection errors.
    public func fetch(_ request: EdgeRequest) async throws -> EdgeResponse {
        var fields = HTTPFields()
        for (name, value) in request.headers {
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
        let response = try await client.executeRequest(
            uri: request.path, method: HTTPRequest.Method(request.method) ?? .get, headers: fields,
            body: request.body.isEmpty ? nil : ByteBuffer(bytes: request.body))
        var headers: [String: String] = [:]
        for field in response.headers { headers[field.name.canonicalName] = field.value }
        return EdgeResponse(status: response.status.code, headers: headers, body: Array(response.body.readableBytesView))
    }

    /// Sends a request over the socket.
    public func fetch(_ path: String, method: String = "GET", headers: [String: String] = [:], body: [UInt8] = []) async throws -> EdgeResponse {
        try await fetch(EdgeRequest(method: method, path: path, headers: headers, body: body))
    }
}
