import EdgeCore
package import Foundation
import Tracing

/// One message of a `sendBatch`.
public struct QueueSendRequest<Body: Encodable & Sendable>: Sendable {
    public var body: Body
    public var contentType: QueueContentType
    public var delaySeconds: Double

    public init(body: Body, contentType: QueueContentType = .json, delaySeconds: Double = 0) {
        self.body = body
        self.contentType = contentType
        self.delaySeconds = delaySeconds
    }
}

/// The producer binding of a queue (a Worker's `env.MY_QUEUE`): sends typed messages.
///
/// Bodies are encoded by content type: `.json` (any `Encodable`), `.text` (a `String` body) or
/// `.bytes` (a `[UInt8]` body). A send that returned is committed to the backend.
public struct QueueProducer<Body: Encodable & Sendable>: Sendable {
    public let queue: String
    public let backend: any QueueBackend

    /// - Throws: ``QueueError`` `.invalidQueueName`.
    public init(queue: String, backend: any QueueBackend) throws {
        try QueueLimits.validateQueueName(queue)
        self.queue = queue
        self.backend = backend
    }

    /// Sends one message, visible to consumers after `delaySeconds`.
    ///
    /// - Throws: ``QueueError`` `.messageTooLarge` (over 128 KiB), `.invalidDelay` (outside
    ///   0...43,200 s), `.encodingFailed`, `.contentTypeMismatch`, or `.storageFailure`.
    public func send(_ body: Body, contentType: QueueContentType = .json, delaySeconds: Double = 0) async throws {
        let encoded = try encode(body, as: contentType)
        try await traced(count: 1) { trace in
            try await backend.send(queue, [OutgoingMessage(body: encoded, contentType: contentType, delaySeconds: delaySeconds, traceParent: trace)])
        }
    }

    /// Sends up to 100 messages (256 KiB in all) atomically.
    ///
    /// - Throws: ``QueueError`` `.tooManyMessages`, `.batchTooLarge`, or as ``send(_:contentType:delaySeconds:)``.
    public func sendBatch(_ messages: [QueueSendRequest<Body>]) async throws {
        let encoder = JSONEncoder()
        let outgoing = try messages.map {
            OutgoingMessage(
                body: try QueueCoding.encode($0.body, as: $0.contentType, queue: queue, encoder: encoder), contentType: $0.contentType,
                delaySeconds: $0.delaySeconds)
        }
        try await traced(count: outgoing.count) { trace in
            try await backend.send(
                queue,
                outgoing.map {
                    var message = $0
                    message.traceParent = trace
                    return message
                })
        }
    }

    /// Runs a send in a producer span; `body` gets the span's `traceparent` to store with the
    /// messages (nil without a tracer).
    private func traced(count: Int, _ body: (String?) async throws -> Void) async throws {
        try await withSpan("send \(queue)", ofKind: .producer) { span in
            span.attributes["messaging.system"] = "swift-edge"
            span.attributes["messaging.destination.name"] = queue
            span.attributes["messaging.batch.message_count"] = count
            try await body(TraceContext.traceParent())
        }
    }

    private func encode(_ body: Body, as contentType: QueueContentType) throws -> [UInt8] {
        try QueueCoding.encode(body, as: contentType, queue: queue)
    }
}

package enum QueueCoding {
    /// `encoder` may be shared by the messages of a batch (creating one per message costs more
    /// than encoding a small body).
    static func encode<T: Encodable>(_ body: T, as contentType: QueueContentType, queue: String, encoder: JSONEncoder = JSONEncoder()) throws -> [UInt8] {
        switch contentType {
        case .json:
            do {
                return Array(try encoder.encode(body))
            } catch {
                throw QueueError(.encodingFailed, queue: queue, message: "a \(T.self) body for \(queue) cannot be encoded as JSON: \(error)")
            }
        case .text:
            guard let text = body as? String else {
                throw QueueError(.contentTypeMismatch, queue: queue, message: "content type text needs a String body; got \(T.self)")
            }
            return Array(text.utf8)
        case .bytes:
            guard let bytes = body as? [UInt8] else {
                throw QueueError(.contentTypeMismatch, queue: queue, message: "content type bytes needs a [UInt8] body; got \(T.self)")
            }
            return bytes
        }
    }

    /// `decoder` may be shared by the messages of a batch.
    package static func decode<T: Decodable>(
        _ bytes: [UInt8], as contentType: QueueContentType, to type: T.Type, decoder: JSONDecoder = JSONDecoder()
    ) throws -> T {
        switch contentType {
        case .json:
            return try decoder.decode(T.self, from: Data(bytes))
        case .text:
            if let text = String(decoding: bytes, as: UTF8.self) as? T { return text }
            if T.self == JSONValue.self { return JSONValue.string(String(decoding: bytes, as: UTF8.self)) as! T }
            throw QueueError(.contentTypeMismatch, message: "a text message cannot be read as \(T.self)")
        case .bytes:
            if let bytes = bytes as? T { return bytes }
            throw QueueError(.contentTypeMismatch, message: "a bytes message cannot be read as \(T.self)")
        }
    }
}
