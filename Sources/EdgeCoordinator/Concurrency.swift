import EdgeCore
import Foundation
import Synchronization

/// The completion of one commit, awaited by later calls that may have read its writes.
final class CommitTicket: Sendable {
    private struct State {
        var finished = false
        var error: (any Error)?
        var waiters: [CheckedContinuation<Void, any Error>] = []
    }

    private let state = Mutex(State())

    var isFinished: Bool { state.withLock { $0.finished } }

    func finish(_ error: (any Error)?) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.finished = true
            state.error = error
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters {
            if let error { waiter.resume(throwing: error) } else { waiter.resume() }
        }
    }

    func wait() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome = state.withLock { state -> Result<Void, any Error>? in
                guard state.finished else {
                    state.waiters.append(continuation)
                    return nil
                }
                return state.error.map { .failure($0) } ?? .success(())
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }
}
