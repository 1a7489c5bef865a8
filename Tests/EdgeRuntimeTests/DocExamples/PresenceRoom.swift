// The code block of Docs/coordinator.md, "WebSockets and hibernation" (DocExampleTests keeps them equal).
import EdgeCoordinator
import EdgeCore
import EdgeRuntime
import Foundation
import HTTPTypes

actor Room: DurableObject {
    /// Kept with each socket: it outlives the instance.
    struct Member: Codable, Sendable {
        var name: String
        var joined: Date
    }

    let state: DurableObjectState

    init(state: DurableObjectState, env: Void) {
        self.state = state
        // Answered by the namespace itself: a "ping" never wakes a hibernating room.
        state.setWebSocketAutoResponse(WebSocketAutoResponse(request: "ping", response: "pong"))
    }

    func fetch(_ request: EdgeRequest) async throws -> EdgeResponse {
        guard request.isWebSocketUpgrade, let name = request.url.query["name"], !name.isEmpty else {
            return .text("GET /room?name=NAME with Upgrade: websocket", status: .badRequest)
        }
        // Past durable_objects.max_websockets_per_object this throws .tooManySockets (503).
        let (socket, response) = try state.acceptWebSocket(tags: ["member:" + name])
        try socket.serializeAttachment(Member(name: name, joined: Date()))
        try await socket.send("welcome, \(name); here: \(present().joined(separator: ", "))")
        return response
    }

    // After hibernation this runs on a new instance: storage and attachments are all it has.
    func webSocketMessage(_ socket: HibernatableWebSocket, _ message: WebSocketMessage) async throws {
        guard case .text(let text) = message, let member = try socket.deserializeAttachment(as: Member.self) else { return }
        let said = (try state.storage.get("said", as: Int.self) ?? 0) + 1
        try state.storage.put("said", said)
        for other in state.getWebSockets() where other.closure == nil {
            try? await other.send("\(member.name) (#\(said)): \(text)")
        }
    }

    func webSocketClose(_ socket: HibernatableWebSocket, _ closure: WebSocketClosure) async throws {
        guard let member = try socket.deserializeAttachment(as: Member.self) else { return }
        for other in state.getWebSockets() { try? await other.send("\(member.name) left (\(closure.code))") }
    }

    /// Who is here: the names in the open sockets' tags.
    func present() -> [String] {
        state.getWebSockets().flatMap { $0.tags }.filter { $0.hasPrefix("member:") }.map { String($0.dropFirst(7)) }.sorted()
    }
}

/// Every `/room?name=NAME` joins the one room.
struct RoomWorker: Worker {
    struct Env: Sendable { var rooms: DurableObjectNamespace<Room> }

    static func makeEnv(_ bindings: EdgeBindings) throws -> Env {
        Env(rooms: try bindings.durableObjects(Room.self, binding: "ROOMS", env: ()))
    }

    func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        try await env.rooms.get(env.rooms.idFromName("lobby")).fetch(request)
    }
}
