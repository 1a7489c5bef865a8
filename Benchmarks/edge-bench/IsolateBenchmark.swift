import EdgeIsolates
import Foundation

/// `edge-bench isolates`: cold start (instantiate + first call) of a hello guest, resident
/// memory per warm idle isolate with 1,000 loaded, and calls/s into a warm isolate.
struct IsolateBenchmark {
    let options: BenchOptions

    func run() async throws {
        let bytes = try GuestToolchain.buildC(["Benchmarks/guests/hello.c"])
        let module = try IsolateModule(bytes: bytes)
        // Cold start: a new isolate (store, memory, instance) and its first call.
        var latencies: [Double] = []
        for _ in 0..<2_000 {
            let start = seconds()
            let isolate = try module.instantiate()
            guard try isolate.call("fetch", [20]) == [41] else { throw BenchError(message: "the guest answered wrongly") }
            latencies.append((seconds() - start) * 1000)
        }
        latencies.sort()
        func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        BenchLine(suite: "isolates", name: "isolate.cold_start.p50", value: percentile(0.5), unit: "ms", extra: ["target": "1", "lower_is_better": "true"])
            .print()
        BenchLine(suite: "isolates", name: "isolate.cold_start.p99", value: percentile(0.99), unit: "ms", extra: ["lower_is_better": "true"]).print()

        // Memory: 1,000 warm idle isolates (each called once).
        let before = try Memory.field("VmRSS")
        var kept: [Isolate] = []
        for _ in 0..<1_000 {
            let isolate = try module.instantiate()
            _ = try isolate.call("fetch", [1])
            kept.append(isolate)
        }
        let after = try Memory.field("VmRSS")
        BenchLine(
            suite: "isolates", name: "isolate.memory", value: Double(after - before) / 1024 / 1000, unit: "MiB",
            extra: ["isolates": "1000", "target": "1", "lower_is_better": "true"]
        ).print()
        kept.removeAll()

        // Calls/s, warm: one isolate called from one thread (the HTTP comparison with a native
        // worker, `isolate.hello.rps`, comes with the fetch ABI).
        let isolate = try module.instantiate()
        var calls = 0
        let start = seconds()
        while seconds() - start < options.duration {
            for _ in 0..<1_000 { _ = try isolate.call("fetch", [Int32(calls & 0xffff)]) }
            calls += 1_000
        }
        BenchLine(suite: "isolates", name: "isolate.call_rate", value: Double(calls) / (seconds() - start), unit: "calls/s").print()
    }
}
