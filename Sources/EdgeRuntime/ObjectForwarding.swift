import AsyncHTTPClient
import EdgeCoordinator
import EdgeCore
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

/// Durable-object `fetch` calls between processes that share a store (PostgreSQL): the one
/// runtime component that knows how they travel.
///
/// - Sending: a namespace whose ownership names another process as an object's owner hands the
///   call to this forwarder (its ``DurableObjectForwarder``), which sends it over HTTP to the
///   owner's advertised address at `/__edge/objects/NAMESPACE/ID`. Method, headers and body are
///   kept; the path travels in `x-edge-forward-path`, the store's shared secret in
///   `x-edge-forward-token`.
/// - Receiving: the host hands every request to ``receive(_:)`` first; one for that path is
///   checked (the token, compared in constant time) and run on the object here, never forwarded
///   again. A `fetch` that throws is answered with `x-edge-object-error`, and the caller throws
///   `CoordinatorError.remoteCallFailed`.
/// - Advertising: once the host listens, every namespace's ownership records where this process
///   can be reached (`dev.advertise_url`, else `EDGE_ADVERTISE_URL`, else the listening address).
final class ObjectForwarding: DurableObjectForwarder {
    static let pathPrefix = "/__edge/objects/"
    static let tokenHeader = "x-edge-forward-token"
    static let pathHeader = "x-edge-forward-path"
    static let errorHeader = "x-edge-object-error"
    static let errorField = HTTPField.Name("x-edge-object-error")!
    static let tokenField = HTTPField.Name("x-edge-forward-token")!
    static let pathField = HTTPField.Name("x-edge-forward-path")!
    /// Headers that describe one hop, not the request.
    static let hopHeaders: Set<String> = ["host", "content-length", "connection", "transfer-encoding", "keep-alive", "date", "server", "x-request-id"]

    private struct Receiver {
        let ownership: any DurableObjectOwnership
        let run: @Sendable (String, EdgeRequest) async throws -> EdgeResponse
    }

    private struct State {
        var receivers: [String: Receiver] = [:]
        /// Where this process serves forwarded calls, once it listens.
        var address: String?
    }

    private let state = Mutex(State())
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// The client of forwarded calls: a refused connection fails at once (the owner is gone and
    /// the call runs here), and enough connections per owner for concurrent calls.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(2)
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Lets other processes reach `namespace`'s objects through this process.
    func register<Object: DurableObject>(_ namespace: DurableObjectNamespace<Object>) {
        let address = state.withLock { state -> String? in
            state.receivers[namespace.name] = Receiver(ownership: namespace.ownership) { objectID, request in
                try await namespace.runForwarded(objectID: objectID, request)
            }
            return state.address
        }
        if let address { Task { await namespace.ownership.advertise(address) } }
    }

    /// Records that this process serves HTTP on `port` and tells every namespace's ownership.
    func advertise(port: Int, host: String, configured: URL?, environment: [String: String] = ProcessInfo.processInfo.environment) async {
        let listening = ["0.0.0.0", "::", ""].contains(host) ? "127.0.0.1" : host
        let address =
            configured?.absoluteString ?? environment["EDGE_ADVERTISE_URL"]
            ?? "http://\(listening.contains(":") ? "[\(listening)]" : listening):\(port)"
        let receivers = state.withLock { state in
            state.address = address
            return Array(state.receivers.values)
        }
        for receiver in receivers { await receiver.ownership.advertise(address) }
        if receivers.contains(where: { $0.ownership.renewalInterval != nil }) {
            logger.info("durable-object calls from other processes are accepted at \(address)")
        }
    }

    // MARK: Sending

    func forward(_ request: EdgeRequest, namespace: String, objectID: String, to address: String, token: String) async throws -> EdgeResponse {
        if request.isWebSocketUpgrade {
            return proxyWebSocket(request, url: "\(address)\(Self.pathPrefix)\(namespace)/\(objectID)", token: token)
        }
        var outgoing = HTTPClientRequest(url: "\(address)\(Self.pathPrefix)\(namespace)/\(objectID)")
        outgoing.method = HTTPMethod(request.method)
        for field in request.headers where !Self.hopHeaders.contains(field.name.canonicalName) {
            outgoing.headers.add(name: field.name.rawName, value: field.value)
        }
        outgoing.headers.replaceOrAdd(name: Self.pathHeader, value: request.path)
        outgoing.headers.replaceOrAdd(name: Self.tokenHeader, value: token)
        // The owner's server span continues this trace.
        var trace = HTTPFields()
        TraceContext.inject(into: &trace)
        for field in trace { outgoing.headers.replaceOrAdd(name: field.name.rawName, value: field.value) }
        if let bytes = request.body.storedBytes {
            if !bytes.isEmpty { outgoing.body = .bytes(ByteBuffer(bytes: bytes)) }
        } else {
            outgoing.body = .stream(request.body.map { ByteBuffer(bytes: $0) }, length: .unknown)
        }
        let response: HTTPClientResponse
        do {
            response = try await Self.client.execute(outgoing, timeout: .seconds(300))
        } catch {
            if Self.isUnreachable(error) { throw OwnerUnreachable(address: address, underlying: error) }
            throw CoordinatorError(
                .remoteCallFailed, objectID: objectID, message: "forwarding to the owner of durable object \(objectID) at \(address) failed: \(error)")
        }
        var headers = HTTPFields(response.headers, splitCookie: false)
        for name in Self.hopHeaders { if let field = HTTPField.Name(name) { headers[field] = nil } }
        if headers[Self.errorField] != nil {
            let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            throw CoordinatorError(.remoteCallFailed, objectID: objectID, message: "durable object \(objectID) failed in its owner at \(address): \(text)")
        }
        let body = response.body.map { Array($0.readableBytesView) }
        return EdgeResponse(status: HTTPResponse.Status(code: Int(response.status.code)), headers: headers, body: .stream(body))
    }

    /// A WebSocket for an object another process owns: the client's socket is accepted here and
    /// piped to one opened to the owner, frames both ways, each side's close passed on.
    private func proxyWebSocket(_ request: EdgeRequest, url: String, token: String) -> EdgeResponse {
        var headers = HTTPFields()
        for field in request.headers where !Self.hopHeaders.contains(field.name.canonicalName) && !field.name.canonicalName.hasPrefix("sec-websocket") {
            if field.name != .connection, field.name != .upgrade { headers.append(field) }
        }
        headers[Self.pathField] = request.path
        headers[Self.tokenField] = token
        let webSocketURL = url.replacingOccurrences(of: "https://", with: "wss://").replacingOccurrences(of: "http://", with: "ws://")
        let logger = self.logger
        let forwardedHeaders = headers
        return .webSocket { local in
            let maxSize = 1 << 30
            let closed = try await WebSocketClient.connect(
                url: webSocketURL, configuration: .init(maxFrameSize: 1 << 24, additionalHeaders: forwardedHeaders), logger: logger
            ) { inbound, outbound, _ in
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {  // owner → client
                        for try await message in inbound.messages(maxSize: maxSize) {
                            switch message {
                            case .text(let text): try await local.send(.text(text))
                            case .binary(let buffer): try await local.send(.binary(Array(buffer.readableBytesView)))
                            }
                        }
                        return true
                    }
                    group.addTask {  // client → owner
                        while let message = try await local.receive() {
                            switch message {
                            case .text(let text): try await outbound.write(.text(text))
                            case .binary(let bytes): try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
                            }
                        }
                        let closure = local.closure ?? WebSocketClosure(code: .normalClosure)
                        try await outbound.close(WebSocketErrorCode(codeNumber: closure.code.rawValue), reason: closure.reason)
                        return false
                    }
                    // Whichever side ends first, the other is closed so its loop ends too.
                    if try await group.next() == true { await local.close(.goingAway, reason: "the owner closed the socket") }
                    try await group.waitForAll()
                }
            }
            if let closed { await local.close(WebSocketCloseCode(Int(UInt16(webSocketErrorCode: closed.closeCode))), reason: closed.reason ?? "") }
        }
    }

    /// Whether nothing reached the owner: the connection could not be made.
    static func isUnreachable(_ error: any Error) -> Bool {
        if error is NIOConnectionError { return true }
        if let error = error as? HTTPClientError, error == .connectTimeout { return true }
        if let error = error as? IOError, [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH].contains(error.errnoCode) { return true }
        return false
    }

    // MARK: Receiving

    /// Answers a call another process forwarded here; nil for any other request.
    func receive(_ request: EdgeRequest) async -> EdgeResponse? {
        let path = request.url.path
        guard path.hasPrefix(Self.pathPrefix) else { return nil }
        let parts = path.dropFirst(Self.pathPrefix.count).split(separator: "/")
        guard parts.count == 2, let receiver = state.withLock({ $0.receivers[String(parts[0])] }) else {
            return EdgeResponse(status: .notFound, body: .text("no durable-object namespace here for \(path)"))
        }
        guard let expected = try? await receiver.ownership.forwardingToken(), let given = request.headers[Self.tokenField],
            constantTimeEqual(Array(expected.utf8), Array(given.utf8))
        else {
            return EdgeResponse(status: .forbidden, body: .text("forwarded durable-object call with a missing or wrong token"))
        }
        var local = request
        local.path = request.headers[Self.pathField] ?? "/"
        local.headers[Self.tokenField] = nil
        local.headers[Self.pathField] = nil
        for name in Self.hopHeaders { if let field = HTTPField.Name(name) { local.headers[field] = nil } }
        // A proxied WebSocket stays an upgrade for the object (`Connection` is a hop header).
        if request.isWebSocketUpgrade { local.headers[.connection] = "upgrade" }
        do {
            return try await receiver.run(String(parts[1]), local)
        } catch let error as CoordinatorError where error.code == .invalidID {
            return Self.failure(400, error.message)
        } catch {
            return Self.failure(500, "\(error)")
        }
    }

    private static func failure(_ status: Int, _ message: String) -> EdgeResponse {
        EdgeResponse(status: HTTPResponse.Status(code: status), headers: [.contentType: "text/plain; charset=utf-8", errorField: "1"], body: .text(message))
    }
}
