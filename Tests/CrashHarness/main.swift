// edge-crash-harness: the child process of the crash tests.
//
// It writes forever and prints the number of every write that returned (so was acknowledged to
// its caller) on its own line, flushed at once. The test reads those lines, kills this process
// with SIGKILL at a moment of its choosing, reopens the storage and checks that every
// acknowledged write is there.
//
//   edge-crash-harness kv-writer PATH          puts key-N -> crashValue(N) into the SQLiteKV at PATH
//   edge-crash-harness blob-overwriter DIR MIB overwrites key "big" in the FileBlob at DIR with MIB
//                                              MiB of blobChunk(N % 2), printing "writing N" before
//                                              and "committed N" after each put
//   edge-crash-harness queue-consumer PATH QUEUE VT consumes Int messages of QUEUE in the SQLiteQueue
//                                              at PATH (visibility timeout VT s), printing each body
//                                              when handled, before its batch is acknowledged
//   edge-crash-harness vector-writer DIR       upserts batches of 20 vectors (crashVector) into the
//                                              HNSWIndex "crash" under DIR, printing the batch number
//                                              after each returned upsert; never checkpoints
//   edge-crash-harness pg-do-counter URL NAME N TASKS  TASKS tasks make N increments in all of the
//                                              durable object "shared" of namespace NAME on
//                                              PostgreSQL, printing each value a call returned; exits 0
//   edge-crash-harness blob-stream-memory DIR MIB  puts MIB MiB into the FileBlob at DIR as a stream and
//                                              reads it back as one; prints "put KIB", "get KIB": the
//                                              peak resident set above the one before each (kB)
//   edge-crash-harness pg-do-partition URL NAME HOST PAUSEFILE  calls the durable object "shared" of
//                                              namespace NAME on PostgreSQL (a LoggedCounter: each
//                                              increment also writes log/N = HOST) in a loop, printing
//                                              "ok N" for every value a call returned and "err ERROR"
//                                              for a failure; while PAUSEFILE exists it makes no call
//                                              (printing "paused", then "resumed")
//   edge-crash-harness pg-faults URL STOPFILE  the PostgreSQL fault workload, on one pool with the
//                                              default timeouts: 4 tasks increment the durable object
//                                              "counter" of namespace "faults" ("inc N" / "incfail ERROR"),
//                                              a producer sends 0, 1, 2, ... to queue "work" ("sent N" /
//                                              "sendfail ERROR"), a consumer prints "handled N"; once
//                                              STOPFILE exists the increments and sends stop ("stopped")
//   edge-crash-harness do-counter PATH         8 tasks increment the durable object "crash" of
//                                              namespace "counters" at PATH, printing each value
//                                              a call returned
import EdgeBlob
import EdgeCoordinator
import EdgeKV
import EdgePostgres
import EdgeQueue
import Foundation
import Logging
import VectorSearch

/// The vector the vector writer stores as "vN": 8 deterministic values the test recomputes.
func crashVector(_ index: Int) -> [Float] {
    (0..<8).map { Float(sin(Double(index * 8 + $0 + 1))) }
}

/// The value the writer stores under key-N: mostly small, every tenth 200 KB, so kills land both
/// between and inside larger commits. The test computes the same bytes.
func crashValue(_ index: Int) -> String {
    String(repeating: "v\(index);", count: index % 10 == 9 ? 20_000 : 8)
}

/// One MiB of the pattern the blob overwriter repeats: variant 0 or 1.
func blobChunk(_ variant: Int) -> [UInt8] {
    (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* (variant == 0 ? 7 : 13) &+ variant) }
}

func acknowledge(_ index: Int) {
    say("\(index)")
}

func say(_ text: String) {
    let line = Array((text + "\n").utf8)
    line.withUnsafeBytes { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(1, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 { exit(3) }
            offset += written
        }
    }
}

struct RepeatedChunk: AsyncSequence, Sendable {
    typealias Element = [UInt8]
    let chunk: [UInt8]
    let count: Int

    struct AsyncIterator: AsyncIteratorProtocol {
        let chunk: [UInt8]
        var remaining: Int
        mutating func next() async -> [UInt8]? {
            guard remaining > 0 else { return nil }
            remaining -= 1
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(chunk: chunk, remaining: count) }
}

/// A counter whose value lives under the storage key "count".
actor CrashCounter: DurableObject {
    let state: DurableObjectState
    init(state: DurableObjectState, env: Void) { self.state = state }

    func increment() throws -> Int {
        let value = (try state.storage.get("count", as: Int.self) ?? 0) + 1
        try state.storage.put("count", value)
        return value
    }
}

/// A kB field of /proc/self/status.
func statusField(_ name: String) throws -> Int {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
        if let value = Int(line.split(separator: " ").dropFirst().first ?? "") { return value }
    }
    fatalError("no \(name) in /proc/self/status")
}

/// The peak resident set during `body` above the resident set before it, in kB (the peak is
/// reset through /proc/self/clear_refs first).
func peakGrowth(_ body: () async throws -> Void) async throws -> Int {
    try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    let baseline = try statusField("VmRSS")
    try await body()
    return try statusField("VmHWM") - baseline
}

/// A counter that logs every commit: increment(host) stores count = N and, in the same commit,
/// log/N = host. Two owners committing for one object would show as a value returned twice or a
/// log entry naming another host than the one whose call returned it.
actor LoggedCounter: DurableObject {
    let state: DurableObjectState
    init(state: DurableObjectState, env: Void) { self.state = state }

    func increment(_ host: String) throws -> Int {
        let value = (try state.storage.get("count", as: Int.self) ?? 0) + 1
        try state.storage.put("count", value)
        try state.storage.put(String(format: "log/%08d", value), host)
        return value
    }
}

/// How a failure reads in the fault workload: the binding's typed error code, or "untyped" and what it was.
func failure(_ error: any Error) -> String {
    if let error = error as? CoordinatorError { return "\(error.code)" }
    if let error = error as? QueueError { return "\(error.code)" }
    return "untyped \(String(reflecting: error))".replacingOccurrences(of: "\n", with: " ")
}

let arguments = CommandLine.arguments
switch (arguments.count, arguments.count > 1 ? arguments[1] : "") {
case (3, "kv-writer"):
    let kv = try SQLiteKV(path: arguments[2])
    var index = 0
    while true {
        try await kv.put("key-\(index)", crashValue(index))
        acknowledge(index)
        index += 1
    }
case (4, "blob-overwriter"):
    let bucket = try FileBlob(directory: arguments[2])
    let mebibytes = Int(arguments[3]) ?? 100
    let chunks = [blobChunk(0), blobChunk(1)]
    var version = 0
    while true {
        say("writing \(version)")
        _ = try await bucket.put("big", body: .stream(RepeatedChunk(chunk: chunks[version % 2], count: mebibytes)), options: BlobPutOptions())
        say("committed \(version)")
        version += 1
    }
case (5, "queue-consumer"):
    let backend = try SQLiteQueue(path: arguments[2])
    let configuration = QueueConsumerConfiguration(maxBatchSize: 100, maxBatchTimeout: 0, visibilityTimeout: Double(arguments[4]) ?? 1)
    let consumer = try QueueConsumer<Int>(queue: arguments[3], backend: backend, configuration: configuration) { batch in
        for message in batch.messages { say("\(message.body)") }
    }
    try await consumer.run()
case (6, "pg-do-counter"):
    let pool = try PostgresPool(url: arguments[2], maxConnections: 8)
    let namespace = try DurableObjectNamespace<CrashCounter>(name: arguments[3], pool: pool, env: ())
    let service = Task { try await namespace.run() }  // lease renewal
    let stub = namespace.get(namespace.idFromName("shared"))
    let total = Int(arguments[4]) ?? 500, tasks = Int(arguments[5]) ?? 50
    say("ready")
    try await withThrowingTaskGroup(of: Void.self) { group in
        for task in 0..<tasks {
            group.addTask {
                for _ in stride(from: task, to: total, by: tasks) { say("\(try await stub.call { try await $0.increment() })") }
            }
        }
        try await group.waitForAll()
    }
    service.cancel()
    say("done")
case (4, "blob-stream-memory"):
    let bucket = try FileBlob(directory: arguments[2])
    let mebibytes = Int(arguments[3]) ?? 256
    // Warm up allocator, file system and code paths, so the figures are the transfer's own.
    _ = try await bucket.put("warm", body: .stream(RepeatedChunk(chunk: blobChunk(1), count: 4)), options: BlobPutOptions())
    for try await _ in try await bucket.get("warm")!.body! {}
    let put = try await peakGrowth {
        _ = try await bucket.put("big", body: .stream(RepeatedChunk(chunk: blobChunk(0), count: mebibytes)), options: BlobPutOptions())
    }
    say("put \(put)")
    var size = 0
    let get = try await peakGrowth {
        for try await piece in try await bucket.get("big")!.body! { size += piece.count }
    }
    guard size == mebibytes << 20 else { fatalError("read \(size) bytes of \(mebibytes) MiB") }
    say("get \(get)")
case (6, "pg-do-partition"):
    var quiet = Logger(label: "partition")
    quiet.logLevel = .critical
    let pool = try PostgresPool(url: arguments[2], maxConnections: 4, connectTimeout: .seconds(2), queryTimeout: .seconds(2), logger: quiet)
    let namespace = try DurableObjectNamespace<LoggedCounter>(
        name: arguments[3], pool: pool, env: (), configuration: .init(logger: quiet), leaseSeconds: 2, handoverTimeout: 5)
    _ = Task { try await namespace.run() }  // lease renewal
    let stub = namespace.get(namespace.idFromName("shared"))
    let host = arguments[4], pauseFile = arguments[5]
    say("ready")
    var paused = false
    while true {
        let pause = FileManager.default.fileExists(atPath: pauseFile)
        if pause != paused {
            paused = pause
            say(paused ? "paused" : "resumed")
        }
        if paused {
            try await Task.sleep(for: .milliseconds(10))
            continue
        }
        do {
            say("ok \(try await stub.call { try await $0.increment(host) })")
        } catch {
            say("err \(String(describing: error).replacingOccurrences(of: "\n", with: " "))")
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: .milliseconds(20))
    }
case (4, "pg-faults"):
    var quiet = Logger(label: "faults")
    quiet.logLevel = .critical
    let pool = try PostgresPool(url: arguments[2], maxConnections: 8, logger: quiet)
    let stopFile = arguments[3]
    let namespace = try DurableObjectNamespace<CrashCounter>(name: "faults", pool: pool, env: (), configuration: .init(logger: quiet), leaseSeconds: 3)
    _ = Task { try await namespace.run() }  // lease renewal
    let counter = namespace.get(namespace.idFromName("counter"))
    let backend = PostgresQueue(pool: pool, configuration: .init(scope: "faults", logger: quiet))
    let producer = try QueueProducer<Int>(queue: "work", backend: backend)
    let consumer = try QueueConsumer<Int>(
        queue: "work", backend: backend,
        configuration: QueueConsumerConfiguration(maxBatchSize: 20, maxBatchTimeout: 0, visibilityTimeout: 5, pollInterval: 0.05), logger: quiet
    ) { batch in
        for message in batch.messages { say("handled \(message.body)") }
    }
    _ = Task { try await consumer.run() }
    let running: @Sendable () -> Bool = { !FileManager.default.fileExists(atPath: stopFile) }
    say("ready")
    await withTaskGroup(of: Void.self) { group in
        for _ in 0..<4 {
            group.addTask {
                while running() {
                    do {
                        say("inc \(try await counter.call { try await $0.increment() })")
                    } catch {
                        say("incfail \(failure(error))")
                    }
                    // Paced (about 50 calls/s per task), so the workload does not take the
                    // machine from the tests running beside it.
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
        }
        group.addTask {
            var next = 0
            while running() {
                do {
                    try await producer.send(next)
                    say("sent \(next)")
                } catch {
                    say("sendfail \(failure(error))")
                }
                next += 1
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
    }
    say("stopped")
    while true { try await Task.sleep(for: .seconds(1)) }  // the consumer drains until the test kills it
case (3, "vector-writer"):
    let index = try HNSWIndex(name: "crash", stateDirectory: arguments[2], configuration: VectorIndexConfiguration(dimensions: 8))
    var batch = 0
    while true {
        _ = try await index.upsert(
            (0..<20).map { VectorRecord(id: "v\(batch * 20 + $0)", values: crashVector(batch * 20 + $0), metadata: ["batch": .int(Int64(batch))]) })
        acknowledge(batch)
        batch += 1
    }
case (3, "do-counter"):
    let namespace = try DurableObjectNamespace<CrashCounter>(name: "counters", path: arguments[2], env: ())
    let stub = namespace.get(namespace.idFromName("crash"))
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<8 {
            group.addTask {
                while true { say("\(try await stub.call { try await $0.increment() })") }
            }
        }
        try await group.waitForAll()
    }
default:
    FileHandle.standardError.write(
        Data(
            "usage: edge-crash-harness kv-writer PATH | blob-overwriter DIR MIB | queue-consumer PATH QUEUE VT | blob-stream-memory DIR MIB | vector-writer DIR | do-counter PATH | pg-do-counter URL NAME N TASKS | pg-do-partition URL NAME HOST PAUSEFILE | pg-faults URL STOPFILE\n"
                .utf8))
    exit(2)
}
