import EdgeBlob
import EdgeCoordinator
import EdgeCore
import EdgeKV
import EdgeQueue
import EdgeRuntime
import EdgeRuntimeTesting
import EdgeTesting
import Embeddings
import Foundation
import HTTPTypes
import Logging
import ServiceLifecycle
import Synchronization
import Testing
import VectorSearch

@testable import EdgeIsolates

/// The repository's `Guests/` (the ABI header and the example workers).
let guestsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Guests").path

/// Builds a C worker (the SDK's `edge.h` on the include path).
func buildWorker(_ path: String) async throws -> IsolateModule {
    try IsolateModule(bytes: await builtC(path))
}

/// Log lines, captured.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }

    var logger: Logger {
        Logger(label: "test") { _ in Handler(sink: self) }
    }

    struct Handler: LogHandler {
        let sink: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { sink.append("\(event.level) \(event.message) \(event.metadata ?? [:])") }
    }
}

/// A runtime serving `worker` with `config`, every binding in memory, logging to `log`.
func runtime(_ worker: WasmWorker, config: String, log: LogLines = LogLines()) throws -> WorkerRuntime<WasmWorker> {
    var parsed = try EdgeConfig.parse(config, file: "isolate.jsonc")
    parsed.secretsFile = "/nonexistent/.dev.vars"
    return try WorkerRuntime(worker: worker, bindings: EdgeBindings(config: parsed, inMemory: true, environment: [:], logger: log.logger))
}

extension WorkerRuntime {
    func text(_ path: String, method: HTTPRequest.Method = .get, headers: HTTPFields = [:], body: [UInt8] = []) async -> (HTTPResponse.Status, String) {
        let response = await TestResponse(await handle(EdgeRequest(method: method, path: path, headers: headers, body: .bytes(body))))
        return (response.status, String(decoding: response.body, as: UTF8.self))
    }
}

/// Serialized: its guests run interpreted (a debug build of WasmKit) on isolate threads, and
/// several CPU-bound isolates at once would take the two cores from the cooperative threads every
/// other suite running in parallel needs.
@Suite("WebAssembly workers", .serialized)
struct WasmWorkerTests {
    /// A KV binding, and a request time limit far above 30 s: a binding call from an isolate runs
    /// as a task on the cooperative pool, which the full suite (running in parallel, some suites
    /// computing for minutes) can keep busy for longer than Cloudflare's limits.
    static let kvConfig = #"{ "name": "hello", "limits": { "request_timeout_ms": 600000 }, "kv_namespaces": [{ "binding": "KV", "backend": "memory" }] }"#
    /// Default limits with the wall time raised to match (see ``kvConfig``).
    static let patient = IsolateLimits(wallTime: .seconds(600))

    @Test(
        "short invocations run on the caller's thread; a binding call from there finishes while every cooperative thread is blocked",
        .enabled(if: ProcessInfo.processInfo.activeProcessorCount > 1, "on one core, no invocation runs on its caller's thread"))
    func callerThread() async throws {
        // A wall time short enough that, were the binding call left to the (blocked) cooperative
        // threads, the request would end in a 503 rather than hang the suite.
        let worker = WasmWorker(name: "hello", module: try await buildWorker("\(guestsDirectory)/hello.c"), limits: IsolateLimits(wallTime: .seconds(60)))
        let runtime = try runtime(worker, config: Self.kvConfig)
        #expect(await runtime.text("/kv/greeting", method: .put, body: Array("hi".utf8)).0 == .created)
        for _ in 0..<IsolatePool.inlineStreak { #expect(await runtime.text("/").0 == .ok) }
        let before = worker.pool.callerRuns.load(ordering: .relaxed)
        #expect(await runtime.text("/").1 == "Hello from a WebAssembly worker\n")
        #expect(worker.pool.callerRuns.load(ordering: .relaxed) == before + 1)

        // Every other cooperative thread blocked (as by code waiting on a child process) until
        // the request is answered; the guest's kv_get must not need them.
        let others = max(0, ProcessInfo.processInfo.activeProcessorCount - 1)
        let blockers = Blockers()
        for _ in 0..<others { Task.detached { blockers.block() } }
        while blockers.started < others { try await Task.sleep(for: .milliseconds(1)) }
        let (status, body) = await runtime.text("/kv/greeting")
        blockers.release(others)
        #expect(status == .ok)
        #expect(body == "hi")
        #expect(worker.pool.callerRuns.load(ordering: .relaxed) == before + 2)
        // It waited on a binding: its next invocations go back to the isolate threads.
        #expect(await runtime.text("/").0 == .ok)
        #expect(worker.pool.callerRuns.load(ordering: .relaxed) == before + 2)
    }

    @Test("one worker's invocations never hold every isolate thread: another worker's still runs")
    func fairShare() async throws {
        let module = try await buildWorker("\(guestsDirectory)/hello.c")
        let busy = IsolatePool(module: module, limits: Self.patient)
        let other = IsolatePool(module: module, limits: Self.patient)
        // As many invocations of one worker as there are isolate threads, each blocking its
        // thread until released.
        let blockers = Blockers()
        let held = (0..<IsolatePool.threadCount).map { _ in Task { try await busy.run { _, _ in blockers.block() } } }
        while blockers.started < IsolatePool.threadCount - 1 { try await Task.sleep(for: .milliseconds(5)) }
        // The other worker's invocation finds a thread while they hold theirs (none has ended).
        #expect(try await other.run { _, _ in true })
        #expect(blockers.ended == 0)
        #expect(blockers.started == IsolatePool.threadCount - 1, "the busy worker's last invocation waits for one of its slots")
        blockers.release(IsolatePool.threadCount)
        for task in held { try await task.value }
        #expect(blockers.started == IsolatePool.threadCount)
    }

    /// Tasks that block their thread until released (at most two minutes).
    final class Blockers: Sendable {
        private let counts = Mutex((started: 0, ended: 0))
        private let gate = DispatchSemaphore(value: 0)
        var started: Int { counts.withLock { $0.started } }
        var ended: Int { counts.withLock { $0.ended } }
        func block() {
            counts.withLock { $0.started += 1 }
            _ = gate.wait(timeout: .now() + 120)
            counts.withLock { $0.ended += 1 }
        }
        func release(_ n: Int) { for _ in 0..<n { gate.signal() } }
    }

    @Test("a C worker serves fetch through the Worker contract and reads and writes its KV binding")
    func helloWorker() async throws {
        let log = LogLines()
        let host = try runtime(
            WasmWorker(name: "hello", module: await buildWorker(guestsDirectory + "/hello.c"), limits: Self.patient), config: Self.kvConfig, log: log)
        #expect(await host.text("/") == (.ok, "Hello from a WebAssembly worker\n"))
        #expect(await host.text("/kv/greeting") == (.notFound, "no such key\n"))
        #expect(await host.text("/kv/greeting", method: .put, body: Array("hej".utf8)) == (.created, "stored\n"))
        #expect(await host.text("/kv/greeting") == (.ok, "hej"))
        #expect(await host.text("/count") == (.ok, "1"))
        #expect(await host.text("/count") == (.ok, "2"))
        // A value larger than one result_read.
        let large = (0..<60_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        #expect(await host.text("/kv/large", method: .put, body: large).0 == .created)
        let read = await TestResponse(await host.handle(EdgeRequest(path: "/kv/large")))
        #expect(read.body == large)
        #expect(read.headers[.contentType] == "application/octet-stream")
        // Headers both ways.
        let echoed = await TestResponse(
            await host.handle(EdgeRequest(method: .post, path: "/echo", headers: [.contentType: "text/x-test"], body: .bytes(Array("body".utf8)))))
        #expect(echoed.headers[.contentType] == "text/x-test")
        #expect(echoed.body == Array("body".utf8))
        // A key the namespace refuses (KV keys are at most 512 bytes) reaches the guest as EDGE_REFUSED.
        #expect(
            await host.text("/kv/" + String(repeating: "k", count: 600), method: .put, body: [1]) == (
                .badRequest, "the KV namespace refused the key or value\n"
            ))
        #expect(log.all.contains { $0.contains("kv_put(KV, kkkk") && $0.contains("refused") })
        // The example answers 413 rather than storing a value cut to its buffer.
        #expect(await host.text("/kv/big", method: .put, body: Array(repeating: 1, count: 70_000)).0 == .contentTooLarge)
        #expect(await host.text("/kv/big").0 == .notFound)
    }

    /// KV, a producer for `jobs`, a consumer of it with a dead-letter queue, and a cron trigger.
    static let tasksConfig = #"""
        { "name": "tasks", "limits": { "request_timeout_ms": 600000 },
          "kv_namespaces": [{ "binding": "KV", "backend": "memory" }],
          "r2_buckets": [{ "binding": "FILES", "bucket_name": "files" }],
          "ai": { "binding": "AI", "model": "hashing", "dimensions": 8 },
          "vectorize": [{ "binding": "VECS", "index_name": "vecs", "dimensions": 8 }],
          "durable_objects": { "bindings": [{ "name": "COUNTER", "class_name": "WasmCounter" }] },
          "queues": { "producers": [{ "binding": "JOBS", "queue": "jobs" }],
                      "consumers": [{ "queue": "jobs", "max_retries": 2, "retry_delay": 5, "dead_letter_queue": "jobs-dlq" }] },
          "triggers": { "crons": ["*/5 * * * *"] } }
        """#

    @Test(
        "queue and scheduled handlers over the ABI: a guest sends JSON to its queue, consumes batches (ack, retry with a delay, a failing batch retried), and runs on a cron trigger"
    )
    func queueAndScheduled() async throws {
        let log = LogLines()
        let config = try EdgeConfig.parse(Self.tasksConfig, file: "tasks.jsonc")
        let client = try WorkerTestClient(
            WasmWorker(name: "tasks", module: await buildWorker(guestsDirectory + "/tasks.c"), limits: Self.patient), config: config, logger: log.logger)
        let kv = try client.bindings.kv("KV")
        // fetch sends; a body that is not JSON is refused and logged, nothing sent.
        #expect(await client.fetch("/jobs", method: "POST", body: Array(#"{"n":1}"#.utf8)).status == .accepted)
        #expect(await client.fetch("/jobs", method: "POST", body: Array(#"{"n":2,"when":"later"}"#.utf8)).status == .accepted)
        #expect(await client.fetch("/jobs", method: "POST", body: Array("not json".utf8)).status == .badRequest)
        #expect(log.all.contains { $0.contains("queue_send(JOBS) refused: a queue message body must be JSON text") })
        // One batch: the first acknowledged and stored under its id, the second retried in 60 s.
        #expect(try await client.deliverQueue("jobs") == 2)
        let stored = try await kv.list(KVListOptions(prefix: "job:")).keys.map(\.name)
        #expect(stored.count == 1)
        #expect(try await kv.get(stored[0]) == #"{"n":1}"#)
        #expect(try await kv.get("processed") == "1")
        client.clock.advance(by: 30)
        #expect(try await client.deliverQueue("jobs") == 0, "retried after 60 s, not 30")
        client.clock.advance(by: 31)
        #expect(try await client.deliverQueue("jobs") == 1, "delivered again once its delay passed")
        // A batch the guest fails (queue returns 1) is retried whole, with the error logged.
        try await client.bindings.queue("JOBS", as: JSONValue.self).send(["poison": true])
        #expect(try await client.deliverQueue("jobs") == 1)
        #expect(try await kv.get("processed") == "1")
        #expect(log.all.contains { $0.contains("worker tasks failed") && $0.contains("queue returned 1") && $0.contains(#""handler": queue"#) })
        client.clock.advance(by: 6)
        #expect(try await client.deliverQueue("jobs") == 1, "the failed batch is delivered again after the retry delay")
        // A cron trigger.
        try await client.scheduled("*/5 * * * *", at: Date(timeIntervalSince1970: 1_800_000_000.25))
        #expect(try await kv.get("cron") == "*/5 * * * *")
        #expect(try await kv.get("cron_time") == "1800000000250")
        #expect(log.all.contains { $0.contains("scheduled ran") && $0.contains(#""worker": tasks"#) })
    }

    @Test("the guest SDK's Queue, Batch and Trigger: an Embedded Swift worker sends, consumes (ack, retry) and runs on a cron trigger")
    func swiftQueueAndScheduled() async throws {
        let module = try IsolateModule(bytes: await offPool { try GuestToolchain.build(directory: guest("swift-tasks")) })
        let client = try WorkerTestClient(
            WasmWorker(name: "swift-tasks", module: module, limits: Self.patient, objects: [.native(WasmCounter.self) { _ in WasmCounter.Env() }]),
            config: try EdgeConfig.parse(Self.tasksConfig, file: "tasks.jsonc"))
        let kv = try client.bindings.kv("KV")
        #expect(await client.fetch("/jobs", method: "POST", body: Array(#"{"n":1}"#.utf8)).status == .accepted)
        #expect(await client.fetch("/jobs", method: "POST", body: Array(#""later""#.utf8)).status == .accepted)
        #expect(await client.fetch("/jobs", method: "POST", body: Array("{".utf8)).status == .badRequest)
        #expect(try await client.deliverQueue("jobs") == 2)
        let stored = try await kv.list(KVListOptions(prefix: "job:")).keys.map(\.name)
        #expect(stored.count == 1)
        #expect(try await kv.get(stored[0]) == #"{"n":1}"#)
        #expect(try await kv.get("attempts:" + stored[0].dropFirst(4)) == "1")
        client.clock.advance(by: 61)
        #expect(try await client.deliverQueue("jobs") == 1, "the retried message, delivered again after 60 s")
        try await client.scheduled("0 * * * *", at: Date(timeIntervalSince1970: 1_700_000_000))
        #expect(try await kv.get("cron") == "0 * * * *")
        #expect(try await kv.get("cron_time") == "1700000000000")
        // The SDK's Bucket and ObjectWriter: written 1 KiB at a time, read back.
        let file = (0..<5_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let copied = await client.fetch("/files/a.bin", method: "PUT", body: file)
        #expect(copied.status == .ok)
        #expect(copied.body == file)
        #expect(try await client.bindings.bucket("FILES").get("a.bin")?.body?.bytes() == file)
        // The SDK's DurableObjectNamespace, AI and VectorIndex.
        #expect(await client.fetch("/object/a", method: "POST", body: Array("x".utf8)).text == "POST /increment x 1")
        #expect(await client.fetch("/object/a", method: "POST", body: Array("y".utf8)).text == "POST /increment y 2")
        let model = try client.bindings.ai("AI")
        let embedded = await client.fetch("/embed", method: "POST", body: Array("parse JSON".utf8))
        #expect(floats(embedded.body) == (try await model.embed(["parse JSON"])[0]))
        let texts = ["open a file", "parse JSON", "sort an array"]
        _ = try await client.bindings.vectorize("VECS").upsert(zip(texts, try await model.embed(texts)).map { VectorRecord(id: $0, values: $1) })
        let nearest = await client.fetch("/nearest", method: "POST", body: Array("parse JSON".utf8))
        #expect(nearest.status == .ok)
        #expect(try nearest.json(as: QueryAnswer.self).matches.first?.id == "parse JSON")
    }

    @Test("a guest reaches a bucket (objects read in chunks; one larger than its memory refused), an AI binding and a vector index through the host")
    func blobAIAndVectors() async throws {
        let config = try EdgeConfig.parse(
            #"""
            { "name": "bindings", "limits": { "request_timeout_ms": 600000 },
              "r2_buckets": [{ "binding": "FILES", "bucket_name": "files" }],
              "ai": { "binding": "AI", "model": "hashing", "dimensions": 8 },
              "vectorize": [{ "binding": "VECS", "index_name": "vecs", "dimensions": 8 }],
              "durable_objects": { "bindings": [{ "name": "COUNTER", "class_name": "WasmCounter" }] } }
            """#, file: "bindings.jsonc")
        let client = try WorkerTestClient(
            WasmWorker(
                name: "bindings", module: await buildWorker(guest("bindings.c")), limits: IsolateLimits(memoryBytes: 1 << 20, wallTime: .seconds(600)),
                objects: [.native(WasmCounter.self) { _ in WasmCounter.Env() }]),
            config: config)
        // A durable object (a native class) through its stub: each name is its own object, and
        // its count is kept in its storage.
        #expect(await client.fetch("/object/a", method: "POST", body: Array("x".utf8)).text == "POST /increment x 1")
        #expect(await client.fetch("/object/a", method: "POST", body: Array("y".utf8)).text == "POST /increment y 2")
        let other = await client.fetch("/object/b", method: "POST")
        #expect(other.status == .ok)
        #expect(other.text == "POST /increment  1")
        // A bucket: 40 KB up, and back in 4 KiB reads.
        let object = (0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        #expect(await client.fetch("/blob/a/b.bin", method: "PUT", body: object).status == .created)
        let read = await client.fetch("/blob/a/b.bin")
        #expect(read.status == .ok)
        #expect(read.body == object)
        #expect(try await client.bindings.bucket("FILES").get("a/b.bin")?.body?.bytes() == object)
        #expect(await client.fetch("/blob/missing").status == .notFound)
        // An object larger than the guest's memory limit is refused, not copied in.
        _ = try await client.bindings.bucket("FILES").put("big", [UInt8](repeating: 1, count: 2 << 20))
        let big = await client.fetch("/blob/big")
        #expect(big.status == .badRequest)
        #expect(big.text == "refused\n")
        // An object larger than the guest's memory (1 MiB here), written 64 KiB at a time: three
        // parts of a multipart upload (5 MiB, 5 MiB, and the rest).
        let size = 11 << 20 | 12_345
        let streamed = await client.fetch("/stream/big/stream.bin", method: "POST", body: Array(String(size).utf8))
        #expect(streamed.status == .created)
        var streamedBytes = (0..<size).map { UInt8(truncatingIfNeeded: ($0 % 65_536) &* 7) }
        for chunk in stride(from: 0, to: size, by: 65_536) { streamedBytes[chunk] = UInt8(truncatingIfNeeded: chunk / 65_536) }
        let stored = try await client.bindings.bucket("FILES").get("big/stream.bin")
        #expect(stored?.object.size == size)
        #expect(stored?.object.etag.hasSuffix("-3") == true, "a multipart object's etag ends in its part count")
        #expect(try await stored?.body?.bytes() == streamedBytes)
        // A small one is one put; an empty one is an empty object.
        #expect(await client.fetch("/stream/small", method: "POST", body: Array("100".utf8)).status == .created)
        #expect(try await client.bindings.bucket("FILES").head("small")?.size == 100)
        #expect(await client.fetch("/stream/empty", method: "POST", body: Array("0".utf8)).status == .created)
        #expect(try await client.bindings.bucket("FILES").head("empty")?.size == 0)
        // A writer left open stores nothing; at most four are open at once; a handle never opened
        // ends the invocation.
        #expect(await client.fetch("/unclosed/never", method: "POST").status == .ok)
        #expect(try await client.bindings.bucket("FILES").head("never") == nil)
        #expect(await client.fetch("/writers", method: "POST").text == "\(IsolateABI.maxOpenWriters)")
        #expect(try await client.bindings.bucket("FILES").head("w0") == nil)
        #expect(await client.fetch("/badwriter", method: "POST").status == .internalServerError)
        // The AI binding: the same vector as the model gives the host.
        let model = try client.bindings.ai("AI")
        let expected = try await model.embed(["fn parse(input: String)"])[0]
        let embedded = await client.fetch("/embed", method: "POST", body: Array("fn parse(input: String)".utf8))
        #expect(embedded.status == .ok)
        #expect(floats(embedded.body) == expected)
        // The vector index: the nearest of three to one of them is itself.
        let index = try client.bindings.vectorize("VECS")
        let texts = ["open a file", "parse JSON", "sort an array"]
        let vectors = try await model.embed(texts)
        _ = try await index.upsert(zip(texts, vectors).map { VectorRecord(id: $0, values: $1) })
        let answer = await client.fetch("/query", method: "POST", body: vectors[1].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } })
        #expect(answer.status == .ok)
        let matches = try answer.json(as: QueryAnswer.self).matches
        #expect(matches.count == 3)
        #expect(matches.first?.id == "parse JSON")
        #expect(abs((matches.first?.score ?? 0) - 1) < 1e-4)
    }

    struct QueryAnswer: Decodable {
        struct Match: Decodable {
            var id: String
            var score: Float
        }
        var matches: [Match]
    }

    func floats(_ bytes: [UInt8]) -> [Float] {
        stride(from: 0, to: bytes.count - 3, by: 4).map { index in
            Float(bitPattern: UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24)
        }
    }

    @Test("a worker without queue or scheduled exports: a cron trigger logs a warning, a batch fails and is retried")
    func missingHandlers() async throws {
        let log = LogLines()
        let config = try EdgeConfig.parse(Self.tasksConfig, file: "tasks.jsonc")
        let client = try WorkerTestClient(
            WasmWorker(name: "hello", module: await buildWorker(guestsDirectory + "/hello.c"), limits: Self.patient), config: config, logger: log.logger)
        try await client.scheduled("*/5 * * * *")
        #expect(log.all.contains { $0.contains("exports no scheduled function") })
        try await client.bindings.queue("JOBS", as: JSONValue.self).send(["n": 1])
        #expect(try await client.deliverQueue("jobs") == 1)
        #expect(log.all.contains { $0.contains("the module exports no function queue") })
    }

    @Test("a hostile guest gets its error response and a log line naming the worker; the worker keeps answering")
    func hostile() async throws {
        let log = LogLines()
        let limits = IsolateLimits(fuel: 2_000_000, memoryBytes: 4 << 20, hostCalls: 100)
        let host = try runtime(
            WasmWorker(name: "hostile", module: await buildWorker(guest("hostile_fetch.c")), limits: limits), config: Self.kvConfig, log: log)
        let cases: [(String, HTTPResponse.Status, IsolateError.Code)] =
            [
                ("/spin", .serviceUnavailable, .cpuLimit), ("/bomb", .internalServerError, .memoryLimit), ("/recurse", .internalServerError, .trap),
                ("/bad-pointer", .internalServerError, .badPointer), ("/not-granted", .internalServerError, .notGranted),
                ("/ungranted-queue", .internalServerError, .notGranted), ("/ungranted-bucket", .internalServerError, .notGranted),
                ("/ungranted-writer", .internalServerError, .notGranted),
                ("/ungranted-object", .internalServerError, .notGranted),
                ("/ungranted-ai", .internalServerError, .notGranted), ("/ungranted-index", .internalServerError, .notGranted),
                ("/bad-status", .internalServerError, .badArgument), ("/bad-header", .internalServerError, .badArgument),
                ("/never", .internalServerError, .hostCallLimit), ("/fail", .internalServerError, .trap),
                ("/framing", .internalServerError, .badArgument), ("/interim", .internalServerError, .badArgument),
                ("/boundary-over", .internalServerError, .badPointer),
            ]
            // Garbage arguments to every import.
            + "abcdefghijklmnopqrstuvwxyzABCDE".map { ("/garbage/\($0)", .internalServerError, "fmnopqrstuvACD".contains($0) ? .badArgument : .badPointer) }
        for (path, status, code) in cases {
            let before = log.all.count
            #expect(await host.text(path) == (status, "worker hostile failed: \(code.rawValue)\n"), "\(path)")
            #expect(
                log.all.dropFirst(before).contains { $0.contains("worker hostile failed: \(code.rawValue)") && $0.contains("\"worker\": hostile") },
                "\(path): \(log.all.dropFirst(before))")
            #expect(await host.text("/") == (.ok, "ok"), "after \(path)")
        }
        #expect(log.all.contains { $0.contains("cpuLimit: the invocation spent its 2000000 units of fuel") })
        // The last bytes of memory are in bounds.
        #expect(await host.text("/boundary").0 == .ok)
        // A guest's log line cannot start a line of its own.
        #expect(await host.text("/forge") == (.ok, "ok"))
        #expect(log.all.contains { $0.contains("x\\u{a}error worker other failed") })
        #expect(!log.all.contains { $0.hasPrefix("error worker other failed") })
        #expect(log.all.contains { $0.contains("is not granted a KV namespace bound as \"OTHER\"") })
    }

    @Test("a guest that never returns from fetch is ended at the wall-time limit")
    func wallTime() async throws {
        let log = LogLines()
        let limits = IsolateLimits(fuel: 100_000_000_000, hostCalls: Int.max, wallTime: .milliseconds(200))
        let host = try runtime(WasmWorker(name: "stuck", module: await buildWorker(guest("hostile_fetch.c")), limits: limits), config: Self.kvConfig, log: log)
        #expect(await host.text("/never") == (.serviceUnavailable, "worker stuck failed: wallTimeLimit\n"))
        #expect(log.all.contains { $0.contains("wall-time limit of 0.2 seconds") })
        #expect(await host.text("/") == (.ok, "ok"))
    }

    @Test("while one request spins to its CPU limit, the others are answered")
    func othersAnswer() async throws {
        let limits = IsolateLimits(fuel: 5_000_000)
        let host = try runtime(WasmWorker(name: "busy", module: await buildWorker(guest("hostile_fetch.c")), limits: limits), config: Self.kvConfig)
        async let spinning = host.text("/spin")
        var answered = 0
        for _ in 0..<50 where await host.text("/") == (.ok, "ok") { answered += 1 }
        #expect(answered == 50)
        #expect(await spinning == (.serviceUnavailable, "worker busy failed: cpuLimit\n"))
    }

    @Test("bindings are capabilities: a worker reaches only the namespaces its own config grants")
    func capabilities() async throws {
        let module = try await buildWorker(guestsDirectory + "/hello.c")
        let granted = try runtime(WasmWorker(name: "a", module: module, limits: Self.patient), config: Self.kvConfig)
        let log = LogLines()
        let ungranted = try runtime(WasmWorker(name: "b", module: module, limits: Self.patient), config: #"{ "name": "b" }"#, log: log)
        #expect(await granted.text("/kv/secret", method: .put, body: Array("a's".utf8)).0 == .created)
        #expect(await ungranted.text("/kv/secret") == (.internalServerError, "worker b failed: notGranted\n"))
        #expect(log.all.contains { $0.contains("not granted a KV namespace bound as \"KV\"") })
        // Another worker with its own KV namespace of the same binding name sees its own.
        let other = try runtime(WasmWorker(name: "c", module: module, limits: Self.patient), config: Self.kvConfig)
        #expect(await other.text("/kv/secret") == (.notFound, "no such key\n"))
    }

    @Test("a WebAssembly worker over a real socket")
    func overHTTP() async throws {
        let client = try WorkerTestClient(
            WasmWorker(name: "hello", module: await buildWorker(guestsDirectory + "/hello.c"), limits: Self.patient), config: Self.kvConfig)
        try await client.live { live in
            let put = try await live.fetch(EdgeRequest(method: .put, path: "/kv/k", body: .bytes(Array("v".utf8))))
            #expect(put.status == .created)
            let get = try await live.fetch(EdgeRequest(path: "/kv/k"))
            #expect(get.body == Array("v".utf8))
        }
    }

    @Test("edge dev serves a .wasm worker named by the config's main, and reloads it when the file changes")
    func edgeDev() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swift-edge-tests/wasm-dev-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func install(_ bytes: [UInt8]) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: directory + "/next.wasm"))
            try replace()
        }
        // Atomically, as a build tool would.
        func replace() throws {
            guard rename(directory + "/next.wasm", directory + "/worker.wasm") == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        }
        try Data(try await builtC(guestsDirectory + "/hello.c")).write(to: URL(fileURLWithPath: directory + "/worker.wasm"))
        try """
        { "name": "wasm-dev", "main": "worker.wasm", "state_dir": "\(directory)/state", "kv_namespaces": [{ "binding": "KV" }] }
        """.write(toFile: directory + "/edge.jsonc", atomically: true, encoding: .utf8)
        let edge = try ChildProcess(
            try KillTest.executable(named: "edge"), ["dev", "--config", directory + "/edge.jsonc", "--port", "0"], directory: directory, standardError: true)
        defer { edge.stop() }
        try await edge.waitFor("edge dev listening", timeout: 300) { $0.contains("listening on http://") }
        let line = edge.lines.first { $0.contains("listening on http://") } ?? ""
        let port = try #require(line.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) })
        func request(_ path: String, method: String = "GET", body: String? = nil) async throws -> (Int, String) {
            let response = try await TestHTTP.send("http://127.0.0.1:\(port)\(path)", method: method, body: body.map { Array($0.utf8) } ?? [])
            return (response.status, response.text)
        }
        #expect(try await request("/") == (200, "Hello from a WebAssembly worker\n"))
        #expect(try await request("/kv/k", method: "PUT", body: "kept") == (201, "stored\n"))
        #expect(try await request("/kv/k") == (200, "kept"))

        // A new build of the file, by `edge build` (the Embedded Swift worker): served from then on,
        // with the same bindings.
        let build = try ChildProcess(
            try KillTest.executable(named: "edge"), ["build", guestsDirectory + "/swift-hello", "-o", directory + "/next.wasm"], directory: directory,
            standardError: true)
        try await offPool { build.process.waitUntilExit() }
        #expect(build.process.terminationStatus == 0, "\(build.lines)")
        try replace()
        var reloaded = false
        for _ in 0..<120 where !reloaded {
            reloaded = try await request("/") == (200, "Hello from Embedded Swift\n")
            if !reloaded { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(reloaded)
        #expect(edge.lines.contains { $0.contains("reloaded") && $0.contains("worker.wasm") })
        // A file that is not WebAssembly: logged, the previous module kept.
        try install(Array("not wasm".utf8))
        var refused = false
        for _ in 0..<120 where !refused {
            refused = edge.lines.contains { $0.contains("kept the previous module") }
            if !refused { try await Task.sleep(for: .milliseconds(250)) }
            #expect(try await request("/") == (200, "Hello from Embedded Swift\n"))
        }
        #expect(refused)
        #expect(try await request("/kv/k") == (200, "kept"))
    }

    @Test("a worker in Embedded Swift on the guest SDK serves requests and KV, and a warm isolate reuses its memory")
    func swiftSDK() async throws {
        let module = try IsolateModule(bytes: await offPool { try GuestToolchain.build(directory: guestsDirectory + "/swift-hello") })
        // 1 MiB of memory: 40 requests each copying a 20 KB body through the guest's allocator
        // (body, read buffer, array growth: over 36 KB each) would need over 1.4 MB if freed memory
        // were not reused.
        let host = try runtime(
            WasmWorker(name: "swift", module: module, limits: IsolateLimits(memoryBytes: 1 << 20, wallTime: .seconds(600))), config: Self.kvConfig)
        #expect(await host.text("/") == (.ok, "Hello from Embedded Swift\n"))
        #expect(await host.text("/kv/a") == (.notFound, "no such key\n"))
        let body = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        for round in 0..<40 {
            let stored = await host.text("/kv/k\(round % 3)", method: .put, body: body)
            if stored != (.created, "stored\n") {
                Issue.record("round \(round): \(stored)")
                break
            }
        }
        let read = await TestResponse(await host.handle(EdgeRequest(path: "/kv/k1")))
        #expect(read.body == body)
        #expect(read.headers[.contentType] == "application/octet-stream")
    }

    @Test("edge build refuses a directory without sources, and a compiler error carries its message")
    func buildErrors() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swift-edge-tests/build-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let empty = try await offPool { Result { try GuestToolchain.build(directory: directory) } }
        #expect(throws: GuestToolchain.BuildError.self) { try empty.get() }
        // A module that is not a worker (no fetch export) is refused before it is served.
        let hostile = try await buildGuest("hostile")
        #expect(throws: IsolateError(.invalidModule, "the module exports no function fetch")) {
            try IsolateModule(bytes: hostile).checkWorker()
        }
        try "func fetch(_ request: Request) -> Response { undefinedThing }".write(toFile: directory + "/Worker.swift", atomically: true, encoding: .utf8)
        do {
            _ = try await offPool { try GuestToolchain.build(directory: directory) }
            Issue.record("built a worker that does not compile")
        } catch let error as GuestToolchain.BuildError {
            #expect(error.tool == "swiftc")
            #expect(error.output.contains("undefinedThing"))
        }
    }

    @Test("one host serves many workers routed by host and path, each with its own bindings; a spinning tenant does not stop the others")
    func routes() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swift-edge-tests/routes-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Each tenant's isolate limits come from its own config; the spinning tenant has little
        // fuel, so its request ends soon even in a debug build on a busy machine.
        let tenants = [
            ("a", guestsDirectory + "/hello.c", #"{ "wall_time_ms": 600000 }"#), ("b", guestsDirectory + "/hello.c", #"{ "wall_time_ms": 600000 }"#),
            ("h", guest("hostile_fetch.c"), #"{ "fuel": 5000000, "memory_mb": 16, "host_calls": 50, "wall_time_ms": 600000 }"#),
        ]
        for (tenant, source, isolate) in tenants {
            try FileManager.default.createDirectory(atPath: directory + "/" + tenant, withIntermediateDirectories: true)
            try Data(try await builtC(source)).write(to: URL(fileURLWithPath: "\(directory)/\(tenant)/worker.wasm"))
            try """
            { "name": "tenant-\(tenant)", "main": "worker.wasm", "state_dir": "state", "log_level": "warning",
              "limits": { "request_timeout_ms": 600000, "isolate": \(isolate) },
              "kv_namespaces": [{ "binding": "KV" }] }
            """.write(toFile: "\(directory)/\(tenant)/edge.jsonc", atomically: true, encoding: .utf8)
        }
        try """
        {
          "name": "front", "log_level": "warning", "limits": { "request_timeout_ms": 600000 },
          "routes": [
            { "pattern": "a.test/*", "worker": "a/edge.jsonc" },
            { "pattern": "*.b.test/*", "worker": "b/edge.jsonc" },
            { "pattern": "*/spin*", "worker": "h/edge.jsonc" },
          ],
        }
        """.write(toFile: directory + "/front.jsonc", atomically: true, encoding: .utf8)
        let config = try EdgeConfig.load(directory + "/front.jsonc")
        let router = try WasmRouter(config: config)
        #expect(router.tenants.map(\.runtime.worker.name) == ["tenant-a", "tenant-b", "tenant-h"])
        #expect(router.tenants[0].runtime.worker.limits == IsolateLimits(wallTime: .seconds(600)))
        #expect(router.tenants[2].runtime.worker.limits == IsolateLimits(fuel: 5_000_000, memoryBytes: 16 << 20, hostCalls: 50, wallTime: .seconds(600)))
        let host = try WorkerRuntime(worker: router, bindings: EdgeBindings(config: config))
        func send(_ authority: String, _ path: String, method: HTTPRequest.Method = .get, body: String = "") async -> (HTTPResponse.Status, String) {
            let request = EdgeRequest(
                head: HTTPRequest(method: method, scheme: "http", authority: authority, path: path), body: .bytes(Array(body.utf8)))
            let response = await TestResponse(await host.handle(request))
            return (response.status, String(decoding: response.body, as: UTF8.self))
        }
        #expect(await send("a.test:8787", "/kv/x", method: .put, body: "a's value") == (.created, "stored\n"))
        #expect(await send("a.test", "/kv/x") == (.ok, "a's value"))
        // Tenant b has a KV binding of the same name: its own namespace, in its own state directory.
        #expect(await send("eu.b.test", "/kv/x") == (.notFound, "no such key\n"))
        #expect(await send("c.test", "/") == (.notFound, "no route serves c.test/\n"))
        // While tenant h spins to its CPU limit, tenant a answers.
        async let spinning = send("c.test", "/spin")
        var answered = 0
        for _ in 0..<20 where await send("a.test", "/") == (.ok, "Hello from a WebAssembly worker\n") { answered += 1 }
        #expect(answered == 20)
        #expect(await spinning == (.serviceUnavailable, "worker tenant-h failed: cpuLimit\n"))
    }

    @Test("a routed worker's queue consumer runs among the router's background services: a job sent through the router is consumed by that worker")
    func routedQueues() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swift-edge-tests/routed-queues-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/t", withIntermediateDirectories: true)
        try Data(try await builtC(guestsDirectory + "/tasks.c")).write(to: URL(fileURLWithPath: directory + "/t/tasks.wasm"))
        try """
        { "name": "tasks", "main": "tasks.wasm", "state_dir": "state", "log_level": "warning",
          "limits": { "request_timeout_ms": 600000, "isolate": { "wall_time_ms": 600000 } },
          "kv_namespaces": [{ "binding": "KV" }],
          "queues": { "producers": [{ "binding": "JOBS", "queue": "jobs" }],
                      "consumers": [{ "queue": "jobs", "max_batch_timeout": 0, "poll_interval": 0.05 }] } }
        """.write(toFile: directory + "/t/edge.jsonc", atomically: true, encoding: .utf8)
        try
            #"{ "name": "front", "log_level": "warning", "limits": { "request_timeout_ms": 600000 }, "routes": [{ "pattern": "*/*", "worker": "t/edge.jsonc" }] }"#
            .write(toFile: directory + "/front.jsonc", atomically: true, encoding: .utf8)
        let config = try EdgeConfig.load(directory + "/front.jsonc")
        let host = try WorkerRuntime(worker: try WasmRouter(config: config), bindings: EdgeBindings(config: config))
        let group = ServiceGroup(services: try host.backgroundServices(), logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        func send(_ path: String, method: HTTPRequest.Method = .get, body: String = "") async -> (HTTPResponse.Status, String) {
            let response = await TestResponse(await host.handle(EdgeRequest(method: method, path: path, body: .bytes(Array(body.utf8)))))
            return (response.status, String(decoding: response.body, as: UTF8.self))
        }
        #expect(await send("/jobs", method: .post, body: #"{"n":1}"#) == (.accepted, "queued\n"))
        var processed = await send("/kv/processed")
        for _ in 0..<3000 where processed != (.ok, "1") {
            try await Task.sleep(for: .milliseconds(100))
            processed = await send("/kv/processed")
        }
        #expect(processed == (.ok, "1"), "the routed worker's consumer took the job")
        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test("a route without a path, a routed worker whose main is not a .wasm, or isolate limits out of range are config errors naming the file and key")
    func routeErrors() async throws {
        #expect(throws: ConfigError.self) {
            try EdgeConfig.parse(#"{ "name": "front", "routes": [{ "pattern": "example.com", "worker": "a.jsonc" }] }"#, file: "front.jsonc")
        }
        do {
            _ = try EdgeConfig.parse(#"{ "name": "front", "routes": [{ "pattern": "example.com", "worker": "a.jsonc" }] }"#, file: "front.jsonc")
        } catch let error as ConfigError {
            #expect(error.description.contains("routes[0].pattern"))
            #expect(error.description.contains("HOST/PATH"))
        }
        // Isolate limits out of range, or unknown, name their key.
        for (isolate, key) in [
            (#"{ "fuel": 10 }"#, "limits.isolate.fuel"), (#"{ "memory_mb": 0 }"#, "limits.isolate.memory_mb"), (#"{ "cpu_ms": 5 }"#, "cpu_ms"),
        ] {
            do {
                _ = try EdgeConfig.parse(#"{ "name": "w", "limits": { "isolate": \#(isolate) } }"#, file: "w.jsonc")
                Issue.record("accepted limits.isolate \(isolate)")
            } catch let error as ConfigError {
                #expect(error.description.contains(key), "\(error)")
            }
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swift-edge-tests/route-errors-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try #"{ "name": "native", "main": "hello" }"#.write(toFile: directory + "/a.jsonc", atomically: true, encoding: .utf8)
        let config = try EdgeConfig.parse(#"{ "name": "front", "routes": [{ "pattern": "*/*", "worker": "a.jsonc" }] }"#, file: directory + "/front.jsonc")
        do {
            _ = try WasmRouter(config: config)
            Issue.record("routed a worker whose main is not a module")
        } catch let error as ConfigError {
            #expect(error.description.contains("a.jsonc"))
            #expect(error.description.contains("main"))
        }
        // Two tenants in one directory would share the default state directory, so their data.
        try Data(try await builtC(guestsDirectory + "/hello.c")).write(to: URL(fileURLWithPath: directory + "/w.wasm"))
        for name in ["b", "c"] {
            try #"{ "name": "\#(name)", "main": "w.wasm", "kv_namespaces": [{ "binding": "KV" }] }"#.write(
                toFile: directory + "/\(name).jsonc", atomically: true, encoding: .utf8)
        }
        let shared = try EdgeConfig.parse(
            #"{ "name": "front", "routes": [{ "pattern": "b/*", "worker": "b.jsonc" }, { "pattern": "c/*", "worker": "c.jsonc" }] }"#,
            file: directory + "/front.jsonc")
        do {
            _ = try WasmRouter(config: shared)
            Issue.record("routed two workers sharing a state directory")
        } catch let error as ConfigError {
            #expect(error.description.contains("c.jsonc"))
            #expect(error.description.contains("state_dir"))
        }
    }
}

/// A native durable object a guest reaches with `object_fetch`: counts the requests it gets.
actor WasmCounter: DurableObject {
    struct Env: Sendable {}
    let state: DurableObjectState
    init(state: DurableObjectState, env: Env) { self.state = state }

    func fetch(_ request: EdgeRequest) async throws -> EdgeResponse {
        let count = (try state.storage.get("count", as: Int.self) ?? 0) + 1
        try state.storage.put("count", count)
        let body = String(decoding: try await request.body.collect(upTo: 1024), as: UTF8.self)
        return .text("\(request.method.rawValue) \(request.path) \(body) \(count)")
    }
}
