import EdgeCore
import Foundation

/// The limits a bucket enforces. The defaults are Cloudflare R2's.
public struct BlobLimits: Sendable, Hashable {
    /// Longest key in UTF-8 bytes. Default 1024.
    public var maxKeyBytes: Int
    /// Largest custom metadata, summing the UTF-8 bytes of its keys and values. Default 2048.
    public var maxCustomMetadataBytes: Int
    /// Largest body of a single put. Default 5 GiB - 5 MiB (R2's 4.995 GiB).
    public var maxPutBytes: Int
    /// Largest object, including multipart. Default 5 TiB - 5 GiB (R2's 4.995 TiB).
    public var maxObjectBytes: Int
    /// Smallest part of a multipart upload other than the last. Default 5 MiB.
    public var minPartBytes: Int
    /// Largest part. Default 5 GiB - 5 MiB.
    public var maxPartBytes: Int
    /// Most parts of a multipart upload. Default 10,000.
    public var maxParts: Int
    /// Most keys of a bulk delete. Default 1000.
    public var maxDeleteKeys: Int
    /// Largest and default page of a list. Default 1000.
    public var maxListLimit: Int

    public init(
        maxKeyBytes: Int = 1024,
        maxCustomMetadataBytes: Int = 2048,
        maxPutBytes: Int = 5 * 1024 * 1024 * 1024 - 5 * 1024 * 1024,
        maxObjectBytes: Int = 5 * 1024 * 1024 * 1024 * 1024 - 5 * 1024 * 1024 * 1024,
        minPartBytes: Int = 5 * 1024 * 1024,
        maxPartBytes: Int = 5 * 1024 * 1024 * 1024 - 5 * 1024 * 1024,
        maxParts: Int = 10_000,
        maxDeleteKeys: Int = 1000,
        maxListLimit: Int = 1000
    ) {
        self.maxKeyBytes = maxKeyBytes
        self.maxCustomMetadataBytes = maxCustomMetadataBytes
        self.maxPutBytes = maxPutBytes
        self.maxObjectBytes = maxObjectBytes
        self.minPartBytes = minPartBytes
        self.maxPartBytes = maxPartBytes
        self.maxParts = maxParts
        self.maxDeleteKeys = maxDeleteKeys
        self.maxListLimit = maxListLimit
    }

    /// Cloudflare R2's limits.
    public static let r2 = BlobLimits()
}

extension BlobLimits {
    /// - Throws: ``BlobError`` `.invalidKey` or `.keyTooLong`.
    package func validateKey(_ key: String) throws {
        let size = key.utf8.count
        if size == 0 { throw BlobError(.invalidKey, key: key, limit: 1, actual: 0, message: "key must not be empty") }
        if size > maxKeyBytes {
            throw BlobError(
                .keyTooLong, key: key, limit: maxKeyBytes, actual: size,
                message: "key \(ByteKeys.describe(key)) is \(size) bytes; the limit is \(maxKeyBytes) bytes")
        }
    }

    /// - Throws: ``BlobError`` `.metadataTooLarge`.
    package func validateMetadata(_ metadata: [String: String], key: String) throws {
        let size = metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        if size > maxCustomMetadataBytes {
            throw BlobError(
                .metadataTooLarge, key: key, limit: maxCustomMetadataBytes, actual: size,
                message: "custom metadata of key \(ByteKeys.describe(key)) is \(size) bytes; the limit is \(maxCustomMetadataBytes) bytes")
        }
    }

    package func validatePut(key: String, options: BlobPutOptions) throws {
        try validateKey(key)
        try validateMetadata(options.customMetadata, key: key)
        switch options.checksum {
        case .md5(let digest) where digest.count != 16:
            throw BlobError(.invalidChecksum, key: key, limit: 16, actual: digest.count, message: "an MD5 checksum is 16 bytes; got \(digest.count)")
        case .sha256(let digest) where digest.count != 32:
            throw BlobError(.invalidChecksum, key: key, limit: 32, actual: digest.count, message: "a SHA-256 checksum is 32 bytes; got \(digest.count)")
        default: break
        }
    }

    /// - Throws: ``BlobError`` `.objectTooLarge` once `size` passes the single-put limit.
    package func checkPutSize(_ size: Int, key: String) throws {
        if size > maxPutBytes {
            throw BlobError(
                .objectTooLarge, key: key, limit: maxPutBytes, actual: size,
                message: "the body of key \(ByteKeys.describe(key)) exceeds \(maxPutBytes) bytes, the largest single put")
        }
    }

    package func validatePartNumber(_ number: Int, key: String) throws {
        if number < 1 || number > maxParts {
            throw BlobError(
                .invalidPartNumber, key: key, limit: maxParts, actual: number,
                message: "part number \(number) of key \(ByteKeys.describe(key)) is outside 1...\(maxParts)")
        }
    }

    package func checkPartSize(_ size: Int, key: String) throws {
        if size > maxPartBytes {
            throw BlobError(
                .partTooLarge, key: key, limit: maxPartBytes, actual: size,
                message: "a part of key \(ByteKeys.describe(key)) exceeds \(maxPartBytes) bytes")
        }
    }

    /// Checks a completion against the uploaded parts; returns the stored parts in order.
    func validateCompletion<Part>(key: String, parts: [BlobUploadedPart], uploaded: [Int: Part], etag: (Part) -> String, size: (Part) -> Int) throws -> [Part] {
        if parts.isEmpty || parts.count > maxParts {
            throw BlobError(
                .tooManyParts, key: key, limit: maxParts, actual: parts.count,
                message: "completing key \(ByteKeys.describe(key)) needs 1...\(maxParts) parts; got \(parts.count)")
        }
        var previous = 0
        var result: [Part] = []
        var total = 0
        for (index, part) in parts.enumerated() {
            if part.partNumber <= previous {
                throw BlobError(
                    .invalidPartOrder, key: key, actual: part.partNumber,
                    message:
                        "parts of key \(ByteKeys.describe(key)) must be listed in ascending part-number order; part \(part.partNumber) follows part \(previous)"
                )
            }
            previous = part.partNumber
            guard let stored = uploaded[part.partNumber], BlobConditional.matches(part.etag, etag(stored)) else {
                throw BlobError(
                    .invalidPart, key: key, actual: part.partNumber,
                    message: "part \(part.partNumber) of key \(ByteKeys.describe(key)) was not uploaded with etag \(part.etag)")
            }
            let partSize = size(stored)
            if index < parts.count - 1, partSize < minPartBytes {
                throw BlobError(
                    .partTooSmall, key: key, limit: minPartBytes, actual: partSize,
                    message:
                        "part \(part.partNumber) of key \(ByteKeys.describe(key)) is \(partSize) bytes; every part but the last must be at least \(minPartBytes) bytes"
                )
            }
            total += partSize
            result.append(stored)
        }
        if total > maxObjectBytes {
            throw BlobError(
                .objectTooLarge, key: key, limit: maxObjectBytes, actual: total,
                message: "the parts of key \(ByteKeys.describe(key)) add up to \(total) bytes; the limit is \(maxObjectBytes)")
        }
        return result
    }
}

extension BlobRange {
    /// The bytes this range selects from an object of `size` bytes.
    ///
    /// - Throws: ``BlobError`` `.invalidRange` for a negative or empty range, or an offset at or
    ///   beyond the end of a non-empty object.
    package func resolve(size: Int, key: String) throws -> ResolvedRange {
        func invalid(_ why: String) -> BlobError {
            BlobError(.invalidRange, key: key, limit: size, message: "range \(self) of key \(ByteKeys.describe(key)) (\(size) bytes) \(why)")
        }
        switch self {
        case .offset(let offset, let length):
            if offset < 0 { throw invalid("has a negative offset") }
            if let length, length < 1 { throw invalid("has no bytes") }
            if offset >= size, !(offset == 0 && size == 0) { throw invalid("starts beyond the last byte") }
            let end = length.map { min(size, offset + $0) } ?? size
            return ResolvedRange(offset: offset, length: end - offset)
        case .length(let length):
            if length < 1 { throw invalid("has no bytes") }
            return ResolvedRange(offset: 0, length: min(length, size))
        case .suffix(let suffix):
            if suffix < 1 { throw invalid("has no bytes") }
            let length = min(suffix, size)
            return ResolvedRange(offset: size - length, length: length)
        }
    }
}

// MARK: - Listing

/// A stored key as the list engine sees it.
struct ListedRow {
    var key: [UInt8]
    var object: BlobObject
}

/// A validated list request.
struct ListPlan {
    var prefix: [UInt8]
    var delimiter: [UInt8]?
    var lowerBound: [UInt8]
    var upperBound: [UInt8]?
    var limit: Int
    var include: Set<BlobListInclude>
}

extension BlobLimits {
    func planList(_ options: BlobListOptions) throws -> ListPlan {
        let limit = options.limit ?? maxListLimit
        if limit < 1 || limit > maxListLimit {
            throw BlobError(.invalidListLimit, limit: maxListLimit, actual: limit, message: "list limit \(limit) is outside 1...\(maxListLimit)")
        }
        if let delimiter = options.delimiter, delimiter.isEmpty {
            throw BlobError(.invalidDelimiter, message: "the list delimiter must not be empty")
        }
        let prefix = Array((options.prefix ?? "").utf8)
        var lower = prefix
        if let startAfter = options.startAfter {
            let after = Array(startAfter.utf8) + [0]
            if lower.lexicographicallyPrecedes(after) { lower = after }
        }
        if let cursor = options.cursor, !cursor.isEmpty {
            guard let resume = BlobCursor.decode(cursor) else {
                throw BlobError(.invalidCursor, message: "list cursor \"\(cursor.prefix(80))\" was not issued by this bucket")
            }
            if lower.lexicographicallyPrecedes(resume) { lower = resume }
        }
        return ListPlan(
            prefix: prefix, delimiter: options.delimiter.map { Array($0.utf8) }, lowerBound: lower,
            upperBound: prefix.isEmpty ? nil : ByteKeys.successor(ofPrefix: prefix), limit: limit, include: options.include)
    }
}

/// Runs a list over any sorted key source. `fetch(lower, upper, count)` returns up to `count`
/// stored rows with `lower <= key < upper`, in UTF-8 byte order.
func runList(_ plan: ListPlan, fetch: ([UInt8], [UInt8]?, Int) throws -> [ListedRow]) throws -> BlobListResult {
    var objects: [BlobObject] = []
    var prefixes: [String] = []
    var lower = plan.lowerBound
    var resume: [UInt8]?
    var truncated = false

    scan: while true {
        let batch = plan.limit + 1
        let rows = try fetch(lower, plan.upperBound, batch)
        var index = 0
        while index < rows.count {
            let row = rows[index]
            if objects.count + prefixes.count == plan.limit {
                // The page is full and this row is one more result.
                truncated = true
                break scan
            }
            if let delimiter = plan.delimiter, let rolled = rollUp(row.key, prefix: plan.prefix, delimiter: delimiter) {
                prefixes.append(String(decoding: rolled, as: UTF8.self))
                guard let next = ByteKeys.successor(ofPrefix: rolled) else { break scan }
                resume = next
                // Skip the rest of this prefix: within the batch, or by seeking past it.
                index += 1
                while index < rows.count, rows[index].key.starts(with: rolled) { index += 1 }
                if index == rows.count {
                    if rows.count < batch { break scan }
                    lower = next
                    continue scan
                }
                continue
            }
            var object = row.object
            if !plan.include.contains(.httpMetadata) { object.httpMetadata = BlobHTTPMetadata() }
            if !plan.include.contains(.customMetadata) { object.customMetadata = [:] }
            objects.append(object)
            resume = row.key + [0]
            index += 1
        }
        if rows.count < batch { break }
        lower = resume ?? lower
    }
    return BlobListResult(objects: objects, truncated: truncated, cursor: truncated ? resume.map(BlobCursor.encode) : nil, delimitedPrefixes: prefixes)
}

/// The delimited prefix `key` rolls up into, or `nil` when it has no delimiter after the prefix.
private func rollUp(_ key: [UInt8], prefix: [UInt8], delimiter: [UInt8]) -> [UInt8]? {
    let rest = key[prefix.count...]
    guard rest.count >= delimiter.count else { return nil }
    var index = rest.startIndex
    while index + delimiter.count <= rest.endIndex {
        if rest[index..<(index + delimiter.count)].elementsEqual(delimiter) {
            return Array(key[..<(index + delimiter.count)])
        }
        index += 1
    }
    return nil
}

/// List cursors: the byte string the next page starts at.
enum BlobCursor {
    static func encode(_ bytes: [UInt8]) -> String { ByteKeys.encodeCursor(bytes, tag: "b1") }
    static func decode(_ cursor: String) -> [UInt8]? { ByteKeys.decodeCursor(cursor, tag: "b1") }
}
