import Dispatch
public import EdgeBlob
public import EdgeCoordinator
public import EdgeCore
public import EdgeKV
public import EdgeQueue
public import EdgeRuntime
public import Embeddings
import Foundation
import HTTPTypes
import Logging
import NIOPosix
import Synchronization
public import VectorSearch

/// A worker compiled to WebAssembly, served through the same `Worker` contract as a native one:
/// `edge dev` or `EdgeHost` serve it, the config file grants its bindings. Requests go to the
/// guest's `fetch` export, batches of every queue the config consumes to its `queue` export
/// (message bodies as JSON), cron triggers to its `scheduled` export.
///
/// Each request runs in an isolate of the module: a warm one from this worker's pool, or a new
/// one (microseconds). Isolates run on a thread pool of their own, since a guest blocks its
/// thread while it runs and while its binding calls wait (short fetches, which make no binding
/// call, run on the caller's thread; Docs/isolates.md, "Where a guest runs"). A
/// request that ends in an error discards its isolate: the next request gets a fresh one.
///
/// Errors become responses, each with a log line naming the worker: a spent CPU budget or
/// wall-time limit answers 503, any other ``IsolateError`` 500. The other requests, and the other
/// workers of the process, keep being served.
///
/// Bindings are capabilities: a guest names a binding by its config name, and only the
/// bindings its own config declares resolve (``IsolateError`` `.notGranted` otherwise).
public struct WasmWorker: Worker {
    /// The bindings the config grants this worker.
    public struct Env: Sendable {
        /// KV namespaces by binding name.
        public var kv: [String: any KVNamespace]
        /// Queue producers by binding name; a guest sends JSON bodies.
        public var queues: [String: QueueProducer<JSONValue>]
        /// Buckets by binding name.
        public var buckets: [String: any BlobBucket]
        /// Vector indexes by binding name.
        public var vectorIndexes: [String: any VectorIndex]
        /// The AI binding's name and model.
        public var ai: (binding: String, model: any EmbeddingModel)?
        /// The config's bindings, through which the durable-object namespaces of the worker's
        /// ``WasmWorker/objects`` classes are opened (`nil`: no durable objects).
        public var bindings: EdgeBindings?

        public init(
            kv: [String: any KVNamespace] = [:], queues: [String: QueueProducer<JSONValue>] = [:], buckets: [String: any BlobBucket] = [:],
            vectorIndexes: [String: any VectorIndex] = [:], ai: (binding: String, model: any EmbeddingModel)? = nil, bindings: EdgeBindings? = nil
        ) {
            self.kv = kv
            self.queues = queues
            self.buckets = buckets
            self.vectorIndexes = vectorIndexes
            self.ai = ai
            self.bindings = bindings
        }
    }

    /// The native durable-object classes this worker's guests may reach with `object_fetch`,
    /// by class name; the config's `durable_objects.bindings` bind them to names.
    public let objects: [String: IsolateObjectClass]

    /// The worker's name in log lines.
    public let name: String
    /// What each invocation may use.
    public var limits: IsolateLimits { pool.limits }
    let pool: IsolatePool

    /// A worker serving `module`; its guests reach the durable objects of `objects` (native
    /// classes, `.native(Counter.self) { bindings in AppEnv(...) }`) that its config binds.
    public init(name: String, module: IsolateModule, limits: IsolateLimits = IsolateLimits(), objects: [IsolateObjectClass] = []) {
        self.name = name
        pool = IsolatePool(module: module, limits: limits)
        self.objects = Dictionary(objects.map { ($0.className, $0) }) { $1 }
    }

    /// A worker serving the module in the file at `path`, named after the file. With
    /// `reloadEvery`, a request looks at the file at most that often and, when it changed, loads
    /// it again (as `edge dev` does): requests from then on run the new module; a file that does
    /// not load is logged and the previous module kept.
    ///
    /// - Throws: file errors; ``IsolateError`` `.invalidModule` when the file is not a module
    ///   following the ABI or exports no `fetch` and `memory` (``IsolateModule/checkWorker(limits:)``).
    public init(contentsOf path: String, name: String? = nil, limits: IsolateLimits = IsolateLimits(), reloadEvery: Duration? = nil) throws {
        let module = try IsolateModule(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        try module.checkWorker(limits: limits)
        self.name = name ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        pool = IsolatePool(module: module, limits: limits, watch: reloadEvery.map { (path, $0) })
        objects = [:]
    }

    /// Every KV namespace, queue producer, bucket, vector index and AI binding the config declares.
    ///
    /// - Throws: `ConfigError` when a declared binding cannot be opened.
    public static func makeEnv(_ bindings: EdgeBindings) throws -> Env {
        var kv: [String: any KVNamespace] = [:]
        for namespace in bindings.config.kvNamespaces { kv[namespace.binding] = try bindings.kv(namespace.binding) }
        var queues: [String: QueueProducer<JSONValue>] = [:]
        for producer in bindings.config.queueProducers { queues[producer.binding] = try bindings.queue(producer.binding, as: JSONValue.self) }
        var buckets: [String: any BlobBucket] = [:]
        for bucket in bindings.config.r2Buckets { buckets[bucket.binding] = try bindings.bucket(bucket.binding) }
        var vectorIndexes: [String: any VectorIndex] = [:]
        for index in bindings.config.vectorize { vectorIndexes[index.binding] = try bindings.vectorize(index.binding) }
        let ai = try bindings.config.ai.map { ($0.binding, try bindings.ai($0.binding)) }
        return Env(kv: kv, queues: queues, buckets: buckets, vectorIndexes: vectorIndexes, ai: ai, bindings: bindings)
    }

    /// Every queue the config consumes goes to the guest's `queue` export.
    public static var queues: [QueueHandler<WasmWorker>] {
        [.consumeAll { worker, batch, env, ctx in try await worker.queue(batch, env: env, ctx: ctx) }]
    }

    /// Runs the guest's `fetch` on the request (its body collected first, up to the memory limit).
    ///
    /// - Throws: `EdgeHTTPError` `.bodyTooLarge` for a body past ``IsolateLimits/memoryBytes``;
    ///   the guest's own failures are answered, not thrown.
    public func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        let body = try await request.body.collect(upTo: pool.limits.memoryBytes)
        let input = IsolateRequest(
            method: request.method.rawValue, target: request.path, headers: request.headers.map { ($0.name.rawName, $0.value) }, body: body)
        do {
            let output = try await run("fetch", env: env, ctx: ctx) { isolate, bindings, log in try isolate.fetch(input, bindings: bindings, log: log) }
            var headers = HTTPFields()
            for (field, value) in output.headers {
                if let fieldName = HTTPField.Name(field) { headers.append(HTTPField(name: fieldName, value: value)) }
            }
            return EdgeResponse(status: HTTPResponse.Status(code: output.status), headers: headers, body: .bytes(output.body))
        } catch let error as IsolateError {
            let status: HTTPResponse.Status = [.cpuLimit, .wallTimeLimit].contains(error.code) ? .serviceUnavailable : .internalServerError
            return .text("worker \(name) failed: \(error.code.rawValue)\n", status: status)
        }
    }

    /// Delivers a batch to the guest's `queue` export, each body as its JSON text, and applies
    /// the guest's `message_ack` / `message_retry` decisions as it makes them; messages it left
    /// undecided are acknowledged.
    ///
    /// - Throws: ``IsolateError`` when the guest fails (including a module without a `queue`
    ///   export): its undecided messages are retried, then dead-lettered, as for a native
    ///   handler that throws.
    public func queue(_ batch: MessageBatch<JSONValue>, env: Env, ctx: ExecutionContext) async throws {
        let input = IsolateBatch(
            queue: batch.queue, messages: try batch.messages.map { IsolateMessage(id: $0.id, body: Array(try $0.body.serialized()), attempts: $0.attempts) })
        let messages = batch.messages
        try await run("queue", env: env, ctx: ctx) { isolate, bindings, log in
            try isolate.queue(input, bindings: bindings, log: log) { index, decision in
                switch decision {
                case .ack: messages[index].ack()
                case .retry(let delay): messages[index].retry(delaySeconds: Double(delay))
                }
            }
        }
    }

    /// Runs the guest's `scheduled` export for a cron trigger; a module without one logs a
    /// warning, as a native worker without a scheduled handler does.
    ///
    /// - Throws: ``IsolateError`` when the guest fails.
    public func scheduled(_ event: ScheduledEvent, env: Env, ctx: ExecutionContext) async throws {
        let input = IsolateScheduledEvent(cron: event.cron, scheduledTime: Int64((event.scheduledTime.timeIntervalSince1970 * 1000).rounded()))
        let handled = try await run("scheduled", env: env, ctx: ctx) { isolate, bindings, log in
            guard isolate.handles("scheduled") else { return false }
            try isolate.scheduled(input, bindings: bindings, log: log)
            return true
        }
        if !handled {
            ctx.logger.warning("cron trigger fired but worker \(name) exports no scheduled function", metadata: ["cron": "\(event.cron)", "worker": "\(name)"])
        }
    }

    /// Runs `body` in an isolate with the bindings `env` grants, the guest's log lines going to
    /// the invocation's logger; an ``IsolateError`` is logged (naming the worker and the limit) and rethrown.
    @discardableResult
    private func run<T: Sendable>(
        _ handler: String, env: Env, ctx: ExecutionContext,
        _ body: @escaping @Sendable (Isolate, GrantedBindings, @escaping @Sendable (String) -> Void) throws -> T
    ) async throws -> T {
        let limits = pool.limits
        let name = name
        let granted = GrantedBindings(
            kv: env.kv, queues: env.queues, buckets: env.buckets, vectorIndexes: env.vectorIndexes, ai: env.ai, bindings: env.bindings,
            objectClasses: objects)
        pool.reloadIfChanged(logger: ctx.logger, worker: name)
        do {
            return try await pool.run(mayInline: handler == "fetch") { isolate, onCaller in
                // The deadline starts when the isolate does, not while the request waits for a thread.
                var granted = granted.starting(limits.wallTime)
                granted.onCaller = onCaller
                // (The logger, with the request's metadata, is made only when the guest logs.)
                return try body(isolate, granted) { line in ctx.logger.info("\(line)", metadata: ["worker": "\(name)"]) }
            }
        } catch let error as IsolateError {
            ctx.logger.error(
                "worker \(name) failed: \(error)", metadata: ["worker": "\(name)", "error": "\(error.code.rawValue)", "handler": "\(handler)"])
            throw error
        }
    }
}

/// A worker's warm isolates, the module they are made of (reloaded when its file changes, when
/// watched), and the threads isolates run on.
final class IsolatePool: Sendable {
    let limits: IsolateLimits
    /// The most idle isolates kept per worker.
    static let maxIdle = 64
    private struct State {
        var module: IsolateModule
        var generation = 0
        var idle: [IsolateBox] = []
        /// The watched file's size and modification time when last loaded, and when it was last looked at.
        var stamp: FileStamp?
        var lastCheck = ContinuousClock.now
    }
    private let state: Mutex<State>
    /// The file to reload from, and how often to look at it.
    private let watch: (path: String, every: Duration)?

    /// Isolates block their thread; these threads are theirs (twice the cores, at least 4: a
    /// guest waiting on a binding holds a thread but no core).
    static let threads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: threadCount)
        pool.start()
        return pool
    }()
    static let threadCount = max(4, 2 * ProcessInfo.processInfo.activeProcessorCount)
    /// The most isolate threads one worker's invocations hold at once: all but one, so that
    /// however many of its requests spin to their CPU limit or wait on slow bindings, another
    /// worker's invocation always finds a thread. The rest of its invocations wait for one of
    /// these slots without holding a thread.
    static let threadsPerWorker = threadCount - 1
    private let slots = AsyncSemaphore(permits: threadsPerWorker)

    init(module: IsolateModule, limits: IsolateLimits, watch: (path: String, every: Duration)? = nil) {
        self.limits = limits
        self.watch = watch
        state = Mutex(State(module: module, stamp: watch.flatMap { FileStamp(path: $0.path) }))
    }

    /// The module isolates are made of now.
    var module: IsolateModule { state.withLock { $0.module } }

    /// When watched and due, reloads the module if its file changed. A file that no longer parses
    /// is logged and the previous module kept.
    func reloadIfChanged(logger: @autoclosure () -> Logger, worker: String) {
        guard let watch else { return }
        let due = state.withLock { state in
            guard ContinuousClock.now - state.lastCheck >= watch.every else { return false as Bool }
            state.lastCheck = .now
            return true
        }
        guard due, let stamp = FileStamp(path: watch.path), stamp != state.withLock({ $0.stamp }) else { return }
        do {
            let module = try IsolateModule(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: watch.path))))
            try module.checkWorker(limits: limits)
            state.withLock { state in
                state.module = module
                state.generation += 1
                state.idle.removeAll()
                state.stamp = stamp
            }
            logger().notice("reloaded \(watch.path)", metadata: ["worker": "\(worker)"])
        } catch {
            state.withLock { $0.stamp = stamp }
            logger().error("kept the previous module: \(watch.path) did not load: \(error)", metadata: ["worker": "\(worker)"])
        }
    }

    /// Runs `body` with an idle isolate, or a new one. The isolate goes back to the pool when
    /// `body` returns (unless the module was reloaded meanwhile), and is discarded when it throws.
    ///
    /// Where it runs: on an isolate thread, unless `mayInline`, this worker's last
    /// ``inlineStreak`` invocations were short (no binding call, at most ``inlineFuel``) and one
    /// of the process's ``inlineSlots`` is free: then on the calling thread, which saves the two
    /// thread hops (22 µs of the 32 µs a hello request took here; Docs/isolates.md). A guest
    /// that calls a binding after all blocks that thread while the call waits: its binding
    /// calls then run on ``GrantedBindings/callerExecutor``, not on Swift's cooperative threads
    /// (which may all be blocked), the slots are one fewer than the cores, and the worker's
    /// next invocations go back to the isolate threads.
    ///
    /// `body` is told whether it runs on the calling thread.
    func run<T: Sendable>(mayInline: Bool = false, _ body: @escaping @Sendable (Isolate, _ onCaller: Bool) throws -> T) async throws -> T {
        if mayInline, shortStreak.load(ordering: .relaxed) >= Self.inlineStreak, Self.takeInlineSlot() {
            defer { Self.inlineSlots.add(1, ordering: .relaxed) }
            callerRuns.add(1, ordering: .relaxed)
            return try invoke { try body($0, true) }
        }
        await slots.acquire()
        defer { slots.release() }
        return try await Self.threads.runIfActive { try self.invoke { try body($0, false) } }
    }

    private func invoke<T>(_ body: (Isolate) throws -> T) throws -> T {
        let (idle, module, generation) = state.withLock { ($0.idle.popLast(), $0.module, $0.generation) }
        let box = try idle ?? IsolateBox(try module.instantiate(limits: limits), generation: generation)
        let result: T
        do {
            result = try body(box.isolate)
        } catch {
            shortStreak.store(0, ordering: .relaxed)
            throw error
        }
        if box.isolate.lastInvocationWasShort(fuel: Self.inlineFuel) {
            shortStreak.add(1, ordering: .relaxed)
        } else {
            shortStreak.store(0, ordering: .relaxed)
        }
        state.withLock { state in
            if state.idle.count < Self.maxIdle, box.generation == state.generation { state.idle.append(box) }
        }
        return result
    }

    /// How many invocations ran on their callers' threads.
    let callerRuns = Atomic<Int>(0)
    /// How many of this worker's invocations in a row were short (see ``run(mayInline:_:)``).
    private let shortStreak = Atomic<Int>(0)
    /// The short invocations in a row after which a worker's next ones may run on their callers' threads.
    static let inlineStreak = 16
    /// The most fuel a short invocation spends: a small fraction of the default budget.
    static let inlineFuel: UInt64 = 500_000
    /// How many invocations may run on their callers' threads at once, process-wide: one fewer
    /// than the cores (none on one core).
    static let inlineSlots = Atomic<Int>(max(0, ProcessInfo.processInfo.activeProcessorCount - 1))

    private static func takeInlineSlot() -> Bool {
        var free = inlineSlots.load(ordering: .relaxed)
        while free > 0 {
            let (exchanged, original) = inlineSlots.compareExchange(expected: free, desired: free - 1, ordering: .acquiring)
            if exchanged { return true }
            free = original
        }
        return false
    }
}

/// A file's size and modification time.
struct FileStamp: Equatable, Sendable {
    var size: Int
    var modified: Date

    init?(path: String) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), let modified = attributes[.modificationDate] as? Date,
            let size = attributes[.size] as? Int
        else { return nil }
        self.size = size
        self.modified = modified
    }
}

/// An isolate moving between pool threads; used by one thread at a time.
final class IsolateBox: @unchecked Sendable {
    let isolate: Isolate
    /// The pool generation (module version) it was made of.
    let generation: Int
    init(_ isolate: Isolate, generation: Int) {
        self.isolate = isolate
        self.generation = generation
    }
}

/// The bindings a worker's config grants, called from an isolate's thread: each call waits for
/// the binding's async operation, at most until the invocation's wall-time deadline.
struct GrantedBindings: IsolateBindings {
    let kv: [String: any KVNamespace]
    let queues: [String: QueueProducer<JSONValue>]
    let buckets: [String: any BlobBucket]
    let vectorIndexes: [String: any VectorIndex]
    let ai: (binding: String, model: any EmbeddingModel)?
    let bindings: EdgeBindings?
    let objectClasses: [String: IsolateObjectClass]
    var deadline = ContinuousClock.now
    var wallTime = Duration.zero
    /// Whether the guest runs on its caller's thread (a cooperative one): its binding calls
    /// then run on ``callerExecutor``.
    var onCaller = false

    /// Where the binding calls of a guest running on its caller's thread run: a thread of their
    /// own, so that they finish even when every cooperative thread is blocked (by such guests,
    /// or by code waiting on a child process).
    static let callerExecutor = ThreadPoolExecutor(threads: 1)

    /// These bindings for an invocation starting now, held to `wallTime`.
    func starting(_ wallTime: Duration) -> GrantedBindings {
        var copy = self
        copy.deadline = .now + wallTime
        copy.wallTime = wallTime
        return copy
    }

    func blobGet(binding: String, key: String, limit: Int) throws -> [UInt8]? {
        guard let bucket = buckets[binding] else { throw IsolateError.notGranted("bucket", binding) }
        return try wait {
            guard let result = try await bucket.get(key) else { return nil }
            guard result.object.size <= limit else { throw TooLarge(size: result.object.size, limit: limit) }
            return try await result.body?.bytes() ?? []
        }
    }

    func blobPut(binding: String, key: String, body: [UInt8]) throws {
        guard let bucket = buckets[binding] else { throw IsolateError.notGranted("bucket", binding) }
        try wait { _ = try await bucket.put(key, body) }
    }

    func blobWriter(binding: String, key: String) throws -> any IsolateObjectWriter {
        guard let bucket = buckets[binding] else { throw IsolateError.notGranted("bucket", binding) }
        return BucketObjectWriter(bucket: bucket, key: key, bindings: self)
    }

    func objectFetch(binding: String, name: String, request: EdgeRequest, limit: Int) throws -> (status: Int, body: [UInt8]) {
        guard let bindings, let entry = bindings.config.durableObjects.first(where: { $0.name == binding }) else {
            throw IsolateError.notGranted("durable-object namespace", binding)
        }
        guard let objectClass = objectClasses[entry.className] else {
            throw IsolateError(
                .notGranted, "the durable-object namespace bound as \"\(binding)\" is of class \(entry.className), which this worker was not given")
        }
        let fetch = try objectClass.open(bindings, binding)
        return try wait {
            let response = try await fetch(name, request)
            let body = try await response.body.collect(upTo: limit)
            return (response.status.code, body)
        }
    }

    func aiEmbed(binding: String, text: String) throws -> [Float] {
        guard let ai, ai.binding == binding else { throw IsolateError.notGranted("AI binding", binding) }
        return try wait { try await ai.model.embed([text]).first ?? [] }
    }

    func vectorQuery(binding: String, vector: [Float], topK: Int) throws -> [UInt8] {
        guard let index = vectorIndexes[binding] else { throw IsolateError.notGranted("vector index", binding) }
        let result = try wait { try await index.query(vector, options: VectorQueryOptions(topK: topK)) }
        let matches = JSONValue.array(result.matches.map { .object(["id": .string($0.id), "score": .double(Double($0.score))]) })
        return Array(try JSONValue.object(["matches": matches]).serialized())
    }

    /// An object larger than the invocation may hold (the guest is answered `refused`).
    struct TooLarge: Error, CustomStringConvertible {
        let size: Int
        let limit: Int
        var description: String { "the object's \(size) bytes are over the invocation's limit of \(limit)" }
    }

    func kvGet(binding: String, key: String) throws -> [UInt8]? {
        guard let namespace = kv[binding] else { throw IsolateError.notGranted(kv: binding) }
        return try wait { try await namespace.getBytes(key) }
    }

    func kvPut(binding: String, key: String, value: [UInt8]) throws {
        guard let namespace = kv[binding] else { throw IsolateError.notGranted(kv: binding) }
        try wait { try await namespace.put(key, value: value, options: KVPutOptions()) }
    }

    func queueSend(binding: String, body: [UInt8], delaySeconds: Int) throws {
        guard let producer = queues[binding] else { throw IsolateError.notGranted(queue: binding) }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(body)) else { throw NotJSON() }
        try wait { try await producer.send(value, delaySeconds: Double(delaySeconds)) }
    }

    /// A queue message body that is not JSON (the guest is answered `refused`).
    struct NotJSON: Error, CustomStringConvertible {
        var description: String { "a queue message body must be JSON text" }
    }

    /// Blocks this (isolate) thread until `operation`, run as a task, finishes.
    func wait<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
        let outcome = Outcome<T>()
        let done = DispatchSemaphore(value: 0)
        let run: @Sendable () async -> Void = {
            do { outcome.set(.success(try await operation())) } catch { outcome.set(.failure(error)) }
            done.signal()
        }
        let task = onCaller ? Task(executorPreference: Self.callerExecutor, operation: run) : Task(operation: run)
        let left = max(0, (deadline - .now).inNanoseconds)
        guard done.wait(timeout: .now() + .nanoseconds(Int(clamping: left))) == .success, let result = outcome.get() else {
            // Cancelled, though a write the backend already started may still complete.
            task.cancel()
            throw IsolateError(.wallTimeLimit, "a binding call was still waiting at the wall-time limit of \(wallTime)")
        }
        return try result.get()
    }
}

/// An object a guest writes in chunks: held here until ``IsolateABI/objectPartBytes`` have
/// arrived, then uploaded as parts of a multipart upload (started by the first full part), so the
/// host holds at most a part and a chunk of it; one that never fills a part is stored with one put.
final class BucketObjectWriter: IsolateObjectWriter {
    let bucket: any BlobBucket
    let key: String
    let bindings: GrantedBindings
    private var buffer: [UInt8] = []
    private var upload: BlobMultipartUpload?
    private var parts: [BlobUploadedPart] = []

    init(bucket: any BlobBucket, key: String, bindings: GrantedBindings) {
        self.bucket = bucket
        self.key = key
        self.bindings = bindings
    }

    func write(_ bytes: [UInt8]) throws {
        buffer += bytes
        if buffer.count >= IsolateABI.objectPartBytes { try uploadBuffer() }
    }

    func close() throws {
        guard let upload else {
            let (bucket, key, body) = (bucket, key, buffer)
            try bindings.wait { _ = try await bucket.put(key, body) }
            return
        }
        if !buffer.isEmpty || parts.isEmpty { try uploadBuffer() }
        let parts = parts
        try bindings.wait { _ = try await upload.complete(parts) }
    }

    func abort() {
        guard let upload else { return }
        self.upload = nil
        // Not waited for: it runs even when the invocation ended at its wall-time limit.
        Task { try? await upload.abort() }
    }

    private func uploadBuffer() throws {
        let (bucket, key, body, number) = (bucket, key, buffer, parts.count + 1)
        let upload = try self.upload ?? bindings.wait { try await bucket.createMultipartUpload(key) }
        self.upload = upload
        parts.append(try bindings.wait { try await upload.uploadPart(number, .bytes(body)) })
        buffer = []
    }
}

private final class Outcome<T: Sendable>: Sendable {
    private let value = Mutex<Result<T, any Error>?>(nil)
    func set(_ result: Result<T, any Error>) { value.withLock { $0 = result } }
    func get() -> Result<T, any Error>? { value.withLock { $0 } }
}

/// A task executor running its jobs on threads of its own (a `NIOThreadPool`).
final class ThreadPoolExecutor: TaskExecutor {
    private let pool: NIOThreadPool

    init(threads: Int) {
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        pool.submit { _ in job.runSynchronously(on: executor) }
    }
}

/// A native durable-object class a ``WasmWorker``'s guests may reach (`object_fetch`): the
/// config's `durable_objects.bindings` entry naming its class binds it to a name.
public struct IsolateObjectClass: Sendable {
    /// The class name a config entry's `class_name` matches (the Swift type's name).
    public let className: String
    let open: @Sendable (EdgeBindings, String) throws -> @Sendable (String, EdgeRequest) async throws -> EdgeResponse

    /// The objects of `type`, each built with the `Env` that `env` makes of the config's bindings.
    public static func native<Object: DurableObject>(
        _ type: Object.Type, env: @escaping @Sendable (EdgeBindings) throws -> Object.Env
    ) -> IsolateObjectClass {
        IsolateObjectClass(className: String(describing: Object.self)) { bindings, binding in
            let namespace = try bindings.durableObjects(Object.self, binding: binding, env: env(bindings))
            return { name, request in try await namespace.get(namespace.idFromName(name)).fetch(request) }
        }
    }
}
