import EdgeCore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// How a `stub.fetch` reaches an object owned by another process (a shared store, EdgePostgres):
/// over HTTP, to the owner's advertised address, at `/__edge/objects/NAMESPACE/ID`.
///
/// The forwarded request keeps its method, headers and body; its path travels in
/// ``pathHeader`` and a secret every process of the store shares travels in ``tokenHeader``. The
/// owner runs the object's `fetch` itself (never forwarding again) and answers with its response;
/// when `fetch` throws, the answer carries ``errorHeader`` and the caller throws
/// ``CoordinatorError`` `.remoteCallFailed`.
package enum ObjectForwarding {
    package static let pathPrefix = "/__edge/objects/"
    package static let tokenHeader = "x-edge-forward-token"
    package static let pathHeader = "x-edge-forward-path"
    package static let errorHeader = "x-edge-object-error"
    /// Headers that describe one hop, not the request.
    static let hopHeaders: Set<String> = ["host", "content-length", "connection", "transfer-encoding", "keep-alive", "date", "server", "x-request-id"]

    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 300
        configuration.httpMaximumConnectionsPerHost = 64
        return URLSession(configuration: configuration)
    }()

    /// Why a forward failed.
    enum Failure: Error {
        /// Nothing was sent: the owner could not be connected to (it stopped serving).
        case unreachable(any Error)
    }

    /// Sends `request` for object `objectID` of `namespace` to the process at `address`.
    ///
    /// - Throws: ``Failure/unreachable(_:)`` when the connection could not be made (the request
    ///   did not run); ``CoordinatorError`` `.remoteCallFailed` otherwise.
    static func send(_ request: EdgeRequest, namespace: String, objectID: String, to address: String, token: String) async throws -> EdgeResponse {
        guard let url = URL(string: "\(address)\(pathPrefix)\(namespace)/\(objectID)") else {
            throw CoordinatorError(.remoteCallFailed, objectID: objectID, message: "the owner of durable object \(objectID) advertised an unusable address \"\(address)\"")
        }
        var outgoing = URLRequest(url: url)
        outgoing.httpMethod = request.method
        for (name, value) in request.headers where !hopHeaders.contains(name.lowercased()) {
            outgoing.setValue(value, forHTTPHeaderField: name)
        }
        outgoing.setValue(request.path, forHTTPHeaderField: pathHeader)
        outgoing.setValue(token, forHTTPHeaderField: tokenHeader)
        if !request.body.isEmpty { outgoing.httpBody = Data(request.body) }
        let data: Data, response: URLResponse
        do {
            (data, response) = try await session.data(for: outgoing)
        } catch let error as URLError where [.cannotConnectToHost, .cannotFindHost, .dnsLookupFailed].contains(error.code) {
            throw Failure.unreachable(error)
        } catch {
            throw CoordinatorError(.remoteCallFailed, objectID: objectID, message: "forwarding to the owner of durable object \(objectID) at \(address) failed: \(error)")
        }
        guard let http = response as? HTTPURLResponse else {
            throw CoordinatorError(.remoteCallFailed, objectID: objectID, message: "the owner of durable object \(objectID) at \(address) sent no HTTP response")
        }
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            guard let name = name as? String, let value = value as? String, !hopHeaders.contains(name.lowercased()) else { continue }
            headers[name.lowercased()] = value
        }
        if headers.removeValue(forKey: errorHeader) != nil {
            throw CoordinatorError(.remoteCallFailed, objectID: objectID,
                                   message: "durable object \(objectID) failed in its owner at \(address): \(String(decoding: data, as: UTF8.self))")
        }
        return EdgeResponse(status: http.statusCode, headers: headers, body: Array(data))
    }
}

/// A namespace as the HTTP host sees it: something that can run a forwarded `fetch`.
package protocol ForwardedFetchReceiver: Sendable {
    var name: String { get }
    /// Announces where this process serves forwarded calls (`http://HOST:PORT`), or `nil`.
    func advertise(_ address: String?) async
    /// Runs a request forwarded by another process on the object `objectID`, here.
    func receiveForwarded(objectID: String, _ request: EdgeRequest) async -> EdgeResponse
}

extension DurableObjectNamespace: ForwardedFetchReceiver {
    package func advertise(_ address: String?) async {
        await store.advertise(address)
    }

    package func receiveForwarded(objectID: String, _ request: EdgeRequest) async -> EdgeResponse {
        func failure(_ status: Int, _ message: String) -> EdgeResponse {
            EdgeResponse(status: status, headers: ["content-type": "text/plain; charset=utf-8", ObjectForwarding.errorHeader: "1"], body: Array(message.utf8))
        }
        guard let expected = try? await store.forwardingToken(), let given = request.header(ObjectForwarding.tokenHeader),
              constantTimeEqual(Array(expected.utf8), Array(given.utf8)) else {
            return EdgeResponse(status: 403, body: Array("forwarded durable-object call with a missing or wrong token".utf8))
        }
        guard let id = try? DurableObjectID.parse(objectID) else { return failure(400, "\"\(objectID)\" is not a durable object id") }
        var local = request
        local.path = request.header(ObjectForwarding.pathHeader) ?? "/"
        local.headers = request.headers.filter { name, _ in
            let lower = name.lowercased()
            return lower != ObjectForwarding.tokenHeader && lower != ObjectForwarding.pathHeader && !ObjectForwarding.hopHeaders.contains(lower)
        }
        let forwarded = local
        do {
            return try await call(id) { instance, _ in try await instance.fetch(forwarded) }
        } catch {
            return failure(500, "\(error)")
        }
    }
}

private func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}
