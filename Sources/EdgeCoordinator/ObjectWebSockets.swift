public import EdgeCore
public import Foundation
import Synchronization

/// A WebSocket a durable object accepted (``DurableObjectState/acceptWebSocket(tags:)->_``), with
/// Cloudflare's hibernation semantics: the socket belongs to the namespace, not to the object's
/// instance, so it stays open while the instance is evicted; its next message rebuilds the
/// instance and is delivered to ``DurableObject/webSocketMessage(_:_:)``. Its tags and its
/// attachment survive the eviction too.
public final class HibernatableWebSocket: Sendable, Hashable, CustomStringConvertible {
    private struct State {
        var socket: (any EdgeWebSocket)?
        /// Sends made before the connection was up, in order.
        var pending: [WebSocketMessage] = []
        var attachment: [UInt8]?
        var closure: WebSocketClosure?
        var autoResponded: Date?
    }

    /// Unique in the process.
    public let id: String
    /// The tags it was accepted with (``DurableObjectState/getWebSockets(tag:)`` finds it by them).
    public let tags: [String]
    let limits: CoordinatorLimits
    private let state = Mutex(State())

    init(tags: [String], limits: CoordinatorLimits) {
        id = UUID().uuidString
        self.tags = tags
        self.limits = limits
    }

    public var description: String { "WebSocket \(id)\(tags.isEmpty ? "" : " \(tags)")" }
    public static func == (lhs: HibernatableWebSocket, rhs: HibernatableWebSocket) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    /// How the socket ended, once it has.
    public var closure: WebSocketClosure? { state.withLock { $0.closure } }

    /// When the auto-response last answered this socket (``DurableObjectState/setWebSocketAutoResponse(_:)``).
    public var autoResponseTimestamp: Date? { state.withLock { $0.autoResponded } }

    /// Sends a message (queued until the connection is up, when the object sends from the
    /// `fetch` that accepted it).
    ///
    /// - Throws: `WebSocketError` `.closed` once the socket is closed; connection errors.
    public func send(_ message: WebSocketMessage) async throws {
        let socket = try state.withLock { state -> (any EdgeWebSocket)? in
            if state.closure != nil { throw WebSocketError(.closed, message: "the WebSocket is closed") }
            guard let socket = state.socket else {
                state.pending.append(message)
                return nil
            }
            return socket
        }
        try await socket?.send(message)
    }

    /// Sends text.
    ///
    /// - Throws: as ``send(_:)-(WebSocketMessage)``.
    public func send(_ text: String) async throws { try await send(.text(text)) }

    /// Closes the socket with `code` and `reason`.
    public func close(_ code: WebSocketCloseCode = .normalClosure, reason: String = "") async {
        let socket = state.withLock { state -> (any EdgeWebSocket)? in
            if state.closure == nil { state.closure = WebSocketClosure(code: code, reason: reason) }
            return state.socket
        }
        await socket?.close(code, reason: reason)
    }

    /// Keeps `value` with the socket (as JSON, at most ``CoordinatorLimits/maxWebSocketAttachmentBytes``
    /// bytes): it survives the object's eviction. `nil` removes it.
    ///
    /// - Throws: ``CoordinatorError`` `.valueTooLarge`, `.encodingFailed`.
    public func serializeAttachment<T: Encodable>(_ value: T?) throws {
        guard let value else {
            state.withLock { $0.attachment = nil }
            return
        }
        let bytes: [UInt8]
        do {
            bytes = Array(try JSONEncoder().encode(value))
        } catch {
            throw CoordinatorError(.encodingFailed, message: "the WebSocket attachment cannot be encoded as JSON: \(error)")
        }
        guard bytes.count <= limits.maxWebSocketAttachmentBytes else {
            throw CoordinatorError(
                .valueTooLarge, limit: limits.maxWebSocketAttachmentBytes, actual: bytes.count,
                message: "a WebSocket attachment of \(bytes.count) bytes is over the limit of \(limits.maxWebSocketAttachmentBytes)")
        }
        state.withLock { $0.attachment = bytes }
    }

    /// The value ``serializeAttachment(_:)`` kept, or nil.
    ///
    /// - Throws: ``CoordinatorError`` `.decodingFailed` when it is not a `T`.
    public func deserializeAttachment<T: Decodable>(as type: T.Type = T.self) throws -> T? {
        guard let bytes = state.withLock({ $0.attachment }) else { return nil }
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw CoordinatorError(.decodingFailed, message: "the WebSocket attachment is not a \(T.self): \(error)")
        }
    }

    // MARK: The connection

    /// The connection is up: pending sends go out.
    func connect(_ socket: any EdgeWebSocket) async throws {
        // Sends made meanwhile keep queueing until the queue is empty, so nothing overtakes.
        while true {
            let pending = state.withLock { state -> [WebSocketMessage] in
                if state.pending.isEmpty { state.socket = socket }
                defer { state.pending = [] }
                return state.pending
            }
            if pending.isEmpty { break }
            for message in pending { try await socket.send(message) }
        }
        if let closure = self.closure { await socket.close(closure.code, reason: closure.reason) }
    }

    func ended(_ closure: WebSocketClosure) {
        state.withLock { state in
            if state.closure == nil { state.closure = closure }
        }
    }

    func autoResponded(at time: Date) { state.withLock { $0.autoResponded = time } }
}

/// A request whose exact text is answered with a fixed response by the runtime, without waking
/// the object (``DurableObjectState/setWebSocketAutoResponse(_:)``): pings, typically.
public struct WebSocketAutoResponse: Sendable, Hashable {
    public var request: String
    public var response: String

    public init(request: String, response: String) {
        self.request = request
        self.response = response
    }
}

/// What the namespace delivers to an object from its sockets.
enum WebSocketEvent: Sendable {
    case message(WebSocketMessage)
    case close(WebSocketClosure)
    case error(any Error)
}

/// The sockets of one object: owned by the namespace, so they outlive its instances.
final class ObjectWebSockets: Sendable {
    typealias Dispatch = @Sendable (HibernatableWebSocket, WebSocketEvent) async throws -> Void

    private struct State {
        var sockets: [String: HibernatableWebSocket] = [:]
        var autoResponse: WebSocketAutoResponse?
    }

    private let state = Mutex(State())
    let limits: CoordinatorLimits
    let clock: any EdgeClock
    private let dispatch: Dispatch

    init(limits: CoordinatorLimits, clock: any EdgeClock, dispatch: @escaping Dispatch) {
        self.limits = limits
        self.clock = clock
        self.dispatch = dispatch
    }

    var count: Int { state.withLock { $0.sockets.count } }

    func accept(tags: [String]) throws -> HibernatableWebSocket {
        let socket = HibernatableWebSocket(tags: tags, limits: limits)
        try state.withLock { state in
            guard state.sockets.count < limits.maxWebSocketsPerObject else {
                throw WebSocketError(
                    .tooManySockets, limit: limits.maxWebSocketsPerObject,
                    message: "the object already holds \(state.sockets.count) WebSockets, the limit")
            }
            state.sockets[socket.id] = socket
        }
        return socket
    }

    func sockets(tag: String?) -> [HibernatableWebSocket] {
        state.withLock { state in
            state.sockets.values.filter { socket in tag.map { socket.tags.contains($0) } ?? true }.sorted { $0.id < $1.id }
        }
    }

    var autoResponse: WebSocketAutoResponse? {
        get { state.withLock { $0.autoResponse } }
        set { state.withLock { $0.autoResponse = newValue } }
    }

    /// Serves an accepted socket on its connection until it closes: auto-responses answered
    /// here, every other message delivered to the object (one call each, in order). A
    /// `webSocketMessage` that throws closes the socket with 1011.
    func serve(_ hibernatable: HibernatableWebSocket, on socket: any EdgeWebSocket) async throws {
        defer { _ = state.withLock { $0.sockets.removeValue(forKey: hibernatable.id) } }
        try await hibernatable.connect(socket)
        do {
            while let message = try await socket.receive() {
                if case .text(let text) = message, let auto = autoResponse, text == auto.request {
                    hibernatable.autoResponded(at: clock.now)
                    try await socket.send(.text(auto.response))
                    continue
                }
                try await dispatch(hibernatable, .message(message))
            }
        } catch let error as WebSocketError where error.code == .messageTooBig || error.code == .idleTimeout {
            // The runtime closed the socket (1009, 1008): the object hears of the error, then of the close.
            let closure = socket.closure ?? WebSocketClosure(code: error.code == .messageTooBig ? .messageTooBig : .policyViolation)
            hibernatable.ended(closure)
            _ = state.withLock { $0.sockets.removeValue(forKey: hibernatable.id) }
            try? await dispatch(hibernatable, .error(error))
            try? await dispatch(hibernatable, .close(closure))
            throw error
        } catch {
            // The handler failed: the socket is closed with 1011 (by the runtime) and the object told.
            hibernatable.ended(WebSocketClosure(code: .internalError, reason: "internal error"))
            _ = state.withLock { $0.sockets.removeValue(forKey: hibernatable.id) }
            try? await dispatch(hibernatable, .close(WebSocketClosure(code: .internalError, reason: "internal error")))
            throw error
        }
        let closure = socket.closure ?? WebSocketClosure(code: .noStatusReceived)
        hibernatable.ended(closure)
        _ = state.withLock { $0.sockets.removeValue(forKey: hibernatable.id) }
        try? await dispatch(hibernatable, .close(closure))
    }
}
