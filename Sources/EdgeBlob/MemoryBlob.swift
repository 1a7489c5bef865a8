import EdgeCore
public import Foundation
import Synchronization

/// An in-memory ``BlobBucket`` for tests: the same semantics and limits as ``FileBlob``, on an
/// injectable clock.
public final class MemoryBlob: BlobBucket {
    public struct Configuration: Sendable {
        public var limits: BlobLimits
        /// The clock `uploaded` dates and upload ages are read from.
        public var clock: any EdgeClock
        /// Incomplete multipart uploads older than this are removed by ``cleanUpIncompleteUploads()``
        /// and on new uploads. Default 7 days (R2's default lifecycle rule).
        public var maxUploadAge: TimeInterval
        /// Size of the chunks a body stream yields. Default 1 MiB.
        public var readChunkSize: Int

        public init(limits: BlobLimits = .r2, clock: any EdgeClock = SystemClock(), maxUploadAge: TimeInterval = 7 * 86_400, readChunkSize: Int = 1 << 20) {
            self.limits = limits
            self.clock = clock
            self.maxUploadAge = maxUploadAge
            self.readChunkSize = readChunkSize
        }
    }

    private struct Record {
        var object: BlobObject
        var body: [UInt8]
    }

    private struct Part {
        var body: [UInt8]
        var md5: [UInt8]
        var etag: String
    }

    private struct Upload {
        var key: String
        var created: Date
        var options: BlobMultipartOptions
        var parts: [Int: Part] = [:]
    }

    private struct State {
        var records: [[UInt8]: Record] = [:]
        var sortedKeys = SortedByteKeys()
        var uploads: [String: Upload] = [:]

        mutating func store(_ record: Record) {
            let key = Array(record.object.key.utf8)
            if records.updateValue(record, forKey: key) == nil { sortedKeys.insert(key) }
        }

        mutating func remove(_ key: [UInt8]) {
            if records.removeValue(forKey: key) != nil { sortedKeys.remove(key) }
        }
    }

    public let configuration: Configuration
    private let state = Mutex(State())

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// An in-memory bucket on `clock` with R2's limits.
    public convenience init(clock: any EdgeClock) {
        self.init(configuration: Configuration(clock: clock))
    }

    public var limits: BlobLimits { configuration.limits }

    private func read(_ body: BlobBody, key: String, partLimit: Bool, checksum: BlobChecksum?) async throws -> ([UInt8], BlobChecksums) {
        var bytes: [UInt8] = []
        var digests = BodyDigests(sha256: checksum?.wantsSHA256 ?? false)
        try await body.forEachChunk(key: key) { chunk in
            digests.update(chunk)
            if partLimit { try limits.checkPartSize(digests.size, key: key) } else { try limits.checkPutSize(digests.size, key: key) }
            bytes += chunk
        }
        let checksums = digests.finish()
        try checksum?.verify(checksums, key: key)
        return (bytes, checksums)
    }

    public func put(_ key: String, body: BlobBody, options: BlobPutOptions) async throws -> BlobObject? {
        try limits.validatePut(key: key, options: options)
        if let condition = options.onlyIf, !condition.holds(for: try await head(key)) { return nil }
        let (bytes, checksums) = try await read(body, key: key, partLimit: false, checksum: options.checksum)
        let object = BlobObject(
            key: key, version: newIdentifier(), size: bytes.count, etag: hex(checksums.md5 ?? []),
            uploaded: configuration.clock.now.wholeMilliseconds, checksums: checksums,
            httpMetadata: options.httpMetadata, customMetadata: options.customMetadata)
        return state.withLock { state in
            if let condition = options.onlyIf, !condition.holds(for: state.records[Array(key.utf8)]?.object) { return nil }
            state.store(Record(object: object, body: bytes))
            return object
        }
    }

    public func get(_ key: String, options: BlobGetOptions) async throws -> BlobGetResult? {
        try limits.validateKey(key)
        guard let record = state.withLock({ $0.records[Array(key.utf8)] }) else { return nil }
        if let condition = options.onlyIf, !condition.holds(for: record.object) {
            return BlobGetResult(object: record.object, body: nil)
        }
        var object = record.object
        let range = try options.range.map { try $0.resolve(size: record.body.count, key: key) }
        object.range = range
        let served = range ?? ResolvedRange(offset: 0, length: record.body.count)
        return BlobGetResult(
            object: object, body: BlobStream(source: .memory(record.body, offset: served.offset, length: served.length), chunkSize: configuration.readChunkSize)
        )
    }

    public func head(_ key: String) async throws -> BlobObject? {
        try limits.validateKey(key)
        return state.withLock { $0.records[Array(key.utf8)]?.object }
    }

    public func delete(_ keys: [String]) async throws {
        if keys.count > limits.maxDeleteKeys {
            throw BlobError(
                .tooManyKeys, limit: limits.maxDeleteKeys, actual: keys.count, message: "delete names \(keys.count) keys; the limit is \(limits.maxDeleteKeys)")
        }
        for key in keys { try limits.validateKey(key) }
        state.withLock { state in
            for key in keys { state.remove(Array(key.utf8)) }
        }
    }

    public func list(_ options: BlobListOptions) async throws -> BlobListResult {
        let plan = try limits.planList(options)
        return try state.withLock { state in
            try runList(plan) { lower, upper, count in
                var rows: [ListedRow] = []
                for key in state.sortedKeys.range(from: lower, below: upper) {
                    if rows.count == count { break }
                    rows.append(ListedRow(key: key, object: state.records[key]!.object))
                }
                return rows
            }
        }
    }

    public func createMultipartUpload(_ key: String, options: BlobMultipartOptions) async throws -> BlobMultipartUpload {
        try limits.validateKey(key)
        try limits.validateMetadata(options.customMetadata, key: key)
        try await cleanUpIncompleteUploads()
        let id = newIdentifier()
        let upload = Upload(key: key, created: configuration.clock.now, options: options)
        state.withLock { $0.uploads[id] = upload }
        return BlobMultipartUpload(bucket: self, key: key, uploadId: id)
    }

    private func checkUpload(_ uploadId: String, key: String) throws {
        guard state.withLock({ $0.uploads[uploadId]?.key == key }) else { throw noSuchUpload(uploadId, key: key) }
    }

    private func noSuchUpload(_ uploadId: String, key: String) -> BlobError {
        BlobError(
            .noSuchUpload, key: key,
            message: "there is no multipart upload \(uploadId) of key \(ByteKeys.describe(key)) (never created, completed, aborted or expired)")
    }

    public func uploadPart(key: String, uploadId: String, partNumber: Int, body: BlobBody) async throws -> BlobUploadedPart {
        try limits.validatePartNumber(partNumber, key: key)
        try checkUpload(uploadId, key: key)
        let (bytes, checksums) = try await read(body, key: key, partLimit: true, checksum: nil)
        let md5 = checksums.md5 ?? []
        let part = Part(body: bytes, md5: md5, etag: hex(md5))
        try state.withLock { state in
            guard state.uploads[uploadId]?.key == key else { throw noSuchUpload(uploadId, key: key) }
            state.uploads[uploadId]!.parts[partNumber] = part
        }
        return BlobUploadedPart(partNumber: partNumber, etag: part.etag)
    }

    public func listParts(key: String, uploadId: String) async throws -> [BlobPartInfo] {
        try state.withLock { state in
            guard let upload = state.uploads[uploadId], upload.key == key else { throw noSuchUpload(uploadId, key: key) }
            return upload.parts.sorted { $0.key < $1.key }.map {
                BlobPartInfo(partNumber: $0.key, etag: $0.value.etag, size: $0.value.body.count, uploaded: upload.created)
            }
        }
    }

    public func listMultipartUploads(prefix: String?) async throws -> [BlobPendingUpload] {
        state.withLock { state in
            state.uploads.filter { prefix == nil || $0.value.key.utf8.starts(with: prefix!.utf8) }
                .map { BlobPendingUpload(key: $0.value.key, uploadId: $0.key, initiated: $0.value.created) }
                .sorted { ($0.key.utf8.lexicographicallyPrecedes($1.key.utf8)) || ($0.key == $1.key && $0.initiated < $1.initiated) }
        }
    }

    public func completeMultipartUpload(key: String, uploadId: String, parts: [BlobUploadedPart]) async throws -> BlobObject {
        try state.withLock { state in
            guard let upload = state.uploads[uploadId], upload.key == key else { throw noSuchUpload(uploadId, key: key) }
            let chosen = try limits.validateCompletion(key: key, parts: parts, uploaded: upload.parts, etag: \.etag, size: \.body.count)
            var body: [UInt8] = []
            for part in chosen { body += part.body }
            let object = BlobObject(
                key: key, version: newIdentifier(), size: body.count, etag: multipartETag(partMD5s: chosen.map(\.md5)),
                uploaded: configuration.clock.now.wholeMilliseconds, checksums: BlobChecksums(),
                httpMetadata: upload.options.httpMetadata, customMetadata: upload.options.customMetadata)
            state.store(Record(object: object, body: body))
            state.uploads.removeValue(forKey: uploadId)
            return object
        }
    }

    public func abortMultipartUpload(key: String, uploadId: String) async throws {
        state.withLock { state in
            if state.uploads[uploadId]?.key == key { state.uploads.removeValue(forKey: uploadId) }
        }
    }

    @discardableResult
    public func cleanUpIncompleteUploads() async throws -> Int {
        let cutoff = configuration.clock.now.addingTimeInterval(-configuration.maxUploadAge)
        return state.withLock { state in
            let stale = state.uploads.filter { $0.value.created <= cutoff }.map(\.key)
            for id in stale { state.uploads.removeValue(forKey: id) }
            return stale.count
        }
    }

    /// How many multipart uploads are in progress.
    public var incompleteUploadCount: Int { state.withLock { $0.uploads.count } }

    /// Removes every object and upload (for resetting between tests).
    public func removeAll() {
        state.withLock { $0 = State() }
    }
}
