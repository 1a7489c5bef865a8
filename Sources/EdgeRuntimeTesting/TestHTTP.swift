import AsyncHTTPClient
public import EdgeTesting
import Foundation
import NIOCore
import NIOHTTP1

/// HTTP requests from tests to servers under test, through AsyncHTTPClient's shared client.
///
/// Its SwiftNIO event loops read the answer however busy Swift's cooperative pool is, where
/// FoundationNetworking's `URLSession` was seen to stall for a minute under a full parallel test
/// run. Redirects are followed (at most five).
public enum TestHTTP {
    /// An answer: status, headers (names lowercased, the first value of each) and the whole body.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]
        /// The body as UTF-8 text.
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Sends a request to `url` and reads the whole answer (at most 256 MiB).
    ///
    /// The default timeout is long (600 s) because a server in the test's own process answers on
    /// the same two cooperative threads as every test running beside it.
    ///
    /// - Throws: connection errors; `HTTPClientError.deadlineExceeded` when no answer has begun
    ///   within `timeout` seconds.
    public static func send(
        _ url: String, method: String = "GET", headers: [String: String] = [:], body: [UInt8] = [], timeout: Double = 600
    ) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if !body.isEmpty || ["POST", "PUT", "PATCH"].contains(method) { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(Int64(timeout * 1e9)))
        let answer = try await response.body.collect(upTo: 256 << 20)
        var fields: [String: String] = [:]
        for header in response.headers where fields[header.name.lowercased()] == nil { fields[header.name.lowercased()] = header.value }
        return Response(status: Int(response.status.code), headers: fields, body: Array(answer.readableBytesView))
    }
}

extension ServerProcess {
    /// Sends a request to the server and reads the whole answer (``TestHTTP/send(_:method:headers:body:timeout:)``).
    ///
    /// - Throws: connection errors; `HTTPClientError.deadlineExceeded` when no answer has begun
    ///   within `timeout` seconds.
    public func request(
        _ path: String, method: String = "GET", headers: [String: String] = [:], body: [UInt8] = [], timeout: Double = 600
    ) async throws -> (Int, [UInt8]) {
        let response = try await TestHTTP.send(url + path, method: method, headers: headers, body: body, timeout: timeout)
        return (response.status, response.body)
    }
}
