import Chat
import EdgeCoordinator
import EdgeCore
import EdgeRuntime
import EdgeRuntimeTesting
import EdgeTesting
import Foundation
import HTTPTypes
import Testing

let chatConfig = """
    {
      "name": "chat-test",
      "durable_objects": { "bindings": [{ "name": "ROOMS", "class_name": "ChatRoom" }] },
      "limits": { "max_websocket_message_bytes": 65536 },
    }
    """

/// The next event the room sent, skipping pongs.
func nextEvent(_ socket: any EdgeWebSocket) async throws -> ChatRoom.ServerEvent {
    while true {
        guard let message = try await socket.receive() else { throw ChatTestError("the socket closed: \(String(describing: socket.closure))") }
        guard case .text(let text) = message else { throw ChatTestError("a binary message") }
        if text == "pong" { continue }
        return try JSONDecoder().decode(ChatRoom.ServerEvent.self, from: Data(text.utf8))
    }
}

/// Events until one satisfies `predicate`; returns it.
func event(_ socket: any EdgeWebSocket, where predicate: (ChatRoom.ServerEvent) -> Bool) async throws -> ChatRoom.ServerEvent {
    while true {
        let next = try await nextEvent(socket)
        if predicate(next) { return next }
    }
}

struct ChatTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func say(_ socket: any EdgeWebSocket, _ text: String) async throws {
    try await socket.send(.text(String(decoding: try JSONEncoder().encode(["text": text]), as: UTF8.self)))
}

func join(_ client: WorkerTestClient<ChatWorker>, room: String, name: String) async throws -> (any EdgeWebSocket, [ChatRoom.Message]) {
    let (socket, refused) = await client.webSocket("/rooms/\(room)/websocket?name=\(name)")
    guard let socket else { throw ChatTestError("refused: \(refused?.status.code ?? 0) \(refused?.text ?? "")") }
    let history = try await nextEvent(socket)
    #expect(history.type == "history")
    return (socket, history.messages ?? [])
}

@Suite("Chat: rooms as durable objects holding WebSockets (in process)")
struct ChatTests {
    @Test("members receive every message in order; a joiner gets the last 100 from storage; presence through tags")
    func messagesHistoryPresence() async throws {
        let client = try WorkerTestClient(ChatWorker(), config: chatConfig)
        let (alice, history) = try await join(client, room: "lobby", name: "alice")
        #expect(history.isEmpty)
        #expect(try await nextEvent(alice).present == ["alice"])
        let (bob, _) = try await join(client, room: "lobby", name: "bob")
        #expect(try await event(alice) { $0.type == "join" }.present == ["alice", "bob"])
        #expect(try await nextEvent(bob).name == "bob")
        // Two senders: the room orders their messages one way, the same for every member, each
        // sender's in the order it sent them.
        for n in 0..<105 { try await say(n.isMultiple(of: 2) ? alice : bob, "message \(n)") }
        var orders: [[ChatRoom.Message]] = []
        for socket in [alice, bob] {
            var seen: [ChatRoom.Message] = []
            while seen.count < 105 { seen.append(try await event(socket) { $0.type == "message" }.message!) }
            orders.append(seen)
        }
        #expect(orders[0] == orders[1])
        #expect(orders[0].map(\.seq) == Array(1...105))
        #expect(Set(orders[0].map(\.text)) == Set((0..<105).map { "message \($0)" }))
        for sender in ["alice", "bob"] {
            let numbers = orders[0].filter { $0.name == sender }.map { Int($0.text.split(separator: " ")[1])! }
            #expect(numbers == numbers.sorted() && numbers.count == (sender == "alice" ? 53 : 52))
        }
        let (carol, replayed) = try await join(client, room: "lobby", name: "carol")
        #expect(replayed == Array(orders[0].suffix(100)))
        let presence = await client.fetch("/rooms/lobby/presence")
        #expect(presence.text == #"{"present":["alice","bob","carol"]}"#)
        await bob.close(.normalClosure, reason: "")
        let left = try await event(carol) { $0.type == "leave" }
        #expect(left.name == "bob" && left.present == ["alice", "carol"])
        // Another room is another object.
        let (other, otherHistory) = try await join(client, room: "other", name: "dave")
        #expect(otherHistory.isEmpty)
        await other.close(.normalClosure, reason: "")
        let stored: [ChatRoom.Message] = try await client.fetch("/rooms/lobby/messages").json()
        #expect(stored.count == 100)
    }

    @Test("a room evicted with its sockets open wakes on the next message, attachments intact; a ping does not wake it")
    func hibernation() async throws {
        let client = try WorkerTestClient(ChatWorker(), config: chatConfig)
        let rooms = try client.bindings.durableObjects(ChatRoom.self, binding: "ROOMS", env: ())
        var members: [any EdgeWebSocket] = []
        for n in 0..<100 { members.append(try await join(client, room: "hib", name: "member\(n)").0) }
        try await say(members[0], "before")
        for socket in members { _ = try await event(socket) { $0.type == "message" } }
        #expect(rooms.liveCount == 1)
        // The room may still be finishing the handler (or its commit) that sent the message.
        var evicted = 0
        let deadline = ContinuousClock.now + .seconds(600)
        while evicted == 0, ContinuousClock.now < deadline {
            evicted = rooms.evictIdle(idleFor: 0)
            if evicted == 0 { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(evicted == 1)
        #expect(rooms.liveCount == 0 && rooms.openWebSockets == 100)
        let built = rooms.instancesConstructed
        try await members[7].send(.text("ping"))
        #expect(try await members[7].receive() == .text("pong"))
        #expect(rooms.liveCount == 0 && rooms.instancesConstructed == built)
        try await say(members[42], "after")
        for socket in members {
            let message = try await event(socket) { $0.type == "message" }.message!
            #expect(message.name == "member42" && message.text == "after" && message.seq == 2)
        }
        #expect(rooms.instancesConstructed == built + 1 && rooms.liveCount == 1)
        for socket in members { await socket.close(.normalClosure, reason: "") }
    }

    @Test("bad input: names, rooms, non-upgrade requests, non-JSON and over-long texts, oversized frames")
    func badInput() async throws {
        let client = try WorkerTestClient(ChatWorker(), config: chatConfig)
        #expect(await client.webSocket("/rooms/lobby/websocket?name=bad%20name").refused?.status == .badRequest)
        #expect(await client.webSocket("/rooms/lobby/websocket").refused?.status == .badRequest)
        #expect(await client.webSocket("/rooms/\(String(repeating: "r", count: 65))/websocket?name=a").refused?.status == .badRequest)
        #expect(await client.fetch("/rooms/lobby/websocket?name=alice").status == .upgradeRequired)
        #expect(await client.fetch("/rooms/lobby/messages", method: "POST").status == .methodNotAllowed)
        #expect(await client.fetch("/nowhere").status == .notFound)
        let (alice, _) = try await join(client, room: "lobby", name: "alice")
        try await alice.send(.text("not json"))
        #expect(try await event(alice) { $0.type == "error" }.error?.contains("JSON") == true)
        try await say(alice, String(repeating: "y", count: ChatRoom.maxTextLength + 1))
        #expect(try await event(alice) { $0.type == "error" }.error?.contains("\(ChatRoom.maxTextLength)") == true)
        try await say(alice, "still open")
        #expect(try await event(alice) { $0.type == "message" }.message?.text == "still open")
        // Over the transport limit: closed with 1009.
        try await alice.send(.text(String(repeating: "z", count: 65537)))
        while try await alice.receive() != nil {}
        #expect(alice.closure?.code == .messageTooBig)
    }

    @Test("the page is self-contained: no script, style or font from elsewhere")
    func page() async throws {
        let client = try WorkerTestClient(ChatWorker(), config: chatConfig)
        let page = await client.fetch("/")
        #expect(page.status == .ok && page.header("content-type")?.hasPrefix("text/html") == true)
        #expect(page.text.contains("new WebSocket("))
        for external in ["http://", "https://", "//cdn", "src=\"http"] { #expect(!page.text.contains(external), "\(external)") }
    }
}
