import EdgeTesting
import Foundation
import Testing

/// The independent client: Python's `websockets`, importable already or installed once (with
/// pip) into `~/.cache/swift-edge/python`, so `swift test` needs nothing installed by hand.
enum PythonClient {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/chat_clients.py").path
    static let cache = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/swift-edge/python").path

    static func environment() async throws -> [String: String] {
        let environment = ["PYTHONPATH": cache]
        if try await ExternalCommand.run(["python3", "-c", "import websockets.asyncio.client"], environment: environment).status == 0 {
            return environment
        }
        let install = try await ExternalCommand.run(
            ["python3", "-m", "pip", "install", "--quiet", "--target", cache, "websockets>=13"], mergeStandardError: true)
        guard install.status == 0 else { throw ChatTestError("cannot install the websockets client with pip: \(install.output)") }
        return environment
    }

    /// Runs a scenario of chat_clients.py; returns its JSON line.
    static func run(_ scenario: String, _ arguments: [String]) async throws -> [String: Any] {
        let result = try await ExternalCommand.run(
            ["python3", script, scenario] + arguments, environment: try await environment(), mergeStandardError: true)
        guard result.status == 0, let line = result.output.split(separator: "\n").last,
            let figures = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else {
            throw ChatTestError("\(scenario) failed (exit \(result.status)):\n\(result.output)")
        }
        return figures
    }
}

/// A `chat` process with a config of its own.
func startChat(_ config: String, extra: [String] = [], environment: [String: String] = [:]) throws -> (ServerProcess, String) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swift-edge-tests/chat-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent("chat.jsonc").path
    try config.replacingOccurrences(of: "STATE_DIR", with: directory.appendingPathComponent("state").path).write(
        toFile: path, atomically: true, encoding: .utf8)
    return (try ServerProcess(executable: "chat", arguments: ["--config", path, "--port", "0"] + extra, environment: environment), directory.path)
}

let liveChatConfig = """
    {
      "name": "chat-live",
      "state_dir": "STATE_DIR",
      "log_level": "warning",
      "durable_objects": {
        "bindings": [{ "name": "ROOMS", "class_name": "ChatRoom" }],
        "idle_timeout_ms": 500,
        "max_websockets_per_object": 150,
      },
      "limits": { "max_websocket_message_bytes": 65536, "max_concurrent_requests": 4096 },
    }
    """

@Suite("Chat over real sockets, with Python's websockets as the client", .serialized)
struct LiveChatTests {
    @Test("1,000 sockets in 10 rooms: every member receives every message of its room exactly once, in order")
    func thousandSockets() async throws {
        let (server, _) = try startChat(liveChatConfig)
        defer { server.stop() }
        let figures = try await PythonClient.run("load", ["--url", server.url, "--rooms", "10", "--per-room", "100", "--messages", "5"])
        #expect(figures["sockets"] as? Int == 1000)
        #expect(figures["deliveries"] as? Int == 500_000)
        let resident = server.memory().resident
        #expect(resident > 0)
    }

    @Test("hibernation: the room evicted with 100 sockets open; the next message wakes it with attachments intact")
    func hibernation() async throws {
        let (server, _) = try startChat(liveChatConfig)
        defer { server.stop() }
        let figures = try await PythonClient.run("hibernation", ["--url", server.url, "--sockets", "100"])
        #expect(figures["rebuilt"] as? Int == 1)
    }

    @Test("close codes: echoed client codes, 1009 for oversized frames, 400/426 refusals, 503 past the sockets limit")
    func closeCodes() async throws {
        let (server, _) = try startChat(liveChatConfig)
        defer { server.stop() }
        let figures = try await PythonClient.run("close-codes", ["--url", server.url, "--max-message-bytes", "65536", "--max-sockets", "150"])
        #expect(figures["oversized"] as? Int == 1009)
        #expect(figures["too_many"] as? Int == 503)
    }
}

let chatPostgresURL = ProcessInfo.processInfo.environment["EDGE_POSTGRES_URL"]

@Suite(
    "Chat on PostgreSQL: two processes, one room",
    .enabled(if: chatPostgresURL != nil, "EDGE_POSTGRES_URL is not set: start a server with `.ci/postgres start` and export the URL it prints"))
struct PostgresChatTests {
    @Test("members on both processes share one room: the owner holds every socket, the other proxies; every message reaches everyone once, in one order")
    func sharedRoom() async throws {
        let config = """
            {
              "name": "chat-shared-\(UUID().uuidString.prefix(8).lowercased())",
              "state_dir": "STATE_DIR",
              "log_level": "warning",
              "postgres": { "url": "\(chatPostgresURL!)" },
              "durable_objects": { "backend": "postgres", "bindings": [{ "name": "ROOMS", "class_name": "ChatRoom" }] },
              "limits": { "max_concurrent_requests": 4096 },
            }
            """
        let (first, _) = try startChat(config)
        let (second, _) = try startChat(config)
        defer {
            first.stop()
            second.stop()
        }
        let figures = try await PythonClient.run("shared", ["--url", first.url, "--url", second.url, "--per-room", "40", "--messages", "5"])
        #expect(figures["deliveries"] as? Int == 40 * 200)
        #expect(figures["proxied"] as? Int == 20, "half the members joined through the process that does not own the room")
    }
}
