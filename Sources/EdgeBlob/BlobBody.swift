import EdgeCore
import Foundation

/// The body of a put: bytes in memory, or an async sequence of byte chunks that is consumed as it
/// is stored, so a large body never has to be whole in memory.
public struct BlobBody: Sendable {
    /// The whole body when it is held in memory (``bytes(_:)``, ``text(_:)``); `nil` for a stream.
    /// A backend uses it to send a body with a known length in one request.
    public let knownBytes: [UInt8]?
    let iterate: @Sendable (_ consume: ([UInt8]) async throws -> Void) async throws -> Void

    /// A body held in memory.
    public static func bytes(_ bytes: [UInt8]) -> BlobBody {
        BlobBody(knownBytes: bytes) { consume in try await consume(bytes) }
    }

    /// UTF-8 text.
    public static func text(_ text: String) -> BlobBody { .bytes(Array(text.utf8)) }

    /// An empty body.
    public static var empty: BlobBody { .bytes([]) }

    /// A body streamed from `chunks`. It is iterated once, while the put stores it; if it throws,
    /// the put throws ``BlobError`` `.bodyFailed` and stores nothing.
    public static func stream<S: AsyncSequence & Sendable>(_ chunks: S) -> BlobBody where S.Element == [UInt8] {
        BlobBody(knownBytes: nil) { consume in
            for try await chunk in chunks { try await consume(chunk) }
        }
    }

    /// Calls `consume` with each chunk, in order: how a backend reads the body it stores. A body
    /// is read once.
    ///
    /// - Throws: ``BlobError`` `.bodyFailed` (naming `key`) when the body's own sequence throws;
    ///   errors thrown by `consume` pass through unchanged.
    public func forEachChunk(key: String, _ consume: ([UInt8]) async throws -> Void) async throws {
        struct ConsumerFailed: Error { let error: any Error }
        do {
            try await iterate { chunk in
                do { try await consume(chunk) } catch { throw ConsumerFailed(error: error) }
            }
        } catch let failure as ConsumerFailed {
            throw failure.error
        } catch {
            throw BlobError(.bodyFailed, key: key, message: "the body of key \(ByteKeys.describe(key)) failed while it was read: \(error)")
        }
    }
}

/// A body being read: an async sequence of byte chunks, read from storage as it is iterated.
///
/// It reads the object version that the get found: a later overwrite or delete does not change
/// what an already returned stream yields.
public struct BlobStream: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    public typealias Failure = any Error

    enum Source: Sendable {
        case memory([UInt8], offset: Int, length: Int)
        case file(BlobFileReader)
        case chunks(BlobChunkSource)
    }

    /// A body read from somewhere else, such as a remote store's HTTP response: `next` returns
    /// the next chunk, or `nil` at the end. Such a stream is read once: a second iteration
    /// continues where the first stopped.
    ///
    /// - Parameter next: called by one reader at a time; what it throws ends the iteration.
    public init(next: @escaping @Sendable () async throws -> [UInt8]?) {
        source = .chunks(BlobChunkSource(next: next))
        chunkSize = 0
    }

    init(source: Source, chunkSize: Int) {
        self.source = source
        self.chunkSize = chunkSize
    }

    let source: Source
    let chunkSize: Int

    public struct AsyncIterator: AsyncIteratorProtocol {
        let source: Source
        let chunkSize: Int
        var position = 0

        public mutating func next() async throws -> [UInt8]? {
            switch source {
            case .memory(let bytes, let offset, let length):
                guard position < length else { return nil }
                let count = Swift.min(chunkSize, length - position)
                defer { position += count }
                return Array(bytes[(offset + position)..<(offset + position + count)])
            case .file(let reader):
                guard position < reader.length else { return nil }
                let count = Swift.min(chunkSize, reader.length - position)
                let chunk = try reader.read(at: position, count: count)
                position += chunk.count
                return chunk
            case .chunks(let chunks):
                return try await chunks.next()
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(source: source, chunkSize: chunkSize)
    }

    /// The whole (remaining) body in memory.
    ///
    /// - Throws: ``BlobError`` `.storageFailure` when reading fails.
    public func bytes() async throws -> [UInt8] {
        var out: [UInt8] = []
        for try await chunk in self { out += chunk }
        return out
    }

    /// The body as UTF-8 text.
    public func text() async throws -> String {
        String(decoding: try await bytes(), as: UTF8.self)
    }

    /// The body decoded from JSON.
    ///
    /// - Throws: `DecodingError` when the body is not JSON of type `T`.
    public func json<T: Decodable>(as type: T.Type = T.self) async throws -> T {
        try JSONDecoder().decode(T.self, from: Data(try await bytes()))
    }
}

/// The chunks of a stream read from elsewhere (``BlobStream/init(next:)``).
struct BlobChunkSource: Sendable {
    let next: @Sendable () async throws -> [UInt8]?
}

/// An open body: one or more files (a completed multipart upload keeps its parts), each read
/// with `pread` from a start offset; the descriptors close when the last stream using them is gone.
final class BlobFileReader: Sendable {
    struct Segment: Sendable {
        let descriptor: Int32
        let start: Int
        let length: Int
    }

    let segments: [Segment]
    let length: Int
    let key: String

    /// `length` bytes of one file from `offset`.
    convenience init(descriptor: Int32, offset: Int, length: Int, key: String) {
        self.init(segments: [Segment(descriptor: descriptor, start: offset, length: length)], key: key)
    }

    /// The concatenation of `segments`; the reader owns their descriptors.
    init(segments: [Segment], key: String) {
        self.segments = segments
        length = segments.reduce(0) { $0 + $1.length }
        self.key = key
    }

    deinit {
        for segment in segments { close(segment.descriptor) }
    }

    func read(at position: Int, count: Int) throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: count)
        var done = 0
        var segmentStart = 0
        for segment in segments {
            defer { segmentStart += segment.length }
            let from = position + done
            guard done < count, from < segmentStart + segment.length else { continue }
            let within = from - segmentStart
            let wanted = min(count - done, segment.length - within)
            var got = 0
            while got < wanted {
                let read = chunk.withUnsafeMutableBytes { buffer in
                    pread(segment.descriptor, buffer.baseAddress! + done + got, wanted - got, off_t(segment.start + within + got))
                }
                if read < 0 {
                    if errno == EINTR { continue }
                    throw BlobError(.storageFailure, key: key, message: "reading key \(ByteKeys.describe(key)) failed: \(String(cString: strerror(errno)))")
                }
                if read == 0 {
                    throw BlobError(.storageFailure, key: key, message: "the body of key \(ByteKeys.describe(key)) is shorter than its metadata says")
                }
                got += read
            }
            done += wanted
        }
        return chunk
    }
}

/// What a get returns for an existing object: its metadata and, when the preconditions held, its
/// body (R2's `R2ObjectBody`); when they failed, `body` is `nil` (R2's `R2Object`).
public struct BlobGetResult: Sendable {
    public var object: BlobObject
    public var body: BlobStream?

    /// A result with `body`, or without one when the get's preconditions failed.
    public init(object: BlobObject, body: BlobStream?) {
        self.object = object
        self.body = body
    }

    /// `true` when `onlyIf` failed and no body was returned.
    public var preconditionFailed: Bool { body == nil }
}
