import Foundation
import Synchronization

/// The last requests a runtime answered, newest last: the dashboard's live request log.
final class RequestLog: Sendable {
    struct Entry: Sendable {
        /// Increasing from 1; the live log asks for the entries after the last one it has.
        var sequence: Int
        var time: Date
        var method: String
        var path: String
        var status: Int
        var milliseconds: Double
        var requestID: String
    }

    private struct State {
        var next = 1
        var entries: [Entry] = []
        var start = 0
    }

    /// How many entries are kept.
    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 500) {
        self.capacity = capacity
    }

    func record(method: String, path: String, status: Int, milliseconds: Double, requestID: String) {
        state.withLock { state in
            let entry = Entry(
                sequence: state.next, time: Date(), method: method, path: path, status: status, milliseconds: milliseconds, requestID: requestID)
            state.next += 1
            if state.entries.count < capacity {
                state.entries.append(entry)
            } else {
                // A ring: overwrite the oldest.
                state.entries[state.start] = entry
                state.start = (state.start + 1) % capacity
            }
        }
    }

    /// The kept entries with a sequence number above `after`, oldest first; all of them when
    /// `after` is beyond the last (a page still open across a restart of the host).
    func entries(after: Int = 0) -> [Entry] {
        state.withLock { state in
            let ordered = state.entries[state.start...] + state.entries[..<state.start]
            let after = after >= state.next ? 0 : after
            return ordered.filter { $0.sequence > after }
        }
    }
}
