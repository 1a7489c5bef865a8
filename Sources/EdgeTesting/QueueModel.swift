public import EdgeQueue
import Foundation

/// Model-based checking of a `QueueBackend`: random sequences of sends (delayed or not), claims,
/// acknowledgements, retries with delays, releases, dead-lettering, redrives and clock moves
/// (leases expiring) run against the backend and against a plain list of messages. Every claim
/// must take the messages the model says (the oldest visible ones, with their attempts), and
/// after every operation the counts of both queues must agree. Settling a lease that expired
/// and was claimed again must change nothing. Operations are three small integers each (see
/// ``KVModel``).
public enum QueueModel {
    public enum Operation: Sendable, CustomStringConvertible {
        case send(delay: Int)
        case sendBatch
        case claim(max: Int)
        case ack(held: Int)
        case retry(held: Int, delay: Int)
        case deadLetter(held: Int)
        case release(held: Int)
        case advance(seconds: Int)
        case redrive
        /// A heartbeat: extends the lease of the `held`th claimed message still held by the test.
        case extend(held: Int)

        /// Decodes (kind, index, parameter) codes: kind 0...9, index any, parameter 0...120.
        public init(_ code: (Int, Int, Int)) {
            let (kind, index, parameter) = code
            switch abs(kind) % 10 {
            case 0: self = .send(delay: parameter % 3 == 0 ? parameter : 0)
            case 1: self = .sendBatch
            case 2: self = .claim(max: 1 + abs(index) % 4)
            case 3: self = .ack(held: abs(index))
            case 4: self = .retry(held: abs(index), delay: parameter % 2 == 0 ? 0 : parameter)
            case 5: self = .deadLetter(held: abs(index))
            case 6: self = .release(held: abs(index))
            case 7: self = .advance(seconds: parameter)
            case 8: self = .extend(held: abs(index))
            default: self = .redrive
            }
        }

        public var description: String {
            switch self {
            case .send(let delay): "send(delay \(delay))"
            case .sendBatch: "sendBatch(3)"
            case .claim(let max): "claim(\(max))"
            case .ack(let held): "ack(held \(held))"
            case .retry(let held, let delay): "retry(held \(held), delay \(delay))"
            case .deadLetter(let held): "deadLetter(held \(held))"
            case .release(let held): "release(held \(held))"
            case .advance(let seconds): "advance(\(seconds) s)"
            case .redrive: "redrive"
            case .extend(let held): "extend(held \(held))"
            }
        }
    }

    struct Message {
        var body: Int
        var queue: String
        var source: String?
        var visibleAt: Date
        var attempts = 0
        var lease: Int?
    }

    /// The visibility timeout of every claim.
    static let visibilityTimeout = 30.0

    /// Runs `operations` on a fresh binding of `harness` and on the model.
    ///
    /// - Throws: ``ConformanceFailure`` at the first operation after which they differ (naming
    ///   the sequence so far), or what the backend threw.
    public static func check(_ operations: [Operation], on harness: ConformanceHarness<any QueueBackend>) async throws {
        let clock = TestClock()
        let backend = try await harness.make(clock)
        let producer = try QueueProducer<Int>(queue: "jobs", backend: backend)
        var model: [Message] = []  // in send order: the position is the id order
        var held: [(lease: QueueLease, claim: Int, body: Int)] = []
        var claims = 0
        var nextBody = 0  // bodies are unique: they name the messages
        var done: [Operation] = []
        func position(_ body: Int) -> Int? { model.firstIndex { $0.body == body } }
        for operation in operations {
            done.append(operation)
            let context = "after \(done.map(\.description).joined(separator: "; "))"
            let now = clock.now
            switch operation {
            case .send(let delay):
                try await producer.send(nextBody, delaySeconds: Double(delay))
                model.append(Message(body: nextBody, queue: "jobs", visibleAt: now.addingTimeInterval(Double(delay))))
                nextBody += 1
            case .sendBatch:
                let bodies = (0..<3).map { nextBody + $0 }
                nextBody += 3
                try await producer.sendBatch(bodies.map { QueueSendRequest(body: $0) })
                for body in bodies { model.append(Message(body: body, queue: "jobs", visibleAt: now)) }
            case .claim(let max):
                claims += 1
                let claimed = try await backend.claim("jobs", max: max, visibilityTimeout: visibilityTimeout)
                let due = model.indices.filter { model[$0].queue == "jobs" && model[$0].visibleAt <= now }
                    .sorted { (model[$0].visibleAt, $0) < (model[$1].visibleAt, $1) }.prefix(max)
                for index in due {
                    model[index].attempts += 1
                    model[index].lease = claims
                    model[index].visibleAt = now.addingTimeInterval(visibilityTimeout)
                }
                // Which messages a claim takes is checked; their order within the batch is the backend's.
                let bodies = try claimed.map { try QueueCoding.decode($0.body, as: $0.contentType, to: Int.self) }
                try Check.equal(bodies.sorted(), due.map { model[$0].body }.sorted(), "claimed bodies \(context)")
                for (message, body) in zip(claimed, bodies) {
                    try Check.equal(message.attempts, position(body).map { model[$0].attempts }, "attempts of \(body) \(context)")
                }
                held += zip(claimed, bodies).map { (lease: $0.lease, claim: claims, body: $1) }
            case .ack(let index), .retry(let index, _), .deadLetter(let index), .release(let index):
                guard !held.isEmpty else { break }
                let (lease, claim, body) = held.remove(at: index % held.count)
                let outcome: MessageOutcome
                switch operation {
                case .ack: outcome = .ack(lease)
                case .retry(_, let delay): outcome = .retry(lease, delaySeconds: Double(delay))
                case .deadLetter: outcome = .deadLetter(lease, queue: "dlq")
                default: outcome = .release(lease)
                }
                try await backend.settle("jobs", [outcome])
                // A lease counts while the message is not claimed again (even once expired).
                guard let at = position(body), model[at].lease == claim, model[at].queue == "jobs" else { break }
                switch outcome {
                case .ack: model.remove(at: at)
                case .retry(_, let delay):
                    model[at].lease = nil
                    model[at].visibleAt = now.addingTimeInterval(delay)
                case .deadLetter:
                    model[at].source = model[at].source ?? "jobs"
                    model[at].queue = "dlq"
                    model[at].lease = nil
                    model[at].visibleAt = now
                    model[at].attempts = 0
                default:
                    model[at].lease = nil
                    model[at].visibleAt = now
                    model[at].attempts -= 1
                }
            case .advance(let seconds):
                clock.advance(by: Double(seconds))
            case .extend(let index):
                guard !held.isEmpty else { break }
                let (lease, claim, body) = held[index % held.count]
                let extended = try await backend.extendLeases("jobs", [lease], visibilityTimeout: visibilityTimeout)
                // A lease is still held while its message was neither settled nor claimed again
                // (even once expired); extending it moves its deadline, it stays held.
                let current = position(body).map { model[$0].lease == claim && model[$0].queue == "jobs" } ?? false
                try Check.equal(extended.count, current ? 1 : 0, "leases extended \(context)")
                if current, let at = position(body) { model[at].visibleAt = now.addingTimeInterval(visibilityTimeout) }
            case .redrive:
                let moved = try await backend.redrive(from: "dlq", to: nil)
                var expected = 0
                for index in model.indices where model[index].queue == "dlq" {
                    model[index].queue = model[index].source ?? "jobs"
                    model[index].source = nil
                    model[index].attempts = 0
                    model[index].visibleAt = now
                    model[index].lease = nil
                    expected += 1
                }
                try Check.equal(moved, expected, "redriven \(context)")
            }
            let at = clock.now
            for queue in ["jobs", "dlq"] {
                let stats = try await backend.stats(queue)
                let messages = model.filter { $0.queue == queue }
                try Check.equal(stats.backlog, messages.count, "\(queue) backlog \(context)")
                try Check.equal(stats.inFlight, messages.filter { $0.lease != nil && $0.visibleAt > at }.count, "\(queue) in flight \(context)")
                try Check.equal(stats.delayed, messages.filter { $0.lease == nil && $0.visibleAt > at }.count, "\(queue) delayed \(context)")
            }
        }
    }
}
