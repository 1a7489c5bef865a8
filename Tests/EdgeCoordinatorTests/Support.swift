import EdgeCoordinator
import EdgeTesting
import Foundation
import HTTPTypes

func makeTemporaryDirectory(_ name: String = "do") throws -> String {
    try TemporaryDirectory.make(name)
}

struct NoEnv: Sendable {}

/// A counter with a deliberate suspension between its read and its write: if two calls ever
/// interleaved inside the object, increments would be lost and `overlaps` would count it.
actor Counter: DurableObject {
    let state: DurableObjectState
    var inCall = false
    var overlaps = 0

    init(state: DurableObjectState, env: NoEnv) {
        self.state = state
    }

    func increment(by amount: Int = 1) async throws -> Int {
        if inCall { overlaps += 1 }
        inCall = true
        defer { inCall = false }
        let current = try state.storage.get("count", as: Int.self) ?? 0
        await Task.yield()
        try await Task.sleep(for: .microseconds(10))
        try state.storage.put("count", current + amount)
        return current + amount
    }

    func append(_ value: Int) throws {
        var log = try state.storage.get("log", as: [Int].self) ?? []
        log.append(value)
        try state.storage.put("log", log)
    }

    func log() throws -> [Int] { try state.storage.get("log", as: [Int].self) ?? [] }

    func overlapCount() -> Int { overlaps }

    func fetch(_ request: EdgeRequest) async throws -> EdgeResponse {
        EdgeResponse(status: .ok, body: .text("\(request.method) \(request.path) count=\(try state.storage.get("count", as: Int.self) ?? 0)"))
    }
}

/// Records alarm runs; fails the first `failures` runs.
actor Alarmed: DurableObject {
    struct Env: Sendable {
        let runs: AlarmLog
        let failures: Int
    }

    let state: DurableObjectState
    let env: Env

    init(state: DurableObjectState, env: Env) {
        self.state = state
        self.env = env
    }

    func schedule(_ date: Date) throws { try state.storage.setAlarm(date) }
    func alarmTime() throws -> Date? { try state.storage.getAlarm() }
    func cancel() throws { try state.storage.deleteAlarm() }

    func alarm(_ info: AlarmInfo) async throws {
        let run = await env.runs.record(info)
        struct Flaky: Error {}
        if run <= env.failures { throw Flaky() }
        try state.storage.put("alarmed", true)
    }
}

/// The alarm runs so far; tests wait on them (``Observed``) rather than sleep.
struct AlarmLog: Sendable {
    let runs = Observed<[AlarmInfo]>([])
    func record(_ info: AlarmInfo) async -> Int {
        await runs.update { runs in
            runs.append(info)
            return runs.count
        }
    }
    var infos: [AlarmInfo] { get async { await runs.value } }
    var count: Int { get async { await runs.value.count } }
}
