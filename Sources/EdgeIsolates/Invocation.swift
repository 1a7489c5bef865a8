public import EdgeCore
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

/// A batch of queue messages as a guest's `queue` export sees it through the `batch_*` and
/// `message_*` imports.
public struct IsolateBatch: Sendable, Equatable {
    /// The queue the batch came from.
    public var queue: String
    public var messages: [IsolateMessage]

    public init(queue: String, messages: [IsolateMessage]) {
        self.queue = queue
        self.messages = messages
    }
}

/// One message of an ``IsolateBatch``.
public struct IsolateMessage: Sendable, Equatable {
    public var id: String
    /// The body as JSON text (a text message is a JSON string).
    public var body: [UInt8]
    /// 1 on the first delivery.
    public var attempts: Int

    public init(id: String, body: [UInt8], attempts: Int) {
        self.id = id
        self.body = body
        self.attempts = attempts
    }
}

/// What a guest decided for one message with `message_ack` or `message_retry`. A message without
/// a decision follows the batch: acknowledged when `queue` returns 0, retried when it fails.
public enum IsolateMessageDecision: Sendable, Equatable {
    case ack
    /// Delivered again after `delaySeconds` (0...``IsolateABI/maxRetryDelaySeconds``).
    case retry(delaySeconds: Int)
}

/// A cron trigger as a guest's `scheduled` export sees it through the `scheduled_*` imports.
public struct IsolateScheduledEvent: Sendable, Equatable {
    /// The cron expression, as written in the config.
    public var cron: String
    /// The time it fired for, in milliseconds since 1970.
    public var scheduledTime: Int64

    public init(cron: String, scheduledTime: Int64) {
        self.cron = cron
        self.scheduledTime = scheduledTime
    }
}

/// What a guest's binding imports reach: the bindings its worker was granted, and nothing else.
/// The calls block the isolate's thread (isolates run on threads of their own, never on the
/// cooperative pool).
///
/// To refuse a binding the worker was not granted, throw ``IsolateError`` `.notGranted`: the
/// invocation ends. Any other error is the binding refusing the input (a key too long, a value
/// too large, a body that is not JSON): the guest gets ``IsolateABI/refused`` and the error's
/// text is logged.
public protocol IsolateBindings: Sendable {
    /// The value of `key` in the KV namespace bound as `binding`, or nil when absent.
    func kvGet(binding: String, key: String) throws -> [UInt8]?
    /// Stores `value` under `key` in the KV namespace bound as `binding`.
    func kvPut(binding: String, key: String, value: [UInt8]) throws
    /// Sends `body` (JSON text) to the queue the producer bound as `binding` sends to, delivered
    /// after `delaySeconds`. The default grants no queue.
    func queueSend(binding: String, body: [UInt8], delaySeconds: Int) throws
    /// The object `key` of the bucket bound as `binding`, at most `limit` bytes (a larger one is
    /// refused), or nil when absent. The default grants no bucket.
    func blobGet(binding: String, key: String, limit: Int) throws -> [UInt8]?
    /// Stores `body` as the object `key` of the bucket bound as `binding`. The default grants no bucket.
    func blobPut(binding: String, key: String, body: [UInt8]) throws
    /// The embedding of `text` by the AI binding named `binding`. The default grants none.
    func aiEmbed(binding: String, text: String) throws -> [Float]
    /// The `topK` nearest vectors to `vector` in the index bound as `binding`, as JSON
    /// (`{"matches":[{"id":...,"score":...}]}`). The default grants no index.
    func vectorQuery(binding: String, vector: [Float], topK: Int) throws -> [UInt8]
    /// Starts writing the object `key` of the bucket `binding` in chunks; nothing is stored
    /// until the writer is closed. The default grants no bucket.
    ///
    /// - Throws: ``IsolateError`` `.notGranted` for a bucket the worker's config does not grant.
    func blobWriter(binding: String, key: String) throws -> any IsolateObjectWriter
    /// Sends `request` to the durable object `name` of the namespace `binding`; its status and
    /// body (at most `limit` bytes). The default grants no namespace.
    ///
    /// - Throws: ``IsolateError`` `.notGranted` for a namespace the worker's config does not
    ///   bind to a class it was given; the object's error, or a body over `limit` (the guest is
    ///   answered `refused`).
    func objectFetch(binding: String, name: String, request: EdgeRequest, limit: Int) throws -> (status: Int, body: [UInt8])
}

/// An object being written in chunks (`blob_writer_*`), used by one invocation at a time.
public protocol IsolateObjectWriter: AnyObject {
    /// Appends `bytes`.
    ///
    /// - Throws: the bucket's error when it refused a part (the writer is then aborted), or
    ///   ``IsolateError`` `.wallTimeLimit`.
    func write(_ bytes: [UInt8]) throws
    /// Stores the object: every byte written, in order.
    ///
    /// - Throws: the bucket's error (nothing stored), or ``IsolateError`` `.wallTimeLimit`.
    func close() throws
    /// Abandons the write (the invocation ended without closing it): nothing is stored.
    func abort()
}

extension IsolateBindings {
    public func queueSend(binding: String, body: [UInt8], delaySeconds: Int) throws { throw IsolateError.notGranted(queue: binding) }
    public func blobGet(binding: String, key: String, limit: Int) throws -> [UInt8]? { throw IsolateError.notGranted("bucket", binding) }
    public func blobPut(binding: String, key: String, body: [UInt8]) throws { throw IsolateError.notGranted("bucket", binding) }
    public func aiEmbed(binding: String, text: String) throws -> [Float] { throw IsolateError.notGranted("AI binding", binding) }
    public func vectorQuery(binding: String, vector: [Float], topK: Int) throws -> [UInt8] { throw IsolateError.notGranted("vector index", binding) }
    public func blobWriter(binding: String, key: String) throws -> any IsolateObjectWriter { throw IsolateError.notGranted("bucket", binding) }
    public func objectFetch(binding: String, name: String, request: EdgeRequest, limit: Int) throws -> (status: Int, body: [UInt8]) {
        throw IsolateError.notGranted("durable-object namespace", binding)
    }
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

    /// The error for a queue producer binding name the worker's config does not grant.
    public static func notGranted(queue binding: String) -> IsolateError { notGranted("queue producer", binding) }

    /// The error for a binding name of that kind (`bucket`, `AI binding`, ...) the worker's
    /// config does not grant.
    public static func notGranted(_ kind: String, _ binding: String) -> IsolateError {
        IsolateError(.notGranted, "the worker is not granted a \(kind) bound as \"\(binding)\"")
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
    /// The longest delay `message_retry` and `queue_send` accept (12 hours, as Cloudflare Queues).
    public static let maxRetryDelaySeconds = 43_200
    /// The most dimensions a `vector_query` vector may have (as Vectorize).
    public static let maxVectorDimensions = 1_536
    /// The most matches a `vector_query` may ask for (as Vectorize without values or metadata).
    public static let maxTopK = 100
    /// The most objects one invocation may be writing at once (`blob_writer_open`).
    public static let maxOpenWriters = 4
    /// The bytes a chunked write buffers before uploading them as one part of a multipart
    /// upload: R2's minimum part size (every part but the last must reach it).
    public static let objectPartBytes = 5 << 20
}

/// What an invocation serves.
enum InvocationEvent {
    case fetch(IsolateRequest)
    case queue(IsolateBatch)
    case scheduled(IsolateScheduledEvent)

    var export: String {
        switch self {
        case .fetch: "fetch"
        case .queue: "queue"
        case .scheduled: "scheduled"
        }
    }
}

/// One invocation in progress: the event the guest reads (a request, a batch, a cron trigger),
/// what it answers (a response, message decisions), and the result of its last binding read.
final class Invocation {
    let event: InvocationEvent
    let bindings: any IsolateBindings
    let deadline: ContinuousClock.Instant
    let responseLimit: Int
    let log: (@Sendable (String) -> Void)?
    var response = IsolateResponse()
    var decisions: [Int: IsolateMessageDecision] = [:]
    /// Told of each decision as the guest makes it.
    var decided: (@Sendable (Int, IsolateMessageDecision) -> Void)?
    var bodyOffset = 0
    var pending: [UInt8] = []
    var pendingOffset = 0
    /// Objects being written (`blob_writer_*`), by handle; aborted when the invocation ends.
    var writers: [Int32: any IsolateObjectWriter] = [:]
    var nextWriter: Int32 = 0

    init(event: InvocationEvent, bindings: any IsolateBindings, deadline: ContinuousClock.Instant, responseLimit: Int, log: (@Sendable (String) -> Void)?) {
        self.log = log
        self.event = event
        self.bindings = bindings
        self.deadline = deadline
        self.responseLimit = responseLimit
    }

    /// The request of a fetch; `.badArgument` in another handler.
    func request(_ call: String) throws -> IsolateRequest {
        guard case .fetch(let request) = event else { throw Self.outside(call, "fetch", event) }
        return request
    }

    /// The batch of a queue invocation; `.badArgument` in another handler.
    func batch(_ call: String) throws -> IsolateBatch {
        guard case .queue(let batch) = event else { throw Self.outside(call, "queue", event) }
        return batch
    }

    /// The message at `index` of the batch; `.badArgument` past its end.
    func message(_ call: String, _ index: UInt32) throws -> IsolateMessage {
        let messages = try batch(call).messages
        guard Int(index) < messages.count else {
            throw IsolateError(.badArgument, "\(call): message \(Int32(bitPattern: index)) of a batch of \(messages.count)")
        }
        return messages[Int(index)]
    }

    /// The cron trigger of a scheduled invocation; `.badArgument` in another handler.
    func scheduled(_ call: String) throws -> IsolateScheduledEvent {
        guard case .scheduled(let event) = event else { throw Self.outside(call, "scheduled", event) }
        return event
    }

    /// Makes `bytes` the result `result_read` reads from its start.
    func setPending(_ bytes: [UInt8]) {
        pending = bytes
        pendingOffset = 0
    }

    /// Records the guest's decision for message `index`.
    func decide(_ index: UInt32, _ decision: IsolateMessageDecision) {
        decisions[Int(index)] = decision
        decided?(Int(index), decision)
    }

    /// Checks that a response import is called from fetch.
    func requireFetch(_ call: String) throws {
        _ = try request(call)
    }

    private static func outside(_ call: String, _ handler: String, _ event: InvocationEvent) -> IsolateError {
        IsolateError(.badArgument, "\(call) belongs to \(handler), and was called from \(event.export)")
    }
}
