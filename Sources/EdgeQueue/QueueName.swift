public import Logging
public import ServiceLifecycle

/// A queue and the type of its messages, declared once and used by both sides, so a producer
/// and a consumer of one queue cannot disagree on what travels through it (the pattern of
/// swift-jobs' `JobName<Parameters>`):
///
/// ```swift
/// enum Queues {
///     static let thumbnails = QueueName<ThumbnailJob>("thumbnails")
/// }
/// let producer = try QueueProducer(Queues.thumbnails, backend: backend)  // sends ThumbnailJob
/// let consumer = try QueueConsumer(Queues.thumbnails, backend: backend) { batch in
///     for message in batch.messages { print(message.body) }                 // a ThumbnailJob
/// }
///
/// A dead-letter queue holds the same messages: `QueueName<ThumbnailJob>("thumbnails-dlq")`.
/// ```
public struct QueueName<Message: Codable & Sendable>: Sendable, Hashable, CustomStringConvertible {
    /// The queue's name in the backend (1...63 letters, digits, '-', '_' or '.').
    public let name: String

    public init(_ name: String) {
        self.name = name
    }

    public var description: String { name }
}

extension QueueProducer where Body: Decodable {
    /// A producer for the typed queue `queue`.
    ///
    /// - Throws: ``QueueError`` `.invalidQueueName`.
    public init(_ queue: QueueName<Body>, backend: any QueueBackend) throws {
        try self.init(queue: queue.name, backend: backend)
    }
}

extension QueueConsumer where Body: Encodable {
    /// A consumer of the typed queue `queue`.
    ///
    /// - Throws: ``QueueError`` `.invalidQueueName` / `.invalidConfiguration`.
    public convenience init(
        _ queue: QueueName<Body>, backend: any QueueBackend, configuration: QueueConsumerConfiguration = QueueConsumerConfiguration(),
        logger: Logger = Logger(label: "swift-edge.queue"), handler: @escaping Handler
    ) throws {
        try self.init(queue: queue.name, backend: backend, configuration: configuration, logger: logger, handler: handler)
    }
}

/// A queue consumer of any message type: a service a host runs, and a test drives.
public protocol QueueConsuming: Service, AnyObject {
    /// The queue it consumes.
    var queue: String { get }
    /// Delivers what is visible now, batch by batch; returns how many messages were delivered.
    ///
    /// - Throws: ``QueueError`` from the backend.
    func processAvailable() async throws -> Int
    /// Asks `run()` to return after the batch in hand.
    func stop()
}

extension QueueConsumer: QueueConsuming {}
