import EdgeCore

/// The error every ``KVNamespace`` operation throws.
///
/// It names what was wrong (``code``), the offending ``key`` when there is one, and for size and
/// count violations the ``limit`` and the ``actual`` value, so a caller can tell "key too long
/// (600 bytes, limit 512)" from "value too large" without parsing the message.
public struct KVError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidKey, keyTooLong, valueTooLarge, metadataTooLarge, invalidMetadata
            case invalidExpiration, expirationTooSoon, tooManyKeys, invalidListLimit, invalidCursor
            case invalidJSON, invalidNamespaceName, storageFailure, closed
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The key is empty, `.` or `..`.
        public static let invalidKey = Code(.invalidKey)
        /// The key is longer than ``KVLimits/maxKeyBytes`` UTF-8 bytes.
        public static let keyTooLong = Code(.keyTooLong)
        /// The value is larger than ``KVLimits/maxValueBytes``.
        public static let valueTooLarge = Code(.valueTooLarge)
        /// The serialized metadata is larger than ``KVLimits/maxMetadataBytes``.
        public static let metadataTooLarge = Code(.metadataTooLarge)
        /// The metadata cannot be serialized as JSON.
        public static let invalidMetadata = Code(.invalidMetadata)
        /// Both `expiration` and `expirationTtl` were given.
        public static let invalidExpiration = Code(.invalidExpiration)
        /// The expiration is less than ``KVLimits/minimumExpirationSeconds`` in the future.
        public static let expirationTooSoon = Code(.expirationTooSoon)
        /// A bulk operation names more keys than its limit allows.
        public static let tooManyKeys = Code(.tooManyKeys)
        /// A list `limit` outside `1...maxListLimit`.
        public static let invalidListLimit = Code(.invalidListLimit)
        /// A list cursor that this namespace did not issue.
        public static let invalidCursor = Code(.invalidCursor)
        /// A stored value could not be decoded as the requested JSON type.
        public static let invalidJSON = Code(.invalidJSON)
        /// A namespace name that cannot name a file (SQLiteKV).
        public static let invalidNamespaceName = Code(.invalidNamespaceName)
        /// The storage engine failed (disk full, I/O error, corrupt file).
        public static let storageFailure = Code(.storageFailure)
        /// The namespace was closed.
        public static let closed = Code(.closed)

        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// The key the operation was about, when there is one.
    public var key: String?
    /// The limit that was exceeded, when the error is a limit violation.
    public var limit: Int?
    /// The actual size or count that exceeded ``limit``.
    public var actual: Int?
    /// A sentence for people: what was wrong, with the limit and the actual value.
    public var message: String

    public init(_ code: Code, key: String? = nil, limit: Int? = nil, actual: Int? = nil, message: String) {
        self.code = code
        self.key = key
        self.limit = limit
        self.actual = actual
        self.message = message
    }

    public var description: String { "KVError.\(code): \(message)" }

    /// Wraps a failure of the storage engine.
    package static func storage(_ error: any Error, key: String? = nil) -> KVError {
        if let error = error as? KVError { return error }
        return KVError(.storageFailure, key: key, message: "storage failure: \(error)")
    }
}
