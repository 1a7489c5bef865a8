public import EdgeCoordinator
public import EdgeCore
import Foundation
import HTTPTypes

/// One chat room: a durable object holding its members' WebSockets with hibernation.
///
/// - Joining (`GET …/websocket?name=NAME`, a WebSocket upgrade) tags the socket `user:NAME`,
///   keeps a ``Session`` as its attachment, sends the joiner the last ``historyLimit`` messages
///   from storage, and tells everyone who is present.
/// - A message (`{"text": "…"}`) is numbered, stored, and sent to every member in order. Its
///   sender's name comes from the socket's attachment, so it is right after the room was evicted
///   from memory with its sockets open.
/// - `ping` is answered `pong` by the runtime without waking the room.
///
/// What the room sends is JSON, one ``ServerEvent`` per message.
public actor ChatRoom: DurableObject {
    /// How many messages a joiner receives, and the room keeps.
    public static let historyLimit = 100
    /// The longest message text, in characters.
    public static let maxTextLength = 4000

    /// What a socket carries through hibernation.
    public struct Session: Codable, Sendable, Hashable {
        public var name: String
        /// Milliseconds since 1970 when the member joined.
        public var joinedAt: Int64
    }

    /// A stored message.
    public struct Message: Codable, Sendable, Hashable {
        public var seq: Int
        public var name: String
        public var text: String
        /// Milliseconds since 1970.
        public var at: Int64
    }

    /// What the room sends (`type` tells which fields are set).
    public struct ServerEvent: Codable, Sendable, Hashable {
        /// `history`, `message`, `join`, `leave` or `error`.
        public var type: String
        public var messages: [Message]?
        public var message: Message?
        public var name: String?
        public var present: [String]?
        public var error: String?
    }

    let state: DurableObjectState

    public init(state: DurableObjectState, env: Void) {
        self.state = state
        state.setWebSocketAutoResponse(WebSocketAutoResponse(request: "ping", response: "pong"))
    }

    public func fetch(_ request: EdgeRequest) async throws -> EdgeResponse {
        switch request.url.pathSegments.last {
        case "websocket": return try await join(request)
        case "messages": return try .json(try history())
        case "presence": return try .json(["present": present()])
        default: return .text("no route \(request.url.path)", status: .notFound)
        }
    }

    func join(_ request: EdgeRequest) async throws -> EdgeResponse {
        guard request.isWebSocketUpgrade else { return .text("expected a WebSocket upgrade", status: .upgradeRequired) }
        let name = request.url.query["name"] ?? ""
        guard Self.isValidName(name) else {
            return .text("a name is 1...32 letters, digits, '_' or '-'", status: .badRequest)
        }
        let (socket, response) = try state.acceptWebSocket(tags: ["user:" + name])
        try socket.serializeAttachment(Session(name: name, joinedAt: Self.milliseconds(Date())))
        // Sent once the connection is up, before any message that follows.
        try await socket.send(try Self.encode(ServerEvent(type: "history", messages: try history())))
        await broadcast(ServerEvent(type: "join", name: name, present: present()))
        return response
    }

    public func webSocketMessage(_ socket: HibernatableWebSocket, _ message: WebSocketMessage) async throws {
        guard let session = try socket.deserializeAttachment(as: Session.self) else { return }
        guard case .text(let frame) = message, let incoming = try? JSONDecoder().decode(Incoming.self, from: Data(frame.utf8)) else {
            try await socket.send(try Self.encode(ServerEvent(type: "error", error: "send JSON text: {\"text\": \"…\"}")))
            return
        }
        guard (1...Self.maxTextLength).contains(incoming.text.count) else {
            let error = "a message is 1...\(Self.maxTextLength) characters; this one has \(incoming.text.count)"
            try await socket.send(try Self.encode(ServerEvent(type: "error", error: error)))
            return
        }
        let seq = (try state.storage.get("seq", as: Int.self) ?? 0) + 1
        let stored = Message(seq: seq, name: session.name, text: incoming.text, at: Self.milliseconds(Date()))
        try state.storage.transaction {
            try state.storage.put("seq", seq)
            try state.storage.put(Self.key(seq), stored)
            if seq > Self.historyLimit { _ = try state.storage.delete(Self.key(seq - Self.historyLimit)) }
        }
        await broadcast(ServerEvent(type: "message", message: stored))
    }

    public func webSocketClose(_ socket: HibernatableWebSocket, _ closure: WebSocketClosure) async throws {
        guard let session = try socket.deserializeAttachment(as: Session.self) else { return }
        await broadcast(ServerEvent(type: "leave", name: session.name, present: present()))
    }

    // MARK: Helpers

    struct Incoming: Decodable {
        var text: String
    }

    /// Who is in the room: the names in the open sockets' tags, once each, sorted.
    func present() -> [String] {
        let names = state.getWebSockets().flatMap { socket in
            socket.tags.filter { $0.hasPrefix("user:") }.map { String($0.dropFirst(5)) }
        }
        return Set(names).sorted()
    }

    func history() throws -> [Message] {
        try state.storage.list(DurableObjectListOptions(prefix: "m:", reverse: true, limit: Self.historyLimit), as: Message.self)
            .map(\.value).reversed()
    }

    /// Sends `event` to every open socket, in the order the room produces events; a socket that
    /// closed meanwhile is skipped (its close reaches `webSocketClose`).
    func broadcast(_ event: ServerEvent) async {
        guard let text = try? Self.encode(event) else { return }
        for socket in state.getWebSockets() where socket.closure == nil {
            try? await socket.send(.text(text))
        }
    }

    static func key(_ seq: Int) -> String {
        let digits = String(seq)
        return "m:" + String(repeating: "0", count: max(0, 12 - digits.count)) + digits
    }

    static func encode(_ event: ServerEvent) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(event), as: UTF8.self)
    }

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    /// 1...32 ASCII letters, digits, `_` or `-`.
    public static func isValidName(_ name: String) -> Bool { isSimpleName(name, maxLength: 32) }
}

/// 1...`maxLength` ASCII letters, digits, `_` or `-`.
func isSimpleName(_ name: String, maxLength: Int) -> Bool {
    (1...maxLength).contains(name.utf8.count)
        && name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x2D
        }
}
