import EdgeCore
public import Foundation

/// How a message body is encoded (Cloudflare's `contentType`).
public enum QueueContentType: String, Sendable, Hashable, Codable {
    /// The body is JSON-encoded (the default; any `Codable` body).
    case json
    /// The body is UTF-8 text (a `String` body).
    case text
    /// The body is raw bytes (a `[UInt8]` body).
    case bytes
}

/// The limits a queue backend enforces. Defaults are Cloudflare Queues'.
public struct QueueLimits: Sendable, Hashable {
    /// Largest message body. Default 128 KiB.
    public var maxMessageBytes: Int
    /// Most messages in one `sendBatch`. Default 100.
    public var maxBatchMessages: Int
    /// Largest total body size of one `sendBatch`. Default 256 KiB.
    public var maxBatchBytes: Int
    /// Longest delay of a send or a retry, in seconds. Default 43,200 (12 hours).
    public var maxDelaySeconds: Double

    public init(maxMessageBytes: Int = 128 * 1024, maxBatchMessages: Int = 100, maxBatchBytes: Int = 256 * 1024, maxDelaySeconds: Double = 43_200) {
        self.maxMessageBytes = maxMessageBytes
        self.maxBatchMessages = maxBatchMessages
        self.maxBatchBytes = maxBatchBytes
        self.maxDelaySeconds = maxDelaySeconds
    }

    /// Cloudflare Queues' limits.
    public static let cloudflare = QueueLimits()

    /// - Throws: ``QueueError`` `.invalidQueueName`.
    public static func validateQueueName(_ name: String) throws {
        guard ByteKeys.isSafeResourceName(name, maxLength: 63) else {
            throw QueueError(
                .invalidQueueName, queue: name, limit: 63, actual: name.utf8.count,
                message: "queue name \"\(name)\" must be 1...63 letters, digits, '-', '_' or '.', not starting with '.'")
        }
    }

    /// - Throws: ``QueueError`` `.invalidDelay`.
    package func validateDelay(_ delay: Double, queue: String) throws {
        guard delay >= 0, delay <= maxDelaySeconds else {
            throw QueueError(
                .invalidDelay, queue: queue, limit: Int(maxDelaySeconds), actual: Int(delay.rounded(.down)),
                message: "delay of \(delay) s on queue \(queue) is outside 0...\(Int(maxDelaySeconds)) s")
        }
    }

    /// Validates a batch about to be sent.
    package func validate(_ messages: [OutgoingMessage], queue: String) throws {
        try Self.validateQueueName(queue)
        if messages.isEmpty || messages.count > maxBatchMessages {
            throw QueueError(
                .tooManyMessages, queue: queue, limit: maxBatchMessages, actual: messages.count,
                message: "a batch sent to \(queue) must hold 1...\(maxBatchMessages) messages; it holds \(messages.count)")
        }
        var total = 0
        for message in messages {
            if message.body.count > maxMessageBytes {
                throw QueueError(
                    .messageTooLarge, queue: queue, limit: maxMessageBytes, actual: message.body.count,
                    message: "a message sent to \(queue) is \(message.body.count) bytes; the limit is \(maxMessageBytes) bytes")
            }
            try validateDelay(message.delaySeconds, queue: queue)
            total += message.body.count
        }
        if messages.count > 1, total > maxBatchBytes {
            throw QueueError(
                .batchTooLarge, queue: queue, limit: maxBatchBytes, actual: total,
                message: "a batch sent to \(queue) is \(total) bytes; the limit is \(maxBatchBytes) bytes")
        }
    }
}

/// A message as a producer hands it to a backend: encoded body, content type and delay.
public struct OutgoingMessage: Sendable, Hashable {
    public var body: [UInt8]
    public var contentType: QueueContentType
    public var delaySeconds: Double
    /// The W3C `traceparent` of the span that sent it (`QueueProducer` sets it when a tracer is
    /// bootstrapped); stored with the message so its consumer's span continues the trace.
    public var traceParent: String?

    public init(body: [UInt8], contentType: QueueContentType = .bytes, delaySeconds: Double = 0, traceParent: String? = nil) {
        self.body = body
        self.contentType = contentType
        self.delaySeconds = delaySeconds
        self.traceParent = traceParent
    }
}

/// A consumer's hold on a claimed message: valid until the visibility timeout passes.
public struct QueueLease: Sendable, Hashable {
    public var messageID: Int64
    public var token: String

    public init(messageID: Int64, token: String) {
        self.messageID = messageID
        self.token = token
    }
}

/// A message claimed by a consumer.
public struct ClaimedMessage: Sendable, Hashable {
    public var lease: QueueLease
    public var body: [UInt8]
    public var contentType: QueueContentType
    /// When it was first sent.
    public var timestamp: Date
    /// Deliveries so far, this one included (1 on the first delivery).
    public var attempts: Int
    /// The W3C `traceparent` it was sent with, if any.
    public var traceParent: String?

    public init(lease: QueueLease, body: [UInt8], contentType: QueueContentType, timestamp: Date, attempts: Int, traceParent: String? = nil) {
        self.lease = lease
        self.body = body
        self.contentType = contentType
        self.timestamp = timestamp
        self.attempts = attempts
        self.traceParent = traceParent
    }
}

/// A message as stored, for listing a queue (for example a dead-letter queue) without claiming.
public struct QueuedMessage: Sendable, Hashable {
    public var id: String
    public var body: [UInt8]
    public var contentType: QueueContentType
    public var timestamp: Date
    public var attempts: Int
    /// For a dead-lettered message: the queue it failed on.
    public var sourceQueue: String?

    public init(id: String, body: [UInt8], contentType: QueueContentType, timestamp: Date, attempts: Int, sourceQueue: String?) {
        self.id = id
        self.body = body
        self.contentType = contentType
        self.timestamp = timestamp
        self.attempts = attempts
        self.sourceQueue = sourceQueue
    }
}

/// What happens to a claimed message when its batch is settled.
public enum MessageOutcome: Sendable, Hashable {
    /// Delivered: delete it.
    case ack(QueueLease)
    /// Deliver again after `delaySeconds`.
    case retry(QueueLease, delaySeconds: Double)
    /// Give it back unprocessed (the delivery does not count as an attempt).
    case release(QueueLease)
    /// Move it to `queue` (a dead-letter queue), remembering where it came from; `nil` drops it.
    case deadLetter(QueueLease, queue: String?)

    package var lease: QueueLease {
        switch self {
        case .ack(let lease), .retry(let lease, _), .release(let lease), .deadLetter(let lease, _): lease
        }
    }
}

/// A queue's state.
public struct QueueStats: Sendable, Hashable {
    /// Every message stored in the queue: ready, delayed and in flight.
    public var backlog: Int
    /// Messages claimed by a consumer whose lease is valid.
    public var inFlight: Int
    /// Messages waiting for a delay (send delay or retry delay) to pass.
    public var delayed: Int
    /// Age of the oldest message, in seconds (0 for an empty queue).
    public var oldestMessageAge: Double

    public init(backlog: Int, inFlight: Int, delayed: Int, oldestMessageAge: Double) {
        self.backlog = backlog
        self.inFlight = inFlight
        self.delayed = delayed
        self.oldestMessageAge = oldestMessageAge
    }
}
