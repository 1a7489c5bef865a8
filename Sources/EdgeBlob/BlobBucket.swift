import EdgeCore
public import Foundation

/// An object store with Cloudflare R2 semantics: the blob binding.
///
/// Keys are strings of 1...1024 UTF-8 bytes, ordered by their bytes; an object is a body (streamed
/// in and out, never required whole in memory) with an MD5 etag, HTTP metadata and custom metadata.
/// Gets take ranges and preconditions; puts take preconditions and a checksum to verify; large
/// objects are uploaded in parts.
///
/// Backends: ``MemoryBlob`` (tests) and ``FileBlob`` (bodies in files, metadata in SQLite). Both
/// pass `BlobConformance` from EdgeTesting. Every operation throws ``BlobError``.
public protocol BlobBucket: Sendable {
    var limits: BlobLimits { get }

    /// Stores `body` under `key`, replacing any object there. Returns the new object's metadata, or
    /// `nil` when `options.onlyIf` failed (nothing was written). When it returns, the object is
    /// durable (for durable backends) and visible to every later call.
    ///
    /// - Throws: ``BlobError`` `.invalidKey`, `.keyTooLong`, `.metadataTooLarge`, `.invalidChecksum`,
    ///   `.objectTooLarge`, `.checksumMismatch` (nothing stored), `.bodyFailed` (the body's sequence
    ///   threw; nothing stored), `.storageFailure`.
    func put(_ key: String, body: BlobBody, options: BlobPutOptions) async throws -> BlobObject?

    /// The object under `key` with its body (or the requested range of it), `nil` when there is
    /// none. When `options.onlyIf` fails, the result carries the metadata and no body.
    ///
    /// - Throws: ``BlobError`` `.invalidRange`, a key error, or `.storageFailure`.
    func get(_ key: String, options: BlobGetOptions) async throws -> BlobGetResult?

    /// The object's metadata, or `nil`.
    ///
    /// - Throws: ``BlobError`` for an invalid key or a storage failure.
    func head(_ key: String) async throws -> BlobObject?

    /// Deletes the objects under `keys` (up to 1000); missing keys are ignored.
    ///
    /// - Throws: ``BlobError`` `.tooManyKeys`, a key error, or `.storageFailure`.
    func delete(_ keys: [String]) async throws

    /// One page of objects in key order, with optional delimiter roll-up.
    ///
    /// - Throws: ``BlobError`` `.invalidListLimit`, `.invalidCursor`, `.invalidDelimiter`.
    func list(_ options: BlobListOptions) async throws -> BlobListResult

    /// Starts a multipart upload of `key`.
    ///
    /// - Throws: ``BlobError`` for an invalid key or metadata.
    func createMultipartUpload(_ key: String, options: BlobMultipartOptions) async throws -> BlobMultipartUpload

    /// Uploads part `partNumber` (1...10,000) of an upload; uploading a number again replaces it.
    ///
    /// - Throws: ``BlobError`` `.noSuchUpload`, `.invalidPartNumber`, `.partTooLarge`, `.bodyFailed`.
    func uploadPart(key: String, uploadId: String, partNumber: Int, body: BlobBody) async throws -> BlobUploadedPart

    /// Completes an upload from `parts`, in ascending part-number order: the object becomes the
    /// concatenation of those parts, with etag `md5(part md5s)-N`.
    ///
    /// - Throws: ``BlobError`` `.noSuchUpload`, `.invalidPartOrder`, `.invalidPart`, `.partTooSmall`,
    ///   `.tooManyParts`, `.objectTooLarge`.
    func completeMultipartUpload(key: String, uploadId: String, parts: [BlobUploadedPart]) async throws -> BlobObject

    /// Abandons an upload and frees its parts. Aborting an unknown upload succeeds.
    ///
    /// - Throws: ``BlobError`` `.storageFailure`.
    func abortMultipartUpload(key: String, uploadId: String) async throws

    /// Removes uploads created longer ago than the bucket's configured maximum age; returns how many.
    ///
    /// - Throws: ``BlobError`` `.storageFailure`.
    @discardableResult
    func cleanUpIncompleteUploads() async throws -> Int

    /// The parts uploaded so far to an upload, by part number (S3's ListParts).
    ///
    /// - Throws: ``BlobError`` `.noSuchUpload`; `.unsupported` from a bucket that cannot list them.
    func listParts(key: String, uploadId: String) async throws -> [BlobPartInfo]

    /// The uploads in progress whose key starts with `prefix`, by key then start time (S3's
    /// ListMultipartUploads).
    ///
    /// - Throws: ``BlobError`` `.storageFailure`; `.unsupported` from a bucket that cannot list them.
    func listMultipartUploads(prefix: String?) async throws -> [BlobPendingUpload]
}

extension BlobBucket {
    /// Buckets that cannot list parts throw ``BlobError`` `.unsupported`.
    public func listParts(key: String, uploadId: String) async throws -> [BlobPartInfo] {
        throw BlobError(.unsupported, key: key, message: "this bucket (\(type(of: self))) does not list the parts of an upload")
    }

    /// Buckets that cannot list uploads throw ``BlobError`` `.unsupported`.
    public func listMultipartUploads(prefix: String?) async throws -> [BlobPendingUpload] {
        throw BlobError(.unsupported, message: "this bucket (\(type(of: self))) does not list multipart uploads")
    }
}

/// A part of an upload in progress.
public struct BlobPartInfo: Sendable, Hashable {
    public var partNumber: Int
    /// The MD5 of the part, hex.
    public var etag: String
    public var size: Int
    public var uploaded: Date

    public init(partNumber: Int, etag: String, size: Int, uploaded: Date) {
        self.partNumber = partNumber
        self.etag = etag
        self.size = size
        self.uploaded = uploaded
    }
}

/// A multipart upload in progress.
public struct BlobPendingUpload: Sendable, Hashable {
    public var key: String
    public var uploadId: String
    public var initiated: Date

    public init(key: String, uploadId: String, initiated: Date) {
        self.key = key
        self.uploadId = uploadId
        self.initiated = initiated
    }
}

/// A multipart upload in progress (R2's `R2MultipartUpload`). Obtain one from
/// `createMultipartUpload` or, to continue an upload begun elsewhere, `resumeMultipartUpload`.
public struct BlobMultipartUpload: Sendable {
    public let bucket: any BlobBucket
    public let key: String
    public let uploadId: String

    public init(bucket: any BlobBucket, key: String, uploadId: String) {
        self.bucket = bucket
        self.key = key
        self.uploadId = uploadId
    }

    /// - Throws: as ``BlobBucket/uploadPart(key:uploadId:partNumber:body:)``.
    public func uploadPart(_ partNumber: Int, _ body: BlobBody) async throws -> BlobUploadedPart {
        try await bucket.uploadPart(key: key, uploadId: uploadId, partNumber: partNumber, body: body)
    }

    /// - Throws: as ``BlobBucket/completeMultipartUpload(key:uploadId:parts:)``.
    public func complete(_ parts: [BlobUploadedPart]) async throws -> BlobObject {
        try await bucket.completeMultipartUpload(key: key, uploadId: uploadId, parts: parts)
    }

    /// - Throws: as ``BlobBucket/abortMultipartUpload(key:uploadId:)``.
    public func abort() async throws {
        try await bucket.abortMultipartUpload(key: key, uploadId: uploadId)
    }
}

extension BlobBucket {
    /// Stores bytes.
    ///
    /// - Throws: as ``put(_:body:options:)``.
    @discardableResult
    public func put(_ key: String, _ bytes: [UInt8], options: BlobPutOptions = BlobPutOptions()) async throws -> BlobObject? {
        try await put(key, body: .bytes(bytes), options: options)
    }

    /// Stores UTF-8 text.
    ///
    /// - Throws: as ``put(_:body:options:)``.
    @discardableResult
    public func put(_ key: String, text: String, options: BlobPutOptions = BlobPutOptions()) async throws -> BlobObject? {
        try await put(key, body: .text(text), options: options)
    }

    /// The whole object, or `nil`.
    ///
    /// - Throws: as ``get(_:options:)``.
    public func get(_ key: String) async throws -> BlobGetResult? {
        try await get(key, options: BlobGetOptions())
    }

    /// Deletes one object; a missing key is ignored.
    ///
    /// - Throws: ``BlobError`` for an invalid key or a storage failure.
    public func delete(_ key: String) async throws {
        try await delete([key])
    }

    /// One page of objects.
    ///
    /// - Throws: as ``list(_:)``.
    public func list(
        prefix: String? = nil, delimiter: String? = nil, cursor: String? = nil, startAfter: String? = nil,
        limit: Int? = nil, include: Set<BlobListInclude> = []
    ) async throws -> BlobListResult {
        try await list(BlobListOptions(prefix: prefix, delimiter: delimiter, cursor: cursor, startAfter: startAfter, limit: limit, include: include))
    }

    /// Starts a multipart upload with no metadata.
    ///
    /// - Throws: as ``createMultipartUpload(_:options:)``.
    public func createMultipartUpload(_ key: String) async throws -> BlobMultipartUpload {
        try await createMultipartUpload(key, options: BlobMultipartOptions())
    }

    /// A handle on an upload created earlier (possibly by another process). Its operations throw
    /// ``BlobError`` `.noSuchUpload` when the upload is unknown.
    public func resumeMultipartUpload(_ key: String, uploadId: String) -> BlobMultipartUpload {
        BlobMultipartUpload(bucket: self, key: key, uploadId: uploadId)
    }
}

/// A bucket whose store can hand out presigned URLs: a URL that lets anyone holding it read or
/// write one key directly at the store, without credentials, until it expires (S3's presigned
/// URLs). ``EdgeBlob`` buckets on local disk do not; the runtime presigns those through its own
/// S3 API instead.
public protocol BlobPresigning: Sendable {
    /// A URL allowing `method` (`GET`, `PUT`, `HEAD`, `DELETE`) on `key` for `expiresIn` seconds.
    ///
    /// - Throws: ``BlobError`` `.invalidKey`/`.keyTooLong` for a bad key, `.unsupported` for an
    ///   expiry the store does not allow.
    func presignedURL(for key: String, method: String, expiresIn: Int) throws -> URL
}
