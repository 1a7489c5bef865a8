import Synchronization

/// A WebSocket message: text or binary.
public enum WebSocketMessage: Sendable, Hashable {
    case text(String)
    case binary([UInt8])

    /// The message's size in bytes (UTF-8 for text).
    public var byteCount: Int {
        switch self {
        case .text(let text): text.utf8.count
        case .binary(let bytes): bytes.count
        }
    }
}

/// A close status code (RFC 6455 §7.4).
public struct WebSocketCloseCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: Int

    public init(rawValue: Int) { self.rawValue = rawValue }
    public init(_ code: Int) { rawValue = code }

    /// 1000: the purpose of the connection is fulfilled.
    public static let normalClosure = WebSocketCloseCode(1000)
    /// 1001: the server is going down, or the client navigated away.
    public static let goingAway = WebSocketCloseCode(1001)
    /// 1002: a protocol error.
    public static let protocolError = WebSocketCloseCode(1002)
    /// 1005: the peer closed without a status (reported, never sent).
    public static let noStatusReceived = WebSocketCloseCode(1005)
    /// 1006: the connection dropped without a close frame (reported, never sent).
    public static let abnormalClosure = WebSocketCloseCode(1006)
    /// 1008: a message broke the endpoint's policy (an idle timeout, say).
    public static let policyViolation = WebSocketCloseCode(1008)
    /// 1009: a message larger than the endpoint accepts.
    public static let messageTooBig = WebSocketCloseCode(1009)
    /// 1011: the handler failed.
    public static let internalError = WebSocketCloseCode(1011)

    public var description: String { String(rawValue) }
}

/// How a WebSocket ended: the close code and reason, and whether a close frame was exchanged.
public struct WebSocketClosure: Sendable, Hashable {
    public var code: WebSocketCloseCode
    public var reason: String
    /// False when the connection dropped without a close handshake.
    public var wasClean: Bool

    public init(code: WebSocketCloseCode, reason: String = "", wasClean: Bool = true) {
        self.code = code
        self.reason = reason
        self.wasClean = wasClean
    }
}

/// A WebSocket as a handler holds it: receive what the peer sends, send, close.
///
/// Receiving is pull-based, so a slow handler slows its peer down (backpressure) instead of
/// buffering without bound.
public protocol EdgeWebSocket: AnyObject, Sendable {
    /// The next message from the peer; nil once the socket closed (see ``closure``).
    ///
    /// - Throws: when the connection fails; a message over the size limit closes the socket with
    ///   1009 and throws.
    func receive() async throws -> WebSocketMessage?
    /// Sends a message.
    ///
    /// - Throws: when the socket is closed or the connection fails.
    func send(_ message: WebSocketMessage) async throws
    /// Closes the socket with `code` and `reason` (idempotent).
    func close(_ code: WebSocketCloseCode, reason: String) async
    /// How the socket ended, once it has.
    var closure: WebSocketClosure? { get }
}

extension EdgeWebSocket {
    /// The messages from the peer, until the socket closes.
    public var messages: WebSocketMessages { WebSocketMessages(socket: self) }

    /// Sends text.
    ///
    /// - Throws: when the socket is closed or the connection fails.
    public func send(_ text: String) async throws { try await send(.text(text)) }
}

/// The messages of a socket as an async sequence.
public struct WebSocketMessages: AsyncSequence, Sendable {
    public typealias Element = WebSocketMessage
    public typealias Failure = any Error
    let socket: any EdgeWebSocket

    public struct AsyncIterator: AsyncIteratorProtocol {
        let socket: any EdgeWebSocket
        public mutating func next() async throws -> WebSocketMessage? { try await socket.receive() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(socket: socket) }
}

/// Why a WebSocket operation failed.
public struct WebSocketError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable { case closed, messageTooBig, tooManySockets, idleTimeout }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The socket is closed: nothing more can be sent.
        public static let closed = Code(.closed)
        /// A message over the size limit (the socket was closed with 1009).
        public static let messageTooBig = Code(.messageTooBig)
        /// An object already holds as many sockets as it may.
        public static let tooManySockets = Code(.tooManySockets)
        /// No message arrived within the idle timeout (the socket was closed with 1008).
        public static let idleTimeout = Code(.idleTimeout)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// The limit concerned (bytes, sockets or seconds), when one was crossed.
    public var limit: Int?
    public var message: String

    public init(_ code: Code, limit: Int? = nil, message: String) {
        self.code = code
        self.limit = limit
        self.message = message
    }

    public var description: String { message }
}

/// What runs an accepted WebSocket until it returns (``EdgeResponse/webSocket(headers:_:)``).
/// Throwing closes the socket with 1011.
public typealias WebSocketHandler = @Sendable (_ socket: any EdgeWebSocket) async throws -> Void

/// Two connected in-memory WebSocket ends: what one sends, the other receives. For tests (a
/// worker's socket without a network) and for bridging sockets in one process.
public enum WebSocketPair {
    /// A new pair: `client` and `server` ends.
    ///
    /// - Parameter maxMessageBytes: messages larger than this close the receiving end with 1009.
    public static func make(maxMessageBytes: Int = .max) -> (client: any EdgeWebSocket, server: any EdgeWebSocket) {
        let a = InMemoryWebSocket(maxMessageBytes: maxMessageBytes)
        let b = InMemoryWebSocket(maxMessageBytes: maxMessageBytes)
        a.peer.withLock { $0.socket = b }
        b.peer.withLock { $0.socket = a }
        return (a, b)
    }
}

/// One end of a ``WebSocketPair``.
final class InMemoryWebSocket: EdgeWebSocket {
    private struct State {
        var inbox: [WebSocketMessage] = []
        var receiver: CheckedContinuation<WebSocketMessage?, any Error>?
        var closure: WebSocketClosure?
        var failure: (any Error)?
    }

    struct Peer: @unchecked Sendable {
        weak var socket: InMemoryWebSocket?
    }

    private let state = Mutex(State())
    /// The other end, held weakly: an end nobody holds is gone, and the other end sees it closed.
    let peer = Mutex(Peer())
    let maxMessageBytes: Int

    init(maxMessageBytes: Int) {
        self.maxMessageBytes = maxMessageBytes
    }

    var closure: WebSocketClosure? { state.withLock { $0.closure } }

    func receive() async throws -> WebSocketMessage? {
        try await withCheckedThrowingContinuation { continuation in
            enum Action { case message(WebSocketMessage), end((any Error)?), wait }
            let action = state.withLock { state -> Action in
                if !state.inbox.isEmpty { return .message(state.inbox.removeFirst()) }
                if state.closure != nil { return .end(state.failure) }
                state.receiver = continuation
                return .wait
            }
            switch action {
            case .message(let message): continuation.resume(returning: message)
            case .end(let failure):
                if let failure { continuation.resume(throwing: failure) } else { continuation.resume(returning: nil) }
            case .wait: break
            }
        }
    }

    /// A message from the peer.
    fileprivate func deliver(_ message: WebSocketMessage) async {
        if message.byteCount > maxMessageBytes {
            let reason = "a message of \(message.byteCount) bytes over the limit of \(maxMessageBytes)"
            state.withLock { state in
                if state.closure == nil {
                    state.failure = WebSocketError(.messageTooBig, limit: maxMessageBytes, message: "\(reason); the socket was closed with 1009")
                }
            }
            await close(.messageTooBig, reason: reason)
            return
        }
        let receiver = state.withLock { state -> CheckedContinuation<WebSocketMessage?, any Error>? in
            guard state.closure == nil else { return nil }
            if let receiver = state.receiver {
                state.receiver = nil
                return receiver
            }
            state.inbox.append(message)
            return nil
        }
        receiver?.resume(returning: message)
    }

    func send(_ message: WebSocketMessage) async throws {
        guard closure == nil, let peer = peer.withLock({ $0.socket }) else {
            throw WebSocketError(.closed, message: "the WebSocket is closed")
        }
        await peer.deliver(message)
    }

    /// The peer closed (or this end is closed): ends `receive` once the inbox is drained.
    fileprivate func closed(_ closure: WebSocketClosure) {
        let (receiver, failure) = state.withLock { state -> (CheckedContinuation<WebSocketMessage?, any Error>?, (any Error)?) in
            guard state.closure == nil else { return (nil, nil) }
            state.closure = closure
            defer { state.receiver = nil }
            return (state.receiver, state.failure)
        }
        if let failure { receiver?.resume(throwing: failure) } else { receiver?.resume(returning: nil) }
    }

    func close(_ code: WebSocketCloseCode, reason: String) async {
        let closure = WebSocketClosure(code: code, reason: reason, wasClean: true)
        closed(closure)
        peer.withLock { $0.socket }?.closed(closure)
    }
}
