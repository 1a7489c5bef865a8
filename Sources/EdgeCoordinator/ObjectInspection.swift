/// One object of a store, as `edge objects ls` and the dashboard list it.
public struct StoredObjectSummary: Sendable, Hashable {
    /// The object's id (64 hex digits).
    public var id: String
    /// How many keys its storage holds.
    public var keys: Int
    /// Its alarm, if one is set.
    public var alarm: ScheduledAlarm?

    public init(id: String, keys: Int, alarm: ScheduledAlarm?) {
        self.id = id
        self.keys = keys
        self.alarm = alarm
    }
}

/// Reading a namespace's stored objects from outside them, whichever process owns them: what
/// operators' tools (`edge objects`, the dashboard at `/__edge/`) and the alarms-pending gauge
/// use. Objects are not built and nothing is written; a read sees the last committed state.
///
/// Both stores swift-edge ships conform (``SQLiteObjectStore`` and the PostgreSQL store).
public protocol DurableObjectInspection: Sendable {
    /// The objects holding storage or an alarm, by id, after `after` (exclusive), at most `limit`.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    func objects(after: String?, limit: Int) async throws -> [StoredObjectSummary]
    /// The keys of object `objectID`'s storage starting with `prefix` (all when nil), in byte
    /// order, with their values, at most `limit`.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    func storedEntries(_ objectID: String, prefix: String?, limit: Int) async throws -> [(key: String, value: [UInt8])]
    /// Object `objectID`'s alarm, if one is set.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    func storedAlarm(_ objectID: String) async throws -> ScheduledAlarm?
    /// Every scheduled alarm, earliest first, at most `limit`.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    func scheduledAlarms(limit: Int) async throws -> [(objectID: String, alarm: ScheduledAlarm)]
    /// How many alarms are scheduled (the `edge_do_alarms_pending` gauge).
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    func pendingAlarmCount() async throws -> Int
}

extension DurableObjectInspection {
    /// One key of object `objectID`'s storage.
    ///
    /// - Throws: ``CoordinatorError`` `.storageFailure`.
    public func storedValue(_ objectID: String, key: String) async throws -> [UInt8]? {
        try await storedEntries(objectID, prefix: key, limit: 1).first { $0.key == key }?.value
    }
}
