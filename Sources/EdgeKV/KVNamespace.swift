public import EdgeCore
import Foundation

/// A key-value namespace with Cloudflare Workers KV semantics: the KV binding.
///
/// Keys are strings of 1...512 UTF-8 bytes (not `.` or `..`); values are bytes (up to 25 MiB),
/// read back as text, bytes or JSON; each key may carry JSON metadata (up to 1024 bytes) and an
/// expiration. Keys are listed in UTF-8 byte order, 1000 per page by default, with a cursor.
///
/// Unlike Cloudflare, whose KV is eventually consistent, the local backends are strongly
/// consistent: a put that returned is visible to every later get and list.
///
/// Application code holds an `any KVNamespace`; the backends are ``MemoryKV`` (tests) and
/// ``SQLiteKV`` (durable, one SQLite file per namespace). The requirements below are the primitive
/// operations a backend implements; the conveniences (`get` as text or JSON, `put` of text or an
/// `Encodable`, `list(prefix:limit:cursor:)`) are built on them in an extension.
///
/// Every operation throws ``KVError``: for invalid input (the error names the key, the limit and the
/// actual size), for a closed namespace, and for a storage failure.
public protocol KVNamespace: Sendable {
    /// The limits this namespace enforces.
    var limits: KVLimits { get }

    /// The value, metadata and expiration stored under `key`, or `nil` when there is none or it has
    /// expired.
    ///
    /// - Throws: ``KVError`` `.invalidKey` / `.keyTooLong` for a key that could never be stored.
    func getWithMetadata(_ key: String) async throws -> KVEntry?

    /// The value under `key` as UTF-8 text, or `nil` when there is none or it has expired.
    ///
    /// A default implementation reads `getWithMetadata(_:)`; backends may implement it
    /// directly to skip the metadata.
    ///
    /// - Throws: ``KVError`` for an invalid key or a storage failure.
    func get(_ key: String) async throws -> String?

    /// Bulk get: the entries for up to ``KVLimits/maxBulkGetKeys`` keys, read from one consistent
    /// snapshot. Keys with no live entry are absent from the result.
    ///
    /// - Throws: ``KVError`` `.tooManyKeys` past the limit, or a key error.
    func getWithMetadata(_ keys: [String]) async throws -> [String: KVEntry]

    /// Stores `value` under `key`, replacing any previous value, metadata and expiration. When this
    /// returns, the write is committed (durable for durable backends).
    ///
    /// - Throws: ``KVError`` `.invalidKey`, `.keyTooLong`, `.valueTooLarge`, `.metadataTooLarge`,
    ///   `.invalidExpiration` (both expiration kinds set) or `.expirationTooSoon` (less than 60 s ahead).
    func put(_ key: String, value: [UInt8], options: KVPutOptions) async throws

    /// Bulk put: stores every entry atomically (all of them or, on error, none), up to
    /// ``KVLimits/maxBulkWriteEntries``.
    ///
    /// - Throws: ``KVError`` `.tooManyKeys` past the limit, or the first entry's validation error.
    func put(_ entries: [KVWrite]) async throws

    /// Removes `key`. Removing a key that does not exist succeeds.
    ///
    /// - Throws: ``KVError`` for an invalid key.
    func delete(_ key: String) async throws

    /// Bulk delete of up to ``KVLimits/maxBulkWriteEntries`` keys, atomically.
    ///
    /// - Throws: ``KVError`` `.tooManyKeys` past the limit, or a key error.
    func delete(_ keys: [String]) async throws

    /// One page of keys in UTF-8 byte order, with their expiration and metadata.
    ///
    /// - Throws: ``KVError`` `.invalidListLimit` for a limit outside 1...1000, `.invalidCursor` for
    ///   a cursor this namespace did not issue.
    func list(_ options: KVListOptions) async throws -> KVListResult
}

/// A stored value with its metadata and expiration.
public struct KVEntry: Sendable, Hashable {
    /// The stored bytes.
    public var value: [UInt8]
    /// The metadata stored with the value, if any.
    public var metadata: JSONValue?
    /// When the key expires, in seconds since the Unix epoch; `nil` when it never does.
    public var expiration: Int64?

    public init(value: [UInt8], metadata: JSONValue? = nil, expiration: Int64? = nil) {
        self.value = value
        self.metadata = metadata
        self.expiration = expiration
    }

    /// The value decoded as UTF-8 text (invalid sequences become U+FFFD, as in Workers).
    public var text: String { String(decoding: value, as: UTF8.self) }

    /// The value decoded from JSON.
    ///
    /// - Throws: `DecodingError` when the value is not JSON of the shape `T` expects.
    public func json<T: Decodable>(as type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(value))
    }
}

/// Options of a put. At most one of ``expiration`` and ``expirationTtl`` may be set.
public struct KVPutOptions: Sendable, Hashable {
    /// Absolute expiration, in seconds since the Unix epoch; at least 60 s in the future.
    public var expiration: Int64?
    /// Expiration relative to now, in seconds; at least 60.
    public var expirationTtl: Int64?
    /// JSON metadata stored with the value; at most 1024 bytes serialized.
    public var metadata: JSONValue?

    public init(expiration: Int64? = nil, expirationTtl: Int64? = nil, metadata: JSONValue? = nil) {
        self.expiration = expiration
        self.expirationTtl = expirationTtl
        self.metadata = metadata
    }
}

/// One entry of a bulk put.
public struct KVWrite: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]
    public var options: KVPutOptions

    public init(key: String, value: [UInt8], options: KVPutOptions = KVPutOptions()) {
        self.key = key
        self.value = value
        self.options = options
    }

    /// An entry whose value is UTF-8 text.
    public init(key: String, text: String, options: KVPutOptions = KVPutOptions()) {
        self.init(key: key, value: Array(text.utf8), options: options)
    }
}

/// Options of a list.
public struct KVListOptions: Sendable, Hashable {
    /// Only keys that start with this prefix.
    public var prefix: String?
    /// Page size, 1...1000; `nil` means 1000.
    public var limit: Int?
    /// The cursor from the previous page's ``KVListResult/cursor``.
    public var cursor: String?

    public init(prefix: String? = nil, limit: Int? = nil, cursor: String? = nil) {
        self.prefix = prefix
        self.limit = limit
        self.cursor = cursor
    }
}

/// A key as listed.
public struct KVKey: Sendable, Hashable {
    public var name: String
    /// Seconds since the Unix epoch, when the key has an expiration.
    public var expiration: Int64?
    public var metadata: JSONValue?

    public init(name: String, expiration: Int64? = nil, metadata: JSONValue? = nil) {
        self.name = name
        self.expiration = expiration
        self.metadata = metadata
    }
}

/// One page of a list.
public struct KVListResult: Sendable, Hashable {
    /// The keys of this page, in UTF-8 byte order.
    public var keys: [KVKey]
    /// `true` when there are no more keys after this page (Workers' `list_complete`).
    public var listComplete: Bool
    /// Pass to the next `list` call to get the next page; `nil` when ``listComplete``.
    public var cursor: String?

    public init(keys: [KVKey], listComplete: Bool, cursor: String?) {
        self.keys = keys
        self.listComplete = listComplete
        self.cursor = cursor
    }
}

// MARK: - Conveniences

extension KVNamespace {
    /// The value under `key` as UTF-8 text, or `nil` (the default implementation).
    ///
    /// - Throws: ``KVError`` for an invalid key or a storage failure.
    public func get(_ key: String) async throws -> String? {
        try await getWithMetadata(key)?.text
    }

    /// The value under `key` as bytes, or `nil`.
    ///
    /// - Throws: ``KVError`` for an invalid key or a storage failure.
    public func getBytes(_ key: String) async throws -> [UInt8]? {
        try await getWithMetadata(key)?.value
    }

    /// The value under `key` decoded from JSON, or `nil`.
    ///
    /// - Throws: ``KVError`` `.invalidJSON` when the stored value is not JSON of type `T`.
    public func get<T: Decodable>(_ key: String, as type: T.Type) async throws -> T? {
        guard let entry = try await getWithMetadata(key) else { return nil }
        return try decodeJSON(entry, key: key, as: T.self)
    }

    /// Bulk get as text: up to 100 keys; missing keys are absent from the result.
    ///
    /// - Throws: ``KVError`` `.tooManyKeys`, a key error, or a storage failure.
    public func get(_ keys: [String]) async throws -> [String: String] {
        try await getWithMetadata(keys).mapValues(\.text)
    }

    /// Bulk get decoded from JSON.
    ///
    /// - Throws: ``KVError`` `.tooManyKeys`, `.invalidJSON`, a key error, or a storage failure.
    public func get<T: Decodable>(_ keys: [String], as type: T.Type) async throws -> [String: T] {
        var result: [String: T] = [:]
        for (key, entry) in try await getWithMetadata(keys) {
            result[key] = try decodeJSON(entry, key: key, as: T.self)
        }
        return result
    }

    /// Stores UTF-8 text.
    ///
    /// - Throws: ``KVError`` as ``put(_:value:options:)``.
    public func put(_ key: String, _ text: String, expiration: Int64? = nil, expirationTtl: Int64? = nil, metadata: JSONValue? = nil) async throws {
        try await put(key, value: Array(text.utf8), options: KVPutOptions(expiration: expiration, expirationTtl: expirationTtl, metadata: metadata))
    }

    /// Stores bytes.
    ///
    /// - Throws: ``KVError`` as ``put(_:value:options:)``.
    public func put(_ key: String, bytes: [UInt8], expiration: Int64? = nil, expirationTtl: Int64? = nil, metadata: JSONValue? = nil) async throws {
        try await put(key, value: bytes, options: KVPutOptions(expiration: expiration, expirationTtl: expirationTtl, metadata: metadata))
    }

    /// Stores `value` encoded as JSON.
    ///
    /// - Throws: ``KVError`` `.invalidJSON` when `value` cannot be encoded, otherwise as ``put(_:value:options:)``.
    public func put<T: Encodable>(_ key: String, json value: T, expiration: Int64? = nil, expirationTtl: Int64? = nil, metadata: JSONValue? = nil) async throws
    {
        let data: Data
        do {
            data = try JSONEncoder().encode(value)
        } catch {
            throw KVError(.invalidJSON, key: key, message: "value for key \(ByteKeys.describe(key)) cannot be encoded as JSON: \(error)")
        }
        try await put(key, value: Array(data), options: KVPutOptions(expiration: expiration, expirationTtl: expirationTtl, metadata: metadata))
    }

    /// One page of keys.
    ///
    /// - Throws: ``KVError`` `.invalidListLimit` or `.invalidCursor`.
    public func list(prefix: String? = nil, limit: Int? = nil, cursor: String? = nil) async throws -> KVListResult {
        try await list(KVListOptions(prefix: prefix, limit: limit, cursor: cursor))
    }

    /// Every key with `prefix`, following cursors page by page.
    ///
    /// - Throws: ``KVError`` as ``list(_:)``.
    public func listAll(prefix: String? = nil) async throws -> [KVKey] {
        var keys: [KVKey] = []
        var cursor: String?
        repeat {
            let page = try await list(KVListOptions(prefix: prefix, cursor: cursor))
            keys += page.keys
            cursor = page.listComplete ? nil : page.cursor
        } while cursor != nil
        return keys
    }
}

private func decodeJSON<T: Decodable>(_ entry: KVEntry, key: String, as type: T.Type) throws -> T {
    do {
        return try entry.json(as: T.self)
    } catch {
        throw KVError(.invalidJSON, key: key, message: "value for key \(ByteKeys.describe(key)) is not JSON of type \(T.self): \(error)")
    }
}
