import EdgeCore

/// The error every ``BlobBucket`` operation throws: what was wrong (``code``), the key, and for
/// limit violations the ``limit`` and the ``actual`` value.
public struct BlobError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidKey, keyTooLong, metadataTooLarge, objectTooLarge, checksumMismatch, invalidChecksum
            case invalidRange, tooManyKeys, invalidListLimit, invalidCursor, invalidDelimiter
            case noSuchUpload, invalidPartNumber, invalidPart, invalidPartOrder, partTooSmall, partTooLarge, tooManyParts
            case invalidBucketName, bodyFailed, storageFailure, closed, unsupported, accessDenied, unavailable
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The key is empty.
        public static let invalidKey = Code(.invalidKey)
        /// The key is longer than ``BlobLimits/maxKeyBytes`` UTF-8 bytes.
        public static let keyTooLong = Code(.keyTooLong)
        /// Custom metadata (keys and values, UTF-8) exceeds ``BlobLimits/maxCustomMetadataBytes``.
        public static let metadataTooLarge = Code(.metadataTooLarge)
        /// A body longer than ``BlobLimits/maxPutBytes`` (single put) or an object over ``BlobLimits/maxObjectBytes``.
        public static let objectTooLarge = Code(.objectTooLarge)
        /// The body's digest differs from the checksum the put asked to verify. Nothing was stored.
        public static let checksumMismatch = Code(.checksumMismatch)
        /// A checksum to verify that is not a digest of the right length.
        public static let invalidChecksum = Code(.invalidChecksum)
        /// A range that starts beyond the object or has no bytes.
        public static let invalidRange = Code(.invalidRange)
        /// A bulk delete of more than ``BlobLimits/maxDeleteKeys`` keys.
        public static let tooManyKeys = Code(.tooManyKeys)
        /// A list `limit` outside `1...maxListLimit`.
        public static let invalidListLimit = Code(.invalidListLimit)
        /// A list cursor this bucket did not issue.
        public static let invalidCursor = Code(.invalidCursor)
        /// An empty list delimiter.
        public static let invalidDelimiter = Code(.invalidDelimiter)
        /// The multipart upload does not exist (never created, completed, aborted or cleaned up).
        public static let noSuchUpload = Code(.noSuchUpload)
        /// A part number outside `1...maxParts`.
        public static let invalidPartNumber = Code(.invalidPartNumber)
        /// A completed part that was not uploaded, or whose etag differs.
        public static let invalidPart = Code(.invalidPart)
        /// Completed parts not in strictly ascending part-number order.
        public static let invalidPartOrder = Code(.invalidPartOrder)
        /// A part other than the last smaller than ``BlobLimits/minPartBytes``.
        public static let partTooSmall = Code(.partTooSmall)
        /// A part larger than ``BlobLimits/maxPartBytes``.
        public static let partTooLarge = Code(.partTooLarge)
        /// More than ``BlobLimits/maxParts`` parts, or a completion with none.
        public static let tooManyParts = Code(.tooManyParts)
        /// A bucket name that cannot name a directory (FileBlob).
        public static let invalidBucketName = Code(.invalidBucketName)
        /// The body's async sequence threw while it was being stored. Nothing was stored.
        public static let bodyFailed = Code(.bodyFailed)
        /// The storage failed (disk full, I/O error, corrupt metadata).
        public static let storageFailure = Code(.storageFailure)
        /// The bucket was closed.
        public static let closed = Code(.closed)
        /// The bucket does not offer this operation.
        public static let unsupported = Code(.unsupported)
        /// A remote store refused the credentials (S3's `AccessDenied`, `InvalidAccessKeyId`,
        /// `SignatureDoesNotMatch`). The message names the store's code.
        public static let accessDenied = Code(.accessDenied)
        /// A remote store could not be reached, or kept answering with server errors or throttling
        /// after every retry. Nothing is known to have been stored.
        public static let unavailable = Code(.unavailable)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var key: String?
    public var limit: Int?
    public var actual: Int?
    public var message: String

    public init(_ code: Code, key: String? = nil, limit: Int? = nil, actual: Int? = nil, message: String) {
        self.code = code
        self.key = key
        self.limit = limit
        self.actual = actual
        self.message = message
    }

    public var description: String { "BlobError.\(code): \(message)" }

    static func storage(_ error: any Error, key: String? = nil) -> BlobError {
        if let error = error as? BlobError { return error }
        return BlobError(.storageFailure, key: key, message: "storage failure\(key.map { " for key \(ByteKeys.describe($0))" } ?? ""): \(error)")
    }
}
