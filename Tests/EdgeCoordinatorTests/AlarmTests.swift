import EdgeCoordinator
import EdgeTesting
import Foundation
import Testing

func alarmNamespace(_ clock: TestClock, failures: Int, path: String, log: AlarmLog = AlarmLog()) throws -> DurableObjectNamespace<Alarmed> {
    try DurableObjectNamespace<Alarmed>(name: "alarms", path: path, env: .init(runs: log, failures: failures), configuration: .init(clock: clock))
}

/// Ten minutes: a guard against a hang, not a duration. The whole suite runs in parallel on two
/// cores beside servers in processes of their own; a test needing a second alone has waited more
/// than three minutes there for the cooperative threads.
@Suite("Durable object alarms", .timeLimit(.minutes(10)))
struct AlarmTests {
    @Test("an alarm fires when the clock reaches it, once")
    func fires() async throws {
        let clock = TestClock()
        let log = AlarmLog()
        let namespace = try alarmNamespace(clock, failures: 0, path: try makeTemporaryDirectory() + "/do.sqlite", log: log)
        let stub = namespace.get(namespace.idFromName("a"))
        try await stub.call { try await $0.schedule(clock.now.addingTimeInterval(10)) }
        #expect(try await stub.call { try await $0.alarmTime() } == clock.now.addingTimeInterval(10))
        let service = Task { try await namespace.run() }
        try await clock.waitForSleeper(until: clock.now.addingTimeInterval(10))
        clock.advance(by: 9)
        #expect(try await namespace.runDueAlarms() == 0, "not before its time")
        #expect(await log.count == 0)
        clock.advance(by: 1)
        // The service (parked on the clock until the alarm's time) fires it; no call runs it by hand.
        try await log.runs.wait { $0.count == 1 }
        // The run holds the object until its storage commits, so this call sees the alarm cleared.
        #expect(try await stub.call { try await $0.alarmTime() } == nil)
        #expect(await log.infos.map(\.retryCount) == [0])
        service.cancel()
        _ = await service.result
        #expect(await log.count == 1, "once")
    }

    @Test("a throwing alarm is retried with exponential backoff from 2 s")
    func retries() async throws {
        let clock = TestClock()
        let log = AlarmLog()
        let namespace = try alarmNamespace(clock, failures: 3, path: try makeTemporaryDirectory() + "/do.sqlite", log: log)
        let stub = namespace.get(namespace.idFromName("flaky"))
        let start = clock.now
        try await stub.call { try await $0.schedule(start) }
        #expect(try await namespace.runDueAlarms() == 1)
        for (expectedDelay, runs) in [(2.0, 2), (4.0, 3), (8.0, 4)] {
            #expect(try await namespace.runDueAlarms() == 0, "the retry waits")
            clock.advance(by: expectedDelay)
            #expect(try await namespace.runDueAlarms() == 1)
            #expect(await log.count == runs)
        }
        #expect(await log.infos.map(\.retryCount) == [0, 1, 2, 3])
        #expect(try await stub.call { try await $0.alarmTime() } == nil, "done after it succeeded")
    }

    @Test("after 6 retries a failing alarm is given up")
    func givesUp() async throws {
        let clock = TestClock()
        let log = AlarmLog()
        let namespace = try alarmNamespace(clock, failures: 100, path: try makeTemporaryDirectory() + "/do.sqlite", log: log)
        let stub = namespace.get(namespace.idFromName("doomed"))
        try await stub.call { try await $0.schedule(clock.now) }
        for _ in 0..<10 {
            try await namespace.runDueAlarms()
            clock.advance(by: 200)
        }
        #expect(await log.count == 7, "the first run and 6 retries")
        #expect(try await stub.call { try await $0.alarmTime() } == nil)
    }

    @Test("alarms survive reopening the namespace")
    func survivesRestart() async throws {
        let clock = TestClock()
        let path = try makeTemporaryDirectory() + "/do.sqlite"
        var namespace = try alarmNamespace(clock, failures: 0, path: path)
        let id = namespace.idFromName("persistent")
        try await namespace.get(id).call { try await $0.schedule(clock.now.addingTimeInterval(60)) }
        namespace.close()
        let log = AlarmLog()
        namespace = try alarmNamespace(clock, failures: 0, path: path, log: log)
        clock.advance(by: 60)
        #expect(try await namespace.runDueAlarms() == 1)
        #expect(await log.count == 1)
    }

    @Test("deleteAlarm cancels; setAlarm replaces")
    func cancelAndReplace() async throws {
        let clock = TestClock()
        let log = AlarmLog()
        let namespace = try alarmNamespace(clock, failures: 0, path: try makeTemporaryDirectory() + "/do.sqlite", log: log)
        let stub = namespace.get(namespace.idFromName("c"))
        try await stub.call { try await $0.schedule(clock.now.addingTimeInterval(5)) }
        try await stub.call { try await $0.cancel() }
        clock.advance(by: 10)
        #expect(try await namespace.runDueAlarms() == 0)
        try await stub.call { try await $0.schedule(clock.now.addingTimeInterval(5)) }
        try await stub.call { try await $0.schedule(clock.now.addingTimeInterval(50)) }
        clock.advance(by: 10)
        #expect(try await namespace.runDueAlarms() == 0, "replaced by the later alarm")
        clock.advance(by: 40)
        #expect(try await namespace.runDueAlarms() == 1)
    }

    @Test("an alarm time that is not finite or outside 1970...9999 is refused with invalidAlarmTime, and the alarm set before stays")
    func invalidTimes() async throws {
        let clock = TestClock()
        let namespace = try alarmNamespace(clock, failures: 0, path: try makeTemporaryDirectory() + "/do.sqlite", log: AlarmLog())
        let stub = namespace.get(namespace.idFromName("bounds"))
        let valid = clock.now.addingTimeInterval(60)
        try await stub.call { try await $0.schedule(valid) }
        for seconds in [1e16, -1, Double.infinity, Double.nan] {
            let error = await #expect(throws: CoordinatorError.self) {
                try await stub.call { try await $0.schedule(Date(timeIntervalSince1970: seconds)) }
            }
            #expect(error?.code == .invalidAlarmTime, "\(seconds)")
        }
        #expect(try await stub.call { try await $0.alarmTime() } == valid)
    }
}
