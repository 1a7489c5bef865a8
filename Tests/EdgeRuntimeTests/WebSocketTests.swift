import EdgeCoordinator
import EdgeCore
import EdgeRuntime
import EdgeRuntimeTesting
import EdgeTesting
import Foundation
import HTTPTypes
import Testing

/// A durable object echoing its sockets' messages, with a few ways to misbehave on request.
actor EchoObject: DurableObject {
    let state: DurableObjectState
    init(state: DurableObjectState, env: Void) { self.state = state }

    func fetch(_ request: EdgeRequest) async throws -> EdgeResponse {
        let (socket, response) = try state.acceptWebSocket(tags: request.url.query.values("tag"))
        if let size = request.url.query["attachment"].flatMap(Int.init) {
            try socket.serializeAttachment(String(repeating: "a", count: size))
        }
        return response
    }

    func webSocketMessage(_ socket: HibernatableWebSocket, _ message: WebSocketMessage) async throws {
        struct Boom: Error {}
        if message == .text("boom") { throw Boom() }
        if message == .text("count") {
            try await socket.send(.text("\(state.getWebSockets().count) open, \(state.getWebSockets(tag: "red").count) red"))
            return
        }
        try await socket.send(message)
    }
}

/// A worker accepting WebSockets itself (`/echo`, `/throw`) or handing them to an `EchoObject`.
struct SocketWorker: Worker {
    struct Env: Sendable {
        var echoes: DurableObjectNamespace<EchoObject>
    }

    static func makeEnv(_ bindings: EdgeBindings) throws -> Env {
        Env(echoes: try bindings.durableObjects(EchoObject.self, binding: "ECHOES", env: ()))
    }

    func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        switch request.url.path {
        case "/echo":
            guard request.isWebSocketUpgrade else { return .text("expected a WebSocket", status: .upgradeRequired) }
            return .webSocket { socket in
                for try await message in socket.messages { try await socket.send(message) }
            }
        case "/throw":
            return .webSocket { socket in
                struct Boom: Error {}
                _ = try await socket.receive()
                throw Boom()
            }
        case "/object":
            return try await env.echoes.get(env.echoes.idFromName("one")).fetch(request)
        default:
            return .text("no route", status: .notFound)
        }
    }
}

let socketConfig = """
    {
      "name": "sockets",
      "durable_objects": { "bindings": [{ "name": "ECHOES", "class_name": "EchoObject" }], "max_websockets_per_object": 3 },
      "limits": { "max_websocket_message_bytes": 1024 },
    }
    """

func open(_ client: WorkerTestClient<SocketWorker>, _ path: String) async throws -> any EdgeWebSocket {
    let (socket, refused) = await client.webSocket(path)
    guard let socket else { throw KillTestError(message: "refused: \(refused?.status.code ?? 0) \(refused?.text ?? "")") }
    return socket
}

@Suite("WebSockets: in workers and in durable objects")
struct WebSocketTests {
    @Test("a worker's socket echoes text and binary; the close code reaches the handler; a refusal is a plain response")
    func workerSocket() async throws {
        let client = try WorkerTestClient(SocketWorker(), config: socketConfig)
        let socket = try await open(client, "/echo")
        try await socket.send(.text("héllo"))
        try await socket.send(.binary([0, 1, 2, 255]))
        #expect(try await socket.receive() == .text("héllo"))
        #expect(try await socket.receive() == .binary([0, 1, 2, 255]))
        await socket.close(WebSocketCloseCode(4000), reason: "bye")
        #expect(socket.closure?.code.rawValue == 4000)
        #expect(await client.fetch("/echo").status == .upgradeRequired)
        #expect(await client.webSocket("/nowhere").refused?.status == .notFound)
    }

    @Test("a handler that throws closes its socket with 1011; a message over the limit closes it with 1009")
    func failures() async throws {
        let client = try WorkerTestClient(SocketWorker(), config: socketConfig)
        let thrower = try await open(client, "/throw")
        try await thrower.send(.text("go"))
        #expect(try await thrower.receive() == nil)
        #expect(thrower.closure?.code == .internalError)
        let big = try await open(client, "/echo")
        try await big.send(.text(String(repeating: "x", count: 1025)))
        #expect(try await big.receive() == nil)
        #expect(big.closure?.code == .messageTooBig)
    }

    @Test("durable-object sockets: tags, a throwing handler closes only its socket, the sockets limit, the attachment limit")
    func objectSockets() async throws {
        let client = try WorkerTestClient(SocketWorker(), config: socketConfig)
        let red = try await open(client, "/object?tag=red")
        let blue = try await open(client, "/object?tag=blue")
        try await red.send(.text("count"))
        #expect(try await red.receive() == .text("2 open, 1 red"))
        // The limit is 3 sockets: the fourth is refused with 503, naming the limit.
        let third = try await open(client, "/object")
        let refused = await client.webSocket("/object")
        #expect(refused.refused?.status == .serviceUnavailable)
        #expect(refused.refused?.text.contains("the limit") == true)
        await third.close(.normalClosure, reason: "")
        // A throwing handler: that socket closes with 1011, the others and the object carry on.
        try await blue.send(.text("boom"))
        #expect(try await blue.receive() == nil)
        #expect(blue.closure?.code == .internalError)
        try await red.send(.text("still"))
        #expect(try await red.receive() == .text("still"))
        // An attachment over 2,048 bytes is refused with a typed error (the request fails: 500).
        let namespace = try client.bindings.durableObjects(EchoObject.self, binding: "ECHOES", env: ())
        let stub = namespace.get(namespace.idFromName("one"))
        let error = await #expect(throws: CoordinatorError.self) {
            _ = try await stub.call { object in
                let (socket, _) = try object.state.acceptWebSocket()
                try socket.serializeAttachment(String(repeating: "a", count: 3000))
            }
        }
        #expect(error?.code == .valueTooLarge && error?.limit == 2048)
    }

    @Test("over a real socket: a malformed upgrade is answered 400, a refused one with the worker's answer")
    func liveRefusals() async throws {
        let client = try WorkerTestClient(SocketWorker(), config: socketConfig)
        try await client.live { live in
            let base = "http://127.0.0.1:\(live.port ?? 0)"
            let malformed = try await ExternalCommand.run(
                [
                    "curl", "-sS", "-m", "600", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Connection: Upgrade", "-H", "Upgrade: websocket",
                    base + "/echo",
                ], mergeStandardError: true)
            #expect(malformed.output == "400")
            let refused = try await ExternalCommand.run([
                "curl", "-s", "-m", "600", "-w", " %{http_code}", "-H", "Connection: Upgrade", "-H", "Upgrade: websocket",
                "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "-H", "Sec-WebSocket-Version: 13", base + "/nowhere",
            ])
            #expect(refused.output == "no route 404")
            #expect(try await live.fetch("/echo").status == .upgradeRequired)
        }
    }
}
