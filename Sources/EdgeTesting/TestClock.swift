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
                let immediate: Result<Void, any Error>? = state.withLock { state in
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if deadline <= state.now { return .success(()) }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return nil
                }
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
    /// the work it started is parked on the clock: first by yielding (`attempts` times), then —
    /// for work waiting on real I/O such as a database server — polling every millisecond of
    /// real time for at most `timeout`.
    ///
    /// - Throws: ``TestClockError`` when that does not happen in time.
    public func waitForSleepers(_ count: Int = 1, attempts: Int = 100_000, timeout: Duration = .seconds(10)) async throws {
        try await waitFor(
            { self.sleeperCount >= count }, attempts: attempts, timeout: timeout,
            failure: { "expected \(count) sleepers on the TestClock, found \(self.sleeperCount)" })
    }

    /// Waits until a task sleeps on this clock until exactly `deadline` — a particular service
    /// parked, whichever others sleep too (see ``waitForSleepers(_:attempts:timeout:)``).
    ///
    /// - Throws: ``TestClockError`` when that does not happen in time.
    public func waitForSleeper(until deadline: Date, attempts: Int = 100_000, timeout: Duration = .seconds(10)) async throws {
        let parked = { self.state.withLock { $0.sleepers.values.contains { $0.deadline == deadline } } }
        try await waitFor(parked, attempts: attempts, timeout: timeout, failure: { "no task sleeps on the TestClock until \(deadline)" })
    }

    private func waitFor(_ condition: () -> Bool, attempts: Int, timeout: Duration, failure: () -> String) async throws {
        for _ in 0..<attempts {
            if condition() { return }
            await Task.yield()
        }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if condition() { return }
            try await Task.sleep(for: .milliseconds(1))
        }
        if condition() { return }
        throw TestClockError(message: failure())
    }
}

/// Thrown by `waitForSleepers(_:attempts:)`.
public struct TestClockError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
