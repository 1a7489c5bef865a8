import EdgeCore

/// The error durable-object operations throw: what was wrong (``code``), the object and key
/// concerned, and for limit violations the ``limit`` and the ``actual`` value.
public struct CoordinatorError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidID, invalidNamespaceName, keyTooLong, invalidKey, valueTooLarge, tooManyKeys
            case invalidListOptions, encodingFailed, decodingFailed, storageFailure, objectReset, ownedElsewhere, remoteCallFailed
            case invalidAlarmTime
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A string that is not a 64-hex-digit object id.
        public static let invalidID = Code(.invalidID)
        /// A namespace name that cannot name a file.
        public static let invalidNamespaceName = Code(.invalidNamespaceName)
        /// A storage key longer than ``CoordinatorLimits/maxKeyBytes``.
        public static let keyTooLong = Code(.keyTooLong)
        /// An empty storage key.
        public static let invalidKey = Code(.invalidKey)
        /// A stored value larger than ``CoordinatorLimits/maxValueBytes`` once encoded.
        public static let valueTooLarge = Code(.valueTooLarge)
        /// A bulk get, put or delete of more than ``CoordinatorLimits/maxBulkKeys`` keys.
        public static let tooManyKeys = Code(.tooManyKeys)
        /// List options that contradict each other (start and startAfter) or a limit below 1.
        public static let invalidListOptions = Code(.invalidListOptions)
        /// A value that cannot be encoded as JSON.
        public static let encodingFailed = Code(.encodingFailed)
        /// A stored value that is not JSON of the requested type.
        public static let decodingFailed = Code(.decodingFailed)
        /// The storage failed; the object was reset and will be rebuilt from what was committed.
        public static let storageFailure = Code(.storageFailure)
        /// The object was reset (a commit failed or the namespace was reset) while the call ran.
        public static let objectReset = Code(.objectReset)
        /// Another process owns the object (a shared store) and did not hand it over in time.
        public static let ownedElsewhere = Code(.ownedElsewhere)
        /// A `fetch` forwarded to the process owning the object (a shared store) failed there,
        /// or the answer was lost on the way; the call may or may not have run.
        public static let remoteCallFailed = Code(.remoteCallFailed)
        /// An alarm time that is not finite or outside 1970...9999.
        public static let invalidAlarmTime = Code(.invalidAlarmTime)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var objectID: String?
    public var key: String?
    public var limit: Int?
    public var actual: Int?
    public var message: String

    public init(_ code: Code, objectID: String? = nil, key: String? = nil, limit: Int? = nil, actual: Int? = nil, message: String) {
        self.code = code
        self.objectID = objectID
        self.key = key
        self.limit = limit
        self.actual = actual
        self.message = message
    }

    public var description: String { "CoordinatorError.\(code): \(message)" }

    static func storage(_ error: any Error, objectID: String? = nil) -> CoordinatorError {
        if let error = error as? CoordinatorError { return error }
        return CoordinatorError(.storageFailure, objectID: objectID, message: "durable object storage failure: \(error)")
    }
}

/// Storage limits of durable objects. Defaults are Cloudflare's.
public struct CoordinatorLimits: Sendable, Hashable {
    /// Longest key, in UTF-8 bytes. Default 2048.
    public var maxKeyBytes: Int
    /// Largest value once encoded as JSON. Default 128 KiB.
    public var maxValueBytes: Int
    /// Most keys in one bulk get, put or delete. Default 128.
    public var maxBulkKeys: Int

    /// Most WebSockets one object holds open. Default 32,768 (Cloudflare's).
    public var maxWebSocketsPerObject: Int
    /// Largest WebSocket attachment, serialized. Default 2,048 bytes (Cloudflare's).
    public var maxWebSocketAttachmentBytes: Int

    public init(
        maxKeyBytes: Int = 2048, maxValueBytes: Int = 128 * 1024, maxBulkKeys: Int = 128, maxWebSocketsPerObject: Int = 32_768,
        maxWebSocketAttachmentBytes: Int = 2048
    ) {
        self.maxKeyBytes = maxKeyBytes
        self.maxValueBytes = maxValueBytes
        self.maxBulkKeys = maxBulkKeys
        self.maxWebSocketsPerObject = maxWebSocketsPerObject
        self.maxWebSocketAttachmentBytes = maxWebSocketAttachmentBytes
    }

    public static let cloudflare = CoordinatorLimits()

    /// Longest namespace name, in UTF-8 bytes (it names a file or a database key).
    public static let maxNamespaceNameBytes = 128

    /// Checks a namespace name: 1...128 letters, digits, '_', '-' or '.', not starting with '.'.
    /// Every store validates names with it.
    ///
    /// - Throws: ``CoordinatorError`` `.invalidNamespaceName`.
    public static func validateNamespaceName(_ name: String) throws {
        guard ByteKeys.isSafeResourceName(name, maxLength: maxNamespaceNameBytes) else {
            throw CoordinatorError(
                .invalidNamespaceName, limit: maxNamespaceNameBytes, actual: name.utf8.count,
                message: "namespace name \"\(name)\" must be 1...\(maxNamespaceNameBytes) letters, digits, '_', '-' or '.', not starting with '.'")
        }
    }
}
