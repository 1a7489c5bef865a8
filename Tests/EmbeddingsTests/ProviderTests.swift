import Embeddings
import Foundation
import Hummingbird
import Logging
import NIOFoundationEssentialsCompat
import ServiceLifecycle
import Synchronization
import Testing

/// A real embeddings server on a loopback port whose answers the test scripts, one per request.
final class ScriptedServer: Sendable {
    enum Answer: Sendable {
        case embeddings
        case status(Int, retryAfter: String?)
        case body(String)
        case stall(seconds: Double)
    }

    let script: Mutex<[Answer]>
    let requests = Mutex<[Data]>([])
    let port = Mutex<Int?>(nil)
    let authorizations = Mutex<[String?]>([])

    init(_ script: [Answer]) { self.script = Mutex(script) }

    var requestCount: Int { requests.withLock { $0.count } }

    /// Runs `body` with the server listening; the base URL is `http://127.0.0.1:PORT/v1`.
    func run(_ body: @escaping @Sendable (URL) async throws -> Void) async throws {
        let router = Router()
        router.post("/v1/embeddings") { request, _ -> Response in
            let data = try await request.body.collect(upTo: 1 << 20)
            let raw = Data(buffer: data)
            let json = (try? JSONSerialization.jsonObject(with: raw) as? [String: Any]) ?? [:]
            self.requests.withLock { $0.append(raw) }
            self.authorizations.withLock { $0.append(request.headers[.authorization]) }
            let answer = self.script.withLock { $0.isEmpty ? .embeddings : $0.removeFirst() }
            switch answer {
            case .embeddings:
                let inputs = json["input"] as? [String] ?? []
                // Reversed order with explicit indexes, unnormalised: the client must sort and normalise.
                let items = inputs.enumerated().reversed().map { index, text in
                    "{\"object\":\"embedding\",\"index\":\(index),\"embedding\":[\(Float(text.count)),2,0,0]}"
                }
                return Self.json("{\"object\":\"list\",\"data\":[\(items.joined(separator: ","))]}")
            case .status(let code, let retryAfter):
                var response = Self.json("{\"error\":{\"message\":\"scripted \(code)\"}}", status: code)
                if let retryAfter { response.headers[.retryAfter] = retryAfter }
                return response
            case .body(let text):
                return Self.json(text)
            case .stall(let seconds):
                try await Task.sleep(for: .seconds(seconds))
                return Self.json("{}")
            }
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in self.port.withLock { $0 = channel.localAddress?.port } })
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let group = ServiceGroup(services: [app], logger: logger)
        let serving = Task { try await group.run() }
        defer { serving.cancel() }
        var port: Int?
        while port == nil {
            try await Task.sleep(for: .milliseconds(5))
            port = self.port.withLock { $0 }
        }
        do {
            try await body(URL(string: "http://127.0.0.1:\(port!)/v1")!)
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try? await serving.value
    }

    static func json(_ text: String, status: Int = 200) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// A provider of the scripted server. The timeout is generous: on a loaded machine an answer can
/// take tens of seconds (the server runs on the test process's two cooperative threads), and a
/// retry would consume the next scripted answer.
func provider(_ url: URL, api: HTTPEmbeddingProvider.API = .openAI, timeout: Double = 600, retries: Int = 3) -> HTTPEmbeddingProvider {
    var configuration = HTTPEmbeddingProvider.Configuration(api: api, baseURL: url, model: "test-model", apiKey: "sk-test", dimensions: 4)
    configuration.timeout = timeout
    configuration.maxRetries = retries
    configuration.initialBackoff = 0.01
    configuration.maxBackoff = 0.05
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return HTTPEmbeddingProvider(configuration, logger: logger)
}

@Suite("HTTP embedding providers, against a local server")
struct ProviderTests {
    @Test("request shape, key, input order and normalisation")
    func success() async throws {
        let server = ScriptedServer([])
        try await server.run { url in
            let vectors = try await provider(url, api: .voyage).embed(["a", "bbb"])
            #expect(vectors.count == 2)
            #expect(abs(vectors[0][0] - 1 / Float(5).squareRoot()) < 1e-6, "first input first, normalised")
            #expect(abs(vectors[1][0] - 3 / Float(13).squareRoot()) < 1e-6)
        }
        let raw = try #require(server.requests.withLock { $0.first })
        let request = try #require(try JSONSerialization.jsonObject(with: raw) as? [String: Any])
        #expect(request["model"] as? String == "test-model")
        #expect(request["input"] as? [String] == ["a", "bbb"])
        #expect(server.authorizations.withLock { $0.first } == "Bearer sk-test")
    }

    @Test("429 and 5xx are retried; Retry-After is honoured")
    func retries() async throws {
        let server = ScriptedServer([.status(429, retryAfter: "1"), .status(503, retryAfter: nil), .status(500, retryAfter: nil)])
        try await server.run { url in
            let started = ContinuousClock.now
            let vectors = try await provider(url).embed(["hello"])
            #expect(vectors.count == 1)
            #expect(ContinuousClock.now - started >= .milliseconds(950), "waited for Retry-After: 1")
        }
        #expect(server.requestCount == 4)
    }

    @Test("retries run out: providerUnavailable with the status; 4xx is not retried")
    func exhausted() async throws {
        let server = ScriptedServer([
            .status(502, retryAfter: nil), .status(502, retryAfter: nil), .status(502, retryAfter: nil),
            .status(401, retryAfter: nil),
        ])
        try await server.run { url in
            do {
                _ = try await provider(url, retries: 2).embed(["hello"])
                Issue.record("succeeded")
            } catch let error as EmbeddingError {
                #expect(error.code == .providerUnavailable)
                #expect(error.actual == 502)
            }
            do {
                _ = try await provider(url, retries: 2).embed(["hello"])
                Issue.record("succeeded")
            } catch let error as EmbeddingError {
                #expect(error.code == .providerRejected)
                #expect(error.message.contains("scripted 401"))
            }
        }
        #expect(server.requestCount == 4, "three tries for the 502s, one for the 401")
    }

    @Test("a stalled server times out")
    func timeout() async throws {
        let server = ScriptedServer([.stall(seconds: 3), .stall(seconds: 3)])
        try await server.run { url in
            do {
                _ = try await provider(url, timeout: 0.5, retries: 1).embed(["hello"])
                Issue.record("succeeded")
            } catch let error as EmbeddingError {
                #expect(error.code == .providerTimeout)
            }
        }
    }

    @Test("malformed responses are typed errors")
    func malformed() async throws {
        let server = ScriptedServer([
            .body("not json"), .body("{\"data\": []}"), .body("{\"data\":[{\"index\":0,\"embedding\":[1,2]}]}"),
            .body("{\"data\":[{\"index\":0,\"embedding\":[1,\"x\",0,0]}]}"),
        ])
        try await server.run { url in
            for expected in ["not a JSON object", "0 embeddings for 1 inputs", "2 dimensions", "non-number"] {
                do {
                    _ = try await provider(url).embed(["hello"])
                    Issue.record("accepted a malformed response")
                } catch let error as EmbeddingError {
                    #expect(error.code == .malformedResponse)
                    #expect(error.message.contains(expected), "\(error.message)")
                }
            }
        }
    }

    @Test("an answer larger than maxResponseBytes is a malformed response naming the limit, not retried")
    func oversizedAnswer() async throws {
        let padding = String(repeating: " ", count: 4096)
        let server = ScriptedServer([.body("{\"data\":[{\"index\":0,\"embedding\":[1,2,0,0]}]}" + padding)])
        try await server.run { url in
            var configuration = HTTPEmbeddingProvider.Configuration(api: .openAI, baseURL: url, model: "test-model", apiKey: nil, dimensions: 4)
            configuration.maxResponseBytes = 1024
            configuration.timeout = 600  // a retry after a timeout would consume the next answer
            do {
                _ = try await HTTPEmbeddingProvider(configuration).embed(["hello"])
                Issue.record("accepted an answer over the limit")
            } catch let error as EmbeddingError {
                #expect(error.code == .malformedResponse)
                #expect(error.message.contains("more than 1024 bytes"), "\(error.message)")
            }
        }
        #expect(server.requestCount == 1, "not retried")
    }

    @Test("HTTP providers refuse empty texts before sending anything, naming the text")
    func emptyInput() async throws {
        do {
            _ = try await provider(URL(string: "http://127.0.0.1:9/v1")!).embed(["fine", "  \n"])
            Issue.record("a blank text was accepted")
        } catch let error as EmbeddingError {
            #expect(error.code == .emptyInput)
            #expect(error.index == 1)
        }
    }

    @Test("Retry-After as an HTTP date")
    func retryAfterDate() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(HTTPEmbeddingProvider.retryAfter("Tue, 14 Nov 2023 22:13:30 GMT", now: now) == 10)
        #expect(HTTPEmbeddingProvider.retryAfter("7", now: now) == 7)
        #expect(HTTPEmbeddingProvider.retryAfter("soon", now: now) == nil)
    }
}
