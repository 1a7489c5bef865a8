import EdgeCoordinator
import EdgeTesting
import Foundation
import HTTPTypes
import Testing

func counterNamespace(_ clock: TestClock = TestClock(), idleTimeout: Double = 70, path: String? = nil) throws -> DurableObjectNamespace<Counter> {
    try DurableObjectNamespace<Counter>(
        name: "counters", path: path ?? (try makeTemporaryDirectory() + "/do.sqlite"), env: NoEnv(),
        configuration: .init(clock: clock, idleTimeout: idleTimeout))
}

@Suite("Durable object ids")
struct IDTests {
    @Test("ids from names are stable per namespace; unique ids are unique; ids parse back")
    func ids() throws {
        let a = try counterNamespace()
        let b = try DurableObjectNamespace<Counter>(name: "other", path: try makeTemporaryDirectory() + "/do.sqlite", env: NoEnv())
        #expect(a.idFromName("repo/1") == a.idFromName("repo/1"))
        #expect(a.idFromName("repo/1") != a.idFromName("repo/2"))
        #expect(a.idFromName("repo/1") != b.idFromName("repo/1"), "namespaces do not share ids")
        #expect(a.idFromName("x").hex.count == 64)
        #expect(a.newUniqueId() != a.newUniqueId())
        let id = a.idFromName("repo/1")
        #expect(try a.idFromString(id.description) == id)
        #expect(try a.idFromString(id.hex.uppercased()) == id)
        for bad in ["", "xyz", String(repeating: "g", count: 64), String(repeating: "a", count: 63)] {
            #expect { try a.idFromString(bad) } throws: { ($0 as? CoordinatorError)?.code == .invalidID }
        }
    }
}

@Suite("Durable object execution")
struct ExecutionTests {
    @Test("calls from one stub are delivered in order")
    func ordering() async throws {
        let namespace = try counterNamespace()
        let stub = namespace.get(namespace.idFromName("ordered"))
        for value in 0..<300 { try await stub.call { try await $0.append(value) } }
        #expect(try await stub.call { try await $0.log() } == Array(0..<300))
    }

    @Test("100 concurrent callers never interleave inside one object")
    func noInterleaving() async throws {
        let namespace = try counterNamespace()
        let id = namespace.idFromName("hot")
        let results = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<100 {
                group.addTask {
                    var seen: [Int] = []
                    for _ in 0..<10 { seen.append(try await namespace.get(id).call { try await $0.increment() }) }
                    return seen
                }
            }
            return try await group.reduce(into: [Int]()) { $0 += $1 }
        }
        #expect(results.sorted() == Array(1...1000), "every increment saw the previous one: no lost update")
        #expect(try await namespace.get(id).call { await $0.overlapCount() } == 0, "no call started while another was inside")
        #expect(namespace.instancesConstructed == 1, "one live instance")
    }

    @Test("different objects run independently; fetch reaches the object")
    func fetchAndIsolation() async throws {
        let namespace = try counterNamespace()
        _ = try await namespace.get(namespace.idFromName("a")).call { try await $0.increment(by: 5) }
        _ = try await namespace.get(namespace.idFromName("b")).call { try await $0.increment(by: 7) }
        let response = try await namespace.get(namespace.idFromName("a")).fetch(EdgeRequest(method: .post, path: "/count"))
        #expect(response.status == 200)
        #expect(try await response.body.text() == "POST /count count=5")
        let alarmed = try DurableObjectNamespace<Alarmed>(
            name: "alarmed", path: try makeTemporaryDirectory() + "/do.sqlite",
            env: .init(runs: AlarmLog(), failures: 0))
        #expect(try await alarmed.get(alarmed.newUniqueId()).fetch(EdgeRequest(path: "/")).status == 501, "fetch defaults to 501")
    }

    @Test("what a call committed is there after reopening the namespace")
    func reopen() async throws {
        let path = try makeTemporaryDirectory() + "/do.sqlite"
        var namespace = try counterNamespace(path: path)
        let id = namespace.idFromName("durable")
        for _ in 0..<5 { _ = try await namespace.get(id).call { try await $0.increment() } }
        namespace.close()
        namespace = try counterNamespace(path: path)
        #expect(try await namespace.get(id).call { try await $0.increment() } == 6)
    }

    @Test("idle objects are evicted and rebuilt from storage")
    func eviction() async throws {
        let clock = TestClock()
        let namespace = try counterNamespace(clock, idleTimeout: 10)
        let stub = namespace.get(namespace.idFromName("sleepy"))
        _ = try await stub.call { try await $0.increment(by: 3) }
        #expect(namespace.evictIdle() == 0, "not idle yet")
        clock.advance(by: 11)
        #expect(namespace.evictIdle() == 1)
        #expect(namespace.liveCount == 0)
        #expect(try await stub.call { try await $0.increment() } == 4, "rebuilt with its storage")
        #expect(namespace.instancesConstructed == 2)
    }

    @Test("reset clears objects, storage and alarms")
    func reset() async throws {
        let namespace = try counterNamespace()
        let stub = namespace.get(namespace.idFromName("r"))
        _ = try await stub.call { try await $0.increment(by: 9) }
        try await namespace.reset()
        #expect(namespace.liveCount == 0)
        #expect(try await stub.call { try await $0.increment() } == 1)

        let clock = TestClock()
        let log = AlarmLog()
        let alarms = try alarmNamespace(clock, failures: 0, path: try makeTemporaryDirectory() + "/do.sqlite", log: log)
        let alarmed = alarms.get(alarms.idFromName("a"))
        try await alarmed.call { try await $0.schedule(clock.now.addingTimeInterval(5)) }
        try await alarms.reset()
        #expect(try await alarmed.call { try await $0.alarmTime() } == nil, "the alarm is gone")
        clock.advance(by: 10)
        #expect(try await alarms.runDueAlarms() == 0, "and never fires")
        #expect(await log.count == 0)
    }
}
