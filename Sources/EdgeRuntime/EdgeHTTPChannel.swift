import EdgeCore
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import Synchronization

/// The host's connections: HTTP/1.1 straight into the worker runtime (no router, no per-request
/// context), and WebSocket upgrades decided by the worker itself.
///
/// An upgrade request runs the worker's `fetch` once, before the upgrade: a `101` answer with a
/// handler upgrades the connection and runs the handler on the socket; any other answer is sent
/// as the response to that request, and the connection is closed (NIO's upgrade handler does not
/// hand a refused upgrade request on, so the connection cannot carry another). An upgrade request
/// the WebSocket handshake rejects (no `Sec-WebSocket-Key`, an unsupported version) is answered
/// 400 without running the worker.
struct EdgeHTTPChannel<W: Worker>: ServerChildChannel, HTTPChannelHandler {
    enum Negotiated: Sendable {
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// An upgrade request that was not upgraded: answered, then closed.
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case webSocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
    }

    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
        let upgrade: WebSocketUpgradeDecision
    }

    let runtime: WorkerRuntime<W>
    var responder: Responder

    init(runtime: WorkerRuntime<W>) {
        self.runtime = runtime
        responder = { request, writer, _ in
            // A client that waits for "100 Continue" before sending the body (boto3, curl for
            // large bodies) gets it at once: the body is read as the handler reads it.
            if request.head.headerFields[.expect]?.lowercased() == "100-continue" {
                try await writer.writeInformationalHead(HTTPResponse(status: .continue))
            }
            let edgeRequest = EdgeRequest(head: request.head, body: Self.body(of: request))
            let response = await runtime.handle(edgeRequest, requestID: request.head.headerFields[.edgeRequestID])
            try await Self.write(response, to: writer)
        }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let runtime = self.runtime
        let upgrade = WebSocketUpgradeDecision()
        return channel.eventLoop.makeCompletedFuture {
            let maxFrame = min(max(runtime.config.limits.maxWebSocketMessageBytes, 1 << 14), Int(UInt32.max))
            let upgrader = NIOTypedWebSocketServerUpgrader<Negotiated>(
                maxFrameSize: maxFrame,
                shouldUpgrade: { channel, head in
                    let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                    promise.completeWithTask {
                        let request = try HTTPRequest(head, secure: false, splitCookie: false)
                        let id = request.headerFields[.edgeRequestID] ?? runtime.newRequestID()
                        let response = await runtime.handle(EdgeRequest(head: request), requestID: id)
                        guard response.status == .switchingProtocols, let handler = response.webSocket else {
                            upgrade.refuse(response)
                            return nil
                        }
                        upgrade.accept(handler, requestID: id)
                        var headers = response.headers
                        headers[.edgeRequestID] = nil
                        return HTTPHeaders(headers)
                    }
                    return promise.futureResult
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        .webSocket(
                            try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
                                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)))
                    }
                }
            )
            let spotter = UpgradeRequestSpotter(decision: upgrade)
            let upgrades = NIOTypedHTTPServerUpgradeConfiguration<Negotiated>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        return upgrade.upgradeRequested ? .refused(http) : .http(http)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration(upgradeConfiguration: upgrades)
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            let negotiated = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            let upgradeHandler = try channel.pipeline.syncOperations.handler(type: NIOTypedHTTPServerUpgradeHandler<Negotiated>.self)
            try channel.pipeline.syncOperations.addHandler(spotter, position: .before(upgradeHandler))
            return Value(negotiated: negotiated, channel: channel, upgrade: upgrade)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refused(let http):
                // The worker's answer, or 400 when the handshake rejected the request before the
                // worker could see it.
                let response =
                    value.upgrade.takeRefusal()
                    ?? EdgeResponse.text(
                        "malformed WebSocket upgrade: it needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13", status: .badRequest)
                try await http.executeThenClose { _, outbound in
                    var head = response.head
                    head.headerFields[.connection] = "close"
                    if let bytes = response.body.storedBytes {
                        head.headerFields[.contentLength] = String(bytes.count)
                        try await outbound.write(.head(head))
                        if !bytes.isEmpty { try await outbound.write(.body(ByteBuffer(bytes: bytes))) }
                    } else {
                        try await outbound.write(.head(head))
                        for try await chunk in response.body { try await outbound.write(.body(ByteBuffer(bytes: chunk))) }
                    }
                    try await outbound.write(.end(nil))
                }
            case .webSocket(let channel):
                guard let accepted = value.upgrade.accepted else { return }
                await WebSocketConnection.run(channel, maxMessageBytes: runtime.config.limits.maxWebSocketMessageBytes, logger: logger) { socket in
                    await runtime.runWebSocket(accepted.0, on: socket, requestID: accepted.1)
                }
            }
        } catch {
            logger.debug("connection ended during setup", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Bodies

    /// A request's body for the worker: nothing when the head says so, else a stream of the
    /// connection's chunks (the runtime enforces the size limit while it is read).
    static func body(of request: Request) -> EdgeBody {
        let fields = request.head.headerFields
        if fields[.transferEncoding] == nil, (fields[.contentLength].flatMap { Int($0) } ?? 0) == 0 { return .empty }
        return .stream(Chunks(body: request.body))
    }

    struct Chunks: AsyncSequence, Sendable {
        typealias Element = [UInt8]
        let body: RequestBody

        struct AsyncIterator: AsyncIteratorProtocol {
            var base: RequestBody.AsyncIterator
            mutating func next() async throws -> [UInt8]? {
                guard let buffer = try await base.next() else { return nil }
                return Array(buffer.readableBytesView)
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: body.makeAsyncIterator()) }
    }

    /// Writes a response: a body in memory in one write, a stream chunk by chunk as it is
    /// produced (a stream the client stops reading is cancelled).
    static func write(_ response: EdgeResponse, to writer: consuming ResponseWriter) async throws {
        if let bytes = response.body.storedBytes {
            var head = response.head
            if head.headerFields[.contentLength] == nil { head.headerFields[.contentLength] = String(bytes.count) }
            try await writer.write(response: head, body: bytes.isEmpty ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        } else {
            var body = try await writer.writeHead(response.head)
            do {
                for try await chunk in response.body {
                    try await body.write(ByteBuffer(bytes: chunk))
                }
                try await body.finish(nil)
            } catch {
                response.body.cancel()
                throw error
            }
        }
    }
}

/// Notes whether the connection's first request asks for an upgrade (NIO's upgrade handler,
/// next in the pipeline, swallows such a request when it does not upgrade it), then leaves the
/// pipeline: later requests, or WebSocket frames, pass without it.
final class UpgradeRequestSpotter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    let decision: WebSocketUpgradeDecision

    init(decision: WebSocketUpgradeDecision) { self.decision = decision }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return context.fireChannelRead(data) }
        if head.headers.contains(name: "upgrade") { decision.upgradeRequested = true }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// What the worker answered to the connection's upgrade request.
final class WebSocketUpgradeDecision: Sendable {
    private let state = Mutex<(accepted: (WebSocketHandler, String)?, refused: EdgeResponse?)>((nil, nil))
    private let requested = Mutex(false)

    /// The connection's first request asked for an upgrade.
    var upgradeRequested: Bool {
        get { requested.withLock { $0 } }
        set { requested.withLock { $0 = newValue } }
    }

    func accept(_ handler: @escaping WebSocketHandler, requestID: String) { state.withLock { $0.accepted = (handler, requestID) } }
    func refuse(_ response: EdgeResponse) { state.withLock { $0.refused = response } }
    var accepted: (WebSocketHandler, String)? { state.withLock { $0.accepted } }
    func takeRefusal() -> EdgeResponse? {
        state.withLock { state in
            defer { state.refused = nil }
            return state.refused
        }
    }
}
