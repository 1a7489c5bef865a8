import AsyncHTTPClient
public import Foundation
public import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Embeddings from an HTTP API: OpenAI-compatible (`POST {base}/embeddings`, as served by OpenAI,
/// Workers AI's OpenAI endpoint, Ollama, vLLM, LM Studio) or Voyage-compatible (the same shape
/// plus `input_type`).
///
/// Texts go in batches of at most ``Configuration/maxBatchSize`` (default 128). A 429, a 5xx, a
/// network failure or a timeout is retried with exponential backoff and full jitter, honouring
/// `Retry-After` (seconds or an HTTP date); any other 4xx is not retried. Vectors are returned
/// L2-normalised, in input order.
///
/// Requests go through AsyncHTTPClient's shared client (SwiftNIO event loops), so an answer
/// reaches the caller however busy Swift's cooperative pool is.
public struct HTTPEmbeddingProvider: EmbeddingModel {
    public enum API: String, Sendable {
        case openAI = "openai"
        case voyage
    }

    public struct Configuration: Sendable {
        public var api: API
        /// The API root, e.g. `https://api.openai.com/v1` or `https://api.voyageai.com/v1`.
        public var baseURL: URL
        public var model: String
        /// Sent as `Authorization: Bearer <key>`; read it from a secret. Never logged.
        public var apiKey: String?
        public var dimensions: Int
        public var maxBatchSize = 128
        public var maxInputTokens = 8192
        /// Voyage's `input_type` (`"document"` or `"query"`); nil omits it.
        public var inputType: String?
        /// Seconds before one attempt is abandoned.
        public var timeout: Double = 30
        /// Attempts after the first.
        public var maxRetries = 5
        /// The first backoff; each retry doubles it, up to `maxBackoff`, with full jitter.
        public var initialBackoff: Double = 0.5
        public var maxBackoff: Double = 30
        /// The largest answer read (default 64 MiB, far above a full batch of the widest
        /// embeddings as JSON); a larger one is `.malformedResponse`.
        public var maxResponseBytes = 64 << 20
        /// The longest `Retry-After` honoured; longer waits give up at once with `.providerUnavailable`.
        public var maxRetryAfter: Double = 120

        public init(api: API, baseURL: URL, model: String, apiKey: String?, dimensions: Int) {
            self.api = api
            self.baseURL = baseURL
            self.model = model
            self.apiKey = apiKey
            self.dimensions = dimensions
        }
    }

    public let configuration: Configuration
    public var modelID: String { "\(configuration.api.rawValue):\(configuration.model)" }
    public var dimensions: Int { configuration.dimensions }
    public var maxInputTokens: Int { configuration.maxInputTokens }
    public var maxBatchSize: Int { configuration.maxBatchSize }
    let clock: any EdgeClock
    let logger: Logger

    public init(_ configuration: Configuration, clock: any EdgeClock = SystemClock(), logger: Logger = Logger(label: "swift-edge.embeddings")) {
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
    }

    /// - Throws: ``EmbeddingError``: validation errors; `.providerRejected` (a 4xx other than
    ///   429, with the provider's message); `.providerUnavailable` (429 / 5xx / network failures
    ///   after every retry); `.providerTimeout` (the last attempt timed out); `.malformedResponse`
    ///   (not the documented shape, or larger than ``HTTPEmbeddingProvider/Configuration/maxResponseBytes``).
    public func embed(_ texts: [String]) async throws -> [[Float]] {
        try validate(texts)
        var body: [String: Any] = ["model": configuration.model, "input": texts]
        if configuration.api == .voyage, let inputType = configuration.inputType { body["input_type"] = inputType }
        var request = HTTPClientRequest(url: configuration.baseURL.appendingPathComponent("embeddings").absoluteString)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        if let key = configuration.apiKey { request.headers.add(name: "authorization", value: "Bearer \(key)") }
        request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
        let data = try await send(request)
        return try decode(data, count: texts.count)
    }

    /// Sends with retries; returns the body of the first 2xx answer.
    private func send(_ request: HTTPClientRequest) async throws -> Data {
        var attempt = 0
        while true {
            let failure: EmbeddingError
            var retryAfter: Double?
            do {
                let (data, response) = try await exchange(request)
                let status = Int(response.status.code)
                if (200..<300).contains(status) { return data }
                let message = Self.errorMessage(data)
                if status == 429 || status >= 500 {
                    failure = EmbeddingError(
                        .providerUnavailable, actual: status, message: "\(modelID): HTTP \(status) after \(attempt + 1) attempts: \(message)")
                    retryAfter = Self.retryAfter(response.headers.first(name: "retry-after"), now: clock.now)
                } else {
                    throw EmbeddingError(.providerRejected, actual: status, message: "\(modelID) rejected the request: HTTP \(status): \(message)")
                }
            } catch let error as EmbeddingError {
                throw error
            } catch is NIOTooManyBytesError {
                throw EmbeddingError(
                    .malformedResponse,
                    message: "\(modelID) answered with more than \(configuration.maxResponseBytes) bytes, the most this client reads (maxResponseBytes)")
            } catch let error as HTTPClientError where error == .deadlineExceeded || error == .connectTimeout {
                failure = EmbeddingError(.providerTimeout, message: "\(modelID) did not answer within \(configuration.timeout) s (\(attempt + 1) attempts)")
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                failure = EmbeddingError(
                    .providerUnavailable, message: "\(modelID) is unreachable after \(attempt + 1) attempts: \(error)")
            }
            guard attempt < configuration.maxRetries else { throw failure }
            if let retryAfter, retryAfter > configuration.maxRetryAfter {
                throw EmbeddingError(
                    .providerUnavailable,
                    message: "\(failure.message); Retry-After of \(Int(retryAfter)) s exceeds the \(Int(configuration.maxRetryAfter)) s this client waits")
            }
            let backoff = min(configuration.maxBackoff, configuration.initialBackoff * pow(2, Double(attempt)))
            let delay = retryAfter ?? Double.random(in: 0...backoff)
            logger.warning(
                "embedding request failed; retrying",
                metadata: [
                    "model": "\(modelID)", "attempt": "\(attempt + 1)",
                    "delay_s": "\(delay)", "error": "\(failure.message)",
                ])
            try await clock.sleep(seconds: delay)
            attempt += 1
        }
    }

    /// One attempt: the answer's head and whole body within ``Configuration/timeout``.
    ///
    /// - Throws: `HTTPClientError.deadlineExceeded` past the timeout; connection errors.
    private func exchange(_ request: HTTPClientRequest) async throws -> (Data, HTTPClientResponse) {
        let deadline = NIODeadline.now() + .nanoseconds(Int64(configuration.timeout * 1e9))
        let response = try await HTTPClient.shared.execute(request, deadline: deadline, logger: logger)
        // The client's deadline covers the head; the body gets what is left of it.
        let body = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { [limit = configuration.maxResponseBytes] in try await response.body.collect(upTo: limit) }
            group.addTask {
                try await Task.sleep(for: .nanoseconds(max(0, (deadline - .now()).nanoseconds)))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let body = first else { throw HTTPClientError.deadlineExceeded }
            return body
        }
        return (Data(buffer: body), response)
    }

    /// `Retry-After` as seconds from now: a number of seconds or an HTTP date; nil when unreadable.
    public static func retryAfter(_ value: String?, now: Date) -> Double? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Double(value) { return max(0, seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: value).map { max(0, $0.timeIntervalSince(now)) }
    }

    /// The provider's error message (`{"error": {"message": ...}}`, `{"detail": ...}`), or the body.
    static func errorMessage(_ data: Data) -> String {
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            if let error = object["error"] as? [String: Any], let message = error["message"] as? String { return message }
            if let message = object["error"] as? String { return message }
            if let detail = object["detail"] as? String { return detail }
        }
        return String(decoding: data.prefix(300), as: UTF8.self)
    }

    /// `{"data": [{"embedding": [...], "index": i}, ...]}` → vectors in input order, normalised.
    func decode(_ data: Data, count: Int) throws -> [[Float]] {
        func malformed(_ why: String) -> EmbeddingError {
            EmbeddingError(.malformedResponse, message: "\(modelID) answered with a malformed response: \(why)")
        }
        guard let root = try? JSONDecoder().decode(JSONValue.self, from: data), case .object(let object) = root else { throw malformed("not a JSON object") }
        guard case .array(let items)? = object["data"] else { throw malformed("no \"data\" array") }
        guard items.count == count else { throw malformed("\(items.count) embeddings for \(count) inputs") }
        var vectors = [[Float]?](repeating: nil, count: count)
        for (position, item) in items.enumerated() {
            guard case .object(let fields) = item else { throw malformed("item \(position) is not an object") }
            var index = position
            if case .int(let given)? = fields["index"] { index = Int(given) }
            guard (0..<count).contains(index), vectors[index] == nil else { throw malformed("index \(index) out of range or repeated") }
            guard case .array(let numbers)? = fields["embedding"] else { throw malformed("item \(position) has no \"embedding\" array") }
            let vector = try numbers.map { value -> Float in
                switch value {
                case .int(let number): return Float(number)
                case .double(let number): return Float(number)
                default: throw malformed("item \(position) holds a non-number")
                }
            }
            guard vector.count == dimensions else { throw malformed("item \(position) has \(vector.count) dimensions, expected \(dimensions)") }
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm.isFinite, norm > 0 else { throw malformed("item \(position) is a zero or non-finite vector") }
            vectors[index] = vector.map { $0 / norm }
        }
        return vectors.map { $0! }
    }
}
