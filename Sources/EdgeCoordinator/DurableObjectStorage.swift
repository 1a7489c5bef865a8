import EdgeCore
public import Foundation
import Synchronization

/// Options of ``DurableObjectStorage/list(_:as:)``.
public struct DurableObjectListOptions: Sendable, Hashable {
    /// Keys at or after this one.
    public var start: String?
    /// Keys strictly after this one (not with `start`).
    public var startAfter: String?
    /// Keys strictly before this one.
    public var end: String?
    public var prefix: String?
    /// Descending key order.
    public var reverse: Bool
    /// At most this many entries (`nil`: all).
    public var limit: Int?

    public init(start: String? = nil, startAfter: String? = nil, end: String? = nil, prefix: String? = nil, reverse: Bool = false, limit: Int? = nil) {
        self.start = start
        self.startAfter = startAfter
        self.end = end
        self.prefix = prefix
        self.reverse = reverse
        self.limit = limit
    }
}

/// One entry of a list.
public struct StoredEntry<Value: Sendable>: Sendable {
    public var key: String
    public var value: Value
}

/// A durable object's transactional key-value storage (Cloudflare's `state.storage`).
///
/// Values are `Codable`, stored as JSON. Operations are synchronous: reads come from the object's
/// cache or the database, writes go to the cache at once and are committed together when the
/// call that made them ends — so writes made without an intervening await (indeed all writes of a
/// call) are atomic, and the caller gets its response only once they are durable. Inside
/// ``transaction(_:)`` writes are kept apart and dropped if the body throws.
///
/// Errors: ``CoordinatorError`` `.invalidKey`, `.keyTooLong`, `.valueTooLarge`, `.tooManyKeys`,
/// `.encodingFailed`, `.decodingFailed`, `.invalidListOptions`, `.storageFailure`.
public final class DurableObjectStorage: Sendable {
    private struct State {
        /// Values known for keys (`nil`: known absent), including this call's uncommitted writes.
        var cache: [String: [UInt8]?] = [:]
        /// Writes not yet handed to a commit.
        var dirty: [String: [UInt8]?] = [:]
        /// Open transactions, innermost last.
        var transactions: [[String: [UInt8]?]] = []
        /// `deleteAll` ran: the database's rows no longer count (until the commit removes them).
        var cleared = false
        var clearPending = false
        var alarm: ScheduledAlarm??
        var alarmDirty = false
    }

    let objectID: String
    let limits: CoordinatorLimits
    private let store: any DurableObjectStore
    private let state = Mutex(State())

    init(objectID: String, store: any DurableObjectStore, limits: CoordinatorLimits) {
        self.objectID = objectID
        self.store = store
        self.limits = limits
    }

    // MARK: Validation and coding

    private func validate(_ key: String) throws {
        let size = key.utf8.count
        if size == 0 { throw CoordinatorError(.invalidKey, objectID: objectID, key: key, limit: 1, actual: 0, message: "storage keys must not be empty") }
        if size > limits.maxKeyBytes {
            throw CoordinatorError(
                .keyTooLong, objectID: objectID, key: key, limit: limits.maxKeyBytes, actual: size,
                message: "storage key \"\(key.prefix(48))…\" is \(size) bytes; the limit is \(limits.maxKeyBytes) bytes")
        }
    }

    private func validateBulk(_ count: Int, _ operation: String) throws {
        if count > limits.maxBulkKeys {
            throw CoordinatorError(
                .tooManyKeys, objectID: objectID, limit: limits.maxBulkKeys, actual: count,
                message: "\(operation) names \(count) keys; the limit is \(limits.maxBulkKeys)")
        }
    }

    private func encode<T: Encodable>(_ value: T, key: String) throws -> [UInt8] {
        let bytes: [UInt8]
        do {
            bytes = Array(try JSONEncoder().encode(value))
        } catch {
            throw CoordinatorError(.encodingFailed, objectID: objectID, key: key, message: "the value for key \"\(key)\" cannot be encoded as JSON: \(error)")
        }
        if bytes.count > limits.maxValueBytes {
            throw CoordinatorError(
                .valueTooLarge, objectID: objectID, key: key, limit: limits.maxValueBytes, actual: bytes.count,
                message: "the value for key \"\(key)\" is \(bytes.count) bytes as JSON; the limit is \(limits.maxValueBytes) bytes")
        }
        return bytes
    }

    private func decode<T: Decodable>(_ bytes: [UInt8], key: String, as type: T.Type) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw CoordinatorError(
                .decodingFailed, objectID: objectID, key: key, message: "the value for key \"\(key)\" is not JSON of type \(T.self): \(error)")
        }
    }

    // MARK: Reading

    /// The raw value of `key` as the current call sees it.
    private func raw(_ key: String) throws -> [UInt8]? {
        let known = state.withLock { state -> [UInt8]?? in
            for transaction in state.transactions.reversed() {
                if let value = transaction[key] { return .some(value) }
            }
            if let value = state.cache[key] { return .some(value) }
            return state.cleared ? .some(nil) : nil
        }
        if let known { return known }
        let stored = try store.value(objectID, key)
        state.withLock { state in
            if state.cache[key] == nil { state.cache[key] = .some(stored) }
        }
        return stored
    }

    /// The value of `key`, or `nil`.
    public func get<T: Decodable>(_ key: String, as type: T.Type = T.self) throws -> T? {
        try validate(key)
        return try raw(key).map { try decode($0, key: key, as: T.self) }
    }

    /// The values of up to 128 keys; absent keys are left out.
    public func get<T: Decodable>(_ keys: [String], as type: T.Type = T.self) throws -> [String: T] {
        try validateBulk(keys.count, "get")
        var result: [String: T] = [:]
        for key in keys {
            if let value = try get(key, as: T.self) { result[key] = value }
        }
        return result
    }

    /// Entries in key order (UTF-8 bytes), filtered by `options`.
    public func list<T: Decodable>(_ options: DurableObjectListOptions = DurableObjectListOptions(), as type: T.Type = T.self) throws -> [StoredEntry<T>] {
        if options.start != nil, options.startAfter != nil {
            throw CoordinatorError(.invalidListOptions, objectID: objectID, message: "list takes start or startAfter, not both")
        }
        if let limit = options.limit, limit < 1 {
            throw CoordinatorError(.invalidListOptions, objectID: objectID, limit: 1, actual: limit, message: "list limit \(limit) must be at least 1")
        }
        var lower = Array((options.start ?? "").utf8)
        if let after = options.startAfter { lower = Array(after.utf8) + [0] }
        var upper = options.end.map { Array($0.utf8) }
        if let prefix = options.prefix.map({ Array($0.utf8) }), !prefix.isEmpty {
            if lower.lexicographicallyPrecedes(prefix) { lower = prefix }
            if let successor = ByteKeys.successor(ofPrefix: prefix), upper.map({ successor.lexicographicallyPrecedes($0) }) ?? true { upper = successor }
        }
        func inRange(_ key: [UInt8]) -> Bool {
            !key.lexicographicallyPrecedes(lower) && (upper.map { key.lexicographicallyPrecedes($0) } ?? true)
        }
        // What this object knows beyond the database: cached values, uncommitted writes, open transactions.
        let (overrides, cleared) = state.withLock { state -> ([String: [UInt8]?], Bool) in
            var merged = state.cache
            for transaction in state.transactions { merged.merge(transaction) { _, new in new } }
            return (merged.filter { inRange(Array($0.key.utf8)) }, state.cleared)
        }
        var rows: [String: [UInt8]] = [:]
        if !cleared {
            // Each override can hide at most one database row, so this many rows always suffice.
            let wanted = options.limit.map { $0 + overrides.count } ?? Int(Int32.max)
            if upper.map({ lower.lexicographicallyPrecedes($0) }) ?? true {
                for (key, value) in try store.list(objectID, lower: lower, upper: upper, reverse: options.reverse, limit: wanted) { rows[key] = value }
            }
        }
        for (key, value) in overrides { rows[key] = value }
        var keys = rows.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        if options.reverse { keys.reverse() }
        if let limit = options.limit { keys = Array(keys.prefix(limit)) }
        return try keys.map { StoredEntry(key: $0, value: try decode(rows[$0]!, key: $0, as: T.self)) }
    }

    // MARK: Writing

    private func write(_ key: String, _ value: [UInt8]?) {
        state.withLock { state in
            if state.transactions.isEmpty {
                state.cache[key] = .some(value)
                state.dirty[key] = .some(value)
            } else {
                state.transactions[state.transactions.count - 1][key] = .some(value)
            }
        }
    }

    /// Stores `value` under `key`.
    public func put<T: Encodable>(_ key: String, _ value: T) throws {
        try validate(key)
        write(key, try encode(value, key: key))
    }

    /// Stores up to 128 entries.
    public func put<T: Encodable>(_ entries: [String: T]) throws {
        try validateBulk(entries.count, "put")
        let encoded = try entries.map { key, value in
            try validate(key)
            return (key, try encode(value, key: key))
        }
        for (key, value) in encoded { write(key, value) }
    }

    /// Deletes `key`; returns whether it existed.
    @discardableResult
    public func delete(_ key: String) throws -> Bool {
        try validate(key)
        let existed = try raw(key) != nil
        write(key, nil)
        return existed
    }

    /// Deletes up to 128 keys; returns how many existed.
    @discardableResult
    public func delete(_ keys: [String]) throws -> Int {
        try validateBulk(keys.count, "delete")
        var count = 0
        for key in keys where try delete(key) { count += 1 }
        return count
    }

    /// Deletes every key of this object (not its alarm).
    public func deleteAll() throws {
        try state.withLock { state in
            guard state.transactions.isEmpty else {
                throw CoordinatorError(.invalidListOptions, objectID: objectID, message: "deleteAll cannot run inside a transaction")
            }
            state.cache = [:]
            state.dirty = [:]
            state.cleared = true
            state.clearPending = true
        }
    }

    /// Runs `body` as a transaction: its writes take effect together when it returns, and not at
    /// all when it throws (the error is rethrown).
    public func transaction<R>(_ body: () throws -> R) rethrows -> R {
        state.withLock { $0.transactions.append([:]) }
        do {
            let result = try body()
            state.withLock { state in
                let writes = state.transactions.removeLast()
                if state.transactions.isEmpty {
                    for (key, value) in writes {
                        state.cache[key] = .some(value)
                        state.dirty[key] = .some(value)
                    }
                } else {
                    state.transactions[state.transactions.count - 1].merge(writes) { _, new in new }
                }
            }
            return result
        } catch {
            state.withLock { _ = $0.transactions.removeLast() }
            throw error
        }
    }

    // MARK: Alarm

    /// Schedules the object's `alarm()` at `time` (replacing any alarm set before).
    ///
    /// - Throws: ``CoordinatorError`` `.invalidAlarmTime` for a time that is not finite or not in
    ///   1970...9999 (nothing is scheduled).
    public func setAlarm(_ time: Date) throws {
        let seconds = time.timeIntervalSince1970
        guard seconds.isFinite, (0...253_402_300_799).contains(seconds) else {
            throw CoordinatorError(
                .invalidAlarmTime, objectID: objectID,
                message: "alarm time \(seconds) s since 1970 is outside 1970-01-01...9999-12-31")
        }
        scheduleAlarm(ScheduledAlarm(time: time, retryCount: 0))
    }

    func scheduleAlarm(_ alarm: ScheduledAlarm?) {
        state.withLock { state in
            state.alarm = .some(alarm)
            state.alarmDirty = true
        }
    }

    /// When the alarm is set for, or `nil`.
    public func getAlarm() throws -> Date? {
        try scheduledAlarm()?.time
    }

    func scheduledAlarm() throws -> ScheduledAlarm? {
        if let known = state.withLock({ $0.alarm }) { return known }
        let stored = try store.alarm(objectID)
        state.withLock { state in
            if state.alarm == nil { state.alarm = .some(stored) }
        }
        return stored
    }

    /// Cancels the alarm.
    public func deleteAlarm() throws {
        scheduleAlarm(nil)
    }

    // MARK: Committing

    /// Takes the writes made since the last call, for the namespace to commit.
    func takePending() -> StorageCommit {
        state.withLock { state in
            var pending = StorageCommit(writes: state.dirty, clearAll: state.clearPending)
            if state.alarmDirty { pending.alarm = .some(state.alarm ?? nil) }
            state.dirty = [:]
            state.clearPending = false
            state.alarmDirty = false
            state.transactions = []
            return pending
        }
    }
}
