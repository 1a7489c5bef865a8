import EdgeCore
public import Foundation
import Synchronization

/// One delivered message (Cloudflare's `Message`).
///
/// Call ``ack()`` to mark it delivered whatever happens to the rest of the batch, or
/// ``retry(delaySeconds:)`` to have it delivered again. The first explicit call wins.
public struct Message<Body: Sendable>: Sendable {
    /// A unique id of the message.
    public let id: String
    /// When it was sent.
    public let timestamp: Date
    public let body: Body
    /// Deliveries so far, this one included: 1 on the first delivery.
    public let attempts: Int

    let index: Int
    let decisions: BatchDecisions

    /// Marks this message delivered: it is not retried, even if the handler throws.
    public func ack() { decisions.decide(index, .ack) }

    /// Asks for this message to be delivered again after `delaySeconds` (default: the consumer's
    /// `retryDelay`), even if the handler returns normally.
    public func retry(delaySeconds: Double? = nil) { decisions.decide(index, .retry(delaySeconds)) }
}

/// A batch of messages handed to a consumer (Cloudflare's `MessageBatch`).
///
/// When the handler returns, every message not explicitly retried is acknowledged; when it throws,
/// every message not explicitly acknowledged (by ``Message/ack()`` or ``ackAll()``) is retried.
public struct MessageBatch<Body: Sendable>: Sendable {
    /// The queue the messages came from.
    public let queue: String
    public let messages: [Message<Body>]

    let decisions: BatchDecisions

    /// Acknowledges every message not explicitly retried.
    public func ackAll() { decisions.decideAll(.ack) }

    /// Retries every message not explicitly acknowledged, after `delaySeconds` (default: the
    /// consumer's `retryDelay`).
    public func retryAll(delaySeconds: Double? = nil) { decisions.decideAll(.retry(delaySeconds)) }
}

/// The per-message decisions of one batch, shared by the batch and its messages.
final class BatchDecisions: Sendable {
    enum Decision: Sendable, Equatable {
        case ack
        case retry(Double?)
    }

    private struct State {
        var explicit: [Decision?]
        var batchDefault: Decision?
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(explicit: Array(repeating: nil, count: count)))
    }

    func decide(_ index: Int, _ decision: Decision) {
        state.withLock { state in
            if state.explicit[index] == nil { state.explicit[index] = decision }
        }
    }

    func decideAll(_ decision: Decision) {
        state.withLock { state in
            if state.batchDefault == nil { state.batchDefault = decision }
        }
    }

    /// The final decision for each message: its explicit call, else the batch-wide call, else ack
    /// when the handler returned and retry when it threw.
    func resolve(handlerSucceeded: Bool) -> [Decision] {
        state.withLock { state in
            state.explicit.map { $0 ?? state.batchDefault ?? (handlerSucceeded ? .ack : .retry(nil)) }
        }
    }
}
