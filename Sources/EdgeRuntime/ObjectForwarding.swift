import EdgeCoordinator
import EdgeCore
import Foundation
import Logging
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Durable-object `fetch` calls between processes that share a store (PostgreSQL): the one
/// runtime component that knows how they travel.
///
/// - Sending: a namespace whose ownership names another process as an object's owner hands the
///   call to this forwarder (its ``DurableObjectForwarder``), which sends it over HTTP to the
///   owner's advertised address at `/__edge/objects/NAMESPACE/ID`. Method, headers and body are
///   kept; the path travels in `x-edge-forward-path`, the store's shared secret in
///   `x-edge-forward-token`.
/// - Receiving: the host hands every request to ``receive(_:)`` first; one for that path is
///   checked (the token, compared in constant time) and run on the object here, never forwarded
///   again. A `fetch` that throws is answered with `x-edge-object-error`, and the caller throws
///   `CoordinatorError.remoteCallFailed`.
/// - Advertising: once the host listens, every namespace's ownership records where this process
///   can be reached (`dev.advertise_url`, else `EDGE_ADVERTISE_URL`, else the listening address).
final class ObjectForwarding: DurableObjectForwarder {
    static let pathPrefix = "/__edge/objects/"
    static let tokenHeader = "x-edge-forward-token"
    static let pathHeader = "x-edge-forward-path"
    static let errorHeader = "x-edge-object-error"
    /// Headers that describe one hop, not the request.
    static let hopHeaders: Set<String> = ["host", "content-length", "connection", "transfer-encoding", "keep-alive", "date", "server", "x-request-id"]

    private struct Receiver {
        let ownership: any DurableObjectOwnership
        let run: @Sendable (String, EdgeRequest) async throws -> EdgeResponse
    }

    private struct State {
        var receivers: [String: Receiver] = [:]
        /// Where this process serves forwarded calls, once it listens.
        var address: String?
    }

    private let state = Mutex(State())
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 300
        configuration.httpMaximumConnectionsPerHost = 64
        return URLSession(configuration: configuration)
    }()

    /// Lets other processes reach `namespace`'s objects through this process.
    func register<Object: DurableObject>(_ namespace: DurableObjectNamespace<Object>) {
        let address = state.withLock { state -> String? in
            state.receivers[namespace.name] = Receiver(ownership: namespace.ownership) { objectID, request in
                try await namespace.runForwarded(objectID: objectID, request)
            }
            return state.address
        }
        if let address { Task { await namespace.ownership.advertise(address) } }
    }

    /// Records that this process serves HTTP on `port` and tells every namespace's ownership.
    func advertise(port: Int, host: String, configured: URL?, environment: [String: String] = ProcessInfo.processInfo.environment) async {
        let listening = ["0.0.0.0", "::", ""].contains(host) ? "127.0.0.1" : host
        let address =
            configured?.absoluteString ?? environment["EDGE_ADVERTISE_URL"]
            ?? "http://\(listening.contains(":") ? "[\(listening)]" : listening):\(port)"
        let receivers = state.withLock { state in
            state.address = address
            return Array(state.receivers.values)
        }
        for receiver in receivers { await receiver.ownership.advertise(address) }
        if receivers.contains(where: { $0.ownership.renewalInterval != nil }) {
            logger.info("durable-object calls from other processes are accepted at \(address)")
        }
    }

    // MARK: Sending

    func forward(_ request: EdgeRequest, namespace: String, objectID: String, to address: String, token: String) async throws -> EdgeResponse {
        guard let url = URL(string: "\(address)\(Self.pathPrefix)\(namespace)/\(objectID)") else {
            throw CoordinatorError(
                .remoteCallFailed, objectID: objectID, message: "the owner of durable object \(objectID) advertised an unusable address \"\(address)\"")
        }
        var outgoing = URLRequest(url: url)
        outgoing.httpMethod = request.method
        for (name, value) in request.headers where !Self.hopHeaders.contains(name.lowercased()) {
            outgoing.setValue(value, forHTTPHeaderField: name)
        }
        outgoing.setValue(request.path, forHTTPHeaderField: Self.pathHeader)
        outgoing.setValue(token, forHTTPHeaderField: Self.tokenHeader)
        if !request.body.isEmpty { outgoing.httpBody = Data(request.body) }
        let data: Data, response: URLResponse
        do {
            (data, response) = try await Self.session.data(for: outgoing)
        } catch let error as URLError where [.cannotConnectToHost, .cannotFindHost, .dnsLookupFailed].contains(error.code) {
            throw OwnerUnreachable(address: address, underlying: error)
        } catch {
            throw CoordinatorError(
                .remoteCallFailed, objectID: objectID, message: "forwarding to the owner of durable object \(objectID) at \(address) failed: \(error)")
        }
        guard let http = response as? HTTPURLResponse else {
            throw CoordinatorError(
                .remoteCallFailed, objectID: objectID, message: "the owner of durable object \(objectID) at \(address) sent no HTTP response")
        }
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            guard let name = name as? String, let value = value as? String, !Self.hopHeaders.contains(name.lowercased()) else { continue }
            headers[name.lowercased()] = value
        }
        if headers.removeValue(forKey: Self.errorHeader) != nil {
            throw CoordinatorError(
                .remoteCallFailed, objectID: objectID,
                message: "durable object \(objectID) failed in its owner at \(address): \(String(decoding: data, as: UTF8.self))")
        }
        return EdgeResponse(status: http.statusCode, headers: headers, body: Array(data))
    }

    // MARK: Receiving

    /// Answers a call another process forwarded here; nil for any other request.
    func receive(_ request: EdgeRequest) async -> EdgeResponse? {
        guard request.pathOnly.hasPrefix(Self.pathPrefix) else { return nil }
        let parts = request.pathOnly.dropFirst(Self.pathPrefix.count).split(separator: "/")
        guard parts.count == 2, let receiver = state.withLock({ $0.receivers[String(parts[0])] }) else {
            return EdgeResponse(status: 404, body: Array("no durable-object namespace here for \(request.pathOnly)".utf8))
        }
        guard let expected = try? await receiver.ownership.forwardingToken(), let given = request.header(Self.tokenHeader),
            constantTimeEqual(Array(expected.utf8), Array(given.utf8))
        else {
            return EdgeResponse(status: 403, body: Array("forwarded durable-object call with a missing or wrong token".utf8))
        }
        var local = request
        local.path = request.header(Self.pathHeader) ?? "/"
        local.headers = request.headers.filter { name, _ in
            let lower = name.lowercased()
            return lower != Self.tokenHeader && lower != Self.pathHeader && !Self.hopHeaders.contains(lower)
        }
        do {
            return try await receiver.run(String(parts[1]), local)
        } catch let error as CoordinatorError where error.code == .invalidID {
            return Self.failure(400, error.message)
        } catch {
            return Self.failure(500, "\(error)")
        }
    }

    private static func failure(_ status: Int, _ message: String) -> EdgeResponse {
        EdgeResponse(status: status, headers: ["content-type": "text/plain; charset=utf-8", errorHeader: "1"], body: Array(message.utf8))
    }
}
