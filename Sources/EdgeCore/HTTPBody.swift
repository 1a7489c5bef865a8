import Foundation
import Synchronization

/// Why reading or producing an HTTP body failed.
public struct EdgeHTTPError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable { case bodyTooLarge, bodyConsumed, invalidURL }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A body crossed a size limit (the host's request limit, or `collect(upTo:)`'s).
        public static let bodyTooLarge = Code(.bodyTooLarge)
        /// A streamed body was read a second time: streams are read once.
        public static let bodyConsumed = Code(.bodyConsumed)
        /// A request target that is not a path with an optional query.
        public static let invalidURL = Code(.invalidURL)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// The limit that was crossed, in bytes.
    public var limit: Int?
    public var message: String

    public init(_ code: Code, limit: Int? = nil, message: String) {
        self.code = code
        self.limit = limit
        self.message = message
    }

    public var description: String { message }
}

/// The body of a request or a response: bytes in memory, or a stream of byte chunks read once
/// as it arrives (an upload, a bucket object, a generator of server-sent events), so a large
/// body is never whole in memory.
///
/// ```swift
/// let bytes = try await request.body.collect(upTo: 1 << 20)    // at most 1 MiB, else bodyTooLarge
/// for try await chunk in request.body { try await sink(chunk) } // or stream it
/// return .stream(EdgeBody.stream(object.body))                  // send a stream back
/// ```
public struct EdgeBody: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    public typealias Failure = any Error

    enum Content: Sendable {
        case bytes([UInt8])
        case stream(ChunkSource)
    }

    let content: Content

    /// No bytes.
    public static var empty: EdgeBody { EdgeBody(content: .bytes([])) }

    /// Bytes in memory (readable any number of times).
    public static func bytes(_ bytes: [UInt8]) -> EdgeBody { EdgeBody(content: .bytes(bytes)) }

    /// UTF-8 text.
    public static func text(_ text: String) -> EdgeBody { .bytes(Array(text.utf8)) }

    /// The chunks of `sequence`, read once, as they are consumed.
    public static func stream<S: AsyncSequence & Sendable>(_ sequence: S) -> EdgeBody where S.Element == [UInt8] {
        let box = IteratorBox(sequence.makeAsyncIterator())
        return EdgeBody(content: .stream(ChunkSource(next: { try await box.next() })))
    }

    /// The chunks `produce` writes, produced as they are consumed: `write` waits until the
    /// reader has taken the previous chunk, and throws `CancellationError` once the reader
    /// stopped (the client went away). For server-sent events and other generated bodies.
    public static func stream(_ produce: @escaping @Sendable (_ writer: EdgeBodyWriter) async throws -> Void) -> EdgeBody {
        let channel = ChunkChannel(produce)
        return EdgeBody(content: .stream(ChunkSource(next: { try await channel.next() }, cancel: { channel.cancel() })))
    }

    /// The byte count when the body is in memory.
    public var count: Int? {
        if case .bytes(let bytes) = content { return bytes.count }
        return nil
    }

    /// The bytes, when the body is in memory; nil for a stream.
    public var storedBytes: [UInt8]? {
        if case .bytes(let bytes) = content { return bytes }
        return nil
    }

    /// Whether the body is a stream (read once).
    public var isStream: Bool {
        if case .stream = content { return true }
        return false
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var content: Content
        var done = false

        public mutating func next() async throws -> [UInt8]? {
            guard !done else { return nil }
            switch content {
            case .bytes(let bytes):
                done = true
                return bytes.isEmpty ? nil : bytes
            case .stream(let source):
                let chunk = try await source.next()
                if chunk == nil { done = true }
                return chunk
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        if case .stream(let source) = content, !source.claim() {
            let consumed = ChunkSource(next: { throw EdgeHTTPError(.bodyConsumed, message: "a streamed body is read once; it was read before") })
            return AsyncIterator(content: .stream(consumed))
        }
        return AsyncIterator(content: content)
    }

    /// Stops a stream that will not be read further: a generator's next `write` throws
    /// `CancellationError`. Does nothing to a body in memory.
    public func cancel() {
        if case .stream(let source) = content { source.cancel() }
    }

    /// The whole body, refusing one longer than `limit` bytes.
    ///
    /// - Throws: ``EdgeHTTPError`` `.bodyTooLarge` (with the limit) as soon as the body crosses
    ///   it; the stream's own errors.
    public func collect(upTo limit: Int) async throws -> [UInt8] {
        if case .bytes(let bytes) = content {
            guard bytes.count <= limit else { throw Self.tooLarge(limit) }
            return bytes
        }
        var out: [UInt8] = []
        for try await chunk in self {
            guard out.count + chunk.count <= limit else { throw Self.tooLarge(limit) }
            out += chunk
        }
        return out
    }

    static func tooLarge(_ limit: Int) -> EdgeHTTPError {
        EdgeHTTPError(.bodyTooLarge, limit: limit, message: "the body is larger than the limit of \(limit) bytes")
    }

    /// The whole body (a request's is bounded by the host's `max_request_body_bytes`).
    ///
    /// - Throws: the stream's errors.
    public func bytes() async throws -> [UInt8] {
        try await collect(upTo: Int.max)
    }

    /// The whole body as UTF-8 text.
    ///
    /// - Throws: the stream's errors.
    public func text() async throws -> String {
        String(decoding: try await bytes(), as: UTF8.self)
    }

    /// The whole body decoded from JSON.
    ///
    /// - Throws: `DecodingError`; the stream's errors.
    public func json<T: Decodable>(as type: T.Type = T.self) async throws -> T {
        try JSONDecoder().decode(T.self, from: Data(try await bytes()))
    }
}

/// What a body generator writes into (``EdgeBody/stream(_:)-swift.type.method``).
public struct EdgeBodyWriter: Sendable {
    let channel: ChunkChannel

    /// Writes a chunk; returns once the reader has taken it.
    ///
    /// - Throws: `CancellationError` when the reader stopped reading.
    public func write(_ chunk: [UInt8]) async throws {
        guard !chunk.isEmpty else { return }
        try await channel.write(chunk)
    }

    /// Writes UTF-8 text.
    ///
    /// - Throws: `CancellationError` when the reader stopped reading.
    public func write(_ text: String) async throws {
        try await write(Array(text.utf8))
    }

    /// Writes one server-sent event (`event:` when given, one `data:` line per line of `data`).
    ///
    /// - Throws: `CancellationError` when the reader stopped reading.
    public func event(_ data: String, name: String? = nil, id: String? = nil) async throws {
        var text = ""
        if let id { text += "id: \(id)\n" }
        if let name { text += "event: \(name)\n" }
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) { text += "data: \(line)\n" }
        try await write(text + "\n")
    }
}

/// A single-use source of chunks behind a streamed body.
final class ChunkSource: Sendable {
    private let produce: @Sendable () async throws -> [UInt8]?
    private let stop: @Sendable () -> Void
    private let claimed = Atomic<Bool>(false)

    init(next: @escaping @Sendable () async throws -> [UInt8]?, cancel: @escaping @Sendable () -> Void = {}) {
        produce = next
        stop = cancel
    }

    /// The first caller gets the stream; later ones find it consumed.
    func claim() -> Bool {
        !claimed.exchange(true, ordering: .acquiringAndReleasing)
    }

    func next() async throws -> [UInt8]? { try await produce() }
    func cancel() { stop() }
}

/// An iterator behind a lock-free box: a stream has one reader at a time.
final class IteratorBox<Iterator: AsyncIteratorProtocol>: @unchecked Sendable where Iterator.Element == [UInt8] {
    private var iterator: Iterator

    init(_ iterator: Iterator) { self.iterator = iterator }

    func next() async throws -> [UInt8]? { try await iterator.next() }
}

/// A hand-over point between one producer and one reader: the producer's write waits until the
/// reader took the previous chunk (backpressure), the reader waits for the next chunk.
final class ChunkChannel: Sendable {
    private struct State {
        var started = false
        var buffered: [UInt8]?
        var finished = false
        var failure: (any Error)?
        var cancelled = false
        var reader: CheckedContinuation<[UInt8]?, any Error>?
        var writer: CheckedContinuation<Void, any Error>?
    }

    private let state = Mutex(State())
    private let produce: @Sendable (EdgeBodyWriter) async throws -> Void

    init(_ produce: @escaping @Sendable (EdgeBodyWriter) async throws -> Void) {
        self.produce = produce
    }

    private func startIfNeeded() {
        let start = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started
        }
        guard start else { return }
        Task {
            do {
                try await produce(EdgeBodyWriter(channel: self))
                finish(nil)
            } catch {
                finish(error)
            }
        }
    }

    func write(_ chunk: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { (writer: CheckedContinuation<Void, any Error>) in
            enum Action { case handOver(CheckedContinuation<[UInt8]?, any Error>), wait, cancelled }
            let action = state.withLock { state -> Action in
                if state.cancelled { return .cancelled }
                if let reader = state.reader {
                    state.reader = nil
                    return .handOver(reader)
                }
                state.buffered = chunk
                state.writer = writer
                return .wait
            }
            switch action {
            case .handOver(let reader):
                reader.resume(returning: chunk)
                writer.resume()
            case .cancelled:
                writer.resume(throwing: CancellationError())
            case .wait:
                break
            }
        }
    }

    private func finish(_ error: (any Error)?) {
        let reader = state.withLock { state -> CheckedContinuation<[UInt8]?, any Error>? in
            state.finished = true
            state.failure = error
            defer { state.reader = nil }
            return state.reader
        }
        if let reader {
            if let error { reader.resume(throwing: error) } else { reader.resume(returning: nil) }
        }
    }

    func next() async throws -> [UInt8]? {
        startIfNeeded()
        return try await withCheckedThrowingContinuation { (reader: CheckedContinuation<[UInt8]?, any Error>) in
            enum Action { case chunk([UInt8], CheckedContinuation<Void, any Error>?), end((any Error)?), wait }
            let action = state.withLock { state -> Action in
                if let chunk = state.buffered {
                    state.buffered = nil
                    defer { state.writer = nil }
                    return .chunk(chunk, state.writer)
                }
                if state.finished { return .end(state.failure) }
                state.reader = reader
                return .wait
            }
            switch action {
            case .chunk(let chunk, let writer):
                reader.resume(returning: chunk)
                writer?.resume()
            case .end(let failure):
                if let failure { reader.resume(throwing: failure) } else { reader.resume(returning: nil) }
            case .wait:
                break
            }
        }
    }

    func cancel() {
        let writer = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            state.cancelled = true
            state.buffered = nil
            defer { state.writer = nil }
            return state.writer
        }
        writer?.resume(throwing: CancellationError())
    }
}
