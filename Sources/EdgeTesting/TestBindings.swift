public import EdgeBlob
import EdgeCore
public import EdgeKV
public import EdgeQueue
import Synchronization

/// In-memory bindings for unit tests, all on one ``TestClock``: `let bindings = TestBindings()`
/// and then `bindings.kv("CACHE")`, and so on for each binding an `Env` needs.
///
/// Asking twice for the same name returns the same binding, as a Worker sees the same namespace
/// on every request. ``reset()`` empties everything between tests.
public final class TestBindings: Sendable {
    /// The clock every binding reads; advance it to expire keys.
    public let clock: TestClock
    /// The in-memory queue backend every queue of the test lives in; pass it to `QueueProducer`
    /// and `QueueConsumer`.
    public let queues: MemoryQueue
    private let namespaces = Mutex<[String: MemoryKV]>([:])
    let buckets = Mutex<[String: MemoryBlob]>([:])

    public init(clock: TestClock = TestClock()) {
        self.clock = clock
        queues = MemoryQueue(clock: clock)
    }

    /// The in-memory KV namespace `name` (created on first use with Cloudflare's limits).
    public func kv(_ name: String, limits: KVLimits = .cloudflare) -> MemoryKV {
        namespaces.withLock { namespaces in
            if let existing = namespaces[name] { return existing }
            let created = MemoryKV(configuration: .init(limits: limits, clock: clock))
            namespaces[name] = created
            return created
        }
    }

    /// Empties every binding created so far.
    public func reset() {
        for namespace in namespaces.withLock({ Array($0.values) }) { namespace.removeAll() }
        for bucket in buckets.withLock({ Array($0.values) }) { bucket.removeAll() }
        queues.removeAll()
    }
}

extension TestBindings {
    /// The in-memory blob bucket `name` (created on first use with R2's limits).
    public func blob(_ name: String, limits: BlobLimits = .r2) -> MemoryBlob {
        buckets.withLock { buckets in
            if let existing = buckets[name] { return existing }
            let created = MemoryBlob(configuration: .init(limits: limits, clock: clock))
            buckets[name] = created
            return created
        }
    }
}
