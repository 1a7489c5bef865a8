public import EdgeCoordinator
public import EdgeCore
public import EdgeRuntime
import HTTPTypes
import Logging

/// Real-time chat rooms, one durable object (``ChatRoom``) per room.
///
/// - `GET /`: the chat page (static HTML and script, nothing loaded from elsewhere).
/// - `GET /rooms/ROOM/websocket?name=NAME`: joins the room over a WebSocket (see ``ChatRoom``).
/// - `GET /rooms/ROOM/messages`: the room's last 100 messages, as JSON.
/// - `GET /rooms/ROOM/presence`: who is in the room, as JSON.
/// - `GET /_stats`: this process's rooms, as ``Stats`` JSON (for operators, and the tests that
///   watch rooms hibernate).
///
/// A room is 1...64 letters, digits, `_` or `-`. Binding: durable objects `ROOMS` (class `ChatRoom`).
public struct ChatWorker: Worker {
    public struct Env: Sendable {
        public var rooms: DurableObjectNamespace<ChatRoom>
    }

    public init() {}

    public static func makeEnv(_ bindings: EdgeBindings) throws -> Env {
        Env(rooms: try bindings.durableObjects(ChatRoom.self, binding: "ROOMS", env: ()))
    }

    public func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        let segments = request.url.pathSegments
        if segments.isEmpty, request.method == .get { return .html(ChatPage.html) }
        if segments == ["_stats"], request.method == .get { return try .json(Stats(env.rooms)) }
        guard segments.count == 3, segments[0] == "rooms", ["websocket", "messages", "presence"].contains(segments[2]) else {
            return .text("no route \(request.url.path)", status: .notFound)
        }
        guard request.method == .get else { return EdgeResponse(status: .methodNotAllowed, headers: [.allow: "GET"]) }
        guard Self.isValidRoom(segments[1]) else { return .text("a room is 1...64 letters, digits, '_' or '-'", status: .badRequest) }
        return try await env.rooms.get(env.rooms.idFromName(segments[1])).fetch(request)
    }

    /// This process's rooms.
    public struct Stats: Codable, Sendable, Hashable {
        /// Rooms whose instance is in memory.
        public var liveRooms: Int
        /// WebSockets open in every room, hibernating rooms' included.
        public var openSockets: Int
        /// Room instances built so far (one more each time a hibernated room wakes).
        public var roomsConstructed: Int

        init(_ rooms: DurableObjectNamespace<ChatRoom>) {
            liveRooms = rooms.liveCount
            openSockets = rooms.openWebSockets
            roomsConstructed = rooms.instancesConstructed
        }
    }

    /// 1...64 ASCII letters, digits, `_` or `-`.
    public static func isValidRoom(_ room: String) -> Bool { isSimpleName(room, maxLength: 64) }

    /// The config `chat` serves when given none: rooms in SQLite under `stateDirectory`.
    public static func defaultConfig(stateDirectory: String, port: Int) -> EdgeConfig {
        var config = EdgeConfig(name: "chat", file: "chat (built-in config)", stateDirectory: stateDirectory)
        config.durableObjects = [.init(name: "ROOMS", className: "ChatRoom")]
        config.port = port
        config.logLevel = .warning
        return config
    }
}
