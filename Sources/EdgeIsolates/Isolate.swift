import Synchronization
@_spi(Fuzzing) import WasmKit

/// A WebAssembly worker, parsed once; ``instantiate(limits:log:)`` makes isolates of it.
/// (Function bodies are validated and translated when an isolate first calls them.)
public struct IsolateModule: Sendable {
    /// The import module name of the host ABI.
    public static let hostModule = "edge"

    let module: Module
    let engine: Engine

    /// Parses `bytes`. `stackBytes` is the WebAssembly stack of each call into its isolates
    /// (default 512 KiB); deeper recursion traps.
    ///
    /// - Throws: ``IsolateError`` `.invalidModule` when the bytes are not WebAssembly, or the
    ///   module imports something other than the host ABI's functions (an import of the right
    ///   name but the wrong type is refused when an isolate is made).
    public init(bytes: [UInt8], stackBytes: Int = 512 << 10) throws {
        do {
            module = try parseWasm(bytes: bytes)
        } catch {
            throw IsolateError(.invalidModule, "not a WebAssembly module: \(error)")
        }
        for entry in module.imports {
            guard entry.module == Self.hostModule, HostFunctions.names.contains(entry.name) else {
                throw IsolateError(.invalidModule, "imports \(entry.module).\(entry.name), which the host does not provide")
            }
        }
        engine = Engine(configuration: EngineConfiguration(stackSize: stackBytes, memoryBoundsChecking: .software, fuelMetering: true))
    }

    /// Checks that the module is a worker: an isolate of it can be made with `limits` (its
    /// imports have the right types, its start function runs) and it exports `memory` and a
    /// `fetch` function.
    ///
    /// - Throws: ``IsolateError`` `.invalidModule` naming what is missing; what
    ///   ``instantiate(limits:log:)`` throws.
    public func checkWorker(limits: IsolateLimits = IsolateLimits()) throws {
        let isolate = try instantiate(limits: limits)
        guard isolate.exportsMemory else { throw IsolateError(.invalidModule, "the module exports no memory") }
        guard isolate.exportsFunction("fetch") else { throw IsolateError(.invalidModule, "the module exports no function fetch") }
    }

    /// A new isolate: its own store, memory and globals.
    ///
    /// - Throws: ``IsolateError`` `.memoryLimit` when the module's initial memory is over the
    ///   limit, `.invalidModule` when an import has the wrong type, `.cpuLimit` when its start
    ///   function spends the fuel, `.trap` when it traps.
    public func instantiate(limits: IsolateLimits = IsolateLimits(), log: @escaping @Sendable (String) -> Void = { _ in }) throws -> Isolate {
        try Isolate(module: self, limits: limits, log: log)
    }
}

/// One instance of a worker: a store of its own. Not shared between threads; make one per
/// invocation (cold) or keep one per tenant and call it from one task at a time (warm). After a
/// call ends in an error, discard a warm isolate: a guest stopped half-way (out of fuel in its
/// allocator, say) may have left its memory inconsistent.
public final class Isolate {
    private let store: Store
    private let instance: Instance
    private let limits: IsolateLimits
    private let meter: HostCallMeter
    private let memoryLimiter: MemoryLimiter
    private let host: HostState

    init(module: IsolateModule, limits: IsolateLimits, log: @escaping @Sendable (String) -> Void) throws {
        store = Store(engine: module.engine)
        memoryLimiter = MemoryLimiter(limit: limits.memoryBytes)
        store.resourceLimiter = memoryLimiter
        self.limits = limits
        let meter = HostCallMeter(limit: limits.hostCalls)
        self.meter = meter
        host = HostState(meter: meter, log: log)
        host.wallTime = limits.wallTime
        var imports = Imports()
        for (name, function) in HostFunctions.make(store: store, state: host) {
            imports.define(module: IsolateModule.hostModule, name: name, function)
        }
        store.fuel = Fuel(remaining: limits.fuel)
        do {
            instance = try module.module.instantiate(store: store, imports: imports)
        } catch {
            throw Self.translate(error, limits: limits)
        }
    }

    /// Calls the exported function `name` with 32-bit arguments; returns its 32-bit results.
    ///
    /// - Throws: ``IsolateError``: `.invalidModule` when there is no such export, `.cpuLimit`,
    ///   `.hostCallLimit`, `.badPointer`, `.trap`.
    public func call(_ name: String, _ arguments: [Int32] = []) throws -> [Int32] {
        guard let function = instance.exports[function: name] else { throw IsolateError(.invalidModule, "the module exports no function \(name)") }
        store.fuel = Fuel(remaining: limits.fuel)
        meter.reset()
        memoryLimiter.startCall()
        do {
            let results = try function.invoke(arguments.map { Value(signed: $0) })
            return try results.map { value in
                guard case .i32(let bits) = value else { throw IsolateError(.invalidModule, "\(name) returned \(value), not an i32") }
                return Int32(bitPattern: bits)
            }
        } catch {
            throw Self.translate(error, limits: limits)
        }
    }

    /// Serves `request` with the guest's exported `fetch` (no arguments, an i32 result: 0 when
    /// it answered). The guest reads the request and writes its response through the host's
    /// imports, and reaches `bindings` through the binding imports. Its log lines go to `log` when
    /// given, else to the isolate's. Blocks the calling thread
    /// for as long as the guest runs and its binding calls wait.
    ///
    /// - Throws: ``IsolateError``: `.invalidModule` when there is no `fetch` export, `.cpuLimit`,
    ///   `.memoryLimit` (memory could not grow and the guest trapped), `.hostCallLimit`,
    ///   `.wallTimeLimit`, `.badPointer`, `.badArgument`, `.notGranted`, `.trap`; `.trap` also when
    ///   `fetch` returns non-zero (the guest's own failure).
    public func fetch(
        _ request: IsolateRequest, bindings: any IsolateBindings = NoBindings(), log: (@Sendable (String) -> Void)? = nil
    ) throws -> IsolateResponse {
        try invoke(.fetch(request), bindings: bindings, log: log).response
    }

    /// Delivers `batch` to the guest's exported `queue` (no arguments, an i32 result: 0 when it
    /// handled the batch), which reads it through the `batch_*` and `message_*` imports and
    /// decides per message with `message_ack` and `message_retry`. Returns those decisions by
    /// message index; a message without one follows the batch (acknowledged, since `queue`
    /// returned 0). `decided` hears of each decision as it is made, so that the decisions taken
    /// before a failure can stand. Blocks the calling thread as ``fetch(_:bindings:log:)`` does.
    ///
    /// - Throws: what ``fetch(_:bindings:log:)`` throws (`.invalidModule` when there is no
    ///   `queue` export; `.trap` when it returns non-zero): the batch failed.
    @discardableResult
    public func queue(
        _ batch: IsolateBatch, bindings: any IsolateBindings = NoBindings(), log: (@Sendable (String) -> Void)? = nil,
        decided: (@Sendable (Int, IsolateMessageDecision) -> Void)? = nil
    ) throws -> [Int: IsolateMessageDecision] {
        try invoke(.queue(batch), bindings: bindings, log: log, decided: decided).decisions
    }

    /// Runs the guest's exported `scheduled` (no arguments, an i32 result: 0 when it succeeded)
    /// for a cron trigger it reads through `scheduled_cron` and `scheduled_time`. Blocks the
    /// calling thread as ``fetch(_:bindings:log:)`` does.
    ///
    /// - Throws: what ``fetch(_:bindings:log:)`` throws (`.invalidModule` when there is no
    ///   `scheduled` export; `.trap` when it returns non-zero).
    public func scheduled(
        _ event: IsolateScheduledEvent, bindings: any IsolateBindings = NoBindings(), log: (@Sendable (String) -> Void)? = nil
    ) throws {
        _ = try invoke(.scheduled(event), bindings: bindings, log: log)
    }

    /// Whether the module exports the handler `name` (`fetch`, `queue`, `scheduled`).
    public func handles(_ name: String) -> Bool { exportsFunction(name) }

    private func invoke(
        _ event: InvocationEvent, bindings: any IsolateBindings, log: (@Sendable (String) -> Void)?,
        decided: (@Sendable (Int, IsolateMessageDecision) -> Void)? = nil
    ) throws -> Invocation {
        let invocation = Invocation(event: event, bindings: bindings, deadline: .now + limits.wallTime, responseLimit: limits.memoryBytes, log: log)
        invocation.decided = decided
        host.invocation = invocation
        host.bindingCalls = 0
        defer {
            // An object the guest did not close is not stored.
            for writer in invocation.writers.values { writer.abort() }
            host.invocation = nil
        }
        let export = event.export
        let result: [Int32]
        do {
            result = try call(export)
        } catch let error as IsolateError where error.code == .trap && memoryLimiter.refusedGrowth {
            throw IsolateError(.memoryLimit, "the guest trapped after its memory could not grow past \(limits.memoryBytes) bytes (\(error.message))")
        }
        guard result == [0] else { throw IsolateError(.trap, "\(export) returned \(result.map(String.init).joined(separator: ", ")), not 0") }
        return invocation
    }

    var exportsMemory: Bool { instance.exports[memory: "memory"] != nil }
    func exportsFunction(_ name: String) -> Bool { instance.exports[function: name] != nil }

    /// The fuel the last call left.
    public var fuelRemaining: UInt64 { store.fuel?.remaining ?? 0 }

    /// Whether the last invocation was short: it made no binding call (none waited) and spent
    /// at most `fuel`.
    func lastInvocationWasShort(fuel: UInt64) -> Bool {
        host.bindingCalls == 0 && limits.fuel - min(limits.fuel, fuelRemaining) <= fuel
    }

    static func translate(_ error: any Error, limits: IsolateLimits) -> IsolateError {
        if let error = error as? IsolateError { return error }
        // Only the first line: the rest is a backtrace of names the guest chose.
        let text = "\(error)".split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
        // Link errors (an import of the wrong type), and function bodies found invalid when first
        // translated, are the module's fault.
        if error is WasmKitError { return IsolateError(.invalidModule, text) }
        if text == "Trap: out of fuel" { return IsolateError(.cpuLimit, "the invocation spent its \(limits.fuel) units of fuel") }
        if text.hasPrefix("Trap: initial memory size exceeds the resource limit") {
            return IsolateError(.memoryLimit, "the module declares more memory than the limit of \(limits.memoryBytes) bytes")
        }
        return IsolateError(.trap, text)
    }
}

/// Refuses linear memory past the limit (growth then answers -1 to the guest), and bounds what
/// growing costs the host: WasmKit's software-checked memory copies itself on every growth, and
/// fuel pays only for the pages added, so one call may make its memory copy at most
/// ``copyBudgetFactor`` times the limit (a guest growing a page at a time stops at about 16 MiB;
/// one growing geometrically is never stopped short of the limit).
final class MemoryLimiter: ResourceLimiter {
    static let copyBudgetFactor = 16
    /// The most table elements (8 bytes each) a table may have.
    static let tableElements = 10_000

    let limit: Int
    private let state = Mutex((size: 0, copied: 0, refused: false))

    init(limit: Int) { self.limit = limit }

    /// A new call: its copy budget starts again.
    func startCall() {
        state.withLock {
            $0.copied = 0
            $0.refused = false
        }
    }

    /// Whether growth was refused during this call.
    var refusedGrowth: Bool { state.withLock { $0.refused } }

    func limitMemoryGrowth(to desired: Int) throws -> Bool {
        state.withLock { state in
            guard desired <= limit, state.copied + state.size <= Self.copyBudgetFactor * limit else {
                state.refused = true
                return false
            }
            state.copied += state.size
            state.size = desired
            return true
        }
    }

    func limitTableGrowth(to desired: Int) throws -> Bool { desired <= Self.tableElements }
}

/// Counts one invocation's host calls.
final class HostCallMeter {
    let limit: Int
    private(set) var count = 0
    init(limit: Int) { self.limit = limit }
    func reset() { count = 0 }
    func charge() throws {
        count += 1
        guard count <= limit else { throw IsolateError(.hostCallLimit, "more than \(limit) host calls in one invocation") }
    }
}
