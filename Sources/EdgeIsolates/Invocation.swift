import Foundation

/// An HTTP request as a guest sees it through the `request_*` imports.
public struct IsolateRequest: Sendable, Equatable {
    /// `GET`, `POST`, ...
    public var method: String
    /// The path and query (`/count?step=2`).
    public var target: String
    /// Header fields in order; names as sent.
    public var headers: [(name: String, value: String)]
    /// The whole body (the host collects it before the call, up to its limit).
    public var body: [UInt8]

    public init(method: String = "GET", target: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target && lhs.body == rhs.body
            && lhs.headers.map { [$0.name, $0.value] } == rhs.headers.map { [$0.name, $0.value] }
    }
}

/// The response a guest built with the `response_*` imports.
public struct IsolateResponse: Sendable, Equatable {
    /// 100...599; 200 unless the guest set it.
    public var status: Int
    /// Header fields in the order the guest set them.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int = 200, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.status == rhs.status && lhs.body == rhs.body && lhs.headers.map { [$0.name, $0.value] } == rhs.headers.map { [$0.name, $0.value] }
    }
}

/// What a guest's binding imports reach: the bindings its worker was granted, and nothing else.
/// The calls block the isolate's thread (isolates run on threads of their own, never on the
/// cooperative pool).
///
/// To refuse a binding the worker was not granted, throw ``IsolateError`` `.notGranted`: the
/// invocation ends. Any other error is the binding refusing the input (a key too long, a value
/// too large): the guest gets ``IsolateABI/refused`` and the error's text is logged.
public protocol IsolateBindings: Sendable {
    /// The value of `key` in the KV namespace bound as `binding`, or nil when absent.
    func kvGet(binding: String, key: String) throws -> [UInt8]?
    /// Stores `value` under `key` in the KV namespace bound as `binding`.
    func kvPut(binding: String, key: String, value: [UInt8]) throws
}

/// Bindings for a worker granted none: every binding import ends the invocation.
public struct NoBindings: IsolateBindings {
    public init() {}
    public func kvGet(binding: String, key: String) throws -> [UInt8]? { throw IsolateError.notGranted(kv: binding) }
    public func kvPut(binding: String, key: String, value: [UInt8]) throws { throw IsolateError.notGranted(kv: binding) }
}

extension IsolateError {
    /// The error for a KV binding name the worker's config does not grant.
    public static func notGranted(kv binding: String) -> IsolateError {
        IsolateError(.notGranted, "the worker is not granted a KV namespace bound as \"\(binding)\"")
    }
}

/// The numbers of the host ABI that are not pointers or lengths. See Docs/isolates.md.
public enum IsolateABI {
    /// Returned by `kv_get` and `request_header` when there is no such key or header.
    public static let absent: Int32 = -1
    /// Returned by `kv_get` and `kv_put` when the binding refused the input (the reason is logged).
    public static let refused: Int32 = -2
    /// The most bytes one name, key or header field may have (longer is `.badArgument`); a log
    /// line is cut there.
    public static let maxNameBytes = 4096
    /// The most headers a response may have.
    public static let maxResponseHeaders = 100
}

/// One fetch in progress: the request the guest reads, the response it writes, and the result of
/// its last binding read.
final class Invocation {
    let request: IsolateRequest
    let bindings: any IsolateBindings
    let deadline: ContinuousClock.Instant
    let responseLimit: Int
    let log: (@Sendable (String) -> Void)?
    var response = IsolateResponse()
    var bodyOffset = 0
    var pending: [UInt8] = []
    var pendingOffset = 0

    init(request: IsolateRequest, bindings: any IsolateBindings, deadline: ContinuousClock.Instant, responseLimit: Int, log: (@Sendable (String) -> Void)?) {
        self.log = log
        self.request = request
        self.bindings = bindings
        self.deadline = deadline
        self.responseLimit = responseLimit
    }
}
