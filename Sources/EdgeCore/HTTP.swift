import Foundation
public import HTTPTypes

/// An HTTP request as workers and durable objects see it: the request head of swift-http-types
/// (method, path with query, fields — repeated fields kept, names case-insensitive) and a body
/// that streams.
public struct EdgeRequest: Sendable {
    /// Method, scheme, authority, path with query, and header fields.
    public var head: HTTPRequest
    public var body: EdgeBody

    public init(head: HTTPRequest, body: EdgeBody = .empty) {
        self.head = head
        self.body = body
    }

    /// A request for `path` (with its query), as a worker or a test builds one.
    public init(method: HTTPRequest.Method = .get, path: String, headers: HTTPFields = [:], body: EdgeBody = .empty) {
        head = HTTPRequest(method: method, scheme: "http", authority: nil, path: path, headerFields: headers)
        self.body = body
    }

    public var method: HTTPRequest.Method {
        get { head.method }
        set { head.method = newValue }
    }

    /// The request target: path and query, as sent (`/jobs?state=pending`).
    public var path: String {
        get { head.path ?? "/" }
        set { head.path = newValue }
    }

    public var headers: HTTPFields {
        get { head.headerFields }
        set { head.headerFields = newValue }
    }

    /// The path and query, parsed (RFC 3986).
    public var url: EdgeURL { EdgeURL(target: path) }

    /// The value of a header field (several fields of the name joined by `, `), or nil.
    public func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { headers[$0] }
    }

    /// Whether the client asks to upgrade to a WebSocket (`Connection: upgrade`, `Upgrade: websocket`).
    public var isWebSocketUpgrade: Bool {
        guard let upgrade = headers[.upgrade], upgrade.lowercased().contains("websocket") else { return false }
        return headers[.connection].map { $0.lowercased().contains("upgrade") } ?? false
    }

    /// The body's fields as an HTML form sends them (`application/x-www-form-urlencoded`: `+`
    /// is a space).
    ///
    /// - Throws: the body's errors.
    public func formData() async throws -> QueryParameters {
        QueryParameters(parsing: Substring(try await body.text()), plusIsSpace: true)
    }
}

/// An HTTP response from a worker or a durable object: status, header fields (repeated fields
/// kept) and a body that may stream; or the acceptance of a WebSocket upgrade.
public struct EdgeResponse: Sendable {
    /// Status and header fields.
    public var head: HTTPResponse
    public var body: EdgeBody
    /// For a `101` answer to a WebSocket upgrade: what runs the accepted socket.
    public var webSocket: WebSocketHandler?

    public init(status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], body: EdgeBody = .empty) {
        head = HTTPResponse(status: status, headerFields: headers)
        self.body = body
    }

    public var status: HTTPResponse.Status {
        get { head.status }
        set { head.status = newValue }
    }

    public var headers: HTTPFields {
        get { head.headerFields }
        set { head.headerFields = newValue }
    }

    /// The value of a header field, or nil.
    public func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { headers[$0] }
    }

    /// A `text/plain; charset=utf-8` response.
    public static func text(_ text: String, status: HTTPResponse.Status = .ok) -> EdgeResponse {
        EdgeResponse(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .text(text))
    }

    /// A `text/html; charset=utf-8` response.
    public static func html(_ html: String, status: HTTPResponse.Status = .ok) -> EdgeResponse {
        EdgeResponse(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .text(html))
    }

    /// An `application/json` response of `value` encoded as JSON (keys sorted).
    ///
    /// - Throws: `EncodingError` when `value` cannot be encoded.
    public static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> EdgeResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return EdgeResponse(status: status, headers: [.contentType: "application/json"], body: .bytes(Array(try encoder.encode(value))))
    }

    /// A redirect to `location` (`302 Found` unless told otherwise).
    public static func redirect(to location: String, status: HTTPResponse.Status = .found) -> EdgeResponse {
        EdgeResponse(status: status, headers: [.location: location])
    }

    /// A response whose body streams: a bucket object's body, a generator.
    public static func stream(_ body: EdgeBody, contentType: String = "application/octet-stream", status: HTTPResponse.Status = .ok) -> EdgeResponse {
        EdgeResponse(status: status, headers: [.contentType: contentType], body: body)
    }

    /// Server-sent events (`text/event-stream`), written by `produce` as the client reads them
    /// (``EdgeBodyWriter/event(_:name:id:)``); a client that goes away stops `produce` with
    /// `CancellationError`.
    public static func serverSentEvents(_ produce: @escaping @Sendable (_ events: EdgeBodyWriter) async throws -> Void) -> EdgeResponse {
        EdgeResponse(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: .stream(produce))
    }

    /// Accepts a WebSocket upgrade: the host answers `101 Switching Protocols` and runs
    /// `handler` with the socket until it returns (then closes the socket normally). A handler
    /// that throws closes its socket with 1011 and nothing else.
    public static func webSocket(headers: HTTPFields = [:], _ handler: @escaping WebSocketHandler) -> EdgeResponse {
        var response = EdgeResponse(status: .switchingProtocols, headers: headers)
        response.webSocket = handler
        return response
    }
}

extension HTTPFields {
    /// Fields from name–value pairs, in order (a name may repeat).
    ///
    /// A name that is not a valid field name (RFC 9110 token) is a programming error.
    public init(_ pairs: KeyValuePairs<String, String>) {
        self.init()
        for (name, value) in pairs {
            guard let field = HTTPField.Name(name) else { preconditionFailure("\"\(name)\" is not a valid HTTP field name") }
            append(HTTPField(name: field, value: value))
        }
    }
}

/// A request target (path and query) parsed as RFC 3986 says: the path as sent and as decoded
/// segments, and the query's parameters in order, repeated names kept, percent-decoded (`+`
/// stays `+`; only form bodies read it as a space).
public struct EdgeURL: Sendable, Hashable {
    /// The path as sent, percent-encoded (`/files/a%20b`).
    public var path: String
    /// The query as sent, without `?`; nil when there is none.
    public var rawQuery: String?
    /// The query's parameters.
    public var query: QueryParameters

    /// Parses a request target such as `/search?q=retry&repo=a%2Fb`; the fragment, if any, is dropped.
    public init(target: String) {
        var rest = Substring(target)
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        if let mark = rest.firstIndex(of: "?") {
            path = String(rest[..<mark])
            let query = rest[rest.index(after: mark)...]
            rawQuery = String(query)
            self.query = QueryParameters(parsing: query, plusIsSpace: false)
        } else {
            path = String(rest)
            rawQuery = nil
            query = QueryParameters()
        }
        if path.isEmpty { path = "/" }
    }

    /// The path's segments, percent-decoded (`/files/a%20b` → `["files", "a b"]`).
    public var pathSegments: [String] {
        path.split(separator: "/").map { QueryParameters.percentDecoded($0, plusIsSpace: false) }
    }
}

/// Parameters of a query or a form, in order, a name possibly repeated.
public struct QueryParameters: Sendable, Hashable, Sequence {
    /// One `name=value` pair.
    public struct Item: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public private(set) var items: [Item]

    public init(_ items: [Item] = []) {
        self.items = items
    }

    /// Parses `a=1&b=x%20y&a=2`; `plusIsSpace` reads `+` as a space (form bodies only).
    public init(parsing text: Substring, plusIsSpace: Bool) {
        items = text.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return Item(
                name: Self.percentDecoded(parts[0], plusIsSpace: plusIsSpace),
                value: parts.count > 1 ? Self.percentDecoded(parts[1], plusIsSpace: plusIsSpace) : "")
        }
    }

    /// The first value of `name`, or nil.
    public subscript(name: String) -> String? {
        items.first { $0.name == name }?.value
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        items.filter { $0.name == name }.map(\.value)
    }

    public func makeIterator() -> IndexingIterator<[Item]> { items.makeIterator() }

    /// A percent-encoded text decoded; `+` as a space when `plusIsSpace` (forms).
    ///
    /// `%XX` sequences decoded as bytes, then the bytes as UTF-8 (invalid sequences become
    /// U+FFFD); a `%` not followed by two hex digits is kept as it is.
    public static func percentDecoded(_ text: Substring, plusIsSpace: Bool) -> String {
        guard text.contains(where: { $0 == "%" || (plusIsSpace && $0 == "+") }) else { return String(text) }
        let utf8 = Array(text.utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = 0
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        while index < utf8.count {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%"), index + 2 < utf8.count, let high = hex(utf8[index + 1]), let low = hex(utf8[index + 2]) {
                bytes.append(high << 4 | low)
                index += 3
            } else {
                bytes.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
