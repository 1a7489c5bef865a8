import EdgeCore
import Foundation
import Synchronization

/// Maintenance a backend offers beyond the binding: counting what it stores and reclaiming expired
/// keys on demand. Both backends conform; the conformance suite uses it to show that expired keys
/// are reclaimed, not kept forever.
public protocol KVMaintenance: Sendable {
    /// How many keys are physically stored, including expired keys not yet reclaimed.
    ///
    /// - Throws: ``KVError`` `.storageFailure` or `.closed`.
    func storedKeyCount() async throws -> Int

    /// Removes every expired key now; returns how many were removed. Backends also do this on
    /// their own, in the background of writes.
    ///
    /// - Throws: ``KVError`` `.storageFailure` or `.closed`.
    @discardableResult
    func purgeExpired() async throws -> Int
}

/// An in-memory ``KVNamespace`` for tests and development: the same semantics and limits as the
/// durable backend, with an injectable clock so TTLs are tested without sleeping.
///
/// Expired keys are invisible at once and reclaimed on access and, for the others, by a sweep that
/// runs on writes at most once per ``Configuration/sweepInterval`` of clock time.
public final class MemoryKV: KVNamespace, KVMaintenance {
    public struct Configuration: Sendable {
        /// The limits to enforce. Default: Cloudflare's.
        public var limits: KVLimits
        /// The clock expirations are measured against. Default: the system clock.
        public var clock: any EdgeClock
        /// How often, in seconds of clock time, writes sweep out expired keys. Default 60.
        public var sweepInterval: Int64

        public init(limits: KVLimits = .cloudflare, clock: any EdgeClock = SystemClock(), sweepInterval: Int64 = 60) {
            self.limits = limits
            self.clock = clock
            self.sweepInterval = sweepInterval
        }
    }

    private struct Record {
        var name: String
        var value: [UInt8]
        var expiration: Int64?
        var metadata: JSONValue?

        func isLive(at now: Int64) -> Bool { expiration.map { $0 > now } ?? true }
    }

    /// Keys are compared as UTF-8 bytes, never as Swift `String`s: "é" and "e\u{301}" are equal
    /// Strings but different keys, as they are in Workers KV and SQLite.
    private struct State {
        var records: [[UInt8]: Record] = [:]
        /// Every stored key, in UTF-8 byte order.
        var sortedKeys = SortedByteKeys()
        var lastSweep: Int64 = .min

        mutating func store(_ write: ValidatedWrite) {
            let key = Array(write.key.utf8)
            let record = Record(name: write.key, value: write.value, expiration: write.expiration, metadata: write.metadata)
            if records.updateValue(record, forKey: key) == nil { sortedKeys.insert(key) }
        }

        mutating func remove(_ key: [UInt8]) {
            if records.removeValue(forKey: key) != nil { sortedKeys.remove(key) }
        }

        @discardableResult
        mutating func sweep(now: Int64) -> Int {
            lastSweep = now
            let expired = records.filter { !$0.value.isLive(at: now) }.map(\.key)
            guard !expired.isEmpty else { return 0 }
            let removed = Set(expired)
            for key in expired { records.removeValue(forKey: key) }
            sortedKeys.removeAll { removed.contains($0) }
            return expired.count
        }

        mutating func sweepIfDue(now: Int64, interval: Int64) {
            if lastSweep == .min || now >= lastSweep &+ interval { sweep(now: now) }
        }

        mutating func entry(_ name: String, now: Int64) -> KVEntry? {
            let key = Array(name.utf8)
            guard let record = records[key] else { return nil }
            guard record.isLive(at: now) else {
                remove(key)
                return nil
            }
            return KVEntry(value: record.value, metadata: record.metadata, expiration: record.expiration)
        }
    }

    public let configuration: Configuration
    private let state = Mutex(State())

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// An in-memory namespace on `clock` with Cloudflare's limits.
    public convenience init(clock: any EdgeClock) {
        self.init(configuration: Configuration(clock: clock))
    }

    public var limits: KVLimits { configuration.limits }

    private var now: Int64 { configuration.clock.nowEpochSeconds }

    public func getWithMetadata(_ key: String) async throws -> KVEntry? {
        try limits.validateKey(key)
        let now = self.now
        return state.withLock { $0.entry(key, now: now) }
    }

    public func getWithMetadata(_ keys: [String]) async throws -> [String: KVEntry] {
        try limits.validateBulk(count: keys.count, limit: limits.maxBulkGetKeys, operation: "bulk get")
        for key in keys { try limits.validateKey(key) }
        let now = self.now
        return state.withLock { state in
            var result: [String: KVEntry] = [:]
            for key in keys {
                if let entry = state.entry(key, now: now) { result[key] = entry }
            }
            return result
        }
    }

    public func put(_ key: String, value: [UInt8], options: KVPutOptions) async throws {
        let now = self.now
        let write = try limits.validateWrite(key: key, value: value, options: options, now: now)
        let interval = configuration.sweepInterval
        state.withLock { state in
            state.store(write)
            state.sweepIfDue(now: now, interval: interval)
        }
    }

    public func put(_ entries: [KVWrite]) async throws {
        try limits.validateBulk(count: entries.count, limit: limits.maxBulkWriteEntries, operation: "bulk put")
        let now = self.now
        let writes = try entries.map { try limits.validateWrite(key: $0.key, value: $0.value, options: $0.options, now: now) }
        let interval = configuration.sweepInterval
        state.withLock { state in
            for write in writes { state.store(write) }
            state.sweepIfDue(now: now, interval: interval)
        }
    }

    public func delete(_ key: String) async throws {
        try limits.validateKey(key)
        state.withLock { $0.remove(Array(key.utf8)) }
    }

    public func delete(_ keys: [String]) async throws {
        try limits.validateBulk(count: keys.count, limit: limits.maxBulkWriteEntries, operation: "bulk delete")
        for key in keys { try limits.validateKey(key) }
        state.withLock { state in
            for key in keys { state.remove(Array(key.utf8)) }
        }
    }

    public func list(_ options: KVListOptions) async throws -> KVListResult {
        let request = try limits.validateList(options)
        let now = self.now
        return state.withLock { state in
            var keys: [KVKey] = []
            var more = false
            for key in state.sortedKeys.range(from: request.lowerBound, below: request.upperBound) {
                guard let record = state.records[key], record.isLive(at: now) else { continue }
                if keys.count == request.limit {
                    more = true
                    break
                }
                keys.append(KVKey(name: record.name, expiration: record.expiration, metadata: record.metadata))
            }
            return KVListResult(keys: keys, listComplete: !more, cursor: more ? keys.last.map { KVCursor.encode(lastKey: $0.name) } : nil)
        }
    }

    public func storedKeyCount() async throws -> Int {
        state.withLock { $0.records.count }
    }

    @discardableResult
    public func purgeExpired() async throws -> Int {
        let now = self.now
        return state.withLock { $0.sweep(now: now) }
    }

    /// Removes every key (for resetting between tests).
    public func removeAll() {
        state.withLock { $0 = State() }
    }
}
