public import EdgeBlob
public import EdgeCore
public import EdgeRuntime
public import Foundation
import HTTPTypes

/// Screen recordings streamed through a worker into a bucket and served back, the seed's use of
/// R2: bodies stream both ways, so a 100 MB recording is never whole in memory.
///
/// - `PUT /recordings/ID`: stores the body (`Content-Type` kept, `video/webm` when absent;
///   `X-Recording-Title` and `X-Recorded-By` kept as custom metadata). A body over the host's
///   `limits.max_request_body_bytes` is refused with 413 and nothing is stored.
/// - `GET /recordings/ID`: the recording, with `ETag`, `Last-Modified`, `Accept-Ranges`; a
///   `Range: bytes=…` asks for part of it (206 with `Content-Range`, 416 when unsatisfiable);
///   `If-None-Match` with its etag answers 304.
/// - `HEAD /recordings/ID`: the same headers, no body. `DELETE /recordings/ID`: 204.
/// - `GET /recordings`: the recordings, as JSON.
/// - `POST /recordings/ID/upload-url`: a presigned `PUT` URL (15 minutes) through the S3 API,
///   so a browser extension uploads the recording straight to storage (501 without `s3_api`).
///
/// Binding: bucket `RECORDINGS`.
public struct RecordingsWorker: Worker {
    public struct Env: Sendable {
        public var recordings: any BlobBucket
        /// A presigned PUT URL for a key, through the S3 API; nil without `s3_api` in the config.
        public var uploadURL: (@Sendable (_ key: String) throws -> URL)?
    }

    public init() {}

    public static func makeEnv(_ bindings: EdgeBindings) throws -> Env {
        let uploadURL: (@Sendable (String) throws -> URL)? =
            bindings.config.s3API == nil
            ? nil
            : { @Sendable key in try bindings.presignedURL(bucket: "RECORDINGS", key: key, method: .put, expiresIn: Self.uploadURLLifetime) }
        return Env(recordings: try bindings.bucket("RECORDINGS"), uploadURL: uploadURL)
    }

    static let titleField = HTTPField.Name("x-recording-title")!
    static let recordedByField = HTTPField.Name("x-recorded-by")!

    public func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        let segments = request.url.pathSegments
        guard segments.first == "recordings" else { return .text("no route \(request.url.path)", status: .notFound) }
        if segments.count == 1, request.method == .get { return try await list(env) }
        if segments.count == 3, segments[2] == "upload-url", request.method == .post, Self.isValidID(segments[1]) {
            // The client uploads straight to storage; the worker only signs.
            guard let uploadURL = env.uploadURL else {
                return .text("direct uploads need the S3 API: add s3_api to the config", status: .notImplemented)
            }
            let url = try uploadURL("recordings/" + segments[1])
            return try .json(["url": url.absoluteString, "method": "PUT", "expiresIn": String(Self.uploadURLLifetime)])
        }
        guard segments.count == 2, Self.isValidID(segments[1]) else {
            return .text("a recording id is 1...128 letters, digits, '.', '_' or '-'", status: .badRequest)
        }
        let key = "recordings/" + segments[1]
        switch request.method {
        case .put: return try await store(key, request, env: env)
        case .get, .head: return try await serve(key, request, env: env)
        case .delete:
            try await env.recordings.delete(key)
            return EdgeResponse(status: .noContent)
        default:
            return EdgeResponse(status: .methodNotAllowed, headers: [.allow: "GET, HEAD, PUT, DELETE"])
        }
    }

    /// How long a presigned upload URL is valid, in seconds.
    public static let uploadURLLifetime = 900

    static func isValidID(_ id: String) -> Bool {
        (1...128).contains(id.utf8.count)
            && id.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2E || byte == 0x5F
                    || byte == 0x2D
            } && id != "." && id != ".."
    }

    /// Streams the body into the bucket: a body cut off (too large, the client gone) stores nothing.
    func store(_ key: String, _ request: EdgeRequest, env: Env) async throws -> EdgeResponse {
        var custom: [String: String] = [:]
        if let title = request.headers[Self.titleField] { custom["title"] = title }
        if let who = request.headers[Self.recordedByField] { custom["recorded-by"] = who }
        let options = BlobPutOptions(httpMetadata: BlobHTTPMetadata(contentType: request.headers[.contentType] ?? "video/webm"), customMetadata: custom)
        let stored = try await env.recordings.put(key, body: .stream(request.body), options: options)
        guard let stored else { return .text("precondition failed", status: .preconditionFailed) }
        var response = try EdgeResponse.json(["key": key, "size": String(stored.size), "etag": stored.etag], status: .created)
        response.headers[.eTag] = stored.httpEtag
        return response
    }

    func serve(_ key: String, _ request: EdgeRequest, env: Env) async throws -> EdgeResponse {
        guard let object = try await env.recordings.head(key) else { return .text("no recording \(key)", status: .notFound) }
        var headers = Self.headers(of: object)
        if let tags = request.headers[.ifNoneMatch], Self.etags(tags).contains(where: { $0 == "*" || $0 == object.etag }) {
            return EdgeResponse(status: .notModified, headers: headers)
        }
        var range: BlobRange?
        if let header = request.headers[.range] {
            switch Self.parseRange(header, size: object.size) {
            case .whole:
                break
            case .unsatisfiable:
                headers[.contentRange] = "bytes */\(object.size)"
                return EdgeResponse(status: .rangeNotSatisfiable, headers: headers)
            case .range(let offset, let length):
                range = .offset(offset, length: length)
            }
        }
        if request.method == .head {
            headers[.contentLength] = String(object.size)
            return EdgeResponse(status: .ok, headers: headers)
        }
        guard let result = try await env.recordings.get(key, options: BlobGetOptions(range: range)), let body = result.body else {
            return .text("no recording \(key)", status: .notFound)
        }
        var status = HTTPResponse.Status.ok
        if let served = result.object.range {
            status = .partialContent
            headers[.contentRange] = "bytes \(served.offset)-\(served.offset + served.length - 1)/\(result.object.size)"
            headers[.contentLength] = String(served.length)
        } else {
            headers[.contentLength] = String(result.object.size)
        }
        return EdgeResponse(status: status, headers: headers, body: .stream(body))
    }

    func list(_ env: Env) async throws -> EdgeResponse {
        let page = try await env.recordings.list(prefix: "recordings/")
        struct Entry: Encodable {
            var id: String
            var size: Int
            var etag: String
        }
        return try .json(page.objects.map { Entry(id: String($0.key.dropFirst("recordings/".count)), size: $0.size, etag: $0.etag) })
    }

    static func headers(of object: BlobObject) -> HTTPFields {
        var headers: HTTPFields = [.eTag: object.httpEtag, .acceptRanges: "bytes"]
        headers[.contentType] = object.httpMetadata.contentType ?? "application/octet-stream"
        headers[.lastModified] = Self.httpDate(object.uploaded)
        for (name, value) in object.customMetadata.sorted(by: { $0.key < $1.key }) {
            if let field = HTTPField.Name("x-recording-" + name) { headers[field] = value }
        }
        return headers
    }

    /// The entity tags of an `If-None-Match` value, unquoted (weak ones too).
    static func etags(_ header: String) -> [String] {
        header.split(separator: ",").map { tag in
            var text = tag.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("W/") { text.removeFirst(2) }
            return text.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
    }

    package enum RangeRequest: Equatable {
        case whole
        case unsatisfiable
        case range(offset: Int, length: Int)
    }

    /// One byte range of RFC 9110 §14.1.2 (`bytes=0-99`, `bytes=100-`, `bytes=-100`) against an
    /// object of `size` bytes. Several ranges, or a syntax this does not read, serve the whole
    /// object, as the RFC allows.
    package static func parseRange(_ header: String, size: Int) -> RangeRequest {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return .whole }
        let spec = header.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return .whole }
        let first = Int(parts[0]), last = Int(parts[1])
        switch (parts[0].isEmpty, parts[1].isEmpty) {
        case (true, false):  // the last N bytes
            guard let suffix = last else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            let length = min(suffix, size)
            return .range(offset: size - length, length: length)
        case (false, true):  // from an offset to the end
            guard let first else { return .whole }
            guard first < size else { return .unsatisfiable }
            return .range(offset: first, length: size - first)
        case (false, false):
            guard let first, let last, first <= last else { return .whole }
            guard first < size else { return .unsatisfiable }
            return .range(offset: first, length: min(last, size - 1) - first + 1)
        case (true, true):
            return .whole
        }
    }

    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}
