import EdgeCore
public import Foundation

/// HTTP headers stored with an object (R2's `httpMetadata`).
public struct BlobHTTPMetadata: Sendable, Hashable, Codable {
    public var contentType: String?
    public var contentLanguage: String?
    public var contentDisposition: String?
    public var contentEncoding: String?
    public var cacheControl: String?
    public var cacheExpiry: Date?

    public init(
        contentType: String? = nil, contentLanguage: String? = nil, contentDisposition: String? = nil,
        contentEncoding: String? = nil, cacheControl: String? = nil, cacheExpiry: Date? = nil
    ) {
        self.contentType = contentType
        self.contentLanguage = contentLanguage
        self.contentDisposition = contentDisposition
        self.contentEncoding = contentEncoding
        self.cacheControl = cacheControl
        self.cacheExpiry = cacheExpiry
    }
}

/// Digests of an object's body. Single puts always carry the MD5; the SHA-256 is kept when a put
/// asked to verify one.
public struct BlobChecksums: Sendable, Hashable {
    public var md5: [UInt8]?
    public var sha256: [UInt8]?

    public init(md5: [UInt8]? = nil, sha256: [UInt8]? = nil) {
        self.md5 = md5
        self.sha256 = sha256
    }
}

/// A checksum a put verifies against the body it receives.
public enum BlobChecksum: Sendable, Hashable {
    case md5([UInt8])
    case sha256([UInt8])

    /// A checksum from its hex form; `nil` when `hex` is not hexadecimal.
    public static func md5(hex: String) -> BlobChecksum? { decodeHex(hex).map(BlobChecksum.md5) }
    /// A checksum from its hex form; `nil` when `hex` is not hexadecimal.
    public static func sha256(hex: String) -> BlobChecksum? { decodeHex(hex).map(BlobChecksum.sha256) }
}

/// An object's metadata, as `head`, `put` and `list` return it.
public struct BlobObject: Sendable, Hashable {
    public var key: String
    /// A unique id of this upload of the key.
    public var version: String
    /// Size of the whole object in bytes.
    public var size: Int
    /// MD5 of the body in hex for single puts; for multipart uploads, the MD5 of the concatenated
    /// binary part MD5s followed by `-N` (N parts).
    public var etag: String
    public var uploaded: Date
    public var checksums: BlobChecksums
    public var httpMetadata: BlobHTTPMetadata
    public var customMetadata: [String: String]
    /// The byte range a `get` served, when it asked for one.
    public var range: ResolvedRange?

    /// The etag quoted, as in an HTTP `ETag` header.
    public var httpEtag: String { "\"\(etag)\"" }
    /// Always `"Standard"` (there is one storage class locally).
    public var storageClass: String { "Standard" }

    public init(
        key: String, version: String, size: Int, etag: String, uploaded: Date, checksums: BlobChecksums,
        httpMetadata: BlobHTTPMetadata, customMetadata: [String: String], range: ResolvedRange? = nil
    ) {
        self.key = key
        self.version = version
        self.size = size
        self.etag = etag
        self.uploaded = uploaded
        self.checksums = checksums
        self.httpMetadata = httpMetadata
        self.customMetadata = customMetadata
        self.range = range
    }
}

/// A part of an object to read.
public enum BlobRange: Sendable, Hashable {
    /// `length` bytes (or to the end when `nil`) from `offset`.
    case offset(Int, length: Int? = nil)
    /// The first `length` bytes.
    case length(Int)
    /// The last `suffix` bytes (the whole object when it is shorter).
    case suffix(Int)
}

/// A range resolved against an object: the bytes actually served.
public struct ResolvedRange: Sendable, Hashable {
    public var offset: Int
    public var length: Int

    public init(offset: Int, length: Int) {
        self.offset = offset
        self.length = length
    }
}

/// Preconditions of a get or a put (R2's `onlyIf`). Every condition given must hold.
///
/// Etags may be given bare or quoted; `"*"` matches any existing object. When there is no object,
/// `etagDoesNotMatch` holds and every other condition fails.
public struct BlobConditional: Sendable, Hashable {
    public var etagMatches: [String]?
    public var etagDoesNotMatch: [String]?
    /// Holds when the object was uploaded strictly before this date.
    public var uploadedBefore: Date?
    /// Holds when the object was uploaded strictly after this date.
    public var uploadedAfter: Date?

    public init(etagMatches: [String]? = nil, etagDoesNotMatch: [String]? = nil, uploadedBefore: Date? = nil, uploadedAfter: Date? = nil) {
        self.etagMatches = etagMatches
        self.etagDoesNotMatch = etagDoesNotMatch
        self.uploadedBefore = uploadedBefore
        self.uploadedAfter = uploadedAfter
    }

    /// Whether the conditions hold for `object` (`nil`: no object under the key).
    public func holds(for object: BlobObject?) -> Bool {
        guard let object else {
            return etagMatches == nil && uploadedBefore == nil && uploadedAfter == nil
        }
        if let etags = etagMatches, !etags.contains(where: { Self.matches($0, object.etag) }) { return false }
        if let etags = etagDoesNotMatch, etags.contains(where: { Self.matches($0, object.etag) }) { return false }
        if let date = uploadedBefore, !(object.uploaded < date) { return false }
        if let date = uploadedAfter, !(object.uploaded > date) { return false }
        return true
    }

    static func matches(_ condition: String, _ etag: String) -> Bool {
        var value = condition.trimmingCharacters(in: .whitespaces)
        if value == "*" { return true }
        if value.hasPrefix("W/") { value.removeFirst(2) }
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
        return value == etag
    }
}

/// Options of a put.
public struct BlobPutOptions: Sendable, Hashable {
    public var httpMetadata: BlobHTTPMetadata
    public var customMetadata: [String: String]
    /// A digest the body must have; on a mismatch the put throws and stores nothing.
    public var checksum: BlobChecksum?
    /// Preconditions on the object currently stored; when they fail, the put returns `nil` and writes nothing.
    public var onlyIf: BlobConditional?

    public init(
        httpMetadata: BlobHTTPMetadata = BlobHTTPMetadata(), customMetadata: [String: String] = [:],
        checksum: BlobChecksum? = nil, onlyIf: BlobConditional? = nil
    ) {
        self.httpMetadata = httpMetadata
        self.customMetadata = customMetadata
        self.checksum = checksum
        self.onlyIf = onlyIf
    }
}

/// Options of a get.
public struct BlobGetOptions: Sendable, Hashable {
    public var range: BlobRange?
    /// When these fail, the get returns the object's metadata without a body.
    public var onlyIf: BlobConditional?

    public init(range: BlobRange? = nil, onlyIf: BlobConditional? = nil) {
        self.range = range
        self.onlyIf = onlyIf
    }
}

/// What a list may include besides keys and sizes.
public enum BlobListInclude: Sendable, Hashable {
    case httpMetadata
    case customMetadata
}

/// Options of a list.
public struct BlobListOptions: Sendable, Hashable {
    public var prefix: String?
    /// Keys with this string after the prefix are rolled up into ``BlobListResult/delimitedPrefixes``.
    public var delimiter: String?
    public var cursor: String?
    /// Only keys after this one (UTF-8 byte order).
    public var startAfter: String?
    /// Most objects plus delimited prefixes per page, 1...1000; `nil` means 1000.
    public var limit: Int?
    public var include: Set<BlobListInclude>

    public init(
        prefix: String? = nil, delimiter: String? = nil, cursor: String? = nil, startAfter: String? = nil,
        limit: Int? = nil, include: Set<BlobListInclude> = []
    ) {
        self.prefix = prefix
        self.delimiter = delimiter
        self.cursor = cursor
        self.startAfter = startAfter
        self.limit = limit
        self.include = include
    }
}

/// One page of a list.
public struct BlobListResult: Sendable, Hashable {
    /// Objects in UTF-8 byte order of their keys. Without `include`, their `httpMetadata` and
    /// `customMetadata` are empty.
    public var objects: [BlobObject]
    /// `true` when more results follow; pass ``cursor`` to get them.
    public var truncated: Bool
    public var cursor: String?
    /// The rolled-up prefixes (each ending with the delimiter), in order.
    public var delimitedPrefixes: [String]

    public init(objects: [BlobObject], truncated: Bool, cursor: String?, delimitedPrefixes: [String]) {
        self.objects = objects
        self.truncated = truncated
        self.cursor = cursor
        self.delimitedPrefixes = delimitedPrefixes
    }
}

/// Options of a multipart upload, applied to the object it completes.
public struct BlobMultipartOptions: Sendable, Hashable {
    public var httpMetadata: BlobHTTPMetadata
    public var customMetadata: [String: String]

    public init(httpMetadata: BlobHTTPMetadata = BlobHTTPMetadata(), customMetadata: [String: String] = [:]) {
        self.httpMetadata = httpMetadata
        self.customMetadata = customMetadata
    }
}

/// A part as uploaded; pass the parts to `complete`.
public struct BlobUploadedPart: Sendable, Hashable, Codable {
    public var partNumber: Int
    /// MD5 of the part, hex.
    public var etag: String

    public init(partNumber: Int, etag: String) {
        self.partNumber = partNumber
        self.etag = etag
    }
}

// MARK: - Hex

func hex(_ bytes: some Sequence<UInt8>) -> String { Hex.encode(bytes) }

func decodeHex(_ text: String) -> [UInt8]? { Hex.decode(text) }
