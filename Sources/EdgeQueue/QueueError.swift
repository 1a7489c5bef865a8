import EdgeCore

/// The error queue operations throw: what was wrong (``code``), the queue, and for limit
/// violations the ``limit`` and the ``actual`` value.
public struct QueueError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidQueueName, messageTooLarge, batchTooLarge, tooManyMessages, invalidDelay
            case invalidConfiguration, encodingFailed, contentTypeMismatch, storageFailure, closed
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A queue name that is not 1...63 letters, digits, `-`, `_` or `.`.
        public static let invalidQueueName = Code(.invalidQueueName)
        /// One message's body is larger than ``QueueLimits/maxMessageBytes``.
        public static let messageTooLarge = Code(.messageTooLarge)
        /// A batch's bodies add up to more than ``QueueLimits/maxBatchBytes``.
        public static let batchTooLarge = Code(.batchTooLarge)
        /// A batch of more than ``QueueLimits/maxBatchMessages`` messages, or an empty one.
        public static let tooManyMessages = Code(.tooManyMessages)
        /// A delay outside `0...maxDelaySeconds`.
        public static let invalidDelay = Code(.invalidDelay)
        /// A consumer setting outside its allowed range.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// A body that cannot be encoded as its content type.
        public static let encodingFailed = Code(.encodingFailed)
        /// A body type that does not fit the content type (`.text` needs `String`, `.bytes` needs `[UInt8]`).
        public static let contentTypeMismatch = Code(.contentTypeMismatch)
        /// The storage failed.
        public static let storageFailure = Code(.storageFailure)
        /// The queue backend was closed.
        public static let closed = Code(.closed)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var queue: String?
    public var limit: Int?
    public var actual: Int?
    public var message: String

    public init(_ code: Code, queue: String? = nil, limit: Int? = nil, actual: Int? = nil, message: String) {
        self.code = code
        self.queue = queue
        self.limit = limit
        self.actual = actual
        self.message = message
    }

    public var description: String { "QueueError.\(code): \(message)" }

    package static func storage(_ error: any Error, queue: String? = nil) -> QueueError {
        if let error = error as? QueueError { return error }
        return QueueError(.storageFailure, queue: queue, message: "queue storage failure\(queue.map { " on \($0)" } ?? ""): \(error)")
    }
}
