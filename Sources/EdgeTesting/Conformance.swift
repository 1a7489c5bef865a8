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
