import EdgeCore
import Foundation

/// The limits a namespace enforces. The defaults are Cloudflare Workers KV's.
public struct KVLimits: Sendable, Hashable {
    /// Longest namespace name, in UTF-8 bytes (it names a file or a database key).
    public static let maxNamespaceNameBytes = 128

    /// Checks a namespace name: 1...128 letters, digits, '_', '-' or '.', not starting with '.'.
    /// Every KV backend validates names with it.
    ///
    /// - Throws: ``KVError`` `.invalidNamespaceName`.
    public static func validateNamespaceName(_ name: String) throws {
        guard ByteKeys.isSafeResourceName(name, maxLength: maxNamespaceNameBytes) else {
            throw KVError(
                .invalidNamespaceName, limit: maxNamespaceNameBytes, actual: name.utf8.count,
                message: "namespace name \"\(name)\" must be 1...\(maxNamespaceNameBytes) letters, digits, '_', '-' or '.', not starting with '.'")
        }
    }

    /// Longest key in UTF-8 bytes. Default 512.
    public var maxKeyBytes: Int
    /// Largest value in bytes. Default 25 MiB.
    public var maxValueBytes: Int
    /// Largest metadata, measured as serialized JSON. Default 1024 bytes.
    public var maxMetadataBytes: Int
    /// How far in the future an expiration must be, in seconds. Default 60.
    public var minimumExpirationSeconds: Int64
    /// Most keys in one bulk `get`. Default 100.
    public var maxBulkGetKeys: Int
    /// Most entries in one bulk `put` or `delete`. Default 10,000 (Cloudflare's bulk write API).
    public var maxBulkWriteEntries: Int
    /// Largest and default page size of `list`. Default 1000.
    public var maxListLimit: Int

    public init(
        maxKeyBytes: Int = 512,
        maxValueBytes: Int = 25 * 1024 * 1024,
        maxMetadataBytes: Int = 1024,
        minimumExpirationSeconds: Int64 = 60,
        maxBulkGetKeys: Int = 100,
        maxBulkWriteEntries: Int = 10_000,
        maxListLimit: Int = 1000
    ) {
        self.maxKeyBytes = maxKeyBytes
        self.maxValueBytes = maxValueBytes
        self.maxMetadataBytes = maxMetadataBytes
        self.minimumExpirationSeconds = minimumExpirationSeconds
        self.maxBulkGetKeys = maxBulkGetKeys
        self.maxBulkWriteEntries = maxBulkWriteEntries
        self.maxListLimit = maxListLimit
    }

    /// Cloudflare Workers KV's limits.
    public static let cloudflare = KVLimits()
}

/// A write that passed validation, in the form the backends store.
package struct ValidatedWrite: Sendable {
    package var key: String
    package var value: [UInt8]
    package var expiration: Int64?
    package var metadata: JSONValue?
    package var metadataJSON: String?
}

/// A validated list request: the byte range to scan and the page size.
package struct ValidatedList: Sendable {
    /// Inclusive lower bound, as UTF-8 bytes.
    package var lowerBound: [UInt8]
    /// Exclusive upper bound, as UTF-8 bytes; `nil` for no bound.
    package var upperBound: [UInt8]?
    package var limit: Int
}

extension KVLimits {
    /// - Throws: ``KVError`` `.invalidKey` or `.keyTooLong`.
    package func validateKey(_ key: String) throws {
        let size = key.utf8.count
        if size == 0 {
            throw KVError(.invalidKey, key: key, limit: 1, actual: 0, message: "key must not be empty")
        }
        if key == "." || key == ".." {
            throw KVError(.invalidKey, key: key, message: "key \(ByteKeys.describe(key)) is not allowed: \".\" and \"..\" are reserved")
        }
        if size > maxKeyBytes {
            throw KVError(
                .keyTooLong, key: key, limit: maxKeyBytes, actual: size,
                message: "key \(ByteKeys.describe(key)) is \(size) bytes; the limit is \(maxKeyBytes) bytes")
        }
    }

    /// Validates a put and resolves `expirationTtl` against `now`.
    package func validateWrite(key: String, value: [UInt8], options: KVPutOptions, now: Int64) throws -> ValidatedWrite {
        try validateKey(key)
        if value.count > maxValueBytes {
            throw KVError(
                .valueTooLarge, key: key, limit: maxValueBytes, actual: value.count,
                message: "value for key \(ByteKeys.describe(key)) is \(value.count) bytes; the limit is \(maxValueBytes) bytes")
        }
        var expiration: Int64?
        switch (options.expiration, options.expirationTtl) {
        case (.some, .some):
            throw KVError(.invalidExpiration, key: key, message: "put of key \(ByteKeys.describe(key)) sets both expiration and expirationTtl; set one")
        case (.some(let absolute), nil):
            if absolute < now + minimumExpirationSeconds {
                throw KVError(
                    .expirationTooSoon, key: key, limit: Int(minimumExpirationSeconds), actual: Int(absolute - now),
                    message:
                        "expiration \(absolute) for key \(ByteKeys.describe(key)) is \(absolute - now) s from now; it must be at least \(minimumExpirationSeconds) s in the future"
                )
            }
            expiration = absolute
        case (nil, .some(let ttl)):
            if ttl < minimumExpirationSeconds {
                throw KVError(
                    .expirationTooSoon, key: key, limit: Int(minimumExpirationSeconds), actual: Int(ttl),
                    message: "expirationTtl \(ttl) s for key \(ByteKeys.describe(key)) is below the minimum of \(minimumExpirationSeconds) s")
            }
            expiration = now + ttl
        case (nil, nil):
            expiration = nil
        }
        var metadataJSON: String?
        if let metadata = options.metadata {
            let data: Data
            do {
                data = try metadata.serialized()
            } catch {
                throw KVError(.invalidMetadata, key: key, message: "metadata for key \(ByteKeys.describe(key)) cannot be serialized as JSON: \(error)")
            }
            if data.count > maxMetadataBytes {
                throw KVError(
                    .metadataTooLarge, key: key, limit: maxMetadataBytes, actual: data.count,
                    message: "metadata for key \(ByteKeys.describe(key)) is \(data.count) bytes serialized; the limit is \(maxMetadataBytes) bytes")
            }
            metadataJSON = String(decoding: data, as: UTF8.self)
        }
        return ValidatedWrite(key: key, value: value, expiration: expiration, metadata: options.metadata, metadataJSON: metadataJSON)
    }

    /// - Throws: ``KVError`` `.tooManyKeys` when `count` exceeds `limit`.
    package func validateBulk(count: Int, limit: Int, operation: String) throws {
        if count > limit {
            throw KVError(
                .tooManyKeys, limit: limit, actual: count,
                message: "\(operation) names \(count) keys; the limit is \(limit)")
        }
    }

    package func validateList(_ options: KVListOptions) throws -> ValidatedList {
        let limit = options.limit ?? maxListLimit
        if limit < 1 || limit > maxListLimit {
            throw KVError(
                .invalidListLimit, limit: maxListLimit, actual: limit,
                message: "list limit \(limit) is outside 1...\(maxListLimit)")
        }
        let prefix = Array((options.prefix ?? "").utf8)
        var lower = prefix
        if let cursor = options.cursor, !cursor.isEmpty {
            guard let last = KVCursor.decode(cursor) else {
                throw KVError(.invalidCursor, message: "list cursor \"\(cursor.prefix(80))\" was not issued by this namespace")
            }
            // The smallest key after `last` is `last` followed by a NUL byte.
            let after = last + [0]
            if !after.lexicographicallyPrecedes(lower) { lower = after }
        }
        return ValidatedList(lowerBound: lower, upperBound: prefix.isEmpty ? nil : ByteKeys.successor(ofPrefix: prefix), limit: limit)
    }
}

/// List cursors: the last key a page returned, so the next page starts right after it no matter
/// what was written in between.
package enum KVCursor {
    package static func encode(lastKey: String) -> String { ByteKeys.encodeCursor(Array(lastKey.utf8), tag: "c1") }
    package static func decode(_ cursor: String) -> [UInt8]? { ByteKeys.decodeCursor(cursor, tag: "c1") }
}
