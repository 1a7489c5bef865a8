/// A value a test waits on without sleeping or polling: the code under test changes it with
/// ``update(_:)``, and the test suspends in ``wait(until:)`` until a condition on it holds.
///
/// Waiting on the event itself means a test can neither pass without the path running (there is
/// no timeout after which it gives up and checks anyway) nor flake because a loaded machine was
/// slower than a guessed delay. A wait that never ends is a hang a test's `.timeLimit` reports.
///
/// ```swift
/// let runs = Observed(0)
/// // in the handler under test:
/// await runs.update { $0 += 1 }
/// // in the test:
/// await runs.wait { $0 == 1 }
/// ```
public actor Observed<Value: Sendable> {
    private var current: Value
    private var waiters: [Int: Waiter] = [:]
    private var nextWaiter = 0

    private struct Waiter {
        var condition: @Sendable (Value) -> Bool
        var continuation: CheckedContinuation<Value, any Error>
    }

    public init(_ value: Value) { current = value }

    /// The value now.
    public var value: Value { current }

    /// Changes the value, wakes every waiter whose condition now holds, and returns what
    /// `change` returned.
    @discardableResult
    public func update<Result: Sendable>(_ change: (inout Value) -> Result) -> Result {
        let result = change(&current)
        let now = current
        for (id, waiter) in waiters where waiter.condition(now) {
            waiters.removeValue(forKey: id)
            waiter.continuation.resume(returning: now)
        }
        return result
    }

    /// Sets the value (see ``update(_:)``).
    public func set(_ value: Value) { update { $0 = value } }

    /// Returns the value as soon as `condition` holds for it: at once if it already does, else at
    /// the ``update(_:)`` that makes it hold.
    ///
    /// - Throws: `CancellationError` when the waiting task is cancelled (as swift-testing does when
    ///   a test passes its time limit).
    @discardableResult
    public func wait(until condition: @escaping @Sendable (Value) -> Bool) async throws -> Value {
        if condition(current) { return current }
        nextWaiter += 1
        let id = nextWaiter
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    waiters[id] = Waiter(condition: condition, continuation: continuation)
                }
            }
        } onCancel: {
            Task { await self.cancel(id) }
        }
    }

    private func cancel(_ id: Int) {
        waiters.removeValue(forKey: id)?.continuation.resume(throwing: CancellationError())
    }
}
