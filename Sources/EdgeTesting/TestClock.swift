public import EdgeCore
public import Foundation
import Synchronization

/// A clock that moves only when told to: TTLs, delays, retries and alarms are tested by advancing
/// it, never by sleeping.
///
/// Tasks sleeping on it (``sleep(until:)``) wake when ``advance(by:)`` or ``advance(to:)`` moves
/// the time to or past their deadline, in deadline order.
public final class TestClock: EdgeClock {
    private struct Sleeper {
        var deadline: Date
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Date
        var nextID = 0
        var sleepers: [Int: Sleeper] = [:]
        var cancelled: Set<Int> = []
        /// Waits for sleepers (``waitForSleepers(_:timeout:)``) that are parked, started and not
        /// yet ended, and ended before they parked.
        var watchers: [Int: Watcher] = [:]
        var pendingWatchers: Set<Int> = []
        var finishedWatchers: [Int: Result<Void, any Error>] = [:]
    }

    private struct Watcher {
        var satisfied: @Sendable ([Date]) -> Bool
        var continuation: CheckedContinuation<Void, any Error>
    }

    private let state: Mutex<State>

    /// A clock reading `now`; by default 2023-11-14T22:13:20Z, a fixed instant so tests repeat exactly.
    public init(now: Date = Date(timeIntervalSince1970: 1_700_000_000)) {
        state = Mutex(State(now: now))
    }

    public var now: Date { state.withLock { $0.now } }

    /// How many tasks are sleeping on this clock.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Moves the time forward by `seconds` and wakes every sleeper whose deadline has come.
    public func advance(by seconds: Double) {
        precondition(seconds >= 0, "TestClock cannot go backwards")
        advance(to: now.addingTimeInterval(seconds))
    }

    /// Moves the time to `date` (if later than now) and wakes every sleeper whose deadline has come.
    public func advance(to date: Date) {
        let due = state.withLock { state -> [Sleeper] in
            if date > state.now { state.now = date }
            let now = state.now
            let due = state.sleepers.filter { $0.value.deadline <= now }
            for id in due.keys { state.sleepers.removeValue(forKey: id) }
            return due.values.sorted { $0.deadline < $1.deadline }
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    public func sleep(until deadline: Date) async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (immediate, ready) = state.withLock { state -> (Result<Void, any Error>?, [Watcher]) in
                    if state.cancelled.remove(id) != nil { return (.failure(CancellationError()), []) }
                    if deadline <= state.now { return (.success(()), []) }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return (nil, Self.satisfiedWatchers(&state))
                }
                for watcher in ready { watcher.continuation.resume() }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                if let sleeper = state.sleepers.removeValue(forKey: id) { return sleeper }
                state.cancelled.insert(id)
                return nil
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Waits until at least `count` tasks sleep on this clock, so a test can advance time knowing
    /// the work it started is parked on the clock. The wait is woken by the sleep that makes the
    /// count, with no polling, so it costs nothing however busy the machine is (a loop of
    /// `Task.yield()` waits behind every other runnable task each turn: under a whole test run on
    /// two cores, 100,000 yields took minutes).
    ///
    /// - Parameters:
    ///   - count: how many sleepers to wait for.
    ///   - timeout: real time after which the wait gives up (default 10 minutes). Work waiting on
    ///     real I/O, such as a database pool shared by a whole test run, has taken more than
    ///     three minutes to park on two loaded cores; the wait costs nothing meanwhile.
    /// - Throws: ``TestClockError`` when that does not happen within `timeout`;
    ///   `CancellationError` when the waiting task is cancelled.
    public func waitForSleepers(_ count: Int = 1, timeout: Duration = .seconds(600)) async throws {
        try await waitFor(
            { deadlines in deadlines.count >= count }, timeout: timeout,
            failure: { "expected \(count) sleepers on the TestClock, found \(self.sleeperCount)" })
    }

    /// Waits until a task sleeps on this clock until exactly `deadline` — a particular service
    /// parked, whichever others sleep too (see ``waitForSleepers(_:timeout:)``).
    ///
    /// - Throws: ``TestClockError`` when that does not happen within `timeout`;
    ///   `CancellationError` when the waiting task is cancelled.
    public func waitForSleeper(until deadline: Date, timeout: Duration = .seconds(600)) async throws {
        try await waitFor({ deadlines in deadlines.contains(deadline) }, timeout: timeout, failure: { "no task sleeps on the TestClock until \(deadline)" })
    }

    private func waitFor(
        _ satisfied: @escaping @Sendable ([Date]) -> Bool, timeout: Duration, failure: @escaping @Sendable () -> String
    ) async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            state.pendingWatchers.insert(state.nextID)
            return state.nextID
        }
        let timer = Task {
            try await Task.sleep(for: timeout)
            self.finishWatcher(id, .failure(TestClockError(message: failure())))
        }
        defer { timer.cancel() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let immediate: Result<Void, any Error>? = state.withLock { state in
                    if let early = state.finishedWatchers.removeValue(forKey: id) {
                        state.pendingWatchers.remove(id)
                        return early
                    }
                    if satisfied(state.sleepers.values.map(\.deadline)) {
                        state.pendingWatchers.remove(id)
                        return .success(())
                    }
                    state.watchers[id] = Watcher(satisfied: satisfied, continuation: continuation)
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            finishWatcher(id, .failure(CancellationError()))
        }
    }

    /// Ends the wait `id` with `result`: at once if it is parked, or as soon as it parks.
    private func finishWatcher(_ id: Int, _ result: Result<Void, any Error>) {
        let watcher = state.withLock { state -> Watcher? in
            guard state.pendingWatchers.contains(id) else { return nil }
            if let watcher = state.watchers.removeValue(forKey: id) {
                state.pendingWatchers.remove(id)
                return watcher
            }
            state.finishedWatchers[id] = result
            return nil
        }
        watcher?.continuation.resume(with: result)
    }

    /// Removes and returns the waits a newly parked sleeper satisfies; called with the lock held.
    private static func satisfiedWatchers(_ state: inout State) -> [Watcher] {
        guard !state.watchers.isEmpty else { return [] }
        let deadlines = state.sleepers.values.map(\.deadline)
        var ready: [Watcher] = []
        for (id, watcher) in state.watchers where watcher.satisfied(deadlines) {
            state.watchers.removeValue(forKey: id)
            state.pendingWatchers.remove(id)
            ready.append(watcher)
        }
        return ready
    }
}

/// Thrown by ``TestClock/waitForSleepers(_:timeout:)`` and ``TestClock/waitForSleeper(until:timeout:)``.
public struct TestClockError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
