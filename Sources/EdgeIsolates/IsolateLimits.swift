public import EdgeRuntime

/// What one invocation of an isolate may use. Cloudflare's defaults where they exist.
public struct IsolateLimits: Sendable, Equatable {
    /// CPU as fuel: about one unit per WebAssembly operator executed. An invocation that spends
    /// it all ends with ``IsolateError/Code/cpuLimit``. Default 50,000,000 (tens of milliseconds
    /// of interpreted code on one core).
    public var fuel: UInt64
    /// The most linear memory the guest may have, in bytes. Growth past it fails (`memory.grow`
    /// answers -1); a module that declares more at start is refused. Default 128 MiB. (Tables
    /// are held to 10,000 elements each; there is no budget across isolates yet.)
    public var memoryBytes: Int
    /// The most host calls (imports) one invocation may make. Default 1,000.
    public var hostCalls: Int
    /// How long one fetch may run, checked at each host call and while a binding call waits
    /// (WebAssembly code between host calls is bounded by fuel, as WasmKit cannot interrupt a
    /// call). Past it the invocation ends with ``IsolateError/Code/wallTimeLimit``. Default 30 s.
    public var wallTime: Duration

    public init(fuel: UInt64 = 50_000_000, memoryBytes: Int = 128 << 20, hostCalls: Int = 1_000, wallTime: Duration = .seconds(30)) {
        self.fuel = fuel
        self.memoryBytes = memoryBytes
        self.hostCalls = hostCalls
        self.wallTime = wallTime
    }
}

extension IsolateLimits {
    /// The config's `limits.isolate`, with the defaults for what it does not set.
    public init(_ settings: EdgeConfig.Limits.Isolate) {
        let defaults = IsolateLimits()
        self.init(
            fuel: settings.fuel ?? defaults.fuel, memoryBytes: settings.memoryBytes ?? defaults.memoryBytes,
            hostCalls: settings.hostCalls ?? defaults.hostCalls,
            wallTime: settings.wallTime ?? defaults.wallTime)
    }
}

/// Why an isolate's invocation or load failed.
public struct IsolateError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The module is not valid WebAssembly, or does not follow the ABI (the message says what).
        case invalidModule
        /// The guest spent its fuel (``IsolateLimits/fuel``).
        case cpuLimit
        /// The guest declared or needed more memory than ``IsolateLimits/memoryBytes``.
        case memoryLimit
        /// The guest made more host calls than ``IsolateLimits/hostCalls``.
        case hostCallLimit
        /// The guest passed a pointer or length outside its memory to a host call.
        case badPointer
        /// The guest passed an argument the import cannot take (a status outside 100...599, a header
        /// name that is not a token), or called a request import outside a fetch.
        case badArgument
        /// The guest named a binding its worker's config does not grant.
        case notGranted
        /// The fetch ran past ``IsolateLimits/wallTime``.
        case wallTimeLimit
        /// The guest trapped (unreachable, out-of-bounds access, stack exhausted, ...).
        case trap
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
