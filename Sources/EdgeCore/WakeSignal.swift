public import Foundation
import Synchronization

/// A wake-up signal: waiters suspend until the next ``notify()``. Read ``generation`` before
/// looking for work and wait with it, so a notification in between is never missed.
public final class WakeSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Increases with every notification; read it before looking for work, then wait with it.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// Wakes every waiter.
    public func notify() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.generation &+= 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the generation differs from `generation` (at once if it already does), or
    /// when the task is cancelled.
    public func wait(after generation: UInt64) async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.generation != generation || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Returns at the first notification after `generation`, when `clock` reaches `deadline`, or
    /// on cancellation — whichever comes first.
    public func wait(after generation: UInt64, until deadline: Date, clock: any EdgeClock) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wait(after: generation) }
            group.addTask { try? await clock.sleep(until: deadline) }
            await group.next()
            group.cancelAll()
        }
    }
}
