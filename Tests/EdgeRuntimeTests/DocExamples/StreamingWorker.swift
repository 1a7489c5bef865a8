// The code block of Docs/runtime.md, "Streaming bodies and WebSockets" (DocExampleTests keeps them equal).
import EdgeBlob
import EdgeCore
import EdgeRuntime
import HTTPTypes

struct Files: Worker {
    struct Env: Sendable {
        var files: any BlobBucket
    }

    static func makeEnv(_ bindings: EdgeBindings) throws -> Env {
        Env(files: try bindings.bucket("FILES"))
    }

    func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        let segments = request.url.pathSegments
        switch (request.method, segments.first, segments.count) {
        case (.put, "files", 2):
            // Chunks go to the bucket as they arrive. Past limits.max_request_body_bytes the body
            // throws, the put stores nothing, and the client gets 413.
            let type = request.headers[.contentType] ?? "application/octet-stream"
            let stored = try await env.files.put(
                "files/" + segments[1], body: .stream(request.body),
                options: BlobPutOptions(httpMetadata: BlobHTTPMetadata(contentType: type)))
            return try .json(["size": stored?.size ?? 0], status: .created)
        case (.get, "files", 2):
            // The blob's body streams straight to the client.
            guard let blob = try await env.files.get("files/" + segments[1]), let body = blob.body else {
                return .text("no such file", status: .notFound)
            }
            return .stream(.stream(body), contentType: blob.object.httpMetadata.contentType ?? "application/octet-stream")
        case (.post, "echo", 1):
            // A small body, read whole (at most 64 KiB here, else EdgeHTTPError .bodyTooLarge).
            return .text(String(decoding: try await request.body.collect(upTo: 65_536), as: UTF8.self))
        case (.get, "ticks", 1):
            // Server-sent events, written as the client reads them; a client that leaves
            // cancels the generator.
            return .serverSentEvents { events in
                for tick in 1...3 { try await events.event("tick \(tick)", name: "tick", id: String(tick)) }
            }
        case (.get, "socket", 1) where request.isWebSocketUpgrade:
            // 101, then the handler owns the socket until it returns; a throw closes it with 1011.
            return .webSocket { socket in
                for try await message in socket.messages {
                    if case .text(let text) = message { try await socket.send("you said: \(text)") }
                }
            }
        default:
            return .text("no route", status: .notFound)
        }
    }
}
