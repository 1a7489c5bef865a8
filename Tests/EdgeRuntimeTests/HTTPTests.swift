import EdgeCore
import EdgeRuntime
import EdgeRuntimeTesting
import Foundation
import HTTPTypes
import Synchronization
import Testing

/// A worker exercising the HTTP surface: fields, queries, forms, streamed bodies both ways.
struct StreamWorker: Worker {
    struct Env: Sendable {}
    static func makeEnv(_ bindings: EdgeBindings) throws -> Env { Env() }

    /// How many chunks each server-sent-event stream wrote before its client went away.
    final class Written: Sendable {
        let counts = Mutex<[Int]>([])
        let stopped = Mutex<Bool>(false)
    }

    let written = Written()

    func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        switch (request.method, request.url.path) {
        case (.get, "/query"):
            let query = request.url.query
            return try .json(["tags": query.values("tag"), "q": [query["q"] ?? "-"], "segments": request.url.pathSegments])
        case (.get, "/fields"):
            // Two fields of one name, in and out.
            var response = EdgeResponse.text(request.headers[values: .accept].joined(separator: "|"))
            response.headers.append(HTTPField(name: .setCookie, value: "a=1"))
            response.headers.append(HTTPField(name: .setCookie, value: "b=2"))
            return response
        case (.post, "/form"):
            let form = try await request.formData()
            return .text("\(form["name"] ?? "-")/\(form["city"] ?? "-")")
        case (.post, "/count"):
            var total = 0, chunks = 0
            for try await chunk in request.body {
                total += chunk.count
                chunks += 1
            }
            return .text("\(total) bytes in \(chunks) chunks")
        case (.get, "/html"):
            return .html("<p>hi</p>")
        case (.get, "/old"):
            return .redirect(to: "/new", status: .movedPermanently)
        case (.get, "/generated"):
            // 20 MiB produced as it is read.
            return .stream(
                .stream { writer in
                    for _ in 0..<20 { try await writer.write([UInt8](repeating: 65, count: 1 << 20)) }
                }, contentType: "application/octet-stream")
        case (.get, "/events"):
            let written = self.written
            return .serverSentEvents { events in
                var count = 0
                defer {
                    written.counts.withLock { $0.append(count) }
                    written.stopped.withLock { $0 = true }
                }
                while true {
                    try await events.event("tick \(count)", name: "tick", id: String(count))
                    count += 1
                }
            }
        default:
            return .text("no route", status: .notFound)
        }
    }
}

@Suite("HTTP: fields, URLs, forms, streaming bodies")
struct HTTPTests {
    @Test("query parameters per RFC 3986: repeated keys kept, percent-decoded, '+' kept; path segments decoded")
    func queries() {
        let url = EdgeURL(target: "/files/a%20b/%E2%9C%93?tag=x&tag=y%2Bz&q=one+two&empty&bad=%zz#fragment")
        #expect(url.path == "/files/a%20b/%E2%9C%93")
        #expect(url.pathSegments == ["files", "a b", "✓"])
        #expect(url.query.values("tag") == ["x", "y+z"])
        #expect(url.query["q"] == "one+two", "'+' is a space only in form bodies")
        #expect(url.query["empty"] == "")
        #expect(url.query["bad"] == "%zz", "a '%' without two hex digits stays")
        #expect(url.query["missing"] == nil)
        #expect(url.rawQuery == "tag=x&tag=y%2Bz&q=one+two&empty&bad=%zz")
        #expect(EdgeURL(target: "/plain").query.items.isEmpty)
        #expect(EdgeURL(target: "").path == "/")
        let form = QueryParameters(parsing: "name=Ana+Lima&city=S%C3%A3o+Paulo", plusIsSpace: true)
        #expect(form["name"] == "Ana Lima" && form["city"] == "São Paulo")
    }

    @Test("repeated fields reach the worker and the client; forms; builders")
    func fieldsAndBuilders() async throws {
        let client = try WorkerTestClient(StreamWorker(), config: #"{ "name": "http" }"#)
        var fields = HTTPFields()
        fields.append(HTTPField(name: .accept, value: "text/html"))
        fields.append(HTTPField(name: .accept, value: "application/json"))
        let response = await client.fetch(EdgeRequest(path: "/fields", headers: fields))
        #expect(response.text == "text/html|application/json")
        #expect(response.headers[values: .setCookie] == ["a=1", "b=2"], "both Set-Cookie fields kept")
        #expect(await client.fetch("/query?tag=a&tag=b&q=x%26y").text == #"{"q":["x&y"],"segments":["query"],"tags":["a","b"]}"#)
        let form = await client.fetch(
            "/form", method: "POST", headers: ["content-type": "application/x-www-form-urlencoded"], body: Array("name=Ana+Lima&city=S%C3%A3o+Paulo".utf8))
        #expect(form.text == "Ana Lima/São Paulo")
        let html = await client.fetch("/html")
        #expect(html.headers[.contentType] == "text/html; charset=utf-8" && html.text == "<p>hi</p>")
        let redirect = await client.fetch("/old")
        #expect(redirect.status == .movedPermanently && redirect.headers[.location] == "/new")
        #expect(await client.fetch("/count", method: "POST", body: [UInt8](repeating: 1, count: 1000)).text == "1000 bytes in 1 chunks")

        // Over a socket: both cookies arrive as two fields.
        let cookies = try await client.live { live in try await live.fetch("/fields").headers[values: .setCookie] }
        #expect(cookies == ["a=1", "b=2"])
    }

    @Test("a generated body streams to a real client; a client that goes away stops the generator")
    func streamedResponses() async throws {
        let worker = StreamWorker()
        let client = try WorkerTestClient(worker, config: #"{ "name": "http" }"#)
        let generated = await client.stream(EdgeRequest(path: "/generated"))
        var total = 0
        for try await chunk in generated.body { total += chunk.count }
        #expect(total == 20 << 20)

        try await client.live { live in
            let port = try #require(live.port)
            // curl reads three events and hangs up.
            let text = try await ExternalCommand.run(["sh", "-c", "curl -sN http://127.0.0.1:\(port)/events | head -n 9"]).output
            #expect(text.hasPrefix("id: 0\nevent: tick\ndata: tick 0\n\nid: 1\nevent: tick\ndata: tick 1\n"), "\(text)")
            // The generator notices the client is gone at its next write.
            let deadline = ContinuousClock.now + .seconds(600)
            while !worker.written.stopped.withLock({ $0 }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(worker.written.stopped.withLock { $0 }, "the event stream stopped when its client went away")
        #expect((worker.written.counts.withLock { $0 }.first ?? .max) < 10_000, "backpressure: it did not run ahead of the client")
    }

    @Test("an upload over the limit is cut off as it streams: 413, over a live socket too")
    func streamedLimit() async throws {
        let client = try WorkerTestClient(StreamWorker(), config: #"{ "name": "http", "limits": { "max_request_body_bytes": 100000 } }"#)
        let parts = (0..<10).map { _ in [UInt8](repeating: 2, count: 50_000) }
        let cut = await client.fetch(
            EdgeRequest(
                method: .post, path: "/count",
                body: .stream(
                    AsyncStream { continuation in
                        for part in parts { continuation.yield(part) }
                        continuation.finish()
                    })))
        #expect(cut.status == .contentTooLarge)
        #expect(cut.text.contains("100000"))
        let directory = try TemporaryDirectory.make("http-limit")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/body"
        _ = FileManager.default.createFile(atPath: file, contents: Data(repeating: 3, count: 500_000))
        try await client.live { live in
            let port = try #require(live.port)
            // Chunked: no Content-Length, so the limit is found while the body streams.
            let code = try await ExternalCommand.run([
                "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + file,
                "http://127.0.0.1:\(port)/count",
            ]).output
            #expect(code == "413")
            let fits = try await live.fetch("/count", method: "POST", body: [UInt8](repeating: 1, count: 90_000))
            #expect(fits.text.hasPrefix("90000 bytes"))
        }
    }
}
