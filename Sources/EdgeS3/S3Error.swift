/// An S3 error: its code as S3 names it (`NoSuchKey`, `SignatureDoesNotMatch`, …), the HTTP
/// status S3 answers with, and a message naming what was wrong (and the limit, where one applies).
/// The S3 API answers it as S3's XML error document.
public struct S3Error: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code as S3 writes it.
        public let name: String
        /// The HTTP status S3 answers with.
        public let status: Int

        public init(_ name: String, status: Int) {
            self.name = name
            self.status = status
        }

        public var description: String { name }

        public static let accessDenied = Code("AccessDenied", status: 403)
        public static let authorizationHeaderMalformed = Code("AuthorizationHeaderMalformed", status: 400)
        public static let badDigest = Code("BadDigest", status: 400)
        public static let entityTooLarge = Code("EntityTooLarge", status: 400)
        public static let entityTooSmall = Code("EntityTooSmall", status: 400)
        public static let incompleteBody = Code("IncompleteBody", status: 400)
        public static let internalError = Code("InternalError", status: 500)
        public static let invalidAccessKeyId = Code("InvalidAccessKeyId", status: 403)
        public static let invalidArgument = Code("InvalidArgument", status: 400)
        public static let invalidBucketName = Code("InvalidBucketName", status: 400)
        public static let invalidDigest = Code("InvalidDigest", status: 400)
        public static let invalidPart = Code("InvalidPart", status: 400)
        public static let invalidPartOrder = Code("InvalidPartOrder", status: 400)
        public static let invalidRange = Code("InvalidRange", status: 416)
        public static let invalidRequest = Code("InvalidRequest", status: 400)
        public static let keyTooLong = Code("KeyTooLongError", status: 400)
        public static let malformedXML = Code("MalformedXML", status: 400)
        public static let metadataTooLarge = Code("MetadataTooLarge", status: 400)
        public static let methodNotAllowed = Code("MethodNotAllowed", status: 405)
        public static let missingContentLength = Code("MissingContentLength", status: 411)
        public static let noSuchBucket = Code("NoSuchBucket", status: 404)
        public static let noSuchKey = Code("NoSuchKey", status: 404)
        public static let noSuchUpload = Code("NoSuchUpload", status: 404)
        public static let notImplemented = Code("NotImplemented", status: 501)
        public static let notModified = Code("NotModified", status: 304)
        public static let preconditionFailed = Code("PreconditionFailed", status: 412)
        public static let requestTimeTooSkewed = Code("RequestTimeTooSkewed", status: 403)
        public static let signatureDoesNotMatch = Code("SignatureDoesNotMatch", status: 403)
        public static let contentSHA256Mismatch = Code("XAmzContentSHA256Mismatch", status: 400)
        public static let tooManyParts = Code("InvalidArgument", status: 400)
    }

    public let code: Code
    public let message: String
    /// The bucket or key it concerns, when there is one.
    public var resource: String?

    public init(_ code: Code, message: String, resource: String? = nil) {
        self.code = code
        self.message = message
        self.resource = resource
    }

    public var description: String { "\(code.name): \(message)" }
}
