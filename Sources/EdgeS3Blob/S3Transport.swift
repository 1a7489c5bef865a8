import AsyncHTTPClient
import EdgeBlob
import EdgeCore
import EdgeS3
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// A request to an S3 endpoint before it is signed: the method, the key's path (decoded), the
/// query, the headers and a body that can be sent again on a retry.
struct S3Request: Sendable {
    enum Body: Sendable {
        case none
        case bytes(ByteBuffer)
    }

    var method: HTTPMethod
    var key: String?
    var query: [(name: String, value: String)] = []
    var headers: [(name: String, value: String)] = []
    var body: Body = .none

    var bodyLength: Int {
        switch body {
        case .none: 0
        case .bytes(let buffer): buffer.readableBytes
        }
    }
}

/// An answer from the endpoint: status, headers, and the body still streaming.
struct S3Response: Sendable {
    var status: Int
    var headers: [String: String]
    var body: HTTPClientResponse.Body
    /// How many times the request was sent: above 1, an earlier attempt may have taken effect.
    var attempts = 1

    func header(_ name: String) -> String? { headers[name] }

    /// The whole body, up to `limit` bytes (error documents and listings are small).
    func collect(upTo limit: Int = 16 << 20) async throws -> [UInt8] {
        var buffer = try await body.collect(upTo: limit)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }
}

/// An error document from the endpoint: S3's code and message, and the HTTP status.
struct S3Failure: Error, Sendable, CustomStringConvertible {
    var status: Int
    var code: String
    var message: String
    /// How many times the request was sent: above 1, an earlier attempt may have taken effect.
    var attempts = 1

    var description: String { "\(status) \(code): \(message)" }

    static func read(from response: S3Response) async -> S3Failure {
        let bytes = (try? await response.collect(upTo: 1 << 20)) ?? []
        if let document = try? XMLNode.parse(bytes), document.name == "Error" {
            return S3Failure(status: response.status, code: document.value("Code") ?? "", message: document.value("Message") ?? "")
        }
        // HEAD answers carry no document: the status says it all.
        let code =
            switch response.status {
            case 404: "NotFound"
            case 403: "AccessDenied"
            case 412: "PreconditionFailed"
            case 416: "InvalidRange"
            default: "HTTP\(response.status)"
            }
        return S3Failure(status: response.status, code: code, message: String(decoding: bytes.prefix(200), as: UTF8.self))
    }

    /// Worth another attempt: the server failed or asked us to slow down.
    var isRetryable: Bool {
        [500, 502, 503, 504, 429].contains(status) || ["SlowDown", "InternalError", "RequestTimeout", "ServiceUnavailable"].contains(code)
    }
}

/// Signs requests with SigV4, sends them through AsyncHTTPClient and retries what failed in a
/// way worth retrying (connection errors, 5xx, throttling) with exponential backoff and jitter.
struct S3Transport: Sendable {
    let configuration: S3Blob.Configuration
    let client: HTTPClient
    let signer: SigV4Signer

    init(configuration: S3Blob.Configuration, client: HTTPClient) {
        self.configuration = configuration
        self.client = client
        signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region)
    }

    /// The path of `key` (or of the bucket) as the endpoint addresses it, decoded.
    func path(_ key: String?) -> String {
        let base = configuration.endpoint.path.hasSuffix("/") ? String(configuration.endpoint.path.dropLast()) : configuration.endpoint.path
        let bucketPath = configuration.pathStyle ? base + "/" + configuration.bucket : base
        guard let key else { return bucketPath + (configuration.pathStyle ? "" : "/") }
        return bucketPath + "/" + key
    }

    /// The scheme, host and port requests go to (with the bucket in the host name when
    /// virtual-hosted).
    var origin: URL {
        var components = URLComponents()
        components.scheme = configuration.endpoint.scheme
        components.host = configuration.pathStyle ? configuration.endpoint.host : "\(configuration.bucket).\(configuration.endpoint.host ?? "")"
        // A default port is left out, as HTTP clients leave it out of the Host header they send.
        let port = configuration.endpoint.port
        let isDefault = (components.scheme == "http" && port == 80) || (components.scheme == "https" && port == 443)
        components.port = isDefault ? nil : port
        return components.url ?? configuration.endpoint
    }

    var hostHeader: String {
        var host = origin.host ?? "localhost"
        if let port = origin.port { host += ":\(port)" }
        return host
    }

    /// Sends `request`; a status of 300 or more is thrown as ``S3Failure`` unless `accept` takes it.
    func send(_ request: S3Request, key: String?, accept: Set<Int> = []) async throws -> S3Response {
        var attempt = 0
        while true {
            attempt += 1
            do {
                var response = try await sendOnce(request)
                response.attempts = attempt
                if response.status < 300 || accept.contains(response.status) { return response }
                var failure = await S3Failure.read(from: response)
                failure.attempts = attempt
                if failure.isRetryable, attempt < configuration.maxAttempts {
                    try await backoff(attempt, failure.description, key: key)
                    continue
                }
                throw failure
            } catch let failure as S3Failure {
                throw failure
            } catch _ where Task.isCancelled {
                throw CancellationError()
            } catch let error as HTTPClientError where error == .deadlineExceeded || error == .connectTimeout {
                if attempt < configuration.maxAttempts {
                    try await backoff(attempt, "\(error)", key: key)
                    continue
                }
                throw BlobError(.unavailable, key: key, message: "\(configuration.endpoint) did not answer after \(attempt) attempts: \(error)")
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                if attempt < configuration.maxAttempts {
                    try await backoff(attempt, "\(error)", key: key)
                    continue
                }
                throw BlobError(.unavailable, key: key, message: "cannot reach \(configuration.endpoint) after \(attempt) attempts: \(error)")
            }
        }
    }

    private func backoff(_ attempt: Int, _ why: String, key: String?) async throws {
        let cap = min(configuration.maxBackoff, configuration.baseBackoff * pow(2, Double(attempt - 1)))
        let delay = Double.random(in: cap / 2...cap)
        configuration.logger.debug(
            "S3 request failed; retrying", metadata: ["attempt": "\(attempt)", "error": "\(why)", "key": "\(key.map(ByteKeys.describe) ?? "-")"])
        try await Task.sleep(for: .seconds(delay))
    }

    private func sendOnce(_ request: S3Request) async throws -> S3Response {
        let path = path(request.key)
        var headers = request.headers
        headers.append(("host", hostHeader))
        if case .bytes = request.body { headers.append(("content-length", String(request.bodyLength))) }
        let signed = signer.sign(
            method: request.method.rawValue, path: path, query: request.query, headers: headers, payloadHash: SigV4.unsignedPayload,
            date: Date())
        let queryText = request.query.isEmpty ? "" : "?" + SigV4.canonicalQuery(request.query)
        var outgoing = HTTPClientRequest(url: origin.absoluteString + Self.encodePath(path) + queryText)
        outgoing.method = request.method
        for (name, value) in headers + signed where name != "host" { outgoing.headers.add(name: name, value: value) }
        switch request.body {
        case .none: break
        case .bytes(let buffer): outgoing.body = .bytes(buffer)
        }
        let response = try await client.execute(outgoing, timeout: configuration.requestTimeout)
        var fields: [String: String] = [:]
        for header in response.headers {
            let name = header.name.lowercased()
            fields[name] = fields[name].map { $0 + "," + header.value } ?? header.value
        }
        return S3Response(status: Int(response.status.code), headers: fields, body: response.body)
    }

    /// The path as sent: SigV4's encoding (which leaves `/` alone), with the dots of a `.` or
    /// `..` segment encoded too so that nothing between here and the store resolves them.
    static func encodePath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment -> String in
            if segment == "." { return "%2E" }
            if segment == ".." { return "%2E%2E" }
            return SigV4.uriEncode(String(segment), keepSlash: false)
        }.joined(separator: "/")
    }
}
