public import EdgeCore
public import Foundation
import Synchronization

/// Where queue messages live: the storage engine behind producers and consumers.
///
/// Backends: ``MemoryQueue`` (tests) and ``SQLiteQueue`` (durable; several processes may share one
/// file). Both pass `QueueConformance` from EdgeTesting. Applications use ``QueueProducer`` and
/// ``QueueConsumer``, which validate and encode; a backend stores and leases.
///
/// Delivery is at least once: a claimed message that is neither acknowledged nor retried before
/// its visibility timeout passes (its consumer died) is delivered again. Ordering is best effort
/// (oldest visible first).
public protocol QueueBackend: Sendable {
    var limits: QueueLimits { get }
    /// The clock delays, leases and timestamps are measured on.
    var clock: any EdgeClock { get }

    /// Stores `messages` in `queue`. When it returns, they are committed (durable for durable
    /// backends) and visible to consumers once their delay has passed.
    ///
    /// - Throws: ``QueueError`` for a limit violation (nothing is stored) or a storage failure.
    func send(_ queue: String, _ messages: [OutgoingMessage]) async throws

    /// Claims up to `max` visible messages of `queue`, oldest first, leasing them until
    /// `visibilityTimeout` seconds from now and counting one more attempt on each. Two claims never
    /// return the same message while its lease is valid.
    ///
    /// - Throws: ``QueueError`` `.storageFailure`.
    func claim(_ queue: String, max: Int, visibilityTimeout: Double) async throws -> [ClaimedMessage]

    /// Moves the end of each lease in `leases` that is still held (its message was not claimed
    /// again or settled) to `visibilityTimeout` seconds from now, and returns those leases. A
    /// consumer calls it while its handler runs past a part of the timeout (a heartbeat), so a slow
    /// batch is not delivered a second time.
    ///
    /// - Throws: ``QueueError`` `.storageFailure`.
    func extendLeases(_ queue: String, _ leases: [QueueLease], visibilityTimeout: Double) async throws -> [QueueLease]

    /// Applies outcomes atomically. An outcome whose lease has expired (the message was claimed
    /// again) is ignored: the new holder decides.
    ///
    /// - Throws: ``QueueError`` `.storageFailure`.
    func settle(_ queue: String, _ outcomes: [MessageOutcome]) async throws

    /// Backlog, in-flight and delayed counts and the oldest message's age.
    ///
    /// - Throws: ``QueueError`` `.storageFailure`.
    func stats(_ queue: String) async throws -> QueueStats

    /// Up to `limit` messages of `queue`, oldest first, without claiming them.
    ///
    /// - Throws: ``QueueError`` `.storageFailure`.
    func peek(_ queue: String, limit: Int) async throws -> [QueuedMessage]

    /// Moves every message of the dead-letter queue `deadLetterQueue` back to the queue it failed
    /// on (or to `target`), as a fresh message with no attempts. Returns how many moved.
    ///
    /// - Throws: ``QueueError`` `.storageFailure`.
    func redrive(from deadLetterQueue: String, to target: String?) async throws -> Int

    /// When the next message of `queue` becomes visible, or `nil` when the queue is empty.
    ///
    /// - Throws: ``QueueError`` `.storageFailure`.
    func nextVisibleTime(_ queue: String) async throws -> Date?

    /// Signalled whenever messages are sent or given back to `queue` through this backend
    /// instance, so consumers in this process wake at once instead of polling.
    func signal(for queue: String) -> QueueSignal

    /// Applies `outcomes` (as ``settle(_:_:)``) and then claims up to `max` messages (as
    /// ``claim(_:max:visibilityTimeout:)``). A consumer calls it between batches: a backend that
    /// can do both in one transaction saves a commit per batch. The default settles, then claims.
    ///
    /// - Throws: ``QueueError`` `.storageFailure` (with the default, the outcomes may have been
    ///   applied when the claim fails).
    func settleAndClaim(_ queue: String, _ outcomes: [MessageOutcome], max: Int, visibilityTimeout: Double) async throws -> [ClaimedMessage]
}

extension QueueBackend {
    public func settleAndClaim(_ queue: String, _ outcomes: [MessageOutcome], max: Int, visibilityTimeout: Double) async throws -> [ClaimedMessage] {
        try await settle(queue, outcomes)
        return try await claim(queue, max: max, visibilityTimeout: visibilityTimeout)
    }
}

/// Wakes consumers when messages arrive (see `WakeSignal`).
public typealias QueueSignal = WakeSignal

/// Signals per queue name, for backends.
package final class QueueSignals: Sendable {
    private let signals = Mutex<[String: QueueSignal]>([:])

    package init() {}

    package func signal(for queue: String) -> QueueSignal {
        signals.withLock { signals in
            if let signal = signals[queue] { return signal }
            let signal = QueueSignal()
            signals[queue] = signal
            return signal
        }
    }

    package func notify(_ queue: String) { signal(for: queue).notify() }

    /// Wakes every consumer (after a gap in notifications).
    package func notifyAll() {
        for signal in signals.withLock({ Array($0.values) }) { signal.notify() }
    }
}
