import EdgeCore
import Foundation
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization
import Tracing

/// The binding of a durable object class: makes ids and stubs, keeps at most one live instance per
/// id, delivers calls one at a time, commits each call's writes before releasing its response,
/// runs alarms and evicts idle instances.
///
/// It is a swift-service-lifecycle `Service`: ``run()`` fires alarms (and retries failed ones
/// with exponential backoff) and evicts idle objects. Calls work without it; alarms need it.
public final class DurableObjectNamespace<Object: DurableObject>: Service {
    public struct Configuration: Sendable {
        public var limits: CoordinatorLimits
        public var clock: any EdgeClock
        public var sqlite: SQLiteSettings
        /// An object not called for this long is dropped from memory (and rebuilt on its next call).
        /// Default 70 s.
        public var idleTimeout: Double
        /// Retries of a throwing alarm before it is given up. Default 6.
        public var maxAlarmRetries: Int
        /// First retry delay of a throwing alarm; each further retry doubles it. Default 2 s.
        public var alarmRetryDelay: Double
        public var logger: Logger
        /// Sends `fetch` calls to the process owning their object, when the ownership names one
        /// (stores several processes share). EdgeRuntime's host sets it; nil: calls run here.
        public var forwarder: (any DurableObjectForwarder)?

        public init(
            limits: CoordinatorLimits = .cloudflare, clock: any EdgeClock = SystemClock(), sqlite: SQLiteSettings = SQLiteSettings(),
            idleTimeout: Double = 70, maxAlarmRetries: Int = 6, alarmRetryDelay: Double = 2,
            logger: Logger = Logger(label: "swift-edge.durable-objects"), forwarder: (any DurableObjectForwarder)? = nil
        ) {
            self.limits = limits
            self.clock = clock
            self.sqlite = sqlite
            self.idleTimeout = idleTimeout
            self.maxAlarmRetries = maxAlarmRetries
            self.alarmRetryDelay = alarmRetryDelay
            self.logger = logger
            self.forwarder = forwarder
        }
    }

    /// One id's slot: its call lock, its instance once built, and its last commit.
    final class Live: Sendable {
        let id: DurableObjectID
        let lock = AsyncSemaphore(permits: 1)
        struct State {
            var instance: Object?
            var storage: DurableObjectStorage?
            var lastCommit: CommitTicket?
            var lastUsed: Date
            var evicted = false
            /// Whether the current instance's ownership was acquired (and under which lease).
            var ownership: Acquired?
            /// Another process asked for the object: hand it over after the running call.
            var handoverRequested = false
            /// Calls' writes waiting to be committed, in the order the calls ran.
            var queued: [QueuedCommit] = []
            /// A task is committing `queued`.
            var committing = false
        }
        let state: Mutex<State>

        init(id: DurableObjectID, now: Date) {
            self.id = id
            state = Mutex(State(lastUsed: now))
        }
    }

    /// An acquired ownership: the lease commits are fenced by (nil with ``LocalOwnership``).
    struct Acquired: Hashable {
        let lease: OwnershipLease?
    }

    /// One call's writes, made by the instance built under `ownership`, and the ticket its caller awaits.
    struct QueuedCommit {
        let pending: StorageCommit
        let ticket: CommitTicket
        let ownership: Acquired?
    }

    public let name: String
    public let configuration: Configuration
    private let env: Object.Env
    /// Where the objects' storage and alarms are kept.
    public let store: any DurableObjectStore
    /// Which process owns each object.
    public let ownership: any DurableObjectOwnership
    private let live = Mutex<[String: Live]>([:])
    /// The last commit of each evicted instance, until it is durable: a new instance of the same
    /// object is built only after it (so it loads every write its predecessor made).
    private let retiring = Mutex<[String: CommitTicket]>([:])
    private let alarmSignal = WakeSignal()
    private let instancesBuilt = Atomic<Int>(0)
    /// Instances in memory now (the `edge_do_active` gauge).
    private let activeInstances = Atomic<Int>(0)
    let metrics: CoordinatorMetrics
    /// Each object's WebSockets, kept while the object has any (they outlive its instances).
    private let webSocketRegistry = Mutex<[String: ObjectWebSockets]>([:])
    private let forwardedCalls = Atomic<Int>(0)

    /// A namespace over any store: ``SQLiteObjectStore`` with ``LocalOwnership`` on one machine,
    /// a store several processes share with its own ownership (EdgePostgres), or your own.
    ///
    /// - Throws: ``CoordinatorError`` `.invalidNamespaceName`.
    public init(
        name: String, store: any DurableObjectStore, ownership: any DurableObjectOwnership = LocalOwnership(), env: Object.Env,
        configuration: Configuration = Configuration()
    ) throws {
        try CoordinatorLimits.validateNamespaceName(name)
        self.name = name
        self.env = env
        self.configuration = configuration
        self.store = store
        self.ownership = ownership
        metrics = CoordinatorMetrics(namespace: name)
        ownership.onHandoverRequest { [weak self] objectID in self?.handOver(objectID) }
    }

    /// A namespace whose objects live in the SQLite file at `path`.
    ///
    /// - Throws: ``CoordinatorError`` `.invalidNamespaceName` or `.storageFailure`.
    public convenience init(name: String, path: String, env: Object.Env, configuration: Configuration = Configuration()) throws {
        try self.init(name: name, store: try SQLiteObjectStore(path: path, settings: configuration.sqlite), env: env, configuration: configuration)
    }

    /// A namespace stored under a state directory: `<stateDirectory>/durable-objects/<name>.sqlite`.
    ///
    /// - Throws: ``CoordinatorError`` `.invalidNamespaceName` or `.storageFailure`.
    public convenience init(name: String, stateDirectory: String, env: Object.Env, configuration: Configuration = Configuration()) throws {
        let store = try SQLiteObjectStore(namespace: name, stateDirectory: stateDirectory, settings: configuration.sqlite)
        try self.init(name: name, store: store, env: env, configuration: configuration)
    }

    private var clock: any EdgeClock { configuration.clock }

    // MARK: Ids and stubs

    /// The id of the object called `name`: the same name always gives the same id.
    public func idFromName(_ name: String) -> DurableObjectID { .derived(namespace: self.name, name: name) }

    /// A new, random id.
    public func newUniqueId() -> DurableObjectID { .unique() }

    /// Parses an id printed by `description` / `hex`.
    ///
    /// - Throws: ``CoordinatorError`` `.invalidID`.
    public func idFromString(_ text: String) throws -> DurableObjectID { try .parse(text) }

    /// A stub through which calls reach the object `id`.
    public func get(_ id: DurableObjectID) -> DurableObjectStub<Object> { DurableObjectStub(namespace: self, id: id) }

    /// How many instances were constructed so far (each id once, plus once per rebuild after eviction).
    public var instancesConstructed: Int { instancesBuilt.load(ordering: .relaxed) }

    /// How many instances are in memory (hibernated objects, whose sockets stay open without an
    /// instance, are not counted).
    public var liveCount: Int { live.withLock { $0.values.filter { $0.state.withLock { $0.instance != nil } }.count } }

    /// How many `fetch` calls this process forwarded to the process owning their object.
    public var callsForwarded: Int { forwardedCalls.load(ordering: .relaxed) }

    // MARK: Calls

    private func slot(_ id: DurableObjectID) -> Live {
        let now = clock.now
        return live.withLock { live in
            if let slot = live[id.hex] { return slot }
            let slot = Live(id: id, now: now)
            live[id.hex] = slot
            return slot
        }
    }

    /// Runs `body` on the object `id`, alone; returns once the writes it made are durable.
    func call<T: Sendable>(_ id: DurableObjectID, _ body: @Sendable (Object, DurableObjectStorage) async throws -> T) async throws -> T {
        while true {
            let slot = self.slot(id)
            await slot.lock.acquire()
            if slot.state.withLock({ $0.evicted }) {
                slot.lock.release()
                continue
            }
            let instance: Object, storage: DurableObjectStorage
            do {
                (instance, storage) = try await self.instance(for: slot)
            } catch {
                slot.lock.release()
                throw error
            }
            let result: Result<T, any Error>
            do {
                result = .success(try await body(instance, storage))
            } catch {
                result = .failure(error)
            }
            let pending = storage.takePending()
            let ticket = pending.isEmpty ? nil : CommitTicket()
            // Queued under the lock, so writes are committed in the order the calls ran,
            // whatever order the calls' tasks resume in afterwards.
            let (previous, handover, startCommitting) = slot.state.withLock { state -> (CommitTicket?, Bool, Bool) in
                state.lastUsed = clock.now
                var start = false
                if let ticket {
                    state.lastCommit = ticket
                    state.queued.append(QueuedCommit(pending: pending, ticket: ticket, ownership: state.ownership))
                    start = !state.committing
                    state.committing = true
                }
                return (state.lastCommit, state.handoverRequested, start)
            }
            if handover { evict(slot) }
            slot.lock.release()
            if startCommitting { Task { await self.commitQueued(slot) } }
            // Output gate: the response waits for this call's writes (or, without writes, for
            // its predecessors', which it may have read) to be durable.
            try await (ticket ?? previous)?.wait()
            return try result.get()
        }
    }

    /// Commits what calls on `slot` queued until the queue is empty: the writes of consecutive
    /// calls of one instance in one commit (group commit), each commit after the one before. A
    /// failed commit fails every call queued behind it (their writes were computed from the
    /// failed ones) and resets the object, which is rebuilt from what was committed.
    private func commitQueued(_ slot: Live) async {
        while true {
            let batch = slot.state.withLock { state -> [QueuedCommit] in
                if state.queued.isEmpty { state.committing = false }
                defer { state.queued = [] }
                return state.queued
            }
            if batch.isEmpty { return }
            var start = 0
            while start < batch.count {
                var end = start, merged = batch[start].pending
                while end + 1 < batch.count, batch[end + 1].ownership == batch[start].ownership {
                    end += 1
                    merged.merge(batch[end].pending)
                }
                do {
                    try await store.commit(slot.id.hex, merged, lease: batch[start].ownership?.lease)
                    for entry in batch[start...end] { entry.ticket.finish(nil) }
                    if merged.alarm != nil { alarmSignal.notify() }
                } catch {
                    let stale = reset(slot)
                    for entry in Array(batch[start...]) + stale { entry.ticket.finish(error) }
                    break
                }
                start = end + 1
            }
        }
    }

    /// Sends `request` to the object `id`'s `fetch`: here when this process may own the object,
    /// else forwarded to the process that owns it (shared ownership whose owner advertised an
    /// address, and a ``Configuration/forwarder``). An owner that cannot be connected to is
    /// skipped: the call runs here, taking the object over (handed over by a live owner, or once
    /// the lease of a dead one expires).
    func fetch(_ id: DurableObjectID, _ request: EdgeRequest) async throws -> EdgeResponse {
        let ownedHere = live.withLock { $0[id.hex] }?.state.withLock { $0.ownership != nil || $0.instance != nil } ?? false
        if !ownedHere, let forwarder = configuration.forwarder, let token = try await ownership.forwardingToken(),
            let address = try await ownership.remoteOwner(id.hex)
        {
            do {
                let response = try await forwarder.forward(request, namespace: name, objectID: id.hex, to: address, token: token)
                forwardedCalls.add(1, ordering: .relaxed)
                return response
            } catch let unreachable as OwnerUnreachable {
                let error = unreachable.underlying
                configuration.logger.warning(
                    "the owner of a durable object is unreachable; calling it here",
                    metadata: ["namespace": "\(name)", "id": "\(id)", "owner": "\(address)", "error": "\(error)"])
            }
        }
        return try await call(id) { instance, _ in try await instance.fetch(request) }
    }

    /// Runs a `fetch` another process forwarded to this one, the owner of object `objectID` (its
    /// id in hex): here, never forwarded again.
    ///
    /// - Throws: ``CoordinatorError`` `.invalidID`; what `fetch` throws.
    public func runForwarded(objectID: String, _ request: EdgeRequest) async throws -> EdgeResponse {
        let id = try DurableObjectID.parse(objectID)
        return try await call(id) { instance, _ in try await instance.fetch(request) }
    }

    private func instance(for slot: Live) async throws -> (Object, DurableObjectStorage) {
        if let built = slot.state.withLock({ state in state.instance.map { ($0, state.storage!) } }) { return built }
        if let predecessor = retiring.withLock({ $0[slot.id.hex] }) {
            try? await predecessor.wait()
            retiring.withLock { if $0[slot.id.hex] === predecessor { $0.removeValue(forKey: slot.id.hex) } }
        }
        let (held, lastCommit) = slot.state.withLock { ($0.ownership, $0.lastCommit) }
        if held != nil {
            // Waking from hibernation: still the owner; the new instance reads what the last one wrote.
            try? await lastCommit?.wait()
        } else {
            // Shared ownership makes this process the owner (and loads the object) first.
            let acquired = Acquired(lease: try await ownership.acquire(slot.id.hex))
            slot.state.withLock { $0.ownership = acquired }
        }
        let storage = DurableObjectStorage(objectID: slot.id.hex, store: store, limits: configuration.limits)
        let instance = Object(state: DurableObjectState(id: slot.id, storage: storage, webSockets: webSockets(for: slot.id)), env: env)
        instancesBuilt.add(1, ordering: .relaxed)
        slot.state.withLock { state in
            state.instance = instance
            state.storage = storage
        }
        metrics.constructed.increment()
        metrics.active.record(activeInstances.add(1, ordering: .relaxed).newValue)
        return (instance, storage)
    }

    /// The sockets of object `id` (made on first use; messages are delivered through `call`).
    private func webSockets(for id: DurableObjectID) -> ObjectWebSockets {
        webSocketRegistry.withLock { registry in
            if let existing = registry[id.hex] { return existing }
            let sockets = ObjectWebSockets(limits: configuration.limits, clock: configuration.clock) { [weak self] socket, event in
                guard let self else { return }
                try await self.call(id) { instance, _ in
                    switch event {
                    case .message(let message): try await instance.webSocketMessage(socket, message)
                    case .close(let closure): try await instance.webSocketClose(socket, closure)
                    case .error(let error): try await instance.webSocketError(socket, error)
                    }
                }
            }
            registry[id.hex] = sockets
            return sockets
        }
    }

    /// How many WebSockets the objects of this namespace hold open in this process.
    public var openWebSockets: Int { webSocketRegistry.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    /// Drops an object's instance after a failed commit: it is rebuilt from what was committed.
    /// Returns the commits queued meanwhile, which were computed from the failed writes.
    private func reset(_ slot: Live) -> [QueuedCommit] {
        configuration.logger.error("durable object reset after a failed commit", metadata: ["namespace": "\(name)", "id": "\(slot.id)"])
        let (queued, hadInstance) = slot.state.withLock { state -> ([QueuedCommit], Bool) in
            let hadInstance = state.instance != nil
            state.instance = nil
            state.storage = nil
            defer { state.queued = [] }
            return (state.queued, hadInstance)
        }
        if hadInstance { dropped(hibernated: false) }
        return queued
    }

    // MARK: Eviction

    /// Drops the instances of objects idle for at least `seconds` (default: the idle timeout);
    /// returns how many. Their storage stays; the next call rebuilds them. On a shared store they
    /// are given up, so another process may take them, except objects holding WebSockets: those
    /// hibernate (Cloudflare's term), keeping their sockets open and staying owned here; their
    /// next socket message rebuilds them.
    @discardableResult
    public func evictIdle(idleFor seconds: Double? = nil) -> Int {
        let cutoff = clock.now.addingTimeInterval(-(seconds ?? configuration.idleTimeout))
        let candidates = live.withLock { Array($0.values) }
        var evicted = 0
        for slot in candidates {
            let idle = slot.state.withLock { $0.lastUsed <= cutoff && ($0.lastCommit?.isFinished ?? true) }
            guard idle, slot.lock.tryAcquire() else { continue }
            defer { slot.lock.release() }
            let sockets = webSocketRegistry.withLock { $0[slot.id.hex]?.count ?? 0 }
            if sockets > 0 {
                guard slot.state.withLock({ $0.instance != nil }) else { continue }
                hibernate(slot)
            } else {
                evict(slot)
            }
            evicted += 1
        }
        return evicted
    }

    /// Drops `slot`'s instance (its lock held) but keeps the slot and its ownership: the object's
    /// WebSockets stay open here, and the next message builds a new instance.
    private func hibernate(_ slot: Live) {
        let hadInstance = slot.state.withLock { state -> Bool in
            defer {
                state.instance = nil
                state.storage = nil
            }
            return state.instance != nil
        }
        if hadInstance { dropped(hibernated: true) }
    }

    /// Counts an instance dropped from memory.
    private func dropped(hibernated: Bool) {
        (hibernated ? metrics.hibernated : metrics.evicted).increment()
        metrics.active.record(activeInstances.subtract(1, ordering: .relaxed).newValue)
    }

    /// Drops `slot` (its lock held): later calls build a new instance. Ownership is given up
    /// once the last commit is durable.
    private func evict(_ slot: Live) {
        let (lease, lastCommit, hadInstance) = slot.state.withLock { state -> (OwnershipLease?, CommitTicket?, Bool) in
            let hadInstance = state.instance != nil
            state.evicted = true
            state.instance = nil
            state.storage = nil
            defer { state.ownership = nil }
            return (state.ownership?.lease, state.lastCommit, hadInstance)
        }
        if hadInstance { dropped(hibernated: false) }
        // Recorded before the slot leaves `live`, so a successor built at once still waits for it.
        if let lastCommit, !lastCommit.isFinished {
            let id = slot.id.hex
            retiring.withLock { $0[id] = lastCommit }
            Task { [weak self] in
                try? await lastCommit.wait()
                self?.retiring.withLock { if $0[id] === lastCommit { $0.removeValue(forKey: id) } }
            }
        }
        live.withLock { live in
            if live[slot.id.hex] === slot { live.removeValue(forKey: slot.id.hex) }
        }
        webSocketRegistry.withLock { registry in
            if registry[slot.id.hex]?.count == 0 { registry.removeValue(forKey: slot.id.hex) }
        }
        if let lease {
            let ownership = self.ownership, id = slot.id.hex
            Task {
                try? await lastCommit?.wait()
                await ownership.release(id, lease: lease)
            }
        }
    }

    /// Another process asked for `objectID`: hand it over now if idle, else after the running call.
    private func handOver(_ objectID: String) {
        guard let slot = live.withLock({ $0[objectID] }) else { return }
        if slot.lock.tryAcquire() {
            if slot.state.withLock({ $0.instance != nil || $0.ownership != nil }) { evict(slot) }
            slot.lock.release()
        } else {
            slot.state.withLock { $0.handoverRequested = true }
        }
    }

    /// Renews ownership of the live objects (shared ownership); drops those another process took.
    private func maintainOwnership() async {
        guard ownership.renewalInterval != nil else { return }
        let slots = live.withLock { Array($0.values) }
        let active = slots.filter { $0.state.withLock { $0.ownership?.lease != nil } }.map(\.id.hex)
        guard !active.isEmpty else { return }
        let lost = Set(await ownership.renew(active: active))
        for slot in slots where lost.contains(slot.id.hex) {
            configuration.logger.error("lost ownership of a durable object; its instance is dropped", metadata: ["namespace": "\(name)", "id": "\(slot.id)"])
            await slot.lock.acquire()
            evict(slot)
            slot.lock.release()
        }
    }

    // MARK: Alarms

    /// Fires every alarm that is due now; returns how many ran (successfully or not).
    @discardableResult
    public func runDueAlarms() async throws -> Int {
        let due = try await store.dueAlarms(now: clock.now, limit: 1000)
        await withTaskGroup(of: Void.self) { group in
            for (objectID, _) in due {
                group.addTask { await self.fireAlarm(try? DurableObjectID.parse(objectID)) }
            }
        }
        return due.count
    }

    private func fireAlarm(_ id: DurableObjectID?) async {
        guard let id else { return }
        do {
            try await call(id) { instance, storage in
                // Re-read inside the call: the alarm may have been moved or deleted meanwhile.
                guard let alarm = try storage.scheduledAlarm(), alarm.time <= self.clock.now else { return }
                self.metrics.alarmsRun.increment()
                do {
                    try await instance.alarm(AlarmInfo(retryCount: alarm.retryCount, scheduledTime: alarm.time))
                    // Done, unless alarm() scheduled a new one.
                    if try storage.scheduledAlarm() == alarm { storage.scheduleAlarm(nil) }
                } catch {
                    self.metrics.alarmsFailed.increment()
                    let retry = alarm.retryCount + 1
                    if retry > self.configuration.maxAlarmRetries {
                        self.metrics.alarmsGivenUp.increment()
                        self.configuration.logger.error(
                            "alarm failed too often; giving up",
                            metadata: ["namespace": "\(self.name)", "id": "\(id)", "retries": "\(alarm.retryCount)", "error": "\(error)"])
                        if try storage.scheduledAlarm() == alarm { storage.scheduleAlarm(nil) }
                    } else {
                        let delay = self.configuration.alarmRetryDelay * pow(2, Double(alarm.retryCount))
                        self.configuration.logger.warning(
                            "alarm threw; retrying",
                            metadata: ["namespace": "\(self.name)", "id": "\(id)", "retry": "\(retry)", "in": "\(delay)s", "error": "\(error)"])
                        storage.scheduleAlarm(ScheduledAlarm(time: self.clock.now.addingTimeInterval(delay), retryCount: retry))
                    }
                }
            }
        } catch {
            configuration.logger.error("alarm could not run", metadata: ["namespace": "\(name)", "id": "\(id)", "error": "\(error)"])
        }
    }

    /// Fires alarms as they come due and evicts idle objects, until cancelled or shut down gracefully.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let generation = self.alarmSignal.generation
                do {
                    try await self.runDueAlarms()
                } catch {
                    self.configuration.logger.error("alarm scheduler failed", metadata: ["namespace": "\(self.name)", "error": "\(error)"])
                }
                self.evictIdle()
                await self.maintainOwnership()
                if let inspection = self.store as? any DurableObjectInspection, let pending = try? await inspection.pendingAlarmCount() {
                    self.metrics.alarmsPending.record(pending)
                }
                let now = self.clock.now
                var wake = now.addingTimeInterval(max(1, self.configuration.idleTimeout / 2))
                if let interval = self.ownership.renewalInterval { wake = min(wake, now.addingTimeInterval(interval)) }
                if let next = try? await self.store.nextAlarmTime(), next < wake { wake = max(next, now) }
                await self.alarmSignal.wait(after: generation, until: wake, clock: self.clock)
            }
        }
    }

    // MARK: Reset

    /// Drops every instance and deletes every object's storage and alarm (for tests; EdgeTesting's
    /// `reset(_:)` calls it between tests).
    package func resetEverything() async throws {
        let slots = live.withLock { live -> [Live] in
            defer { live.removeAll() }
            return Array(live.values)
        }
        for slot in slots {
            await slot.lock.acquire()
            let hadInstance = slot.state.withLock { state -> Bool in
                defer {
                    state.evicted = true
                    state.instance = nil
                    state.storage = nil
                }
                return state.instance != nil
            }
            if hadInstance { dropped(hibernated: false) }
            slot.lock.release()
        }
        try await store.deleteEverything()
    }

    /// Closes the database.
    public func close() { store.close() }
}

/// How calls reach one object (Cloudflare's stub).
public struct DurableObjectStub<Object: DurableObject>: Sendable {
    public let namespace: DurableObjectNamespace<Object>
    public let id: DurableObjectID

    /// Calls the object: `body` runs on its one live instance, after every call made before it
    /// and before every call made after it, with no other call interleaved. Returns once the
    /// writes the call made are durable.
    ///
    /// A closure cannot travel to another process: on a store several processes share, a call
    /// to an object another process owns asks that process to hand the object over after its
    /// running call, then runs here (or takes the object over once the owner's lease expired).
    ///
    /// - Throws: what `body` throws, or ``CoordinatorError`` `.storageFailure` when the writes
    ///   could not be committed (the object is then rebuilt from committed storage);
    ///   `.ownedElsewhere` when the owner did not hand the object over in time.
    public func call<T: Sendable>(_ body: @Sendable (Object) async throws -> T) async throws -> T {
        try await withSpan("durable_object \(namespace.name) call", ofKind: .client) { span in
            span.attributes["edge.durable_object.id"] = id.hex
            return try await namespace.metrics.calls.measure { try await namespace.call(id) { instance, _ in try await body(instance) } }
        }
    }

    /// Sends a request to the object's `fetch`. On a store several processes share
    /// (PostgreSQL), a request for an object another serving process owns is forwarded to that
    /// process over HTTP and runs there; unlike ``call(_:)``, it never moves the object.
    ///
    /// - Throws: what `fetch` throws, or ``CoordinatorError`` `.storageFailure`; for a forwarded
    ///   request, `.remoteCallFailed` when `fetch` threw in the owner or its answer was lost.
    public func fetch(_ request: EdgeRequest) async throws -> EdgeResponse {
        try await withSpan("durable_object \(namespace.name) fetch", ofKind: .client) { span in
            span.attributes["edge.durable_object.id"] = id.hex
            return try await namespace.metrics.fetches.measure { try await namespace.fetch(id, request) }
        }
    }
}

/// A namespace's metrics (swift-metrics; served by EdgeRuntime's `/__edge/metrics`).
struct CoordinatorMetrics: Sendable {
    let constructed: Counter
    let evicted: Counter
    let hibernated: Counter
    let active: Gauge
    let alarmsPending: Gauge
    let alarmsRun: Counter
    let alarmsFailed: Counter
    let alarmsGivenUp: Counter
    /// Stub calls by kind (`call`, `fetch`), from the caller's side: forwarded ones included.
    let calls: CallMetrics
    let fetches: CallMetrics

    /// Counts, errors and latency of one kind of stub call.
    struct CallMetrics: Sendable {
        let count: Counter
        let errors: Counter
        let duration: Timer

        init(namespace: String, operation: String) {
            let dimensions = [("namespace", namespace), ("operation", operation)]
            count = Counter(label: "edge_do_calls_total", dimensions: dimensions)
            errors = Counter(label: "edge_do_call_errors_total", dimensions: dimensions)
            duration = Timer(label: "edge_do_call_duration_seconds", dimensions: dimensions)
        }

        func measure<T>(_ body: () async throws -> T) async throws -> T {
            let started = ContinuousClock.now
            defer {
                let elapsed = ContinuousClock.now - started
                duration.recordNanoseconds(elapsed.inNanoseconds)
                count.increment()
            }
            do { return try await body() } catch {
                errors.increment()
                throw error
            }
        }
    }

    init(namespace: String) {
        let dimensions = [("namespace", namespace)]
        constructed = Counter(label: "edge_do_instances_constructed_total", dimensions: dimensions)
        evicted = Counter(label: "edge_do_evicted_total", dimensions: dimensions)
        hibernated = Counter(label: "edge_do_hibernated_total", dimensions: dimensions)
        active = Gauge(label: "edge_do_active", dimensions: dimensions)
        alarmsPending = Gauge(label: "edge_do_alarms_pending", dimensions: dimensions)
        alarmsRun = Counter(label: "edge_do_alarms_run_total", dimensions: dimensions)
        alarmsFailed = Counter(label: "edge_do_alarms_failed_total", dimensions: dimensions)
        alarmsGivenUp = Counter(label: "edge_do_alarms_given_up_total", dimensions: dimensions)
        calls = CallMetrics(namespace: namespace, operation: "call")
        fetches = CallMetrics(namespace: namespace, operation: "fetch")
    }
}
