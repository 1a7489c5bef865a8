import Synchronization

/// A counting semaphore for async code: ``acquire()`` suspends (it never blocks a thread) until one
/// of the permits is free, and waiters get permits in the order they asked. With one permit it
/// is a FIFO lock (a durable object's call lock); with more, a bound on concurrent work (the
/// isolate threads one WebAssembly worker may hold).
package final class AsyncSemaphore: Sendable {
    private struct State {
        var free: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
        var head = 0
        var waiting: Bool { head < waiters.count }
    }

    private let state: Mutex<State>

    package init(permits: Int) { state = Mutex(State(free: permits)) }

    package func acquire() async {
        if tryAcquire() { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { state -> Bool in
                if state.free > 0, !state.waiting {
                    state.free -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    /// Takes a permit if one is free and nobody is waiting for one.
    package func tryAcquire() -> Bool {
        state.withLock { state in
            guard state.free > 0, !state.waiting else { return false }
            state.free -= 1
            return true
        }
    }

    /// Hands the permit to the next waiter, or frees it.
    package func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.waiting else {
                state.free += 1
                state.waiters.removeAll(keepingCapacity: true)
                state.head = 0
                return nil
            }
            let next = state.waiters[state.head]
            state.head += 1
            if state.head > 1024, state.head * 2 > state.waiters.count {
                state.waiters.removeFirst(state.head)
                state.head = 0
            }
            return next
        }
        next?.resume()
    }
}
