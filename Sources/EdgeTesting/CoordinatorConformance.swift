public import EdgeCoordinator
public import Foundation

/// The durable-object behaviour every namespace backend must show, as named cases to run with
/// swift-testing's `arguments:` — one call at a time per object, storage and its limits,
/// transactions, durability across a new namespace on the same storage, eviction, alarms:
///
/// ```swift
/// @Test(arguments: CoordinatorConformance.cases)
/// func conformance(_ check: CoordinatorConformance.Case) async throws {
///     try await check.run(CoordinatorConformance.Harness { name, clock in
///         try DurableObjectNamespace(name: name, path: directory + "/\(name).sqlite", env: $2, configuration: .init(clock: clock))
///     })
/// }
/// ```
public enum CoordinatorConformance {
    /// Opens the namespace `name` of ``ConformanceObject`` on the backend under test. Opening the
    /// same name again must reach the same storage (a restarted process, or another one).
    public struct Harness: Sendable {
        public typealias Open =
            @Sendable (
                _ name: String, _ clock: TestClock, _ env: ConformanceObject.Env,
                _ configuration: DurableObjectNamespace<ConformanceObject>.Configuration
            ) throws -> DurableObjectNamespace<ConformanceObject>
        public var open: Open

        public init(open: @escaping Open) {
            self.open = open
        }
    }

    public struct Case: Sendable, CustomStringConvertible {
        public let name: String
        let body: @Sendable (Harness) async throws -> Void
        public var description: String { name }

        /// - Throws: ``ConformanceFailure`` for the first expectation that did not hold, or the
        ///   backend's error when an operation that must succeed failed.
        public func run(_ harness: Harness) async throws { try await body(harness) }
    }

    public static let cases: [Case] = [ordering, noInterleaving, storageBasics, limits, listing, transactions, durability, eviction, alarms, alarmRetries]

    static func fresh(
        _ harness: Harness, clock: TestClock = TestClock(), env: ConformanceObject.Env = .init(),
        idleTimeout: Double = 70
    ) throws -> (DurableObjectNamespace<ConformanceObject>, String) {
        let name = "conformance-" + UUID().uuidString.prefix(8).lowercased()
        return (try harness.open(name, clock, env, .init(clock: clock, idleTimeout: idleTimeout)), name)
    }

    static let ordering = Case(name: "calls from one stub are delivered in order") { harness in
        let (namespace, _) = try fresh(harness)
        let stub = namespace.get(namespace.idFromName("ordered"))
        for value in 0..<100 { try await stub.call { try await $0.append(value) } }
        try Check.equal(try await stub.call { try await $0.log() }, Array(0..<100), "the log")
    }

    static let noInterleaving = Case(name: "50 concurrent callers never interleave inside one object") { harness in
        let (namespace, _) = try fresh(harness)
        let id = namespace.idFromName("hot")
        let results = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<50 {
                group.addTask {
                    var seen: [Int] = []
                    for _ in 0..<6 { seen.append(try await namespace.get(id).call { try await $0.increment() }) }
                    return seen
                }
            }
            return try await group.reduce(into: [Int]()) { $0 += $1 }
        }
        try Check.equal(results.sorted(), Array(1...300), "every increment saw the previous one")
        try Check.equal(try await namespace.get(id).call { await $0.overlaps }, 0, "calls that overlapped inside the object")
    }

    static let storageBasics = Case(name: "get, put and delete of Codable values, single and bulk; deleteAll") { harness in
        let (namespace, _) = try fresh(harness)
        let stub = namespace.get(namespace.newUniqueId())
        try await stub.call { object in
            try await object.run { storage in
                try Check.that(try storage.get("missing", as: Int.self) == nil, "a missing key reads nil")
                try storage.put("n", 42)
                try storage.put(["x": 1, "y": 2, "z": 3])
                try Check.equal(try storage.get("n", as: Int.self), 42, "get")
                try Check.equal(try storage.get(["x", "y", "nope"], as: Int.self), ["x": 1, "y": 2], "bulk get")
                try Check.that(try storage.delete("x"), "delete reports an existing key")
                try Check.that(try !storage.delete("x"), "delete reports a missing key")
                try Check.equal(try storage.delete(["y", "z", "nope"]), 2, "bulk delete count")
                try await Check.throwsError(CoordinatorError.self, "decoding as another type", matching: { $0.code == .decodingFailed }) {
                    _ = try storage.get("n", as: String.self)
                }
            }
        }
        // Committed, then seen by the next call and after deleteAll.
        try await stub.call { object in
            try await object.run { storage in
                try Check.equal(try storage.get("n", as: Int.self), 42, "committed by the previous call")
                try storage.deleteAll()
                try storage.put("d", 4)
            }
        }
        try await stub.call { object in
            try await object.run { storage in try Check.equal(try storage.list(as: Int.self).map(\.key), ["d"], "after deleteAll") }
        }
    }

    static let limits = Case(name: "limits: key size, value size, 128 keys per bulk operation") { harness in
        let (namespace, _) = try fresh(harness)
        try await namespace.get(namespace.newUniqueId()).call { object in
            try await object.run { storage in
                try storage.put(String(repeating: "k", count: 2048), 1)
                try await Check.throwsError(
                    CoordinatorError.self, "a 2049-byte key", matching: { $0.code == .keyTooLong && $0.limit == 2048 && $0.actual == 2049 }
                ) {
                    try storage.put(String(repeating: "k", count: 2049), 1)
                }
                try await Check.throwsError(CoordinatorError.self, "an empty key", matching: { $0.code == .invalidKey }) { try storage.put("", 1) }
                try await Check.throwsError(CoordinatorError.self, "a 128 KiB value", matching: { $0.code == .valueTooLarge }) {
                    try storage.put("big", String(repeating: "v", count: 128 * 1024))
                }
                try await Check.throwsError(CoordinatorError.self, "129 keys", matching: { $0.code == .tooManyKeys }) {
                    _ = try storage.get((0..<129).map { "k\($0)" }, as: Int.self)
                }
            }
        }
    }

    static let listing = Case(name: "list with start, startAfter, end, prefix, reverse and limit, across committed and uncommitted keys") { harness in
        let (namespace, _) = try fresh(harness)
        let stub = namespace.get(namespace.idFromName("lists"))
        try await stub.call { object in try await object.run { storage in for key in ["a", "b/1", "b/2", "b/3", "c", "é"] { try storage.put(key, key) } } }
        try await stub.call { object in
            try await object.run { storage in
                try storage.put("b/0", "b/0")
                _ = try storage.delete("b/2")
                func keys(_ options: DurableObjectListOptions) throws -> [String] { try storage.list(options, as: String.self).map(\.key) }
                try Check.equal(try keys(.init()), ["a", "b/0", "b/1", "b/3", "c", "é"], "all")
                try Check.equal(try keys(.init(prefix: "b/")), ["b/0", "b/1", "b/3"], "prefix")
                try Check.equal(try keys(.init(startAfter: "b/1")), ["b/3", "c", "é"], "startAfter")
                try Check.equal(try keys(.init(end: "b/3")), ["a", "b/0", "b/1"], "end")
                try Check.equal(try keys(.init(prefix: "b/", reverse: true, limit: 2)), ["b/3", "b/1"], "prefix, reverse, limit")
            }
        }
    }

    static let transactions = Case(name: "a transaction commits atomically or rolls back on throw") { harness in
        struct Abort: Error {}
        let (namespace, _) = try fresh(harness)
        let stub = namespace.get(namespace.newUniqueId())
        try await stub.call { object in
            try await object.run { storage in
                try storage.put("balance", 100)
                do {
                    try storage.transaction {
                        try storage.put("balance", 0)
                        throw Abort()
                    }
                } catch is Abort {}
                try Check.equal(try storage.get("balance", as: Int.self), 100, "rolled back")
                try storage.transaction {
                    try storage.put("balance", 90)
                    try storage.transaction { try storage.put("audit", "debited") }
                }
            }
        }
        try await stub.call { object in
            try await object.run { storage in
                try Check.equal(try storage.get("balance", as: Int.self), 90, "committed transaction")
                try Check.equal(try storage.get("audit", as: String.self), "debited", "nested transaction")
            }
        }
    }

    static let durability = Case(name: "what calls returned is there for a new namespace on the same storage") { harness in
        let clock = TestClock()
        let (first, name) = try fresh(harness, clock: clock)
        let id = first.idFromName("durable")
        for _ in 0..<5 { _ = try await first.get(id).call { try await $0.increment() } }
        // Another process (or this one restarted) opens the same namespace.
        let second = try harness.open(name, clock, .init(), .init(clock: clock))
        try Check.equal(try await second.get(id).call { try await $0.increment() }, 6, "the sixth increment")
    }

    static let eviction = Case(name: "an idle object is evicted and rebuilt from storage") { harness in
        let clock = TestClock()
        let (namespace, _) = try fresh(harness, clock: clock, idleTimeout: 30)
        let stub = namespace.get(namespace.idFromName("idle"))
        _ = try await stub.call { try await $0.increment() }
        clock.advance(by: 31)
        try Check.equal(namespace.evictIdle(), 1, "evicted")
        try Check.equal(namespace.liveCount, 0, "no live instance")
        try Check.equal(try await stub.call { try await $0.increment() }, 2, "rebuilt from storage")
        try Check.equal(namespace.instancesConstructed, 2, "instances built")
    }

    static let alarms = Case(name: "an alarm fires when the clock reaches it, once; deleteAlarm cancels") { harness in
        let clock = TestClock()
        let log = ConformanceObject.AlarmLog()
        let (namespace, _) = try fresh(harness, clock: clock, env: .init(alarms: log))
        let stub = namespace.get(namespace.idFromName("alarmed"))
        let other = namespace.get(namespace.idFromName("cancelled"))
        try await stub.call { try await $0.schedule(clock.now.addingTimeInterval(10)) }
        try await other.call { try await $0.schedule(clock.now.addingTimeInterval(10)) }
        try await other.call { try await $0.cancel() }
        try Check.equal(try await stub.call { try await $0.alarmTime() }, Optional(clock.now.addingTimeInterval(10)), "getAlarm")
        clock.advance(by: 9)
        try Check.equal(try await namespace.runDueAlarms(), 0, "nothing due before its time")
        clock.advance(by: 1)
        try Check.equal(try await namespace.runDueAlarms(), 1, "one alarm due (the other was cancelled)")
        try Check.equal(await log.count, 1, "runs")
        try Check.that(try await stub.call { try await $0.alarmTime() } == nil, "done after it ran")
        try Check.equal(try await namespace.runDueAlarms(), 0, "it ran once")
    }

    static let alarmRetries = Case(name: "a throwing alarm is retried with exponential backoff from 2 s") { harness in
        let clock = TestClock()
        let log = ConformanceObject.AlarmLog()
        let (namespace, _) = try fresh(harness, clock: clock, env: .init(alarms: log, alarmFailures: 2))
        let stub = namespace.get(namespace.idFromName("flaky"))
        try await stub.call { [now = clock.now] in try await $0.schedule(now) }
        try Check.equal(try await namespace.runDueAlarms(), 1, "first run")
        for (delay, runs) in [(2.0, 2), (4.0, 3)] {
            try Check.equal(try await namespace.runDueAlarms(), 0, "the retry waits")
            clock.advance(by: delay)
            try Check.equal(try await namespace.runDueAlarms(), 1, "retry after \(delay) s")
            try Check.equal(await log.count, runs, "runs")
        }
        try Check.equal(await log.retryCounts, [0, 1, 2], "retry counts")
        try Check.that(try await stub.call { try await $0.alarmTime() } == nil, "done after it succeeded")
    }
}

/// The durable object the coordinator conformance suite calls: a counter with a deliberate
/// suspension between read and write (so interleaved calls would lose updates and count
/// `overlaps`), a log, raw storage access, and an alarm that fails `alarmFailures` times.
public actor ConformanceObject: DurableObject {
    public struct Env: Sendable {
        public var alarms: AlarmLog
        public var alarmFailures: Int
        public init(alarms: AlarmLog = AlarmLog(), alarmFailures: Int = 0) {
            self.alarms = alarms
            self.alarmFailures = alarmFailures
        }
    }

    public actor AlarmLog {
        public var retryCounts: [Int] = []
        public init() {}
        public var count: Int { retryCounts.count }
        func record(_ info: AlarmInfo) -> Int {
            retryCounts.append(info.retryCount)
            return retryCounts.count
        }
    }

    let state: DurableObjectState
    let env: Env
    var inCall = false
    public private(set) var overlaps = 0

    public init(state: DurableObjectState, env: Env) {
        self.state = state
        self.env = env
    }

    public func increment() async throws -> Int {
        if inCall { overlaps += 1 }
        inCall = true
        defer { inCall = false }
        let current = try state.storage.get("count", as: Int.self) ?? 0
        await Task.yield()
        try state.storage.put("count", current + 1)
        return current + 1
    }

    public func append(_ value: Int) throws {
        try state.storage.put("log", (try state.storage.get("log", as: [Int].self) ?? []) + [value])
    }

    public func log() throws -> [Int] { try state.storage.get("log", as: [Int].self) ?? [] }

    public func run<T: Sendable>(_ body: @Sendable (DurableObjectStorage) async throws -> T) async throws -> T { try await body(state.storage) }

    public func schedule(_ date: Date) throws { try state.storage.setAlarm(date) }
    public func alarmTime() throws -> Date? { try state.storage.getAlarm() }
    public func cancel() throws { try state.storage.deleteAlarm() }

    public func alarm(_ info: AlarmInfo) async throws {
        struct Flaky: Error {}
        if await env.alarms.record(info) <= env.alarmFailures { throw Flaky() }
    }
}
