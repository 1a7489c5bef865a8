import Foundation

/// A check of a conformance suite that did not hold: what was expected, what happened, and where
/// in the suite.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public var message: String
    public var location: String

    public var description: String { "\(message) [\(location)]" }
}

/// Assertions for conformance suites. They throw ``ConformanceFailure`` instead of recording an
/// issue, so a suite runs under any test framework and a failing case stops at its first failure.
public enum Check {
    /// Fails unless `condition` holds.
    public static func that(_ condition: Bool, _ message: @autoclosure () -> String, fileID: String = #fileID, line: Int = #line) throws {
        if !condition { throw ConformanceFailure(message: message(), location: "\(fileID):\(line)") }
    }

    /// Fails unless `actual == expected`.
    public static func equal<T: Equatable>(_ actual: T, _ expected: T, _ what: @autoclosure () -> String, fileID: String = #fileID, line: Int = #line) throws {
        if actual != expected {
            throw ConformanceFailure(message: "\(what()): expected \(expected), got \(actual)", location: "\(fileID):\(line)")
        }
    }

    /// Fails unless `body` throws an error of type `E` that `matches` accepts; returns that error.
    @discardableResult
    public static func throwsError<E: Error>(
        _ type: E.Type, _ what: @autoclosure () -> String,
        fileID: String = #fileID, line: Int = #line,
        matching matches: (E) -> Bool = { _ in true },
        _ body: () async throws -> Void
    ) async throws -> E {
        do {
            try await body()
        } catch let error as E {
            if matches(error) { return error }
            throw ConformanceFailure(message: "\(what()): threw an unexpected \(E.self): \(error)", location: "\(fileID):\(line)")
        } catch {
            throw ConformanceFailure(message: "\(what()): threw \(error), expected \(E.self)", location: "\(fileID):\(line)")
        }
        throw ConformanceFailure(message: "\(what()): did not throw", location: "\(fileID):\(line)")
    }
}

/// How a conformance suite obtains instances of the backend under test.
public struct ConformanceHarness<Binding: Sendable>: Sendable {
    public typealias Make = @Sendable (TestClock) async throws -> Binding
    public typealias Reopen = @Sendable (Binding, TestClock) async throws -> Binding

    /// Makes a fresh, empty binding on `clock`.
    public var make: Make
    /// Closes a binding and opens it again from its storage (durable backends only).
    public var reopen: Reopen?
    /// The store dates what it holds with its own clock (a remote server such as S3), not with
    /// the case's ``TestClock``: each case's clock then starts at the current time, a date the
    /// store gives is checked against the real time around the operation (give or take
    /// ``remoteClockTolerance`` seconds), and checks that need the store's time to move with the
    /// test clock are left out (each case says which).
    public var clockIsRemote: Bool
    /// How far a remote store's dates may be from the test's clock, in seconds. Default 2 (S3
    /// dates have whole seconds).
    public var remoteClockTolerance: Double

    /// Checks the store under test is known not to make, by name, each with the reason: for a
    /// client of someone else's server (moto) whose rules are looser than the real service's.
    /// A suite names the checks that can be waived; every other check always runs.
    public var waived: [String: String]

    public init(
        make: @escaping Make, reopen: Reopen? = nil, clockIsRemote: Bool = false, remoteClockTolerance: Double = 2, waived: [String: String] = [:]
    ) {
        self.make = make
        self.reopen = reopen
        self.clockIsRemote = clockIsRemote
        self.remoteClockTolerance = remoteClockTolerance
        self.waived = waived
    }
}

/// One named check of a conformance suite; pass it to swift-testing as an argument.
public struct ConformanceCase<Binding: Sendable>: Sendable, CustomStringConvertible {
    public let name: String
    let body: @Sendable (ConformanceContext<Binding>) async throws -> Void

    init(_ name: String, _ body: @escaping @Sendable (ConformanceContext<Binding>) async throws -> Void) {
        self.name = name
        self.body = body
    }

    public var description: String { name }

    /// Runs this check against a fresh binding from `harness`, on a fresh ``TestClock``.
    ///
    /// - Throws: ``ConformanceFailure`` for the first expectation that did not hold, or the
    ///   backend's own error when an operation that must succeed failed.
    public func run(_ harness: ConformanceHarness<Binding>) async throws {
        let clock = harness.clockIsRemote ? TestClock(now: Date()) : TestClock()
        let binding = try await harness.make(clock)
        try await body(ConformanceContext(clock: clock, binding: binding, harness: harness))
    }
}

/// What a check works with: the binding under test, its clock, and a way to reopen it.
struct ConformanceContext<Binding: Sendable>: Sendable {
    let clock: TestClock
    let binding: Binding
    let harness: ConformanceHarness<Binding>

    func reopen() async throws -> Binding {
        guard let reopen = harness.reopen else {
            throw ConformanceFailure(message: "this case needs a harness with `reopen`", location: "\(Binding.self) conformance")
        }
        return try await reopen(binding, clock)
    }
}
