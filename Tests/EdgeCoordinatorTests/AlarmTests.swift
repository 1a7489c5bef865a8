import EdgeCoordinator
import EdgeTesting
import Foundation
import Testing

func alarmNamespace(_ clock: TestClock, failures: Int, path: String, log: AlarmLog = AlarmLog()) throws -> DurableObjectNamespace<Alarmed> {
    try DurableObjectNamespace<Alarmed>(name: "alarms", path: path, env: .init(runs: log, failures: failures), configuration: .init(clock: clock))
}

func eventually(_ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(1))
    }
    Issue.record("condition not reached within 30 s")
}

@Suite("Durable object alarms")
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
        try await clock.waitForSleepers(1)
        clock.advance(by: 9)
        try await Task.sleep(for: .milliseconds(20))
        #expect(await log.count == 0, "not before its time")
        clock.advance(by: 1)
        try await eventually { await log.count == 1 }
        try await eventually { try await stub.call { try await $0.alarmTime() } == nil }
        #expect(await log.infos.first?.retryCount == 0)
        service.cancel()
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
}
