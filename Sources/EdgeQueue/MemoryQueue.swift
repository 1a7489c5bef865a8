import EdgeCore
public import Foundation
import Synchronization

/// An in-memory ``QueueBackend`` for tests: the same semantics and limits as ``SQLiteQueue``, on
/// an injectable clock, so delays, retries and visibility timeouts are tested by advancing time.
public final class MemoryQueue: QueueBackend {
    private struct Record {
        var id: Int64
        var queue: String
        var body: [UInt8]
        var contentType: QueueContentType
        var sentAt: Date
        var visibleAt: Date
        var attempts: Int
        var lease: String?
        var sourceQueue: String?
        var traceParent: String?
    }

    private struct State {
        var nextID: Int64 = 1
        /// Messages by id; ids grow with every send, so id order is send order.
        var records: [Int64: Record] = [:]

        func ordered(_ queue: String) -> [Record] {
            records.values.filter { $0.queue == queue }.sorted { ($0.visibleAt, $0.id) < ($1.visibleAt, $1.id) }
        }
    }

    public let limits: QueueLimits
    public let clock: any EdgeClock
    private let state = Mutex(State())
    private let signals = QueueSignals()

    public init(limits: QueueLimits = .cloudflare, clock: any EdgeClock = SystemClock()) {
        self.limits = limits
        self.clock = clock
    }

    public func send(_ queue: String, _ messages: [OutgoingMessage]) async throws {
        try limits.validate(messages, queue: queue)
        let now = clock.now
        state.withLock { state in
            for message in messages {
                let record = Record(
                    id: state.nextID, queue: queue, body: message.body, contentType: message.contentType, sentAt: now,
                    visibleAt: now.addingTimeInterval(message.delaySeconds), attempts: 0, traceParent: message.traceParent)
                state.records[record.id] = record
                state.nextID += 1
            }
        }
        signals.notify(queue)
    }

    public func claim(_ queue: String, max: Int, visibilityTimeout: Double) async throws -> [ClaimedMessage] {
        guard max > 0 else { return [] }
        let now = clock.now
        let token = UUID().uuidString
        return state.withLock { state in
            var claimed: [ClaimedMessage] = []
            for var record in state.ordered(queue) where record.visibleAt <= now {
                record.lease = token
                record.visibleAt = now.addingTimeInterval(visibilityTimeout)
                record.attempts += 1
                state.records[record.id] = record
                claimed.append(
                    ClaimedMessage(
                        lease: QueueLease(messageID: record.id, token: token), body: record.body,
                        contentType: record.contentType, timestamp: record.sentAt, attempts: record.attempts, traceParent: record.traceParent))
                if claimed.count == max { break }
            }
            return claimed
        }
    }

    public func extendLeases(_ queue: String, _ leases: [QueueLease], visibilityTimeout: Double) async throws -> [QueueLease] {
        let until = clock.now.addingTimeInterval(visibilityTimeout)
        return state.withLock { state in
            leases.filter { lease in
                guard var record = state.records[lease.messageID], record.lease == lease.token, record.queue == queue else { return false }
                record.visibleAt = until
                state.records[record.id] = record
                return true
            }
        }
    }

    public func settle(_ queue: String, _ outcomes: [MessageOutcome]) async throws {
        let now = clock.now
        var woken: Set<String> = []
        state.withLock { state in
            for outcome in outcomes {
                let lease = outcome.lease
                guard var record = state.records[lease.messageID], record.lease == lease.token, record.queue == queue else { continue }
                switch outcome {
                case .ack:
                    state.records.removeValue(forKey: record.id)
                case .retry(_, let delay):
                    record.lease = nil
                    record.visibleAt = now.addingTimeInterval(delay)
                    state.records[record.id] = record
                    woken.insert(queue)
                case .release:
                    record.lease = nil
                    record.visibleAt = now
                    record.attempts -= 1
                    state.records[record.id] = record
                    woken.insert(queue)
                case .deadLetter(_, let target):
                    guard let target else {
                        state.records.removeValue(forKey: record.id)
                        continue
                    }
                    record.sourceQueue = record.sourceQueue ?? queue
                    record.queue = target
                    record.lease = nil
                    record.visibleAt = now
                    record.attempts = 0
                    state.records[record.id] = record
                    woken.insert(target)
                }
            }
        }
        for queue in woken { signals.notify(queue) }
    }

    public func stats(_ queue: String) async throws -> QueueStats {
        let now = clock.now
        return state.withLock { state in
            let records = state.records.values.filter { $0.queue == queue }
            return QueueStats(
                backlog: records.count,
                inFlight: records.filter { $0.lease != nil && $0.visibleAt > now }.count,
                delayed: records.filter { $0.lease == nil && $0.visibleAt > now }.count,
                oldestMessageAge: records.map { now.timeIntervalSince($0.sentAt) }.max() ?? 0)
        }
    }

    public func peek(_ queue: String, limit: Int) async throws -> [QueuedMessage] {
        state.withLock { state in
            state.records.values.filter { $0.queue == queue }.sorted { $0.id < $1.id }.prefix(limit).map {
                QueuedMessage(
                    id: String($0.id), body: $0.body, contentType: $0.contentType, timestamp: $0.sentAt, attempts: $0.attempts, sourceQueue: $0.sourceQueue)
            }
        }
    }

    public func redrive(from deadLetterQueue: String, to target: String?) async throws -> Int {
        if let target { try QueueLimits.validateQueueName(target) }
        let now = clock.now
        let moved = state.withLock { state -> [String] in
            var moved: [String] = []
            for var record in state.records.values where record.queue == deadLetterQueue {
                guard let destination = target ?? record.sourceQueue else { continue }
                record.queue = destination
                record.sourceQueue = nil
                record.attempts = 0
                record.lease = nil
                record.visibleAt = now
                state.records[record.id] = record
                moved.append(destination)
            }
            return moved
        }
        for queue in Set(moved) { signals.notify(queue) }
        return moved.count
    }

    public func nextVisibleTime(_ queue: String) async throws -> Date? {
        state.withLock { state in state.records.values.filter { $0.queue == queue }.map(\.visibleAt).min() }
    }

    public func signal(for queue: String) -> QueueSignal { signals.signal(for: queue) }

    /// Removes every message (for resetting between tests).
    public func removeAll() {
        state.withLock { $0 = State() }
    }
}
