import EdgeCore
import EdgeTesting
import Foundation
import Testing

@Suite("JSONValue")
struct JSONValueTests {
    @Test("round-trips every kind of value, keeping integers integers")
    func roundTrip() throws {
        let value: JSONValue = [
            "int": 9_007_199_254_740_993, "double": 1.5, "text": "é\"/", "flag": false, "none": nil, "list": [1, "two", [3.25]], "nested": ["a": ["b": 1]],
        ]
        let parsed = try JSONValue(parsing: value.serialized())
        #expect(parsed == value)
        #expect(parsed[path: "nested.a.b"] == 1)
        #expect(parsed[path: "nested.x"] == nil)
        #expect(parsed[path: "int"] == .int(9_007_199_254_740_993))
    }

    @Test("serialization is canonical (sorted keys)")
    func canonical() throws {
        let a: JSONValue = ["b": 1, "a": 2]
        #expect(String(decoding: try a.serialized(), as: UTF8.self) == #"{"a":2,"b":1}"#)
    }

    @Test("converts Encodable values and decodes back")
    func encodable() throws {
        struct Point: Codable, Equatable {
            var x: Int
            var y: Double
        }
        let json = try JSONValue(encoding: Point(x: 1, y: 2.5))
        #expect(json == ["x": 1, "y": 2.5])
        #expect(try json.decode(as: Point.self) == Point(x: 1, y: 2.5))
    }

    @Test("rejects malformed JSON")
    func malformed() {
        #expect(throws: DecodingError.self) { try JSONValue(parsing: Data("{\"a\":".utf8)) }
    }
}

/// Ten minutes: a guard against a hang, not a duration. The whole suite runs in parallel on two
/// cores beside servers in processes of their own; a test needing a second alone has waited more
/// than three minutes there for the cooperative threads.
@Suite("TestClock", .timeLimit(.minutes(10)))
struct TestClockTests {
    @Test("advancing wakes sleepers whose deadline has come, and only those")
    func wakesDueSleepers() async throws {
        let clock = TestClock()
        let start = clock.now
        let woke = Counter()
        let early = Task {
            try await clock.sleep(seconds: 10)
            await woke.add("early")
        }
        let late = Task {
            try await clock.sleep(seconds: 100)
            await woke.add("late")
        }
        try await clock.waitForSleepers(2)
        clock.advance(by: 10)
        try await early.value
        #expect(await woke.names == ["early"])
        #expect(clock.sleeperCount == 1)
        clock.advance(by: 90)
        try await late.value
        #expect(await woke.names == ["early", "late"])
        #expect(clock.now == start.addingTimeInterval(100))
    }

    @Test("a sleep whose deadline has passed returns at once")
    func pastDeadline() async throws {
        let clock = TestClock()
        let start = clock.now
        let returned = Observed(0)
        // Nothing advances the clock: only a sleep that returns without parking can finish.
        let sleeper = Task {
            try await clock.sleep(until: start.addingTimeInterval(-1))
            await returned.update { $0 += 1 }
            try await clock.sleep(until: start)
            await returned.update { $0 += 1 }
        }
        try await returned.wait { $0 == 2 }
        try await sleeper.value
        #expect(clock.sleeperCount == 0, "neither sleep parked")
        #expect(clock.now == start, "and the clock did not move")
        // A deadline a moment ahead does park, so the check above can tell the difference.
        let parked = Task { try await clock.sleep(until: start.addingTimeInterval(0.001)) }
        try await clock.waitForSleepers(1)
        clock.advance(by: 0.001)
        try await parked.value
    }

    @Test("cancelling a sleeper throws CancellationError and unregisters it")
    func cancellation() async throws {
        let clock = TestClock()
        let sleeper = Task { try await clock.sleep(seconds: 1000) }
        try await clock.waitForSleepers(1)
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
    }

    @Test("a wait for sleepers started first is woken by the sleep; one that is not met throws, one cancelled throws CancellationError")
    func waitingForSleepers() async throws {
        let clock = TestClock()
        let waiter = Task { try await clock.waitForSleepers(2) }
        let first = Task { try await clock.sleep(seconds: 5) }
        let until = clock.now.addingTimeInterval(7)
        let particular = Task { try await clock.waitForSleeper(until: until) }
        let second = Task { try await clock.sleep(until: until) }
        try await waiter.value
        try await particular.value
        #expect(clock.sleeperCount == 2)
        await #expect(throws: TestClockError.self) { try await clock.waitForSleepers(3, timeout: .milliseconds(20)) }
        await #expect(throws: TestClockError.self) { try await clock.waitForSleeper(until: until.addingTimeInterval(1), timeout: .milliseconds(20)) }
        let cancelled = Task { try await clock.waitForSleepers(3) }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        clock.advance(by: 7)
        try await first.value
        try await second.value
        // A sleeper that parks after the failed and the cancelled waits wakes nobody wrongly.
        let third = Task { try await clock.sleep(seconds: 1) }
        try await clock.waitForSleepers(1)
        clock.advance(by: 1)
        try await third.value
    }

    @Test("the system clock reads wall time")
    func systemClock() {
        let clock = SystemClock()
        #expect(abs(clock.now.timeIntervalSinceNow) < 5)
        #expect(clock.nowEpochSeconds > 1_700_000_000)
    }
}

actor Counter {
    var names: [String] = []
    func add(_ name: String) { names.append(name) }
}

@Suite("Duration conversions")
struct DurationConversionTests {
    @Test("seconds, milliseconds and nanoseconds keep fractions and saturate at Int64's bounds")
    func conversions() {
        #expect(Duration.milliseconds(1500).inSeconds == 1.5)
        #expect(Duration.microseconds(2500).inMilliseconds == 2.5)
        #expect(Duration.nanoseconds(1_234_567_891).inNanoseconds == 1_234_567_891)
        #expect(Duration.nanoseconds(-42).inNanoseconds == -42)
        #expect(Duration.zero.inNanoseconds == 0)
        #expect(Duration.seconds(Int64.max / 2).inNanoseconds == .max)
        #expect(Duration.seconds(Int64.min / 2).inNanoseconds == .min)
    }
}
