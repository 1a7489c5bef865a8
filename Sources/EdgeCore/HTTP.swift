import Foundation

/// An HTTP request as workers and durable objects see it: method, path with query, headers, body.
public struct EdgeRequest: Sendable, Hashable {
    public var method: String
    /// Path and query, e.g. `/jobs?state=pending`.
    public var path: String
    public var headers: [String: String]
    public var body: [UInt8]

    public init(method: String = "GET", path: String, headers: [String: String] = [:], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
    }

    /// The path without its query.
    public var pathOnly: Substring { path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "" }

    /// The query parameters (percent-decoded; `+` is a space).
    public var query: [String: String] {
        guard let index = path.firstIndex(of: "?") else { return [:] }
        var result: [String: String] = [:]
        for pair in path[path.index(after: index)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
            }
            result[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return result
    }

    /// A header by name, case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.key.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// The body as UTF-8 text.
    public var text: String { String(decoding: body, as: UTF8.self) }

}

/// An HTTP response from a worker or a durable object.
public struct EdgeResponse: Sendable, Hashable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int = 200, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The body as UTF-8 text.
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// A `text/plain; charset=utf-8` response.
    public static func text(_ text: String, status: Int = 200) -> EdgeResponse {
        EdgeResponse(status: status, headers: ["content-type": "text/plain; charset=utf-8"], body: Array(text.utf8))
    }

    /// An `application/json` response of `value` encoded as JSON.
    ///
    /// - Throws: `EncodingError` when `value` cannot be encoded.
    public static func json(_ value: some Encodable, status: Int = 200) throws -> EdgeResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return EdgeResponse(status: status, headers: ["content-type": "application/json"], body: Array(try encoder.encode(value)))
    }
}
