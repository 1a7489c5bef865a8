public import EdgeCore
public import EdgeQueue
public import EdgeRuntime
import EdgeTesting
public import Foundation
public import HTTPTypes
import Hummingbird
import HummingbirdTesting
public import Logging
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
    ///   - logger: the logger of the bindings and handlers.
    /// - Throws: `ConfigError` exactly as the host would at startup.
    public convenience init(
        _ worker: W, config: String, providers: BackendProviders = .builtIn, clock: TestClock = TestClock(),
        secrets: [String: String] = [:], logger: Logger = Logger(label: "swift-edge.runtime")
    ) throws {
        try self.init(
            worker, config: try EdgeConfig.parse(config, file: "test-config.jsonc", providers: providers), providers: providers,
            clock: clock, secrets: secrets, logger: logger)
    }

    /// - Parameters:
    ///   - worker: the worker under test.
    ///   - config: the config, built in code.
    ///   - providers: the backends the config may name (every binding is in memory whatever it names).
    ///   - clock: the clock of every binding; advance it instead of sleeping.
    ///   - secrets: values of the declared secrets (the secrets file is not read).
    ///   - logger: the logger of the bindings and handlers.
    /// - Throws: `ConfigError` exactly as the host would at startup.
    public init(
        _ worker: W, config: EdgeConfig, providers: BackendProviders = .builtIn, clock: TestClock = TestClock(),
        secrets: [String: String] = [:], logger: Logger = Logger(label: "swift-edge.runtime")
    ) throws {
        self.clock = clock
        var config = config
        config.secretsFile = "/nonexistent/.dev.vars"
        runtime = try WorkerRuntime(
            worker: worker,
            bindings: EdgeBindings(
                config: config, providers: providers, clock: clock, inMemory: true,
                environment: secrets, logger: logger))
    }

    /// Sends a request to the worker's `fetch` (no socket) and reads the whole response.
    public func fetch(_ request: EdgeRequest) async -> TestResponse {
        await TestResponse(await runtime.handle(request))
    }

    /// Sends a request to the worker's `fetch` (no socket) and reads the whole response.
    ///
    /// A method that is not a valid token is a programming error; for repeated header fields,
    /// send an `EdgeRequest`.
    public func fetch(_ path: String, method: String = "GET", headers: [String: String] = [:], body: [UInt8] = []) async -> TestResponse {
        await fetch(EdgeRequest(method: httpMethod(method), path: path, headers: fields(headers), body: .bytes(body)))
    }

    /// Sends a request and returns the response as the worker made it, its body unread: for
    /// streamed responses.
    public func stream(_ request: EdgeRequest) async -> EdgeResponse {
        await runtime.handle(request)
    }

    /// Opens a WebSocket to the worker (no network): sends an upgrade request for `path`; when
    /// the worker accepts it, runs its handler on one end of an in-memory pair and returns the
    /// other; else returns nil and the refusal in `refused`.
    ///
    /// The worker's end accepts messages up to the config's `limits.max_websocket_message_bytes`.
    ///
    /// - Parameters:
    ///   - path: the path (and query) to open.
    ///   - headers: extra request header fields.
    public func webSocket(_ path: String, headers: [String: String] = [:]) async -> (socket: (any EdgeWebSocket)?, refused: TestResponse?) {
        var fields = fields(headers)
        fields[.connection] = "upgrade"
        fields[.upgrade] = "websocket"
        fields[.secWebSocketKey] = "dGhlIHNhbXBsZSBub25jZQ=="
        fields[.secWebSocketVersion] = "13"
        let id = runtime.newRequestID()
        let response = await runtime.handle(EdgeRequest(method: .get, path: path, headers: fields), requestID: id)
        guard response.status == .switchingProtocols, let handler = response.webSocket else {
            return (nil, await TestResponse(response))
        }
        let (client, server) = WebSocketPair.make(maxMessageBytes: runtime.config.limits.maxWebSocketMessageBytes)
        let runtime = self.runtime
        Task { await runtime.runWebSocket(handler, on: server, requestID: id) }
        return (client, nil)
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

    /// Awaits the work handlers gave to `ctx.waitUntil`, all of it: not cut off at the
    /// configured `waitUntil` limit (30 s by default) as on shutdown, which a loaded machine
    /// running a test suite in parallel can reach before the work has run.
    public func settle() async {
        await runtime.drainWaitUntil(timeout: 3_600)
    }

    /// Serves the worker on a real socket (an ephemeral port on 127.0.0.1) for the duration of `body`.
    ///
    /// - Throws: what `body` throws, or a server error.
    public func live<Value: Sendable>(_ body: @escaping @Sendable (LiveWorkerClient) async throws -> Value) async throws -> Value {
        let app = try EdgeHost(runtime: runtime).application(port: 0)
        return try await app.test(.live) { server in
            // Its own client rather than the framework's, whose 20 s read timeout a busy machine
            // (a test suite running in parallel on two cores) can exceed.
            guard let port = server.port else { throw LiveWorkerClient.NoPort() }
            let client = TestClient(host: "localhost", port: port, configuration: .init(timeout: .seconds(600)))
            client.connect()
            do {
                let value = try await body(LiveWorkerClient(client: client, port: port))
                try await client.shutdown()
                return value
            } catch {
                try? await client.shutdown()
                throw error
            }
        }
    }
}

/// Sends real HTTP requests to a worker served by ``WorkerTestClient/live(_:)``.
public struct LiveWorkerClient: Sendable {
    struct NoPort: Error {}

    let client: TestClient
    let serverPort: Int

    init(client: TestClient, port: Int) {
        self.client = client
        serverPort = port
    }

    /// The port the server listens on.
    public var port: Int? { serverPort }

    /// Sends `request` over the socket and reads the whole response.
    ///
    /// - Throws: connection errors.
    public func fetch(_ request: EdgeRequest) async throws -> TestResponse {
        let body = try await request.body.bytes()
        var headers = request.headers
        headers[.connection] = "keep-alive"
        let response = try await client.execute(
            TestClient.Request(
                request.path, method: request.method, authority: "localhost", headers: headers, body: body.isEmpty ? nil : ByteBuffer(bytes: body)))
        return TestResponse(status: response.head.status, headers: response.head.headerFields, body: Array((response.body ?? ByteBuffer()).readableBytesView))
    }

    /// Sends a request over the socket and reads the whole response.
    ///
    /// - Throws: connection errors.
    public func fetch(_ path: String, method: String = "GET", headers: [String: String] = [:], body: [UInt8] = []) async throws -> TestResponse {
        try await fetch(EdgeRequest(method: httpMethod(method), path: path, headers: fields(headers), body: .bytes(body)))
    }
}

/// Header fields from a dictionary, in name order; an invalid name is a programming error.
func fields(_ headers: [String: String]) -> HTTPFields {
    var fields = HTTPFields()
    for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
        guard let field = HTTPField.Name(name) else { preconditionFailure("\"\(name)\" is not a valid HTTP field name") }
        fields.append(HTTPField(name: field, value: value))
    }
    return fields
}

/// The method named `name`; a name that is not a valid token is a programming error.
func httpMethod(_ name: String) -> HTTPRequest.Method {
    guard let method = HTTPRequest.Method(name) else { preconditionFailure("\"\(name)\" is not an HTTP method") }
    return method
}

/// A response read whole, for assertions: status, header fields, body.
public struct TestResponse: Sendable {
    public var status: HTTPResponse.Status
    public var headers: HTTPFields
    public var body: [UInt8]

    public init(status: HTTPResponse.Status, headers: HTTPFields, body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Reads `response`'s body whole (a stream that fails ends the body where it failed).
    public init(_ response: EdgeResponse) async {
        var body: [UInt8] = []
        do {
            for try await chunk in response.body { body += chunk }
        } catch {}
        self.init(status: response.status, headers: response.headers, body: body)
    }

    /// The body as UTF-8 text.
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// A header field's value, or nil.
    public func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { headers[$0] }
    }

    /// The body decoded from JSON.
    ///
    /// - Throws: `DecodingError`.
    public func json<T: Decodable>(as type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(body))
    }
}
