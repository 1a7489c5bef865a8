public import Foundation

/// The wall clock every swift-edge component reads time from.
///
/// Expirations, delays, retries and alarms are stated in wall-clock time (seconds since the Unix
/// epoch, as on Cloudflare), so the clock is injected: production code uses ``SystemClock``; tests
/// use `TestClock` from EdgeTesting and move time by hand instead of sleeping.
public protocol EdgeClock: Sendable {
    /// The current time.
    var now: Date { get }

    /// Suspends until the clock reads `deadline` or later.
    ///
    /// - Throws: `CancellationError` when the calling task is cancelled while it waits.
    func sleep(until deadline: Date) async throws
}

extension EdgeClock {
    /// The current time as whole seconds since the Unix epoch (rounded down), the unit Cloudflare
    /// uses for expirations.
    public var nowEpochSeconds: Int64 { Int64(now.timeIntervalSince1970.rounded(.down)) }

    /// Suspends for `seconds` of this clock's time.
    public func sleep(seconds: Double) async throws {
        try await sleep(until: now.addingTimeInterval(seconds))
    }
}

/// The real clock: `Date()` and `Task.sleep`.
public struct SystemClock: EdgeClock {
    public init() {}

    public var now: Date { Date() }

    public func sleep(until deadline: Date) async throws {
        let interval = deadline.timeIntervalSinceNow
        if interval > 0 {
            try await Task.sleep(for: .seconds(interval))
        } else {
            try Task.checkCancellation()
        }
    }
}

extension Duration {
    /// This duration in seconds, fractions included.
    public var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// This duration in whole nanoseconds (what swift-metrics' timers record), saturating at
    /// `Int64`'s bounds.
    public var inNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (sum, carried) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow || carried ? (seconds < 0 ? .min : .max) : sum
    }

    /// This duration in milliseconds, fractions included.
    public var inMilliseconds: Double { inSeconds * 1000 }
}
