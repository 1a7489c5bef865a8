import EdgeCoordinator
import EdgeCore
import EdgeRuntime
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import Recordings
import Synchronization

/// The servers the http and ws suites load, each in a process of its own (`edge-bench serve
/// KIND --dir DIR`), so each one's memory is its own. Every kind prints
/// `listening on http://127.0.0.1:PORT` once it listens, then serves until killed.
///
/// - `recordings`: ours, the Recordings example worker storing into a file bucket under DIR.
/// - `files`: the peer, plain Hummingbird streaming `PUT /recordings/ID` to a file (fsynced, as
///   the bucket is) and `GET /recordings/ID` back with `FileIO`.
/// - `ws-object`: ours, a durable object accepting every socket and broadcasting each message
///   to all of them (`getWebSockets()`).
/// - `ws-plain`: the peer, a hummingbird-websocket server broadcasting to every connection's
///   outbound writer.
enum BenchServer {
    static func run(_ kind: String, directory: String, port: Int? = nil) async throws {
        var logger = Logger(label: "bench-server")
        logger.logLevel = .warning
        switch kind {
        case "recordings":
            var config = EdgeConfig(name: "recordings", file: "edge-bench", stateDirectory: directory)
            config.r2Buckets = [.init(binding: "RECORDINGS", bucketName: "recordings")]
            config.limits.maxRequestBodyBytes = 200 * 1024 * 1024
            config.logLevel = .warning
            config.port = 0
            let runtime = try WorkerRuntime(worker: RecordingsWorker(), bindings: EdgeBindings(config: config, logger: logger))
            try await EdgeHost(runtime: runtime).run { port in announce(port) }
        case "files":
            try await plainFiles(directory: directory, logger: logger)
        case "ws-object":
            var config = EdgeConfig(name: "broadcast", file: "edge-bench", stateDirectory: directory)
            config.durableObjects = [.init(name: "ROOMS", className: "BroadcastRoom")]
            config.maxWebSocketsPerObject = 10_000
            config.limits.maxConcurrentRequests = 10_000
            config.logLevel = .warning
            config.port = 0
            let runtime = try WorkerRuntime(worker: BroadcastWorker(), bindings: EdgeBindings(config: config, logger: logger))
            try await EdgeHost(runtime: runtime).run { port in announce(port) }
        case "s3":
            // The S3 API on `port` over a file bucket "media"; the worker's own port is announced.
            setenv("S3_SECRET", S3Benchmark.secret, 1)
            var config = EdgeConfig(name: "s3-bench", file: "edge-bench", stateDirectory: directory)
            config.r2Buckets = [.init(binding: "MEDIA", bucketName: "media")]
            config.secrets = ["S3_SECRET"]
            config.s3API = .init(port: port ?? 9000, accessKeys: [.init(accessKeyID: S3Benchmark.accessKey, secretName: "S3_SECRET")])
            config.logLevel = .warning
            config.port = 0
            let runtime = try WorkerRuntime(worker: S3BenchWorker(), bindings: EdgeBindings(config: config, logger: logger))
            try await EdgeHost(runtime: runtime).run { port in announce(port) }
        case "ws-plain":
            try await plainBroadcast(logger: logger)
        default:
            throw BenchError(message: "unknown server \(kind): recordings, files, ws-object or ws-plain")
        }
    }

    static func announce(_ port: Int) {
        FileHandle.standardOutput.write(Data("listening on http://127.0.0.1:\(port)\n".utf8))
    }

    static func plainFiles(directory: String, logger: Logger) async throws {
        let fileIO = FileIO()
        let router = Router()
        router.put("/recordings/:id") { request, context -> HTTPResponse.Status in
            let path = directory + "/" + (context.parameters.get("id") ?? "unnamed")
            try await fileIO.writeFile(contents: request.body, path: path, context: context)
            // Durable on return, as the bucket's put is.
            let fd = open(path, O_RDONLY)
            guard fd >= 0, fsync(fd) == 0 else { throw HTTPError(.internalServerError) }
            close(fd)
            return .created
        }
        router.get("/recordings/:id") { _, context -> Response in
            let path = directory + "/" + (context.parameters.get("id") ?? "unnamed")
            return Response(status: .ok, headers: [.contentType: "video/webm"], body: try await fileIO.loadFile(path: path, context: context))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in announce(channel.localAddress?.port ?? 0) }, logger: logger)
        try await app.runService()
    }

    static func plainBroadcast(logger: Logger) async throws {
        let connections = Mutex<[Int: WebSocketOutboundWriter]>([:])
        let nextID = Atomic<Int>(0)
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws("/ws") { inbound, outbound, _ in
            let id = nextID.add(1, ordering: .relaxed).newValue
            connections.withLock { $0[id] = outbound }
            defer { _ = connections.withLock { $0.removeValue(forKey: id) } }
            for try await message in inbound.messages(maxSize: 1 << 20) {
                guard case .text(let text) = message else { continue }
                for writer in connections.withLock({ Array($0.values) }) {
                    try? await writer.write(.text(text))
                }
            }
        }
        let app = Application(
            router: Router(), server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in announce(channel.localAddress?.port ?? 0) }, logger: logger)
        try await app.runService()
    }
}

/// The worker beside the S3 API in the s3 suite: it answers nothing itself.
struct S3BenchWorker: Worker {
    struct Env: Sendable {}
    static func makeEnv(_ bindings: EdgeBindings) throws -> Env { Env() }
}

/// Ours in the ws suite: every socket of `/ws` joins one room.
struct BroadcastWorker: Worker {
    struct Env: Sendable {
        var rooms: DurableObjectNamespace<BroadcastRoom>
    }

    static func makeEnv(_ bindings: EdgeBindings) throws -> Env {
        Env(rooms: try bindings.durableObjects(BroadcastRoom.self, binding: "ROOMS", env: ()))
    }

    func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        try await env.rooms.get(env.rooms.idFromName("room")).fetch(request)
    }
}

/// A room that sends each message to every socket it holds.
actor BroadcastRoom: DurableObject {
    let state: DurableObjectState

    init(state: DurableObjectState, env: Void) { self.state = state }

    func fetch(_ request: EdgeRequest) async throws -> EdgeResponse {
        guard request.isWebSocketUpgrade else { return .text("WebSocket only", status: .upgradeRequired) }
        return try state.acceptWebSocket()
    }

    func webSocketMessage(_ socket: HibernatableWebSocket, _ message: EdgeCore.WebSocketMessage) async throws {
        for member in state.getWebSockets() where member.closure == nil {
            try? await member.send(message)
        }
    }
}

/// A server started as `edge-bench serve KIND`: its port, its memory, killed at the end.
final class ServerChild: @unchecked Sendable {
    let process = Process()
    let port: Int

    init(_ kind: String, directory: String, port: Int? = nil) throws {
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = ["serve", kind, "--dir", directory] + (port.map { ["--port", String($0)] } ?? [])
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var line: [UInt8] = []
        while true {
            guard let byte = output.fileHandleForReading.readData(ofLength: 1).first else {
                throw BenchError(message: "edge-bench serve \(kind) exited before it listened")
            }
            if byte == 10 { break }
            line.append(byte)
        }
        guard let port = String(decoding: line, as: UTF8.self).split(separator: ":").last.flatMap({ Int($0) }) else {
            throw BenchError(message: "edge-bench serve \(kind) printed \(String(decoding: line, as: UTF8.self))")
        }
        self.port = port
    }

    /// Forgets the peak so far (`/proc/PID/clear_refs`), so the next ``memory()`` peak is that of
    /// what comes next.
    func resetPeak() {
        try? "5".write(toFile: "/proc/\(process.processIdentifier)/clear_refs", atomically: false, encoding: .utf8)
    }

    /// Resident memory now and at its peak, in MiB (`VmRSS`, `VmHWM`).
    func memory() -> (resident: Double, peak: Double) {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        func mebibytes(_ field: String) -> Double {
            let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
            return (Double(line.split(separator: " ").dropFirst().first.map(String.init) ?? "") ?? 0) / 1024
        }
        return (mebibytes("VmRSS"), mebibytes("VmHWM"))
    }

    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
