public import EdgeBlob
public import EdgeCoordinator
import EdgeCore
public import EdgeKV
import EdgeQueue
import Foundation
import HTTPTypes
import Logging

/// The worker `edge dev` serves when the config's `main` is `"hello"` (the default): a greeting,
/// `/health`, and, for what the config binds:
///
/// - `COUNTER` (a KV namespace): `GET /count` counts visits in KV;
/// - `COUNTERS` (durable objects of class `HelloCounter`): `GET /objects/NAME` reads the
///   counter object `NAME`, `POST /objects/NAME` increments it; both answer
///   `{"name":…,"value":…,"pid":…}`, `pid` being the process the object runs in;
/// - `FILES` (a bucket): `PUT /files/KEY` stores the request's body (streamed, with its
///   `Content-Type`), `GET /files/KEY` serves it (404 when absent), `DELETE /files/KEY` removes it;
/// - queue consumers: every message received is logged (`QUEUE message ID (attempt N): BODY`)
///   and acknowledged.
public struct HelloWorker: Worker {
    public struct Env: Sendable {
        public var greeting: String
        public var counter: (any KVNamespace)?
        public var counters: DurableObjectNamespace<HelloCounter>?
        public var files: (any BlobBucket)?
    }

    public init() {}

    public static func makeEnv(_ bindings: EdgeBindings) throws -> Env {
        let greeting = (try? bindings.variable("GREETING")) ?? "Hello from swift-edge"
        let counter = bindings.config.kvNamespaces.contains { $0.binding == "COUNTER" } ? try bindings.kv("COUNTER") : nil
        let counters =
            bindings.config.durableObjects.contains { $0.name == "COUNTERS" }
            ? try bindings.durableObjects(HelloCounter.self, binding: "COUNTERS", env: ()) : nil
        let files = bindings.config.r2Buckets.contains { $0.binding == "FILES" } ? try bindings.bucket("FILES") : nil
        return Env(greeting: greeting, counter: counter, counters: counters, files: files)
    }

    public func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        switch request.url.path {
        case "/health":
            return .text("ok")
        case "/count":
            guard let counter = env.counter else { return .text("bind a KV namespace as COUNTER to count", status: 404) }
            let next = (Int(try await counter.get("count") ?? "0") ?? 0) + 1
            try await counter.put("count", String(next))
            return .text("\(next)")
        case let path where path.hasPrefix("/files/"):
            guard let files = env.files else { return .text("bind a bucket as FILES to store files", status: 404) }
            let key = String(path.dropFirst("/files/".count))
            guard !key.isEmpty else { return .text("use /files/KEY", status: 404) }
            switch request.method {
            case .put:
                let stored = try await files.put(
                    key, body: .stream(request.body),
                    options: BlobPutOptions(httpMetadata: BlobHTTPMetadata(contentType: request.headers[.contentType])))
                return try .json(["key": key, "etag": stored?.etag ?? "", "size": String(stored?.size ?? 0)], status: .created)
            case .delete:
                try await files.delete(key)
                return EdgeResponse(status: .noContent)
            default:
                guard let found = try await files.get(key), let body = found.body else { return .text("no file \(key)", status: 404) }
                var response = EdgeResponse.stream(.stream(body), contentType: found.object.httpMetadata.contentType ?? "application/octet-stream")
                response.headers[.eTag] = found.object.httpEtag
                return response
            }
        case let path where path.hasPrefix("/objects/"):
            guard let counters = env.counters else {
                return .text("bind durable objects of class HelloCounter as COUNTERS to count in objects", status: 404)
            }
            let name = String(path.dropFirst("/objects/".count))
            guard !name.isEmpty, !name.contains("/") else { return .text("use /objects/NAME", status: 404) }
            return try await counters.get(counters.idFromName(name)).fetch(request)
        default:
            return .text(env.greeting)
        }
    }

    /// Logs every message of whatever queues the config consumes.
    public static let queues: [QueueHandler<HelloWorker>] = [
        .consumeAll { _, batch, _, ctx in
            for message in batch.messages {
                let body = (try? message.body.serialized()).map { String(decoding: $0, as: UTF8.self) } ?? "?"
                ctx.logger.info("\(batch.queue) message \(message.id) (attempt \(message.attempts)): \(body)")
            }
        }
    ]
}

/// `HelloWorker`'s durable object: a counter per name. `POST` increments it, any other method
/// reads it; the answer names the process the object runs in. `?alarm_in=SECONDS` (with any
/// method) sets the object's alarm that many seconds ahead; when it fires, it counts in `alarms`.
public actor HelloCounter: DurableObject {
    let state: DurableObjectState

    public init(state: DurableObjectState, env: Void) { self.state = state }

    public func fetch(_ request: EdgeRequest) async throws -> EdgeResponse {
        if let text = request.url.query["alarm_in"] {
            guard let seconds = Double(text), seconds.isFinite, (0...31_536_000).contains(seconds) else {
                return .text("alarm_in is seconds from now, 0...31536000 (a year)", status: 400)
            }
            try state.storage.setAlarm(Date().addingTimeInterval(seconds))
        }
        var value = try state.storage.get("value", as: Int.self) ?? 0
        if request.method == .post {
            value += 1
            try state.storage.put("value", value)
        }
        let name = request.url.path.split(separator: "/").last.map(String.init) ?? ""
        let body = try JSONValue.object([
            "name": .string(name), "value": .int(Int64(value)),
            "pid": .int(Int64(ProcessInfo.processInfo.processIdentifier)),
        ]).serialized()
        return EdgeResponse(headers: [.contentType: "application/json"], body: .bytes(Array(body)))
    }

    public func alarm(_ info: AlarmInfo) async throws {
        try state.storage.put("alarms", (try state.storage.get("alarms", as: Int.self) ?? 0) + 1)
    }
}
