import EdgeCore
import Foundation
import Synchronization

/// How a watched piece of work ended.
enum WatchdogOutcome<T: Sendable>: Sendable {
    case finished(Result<T, any Error>)
    case timedOut
}

/// Enforces a wall-time limit on many concurrent pieces of work with one timer.
///
/// Each watched piece runs in its own task and registers its deadline here; a single watcher task
/// (started on demand, gone when nothing is registered) sleeps until the earliest deadline and
/// answers every piece past it with `.timedOut`, cancelling its task. The caller is answered at the
/// deadline even if the work ignores cancellation. Compared with a timer task per request this
/// costs one lock round trip per request instead of a task and a timer registration.
final class Watchdog<T: Sendable>: Sendable {
    private struct Entry {
        let deadline: Date
        let continuation: UnsafeContinuation<WatchdogOutcome<T>, Never>
        var task: Task<Void, Never>?
    }

    private struct State {
        var entries: [Int: Entry] = [:]
        var nextID = 0
        var watching = false
    }

    private let clock: any EdgeClock
    private let state = Mutex(State())

    init(clock: any EdgeClock) {
        self.clock = clock
    }

    /// Work in flight.
    var count: Int { state.withLock { $0.entries.count } }

    /// Runs `work`, giving up on it (and cancelling it) after `timeout` seconds of clock time.
    ///
    /// Cancelling the caller (a client that went away) cancels the work. A handler that runs
    /// without ever suspending holds its thread until it does (Swift cannot pre-empt it); it is
    /// answered with `.timedOut` at its first suspension past the deadline.
    func run(timeout: Double, _ work: @escaping @Sendable () async throws -> T) async -> WatchdogOutcome<T> {
        let deadline = clock.now.addingTimeInterval(timeout)
        let id = state.withLock { state in
            defer { state.nextID &+= 1 }
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await start(id: id, deadline: deadline, work)
        } onCancel: {
            state.withLock { $0.entries[id]?.task }?.cancel()
        }
    }

    private func start(id: Int, deadline: Date, _ work: @escaping @Sendable () async throws -> T) async -> WatchdogOutcome<T> {
        await withUnsafeContinuation { continuation in
            let startWatcher = state.withLock { state in
                state.entries[id] = Entry(deadline: deadline, continuation: continuation)
                defer { state.watching = true }
                return !state.watching
            }
            // The watcher starts before the work, so even the first request's deadline is watched.
            if startWatcher { Task { await self.watch() } }
            let body: @Sendable () async -> Void = {
                let result: Result<T, any Error>
                do { result = .success(try await work()) } catch { result = .failure(error) }
                self.state.withLock { $0.entries.removeValue(forKey: id) }?.continuation.resume(returning: .finished(result))
            }
            // An immediate task runs on this thread until its first suspension: a handler that
            // answers without suspending costs no thread hop.
            let task: Task<Void, Never>
            if #available(macOS 26, iOS 26, tvOS 26, watchOS 26, visionOS 26, *) {
                task = Task.immediate(operation: body)
            } else {
                task = Task(operation: body)
            }
            // The entry may already be gone: timed out before its task was known (cancel it now),
            // or finished (cancelling a finished task does nothing).
            let gone = state.withLock { state -> Bool in
                guard state.entries[id] != nil else { return true }
                state.entries[id]?.task = task
                return false
            }
            if gone || Task.isCancelled { task.cancel() }
        }
    }

    /// Sleeps until the earliest deadline, answers everything past it, and stops once nothing is
    /// registered.
    private func watch() async {
        while true {
            let earliest = state.withLock { state -> Date? in
                guard let earliest = state.entries.values.lazy.map(\.deadline).min() else {
                    state.watching = false
                    return nil
                }
                return earliest
            }
            guard let earliest else { return }
            try? await clock.sleep(until: earliest)
            let now = clock.now
            let expired = state.withLock { state -> [Entry] in
                let due = state.entries.filter { $0.value.deadline <= now }
                for id in due.keys { state.entries.removeValue(forKey: id) }
                return Array(due.values)
            }
            for entry in expired {
                entry.task?.cancel()
                entry.continuation.resume(returning: .timedOut)
            }
        }
    }
}
