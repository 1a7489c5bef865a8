import EdgeCore
import EdgeIsolates
import EdgeKV
import EdgeRuntime
import Foundation
import HTTPTypes
import Logging
import ServiceLifecycle

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

        try await overHTTP()
    }

    /// `isolate.hello.rps` and `isolate.kv_get.rps`: `Guests/hello.c` as a ``WasmWorker`` against
    /// the same handler written as a native Swift worker, both served by EdgeRuntime on their own
    /// ports in this process, loaded by wrk (`-t2 -c64`) from another process; rounds alternate
    /// which goes first and each side keeps its best round.
    func overHTTP() async throws {
        guard let wrk = ["/usr/bin/wrk", "/usr/local/bin/wrk"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw BenchError(message: "wrk is not installed: apt-get install wrk")
        }
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let config = try EdgeConfig.parse(
            #"{ "name": "hello", "log_level": "warning", "kv_namespaces": [{ "binding": "KV", "backend": "memory" }] }"#, file: "hello.jsonc")
        let module = try IsolateModule(bytes: GuestToolchain.buildC(["Guests/hello.c"]))
        let isolated = try WorkerRuntime(worker: WasmWorker(name: "hello", module: module), bindings: EdgeBindings(config: config, logger: logger))
        let native = try WorkerRuntime(worker: NativeHello(), bindings: EdgeBindings(config: config, logger: logger))
        let value = String(repeating: "v", count: 100)
        for namespace in [isolated.env.kv["KV"], native.env] { try await namespace?.put("greeting", value) }
        let (isolatedPort, nativePort) = (PortBox(), PortBox())
        let servers = ServiceGroup(
            services: [
                try EdgeHost(runtime: isolated).application(port: 0) { isolatedPort.set($0) },
                try EdgeHost(runtime: native).application(port: 0) { nativePort.set($0) },
            ], logger: logger)
        let serving = Task { try await servers.run() }
        let ports = (isolated: try await isolatedPort.wait(), native: try await nativePort.wait())
        let seconds = max(3, Int(options.duration * 3))
        for (name, path) in [("isolate.hello.rps", "/"), ("isolate.kv_get.rps", "/kv/greeting")] {
            var best = (isolated: HTTPBenchmark.WrkResult(rps: 0, p99: .infinity), native: HTTPBenchmark.WrkResult(rps: 0, p99: .infinity))
            for round in 0..<max(4, options.rounds) {
                for side in round % 2 == 0 ? [true, false] : [false, true] {
                    if side {
                        best.isolated = best.isolated.better(try HTTPBenchmark.wrk(wrk, port: ports.isolated, seconds: seconds, path: path))
                    } else {
                        best.native = best.native.better(try HTTPBenchmark.wrk(wrk, port: ports.native, seconds: seconds, path: path))
                    }
                }
            }
            BenchLine(
                suite: "isolates", name: name, value: best.isolated.rps, unit: "requests/s", peer: "native-swift-worker", peerValue: best.native.rps,
                // Values are JSON: a line without a target has no target_ratio.
                extra: ["load": quote("wrk -t2 -c64"), "p99_ms": String(format: "%.2f", best.isolated.p99)]
                    .merging(name == "isolate.hello.rps" ? ["target_ratio": "0.5"] : [:]) { $1 }
            ).print()
        }
        await servers.triggerGracefulShutdown()
        try await serving.value
    }
}

/// The peer of `Guests/hello.c`'s `/` and `/kv/KEY`, as a native Swift worker.
struct NativeHello: Worker {
    static func makeEnv(_ bindings: EdgeBindings) throws -> any KVNamespace { try bindings.kv("KV") }

    func fetch(_ request: EdgeRequest, env: any KVNamespace, ctx: ExecutionContext) async throws -> EdgeResponse {
        if request.method == .get, request.path == "/" { return .text("Hello from a WebAssembly worker\n") }
        if request.method == .get, request.path.hasPrefix("/kv/") {
            guard let value = try await env.getBytes(String(request.path.dropFirst(4))) else { return .text("no such key\n", status: .notFound) }
            return EdgeResponse(status: .ok, headers: [.contentType: "application/octet-stream"], body: .bytes(value))
        }
        return .text("not found\n", status: .notFound)
    }
}
