import Dispatch
public import EdgeCore
public import EdgeKV
public import EdgeRuntime
import Foundation
import HTTPTypes
import Logging
import NIOPosix
import Synchronization

/// A worker compiled to WebAssembly, served through the same ``Worker`` contract as a native one:
/// `edge dev` or ``EdgeHost`` serve it, the config file grants its bindings.
///
/// Each request runs in an isolate of the module: a warm one from this worker's pool, or a new
/// one (microseconds). Isolates run on a thread pool of their own, never on Swift's cooperative
/// pool, since a guest blocks its thread while it runs and while its binding calls wait. A
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

        public init(kv: [String: any KVNamespace] = [:]) { self.kv = kv }
    }

    /// The worker's name in log lines.
    public let name: String
    /// What each invocation may use.
    public var limits: IsolateLimits { pool.limits }
    let pool: IsolatePool

    /// A worker serving `module`.
    public init(name: String, module: IsolateModule, limits: IsolateLimits = IsolateLimits()) {
        self.name = name
        pool = IsolatePool(module: module, limits: limits)
    }

    /// A worker serving the module in the file at `path`, named after the file.
    ///
    /// - Throws: file errors; ``IsolateError`` `.invalidModule` when the file is not a module
    ///   following the ABI.
    public init(contentsOf path: String, name: String? = nil, limits: IsolateLimits = IsolateLimits()) throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        self.init(name: name ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent, module: try IsolateModule(bytes: bytes), limits: limits)
    }

    /// Every KV namespace the config declares.
    ///
    /// - Throws: ``ConfigError`` when a declared binding cannot be opened.
    public static func makeEnv(_ bindings: EdgeBindings) throws -> Env {
        var kv: [String: any KVNamespace] = [:]
        for namespace in bindings.config.kvNamespaces { kv[namespace.binding] = try bindings.kv(namespace.binding) }
        return Env(kv: kv)
    }

    /// Runs the guest's `fetch` on the request (its body collected first, up to the memory limit).
    ///
    /// - Throws: ``EdgeHTTPError`` `.bodyTooLarge` for a body past ``IsolateLimits/memoryBytes``;
    ///   the guest's own failures are answered, not thrown.
    public func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        let limits = pool.limits
        let body = try await request.body.collect(upTo: limits.memoryBytes)
        let input = IsolateRequest(
            method: request.method.rawValue, target: request.path, headers: request.headers.map { ($0.name.rawName, $0.value) }, body: body)
        let granted = GrantedBindings(kv: env.kv, deadline: .now + limits.wallTime, wallTime: limits.wallTime)
        let logger = ctx.logger
        let name = name
        do {
            let output = try await pool.run { isolate in
                try isolate.fetch(input, bindings: granted) { line in logger.info("\(line)", metadata: ["worker": "\(name)"]) }
            }
            var headers = HTTPFields()
            for (field, value) in output.headers {
                if let fieldName = HTTPField.Name(field) { headers.append(HTTPField(name: fieldName, value: value)) }
            }
            return EdgeResponse(status: HTTPResponse.Status(code: output.status), headers: headers, body: .bytes(output.body))
        } catch let error as IsolateError {
            let status: HTTPResponse.Status = [.cpuLimit, .wallTimeLimit].contains(error.code) ? .serviceUnavailable : .internalServerError
            logger.error("worker \(name) failed: \(error)", metadata: ["worker": "\(name)", "error": "\(error.code.rawValue)"])
            return .text("worker \(name) failed: \(error.code.rawValue)\n", status: status)
        }
    }
}

/// A worker's warm isolates, and the threads isolates run on.
final class IsolatePool: Sendable {
    let module: IsolateModule
    let limits: IsolateLimits
    /// The most idle isolates kept per worker.
    static let maxIdle = 64
    private let idle = Mutex<[IsolateBox]>([])

    /// Isolates block their thread; these threads are theirs (twice the cores, at least 4: a
    /// guest waiting on a binding holds a thread but no core).
    static let threads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: max(4, 2 * ProcessInfo.processInfo.activeProcessorCount))
        pool.start()
        return pool
    }()

    init(module: IsolateModule, limits: IsolateLimits) {
        self.module = module
        self.limits = limits
    }

    /// Runs `body` with an idle isolate, or a new one, on an isolate thread. The isolate goes
    /// back to the pool when `body` returns, and is discarded when it throws.
    func run<T: Sendable>(_ body: @escaping @Sendable (Isolate) throws -> T) async throws -> T {
        try await Self.threads.runIfActive {
            let box = try self.idle.withLock { $0.popLast() } ?? IsolateBox(try self.module.instantiate(limits: self.limits))
            let result = try body(box.isolate)
            self.idle.withLock { idle in
                if idle.count < Self.maxIdle { idle.append(box) }
            }
            return result
        }
    }
}

/// An isolate moving between pool threads; used by one thread at a time.
final class IsolateBox: @unchecked Sendable {
    let isolate: Isolate
    init(_ isolate: Isolate) { self.isolate = isolate }
}

/// The bindings a worker's config grants, called from an isolate's thread: each call waits for
/// the binding's async operation, at most until the invocation's wall-time deadline.
struct GrantedBindings: IsolateBindings {
    let kv: [String: any KVNamespace]
    let deadline: ContinuousClock.Instant
    let wallTime: Duration

    func kvGet(binding: String, key: String) throws -> [UInt8]? {
        guard let namespace = kv[binding] else { throw IsolateError.notGranted(kv: binding) }
        return try wait { try await namespace.getBytes(key) }
    }

    func kvPut(binding: String, key: String, value: [UInt8]) throws {
        guard let namespace = kv[binding] else { throw IsolateError.notGranted(kv: binding) }
        try wait { try await namespace.put(key, value: value, options: KVPutOptions()) }
    }

    /// Blocks this (isolate) thread until `operation`, run as a task, finishes.
    private func wait<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
        let outcome = Outcome<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            do { outcome.set(.success(try await operation())) } catch { outcome.set(.failure(error)) }
            done.signal()
        }
        let left = max(0, (deadline - .now).inNanoseconds)
        guard done.wait(timeout: .now() + .nanoseconds(Int(clamping: left))) == .success, let result = outcome.get() else {
            throw IsolateError(.wallTimeLimit, "a binding call was still waiting at the wall-time limit of \(wallTime)")
        }
        return try result.get()
    }
}

private final class Outcome<T: Sendable>: Sendable {
    private let value = Mutex<Result<T, any Error>?>(nil)
    func set(_ result: Result<T, any Error>) { value.withLock { $0 = result } }
    func get() -> Result<T, any Error>? { value.withLock { $0 } }
}
