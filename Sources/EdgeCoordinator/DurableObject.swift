import EdgeCore
public import Foundation
import HTTPTypes

/// A durable object class: one live instance per id, calls delivered one at a time, with
/// transactional storage and an alarm (Cloudflare Durable Objects, in Swift idiom).
///
/// ```swift
/// actor Counter: DurableObject {
///     let state: DurableObjectState
///     init(state: DurableObjectState, env: AppEnv) { self.state = state }
///
///     func increment() throws -> Int {
///         let value = (try state.storage.get("count", as: Int.self) ?? 0) + 1
///         try state.storage.put("count", value)
///         return value
///     }
/// }
///
/// let value = try await namespace.get(namespace.idFromName("global")).call { try await $0.increment() }
/// ```
///
/// A call runs alone on its object: the next call starts only when it has finished, even if it
/// suspends in between. Its response is released only once its writes are durable.
public protocol DurableObject: Actor {
    /// The application's bindings, handed to every instance.
    associatedtype Env: Sendable

    /// Builds the instance for `state.id`. Instances are rebuilt from storage after eviction or
    /// a restart, so keep durable state in `state.storage`.
    init(state: DurableObjectState, env: Env)

    /// Handles a request sent with ``DurableObjectStub/fetch(_:)``. The default answers 501.
    func fetch(_ request: EdgeRequest) async throws -> EdgeResponse

    /// Runs when the alarm set with ``DurableObjectStorage/setAlarm(_:)`` comes due. When it
    /// throws, it is retried with exponential backoff (2 s, 4 s, … up to 6 retries).
    func alarm(_ info: AlarmInfo) async throws

    /// A message arrived on a socket this object accepted (``DurableObjectState/acceptWebSocket(tags:)->_``);
    /// the instance is rebuilt first if it was evicted. Runs as a call: alone, its writes durable
    /// before the next message. Throwing closes that socket with 1011. The default does nothing.
    func webSocketMessage(_ socket: HibernatableWebSocket, _ message: WebSocketMessage) async throws

    /// A socket this object accepted closed (by the peer, by the object, or on an error). The
    /// default does nothing.
    func webSocketClose(_ socket: HibernatableWebSocket, _ closure: WebSocketClosure) async throws

    /// A socket this object accepted failed (a message over the size limit, an idle timeout);
    /// the runtime closed it, and ``webSocketClose(_:_:)`` follows. The default does nothing.
    func webSocketError(_ socket: HibernatableWebSocket, _ error: any Error) async throws
}

extension DurableObject {
    public func fetch(_ request: EdgeRequest) async throws -> EdgeResponse {
        EdgeResponse(status: .notImplemented, body: .text("\(Self.self) does not implement fetch"))
    }

    public func alarm(_ info: AlarmInfo) async throws {}
    public func webSocketMessage(_ socket: HibernatableWebSocket, _ message: WebSocketMessage) async throws {}
    public func webSocketClose(_ socket: HibernatableWebSocket, _ closure: WebSocketClosure) async throws {}
    public func webSocketError(_ socket: HibernatableWebSocket, _ error: any Error) async throws {}
}

/// Details of an alarm invocation.
public struct AlarmInfo: Sendable, Hashable {
    /// How many times this alarm already failed (0 on the first run).
    public var retryCount: Int
    /// `true` when this run retries a failed one.
    public var isRetry: Bool { retryCount > 0 }
    /// When the alarm was scheduled to run.
    public var scheduledTime: Date
}

/// What an instance gets: its id, its storage, and the WebSockets it accepted.
public struct DurableObjectState: Sendable {
    public let id: DurableObjectID
    public let storage: DurableObjectStorage
    let webSockets: ObjectWebSockets

    /// Accepts the WebSocket upgrade `fetch` received, with Cloudflare's hibernation semantics:
    /// return the response from `fetch`. The socket belongs to the namespace: messages are
    /// delivered to ``DurableObject/webSocketMessage(_:_:)`` (rebuilding the instance if it was
    /// evicted), its close to ``DurableObject/webSocketClose(_:_:)``.
    ///
    /// ```swift
    /// func fetch(_ request: EdgeRequest) async throws -> EdgeResponse {
    ///     try state.acceptWebSocket(tags: ["user:" + (request.url.query["user"] ?? "anonymous")])
    /// }
    /// ```
    ///
    /// - Throws: `WebSocketError` `.tooManySockets` past ``CoordinatorLimits/maxWebSocketsPerObject``.
    public func acceptWebSocket(tags: [String] = []) throws -> EdgeResponse {
        try acceptWebSocket(tags: tags).response
    }

    /// ``acceptWebSocket(tags:)->_``, also returning the socket (to attach a value or send a greeting
    /// before the connection is up: sends wait for it).
    ///
    /// - Throws: `WebSocketError` `.tooManySockets`.
    public func acceptWebSocket(tags: [String] = []) throws -> (socket: HibernatableWebSocket, response: EdgeResponse) {
        let sockets = webSockets
        let socket = try sockets.accept(tags: tags)
        return (socket, .webSocket { connection in try await sockets.serve(socket, on: connection) })
    }

    /// The open sockets this object accepted, those tagged `tag` when given.
    public func getWebSockets(tag: String? = nil) -> [HibernatableWebSocket] {
        webSockets.sockets(tag: tag)
    }

    /// Answers a text message equal to `pair.request` with `pair.response` without waking the
    /// object (nil removes it). It lasts as long as the namespace, across evictions.
    public func setWebSocketAutoResponse(_ pair: WebSocketAutoResponse?) {
        webSockets.autoResponse = pair
    }

    /// The auto-response in effect, if any.
    public var webSocketAutoResponse: WebSocketAutoResponse? { webSockets.autoResponse }
}
