public import EdgeCore
public import EdgeRuntime
import Foundation
import HTTPTypes
public import Logging
public import ServiceLifecycle

/// Many WebAssembly workers in one host: each request goes to the worker of the first of the
/// config's `routes` its host and path match (404 when none does). Each worker runs under its own
/// config file, with its own bindings, limits and state directory: a worker reaches only the
/// bindings its own config grants, so one tenant cannot name another's KV namespace.
///
/// ```jsonc
/// {
///   "name": "front",
///   "routes": [
///     { "pattern": "a.example.com/*", "worker": "tenants/a/edge.jsonc" },
///     { "pattern": "*/b/*", "worker": "tenants/b/edge.jsonc" }
///   ]
/// }
/// ```
///
/// `edge dev` serves a config with `routes` this way. Requests are routed; each worker's queue
/// consumers, cron triggers and alarm schedulers run as the router's background services, under
/// that worker's own config.
public struct WasmRouter: Worker {
    public struct Env: Sendable {}

    /// The routes, in order, with the runtime serving each.
    public let tenants: [(route: EdgeConfig.Route, runtime: WorkerRuntime<WasmWorker>)]

    public static func makeEnv(_ bindings: EdgeBindings) throws -> Env { Env() }

    /// Loads the worker of each of `config.routes`: its config file, whose `main` names its
    /// `.wasm` file (relative to that config), and its bindings. Every invocation of a worker is
    /// held to `limits` when given, else to its own config's `limits.isolate`. With `reloadEvery`,
    /// each worker's module is reloaded when its file changes.
    ///
    /// - Throws: `ConfigError` for a worker config that does not load, whose `main` is not a
    ///   `.wasm` file, or whose name, state directory or shared-backend KV binding another routed
    ///   worker has; ``IsolateError`` `.invalidModule` for a module that does not follow the ABI;
    ///   file errors.
    public init(
        config: EdgeConfig, providers: BackendProviders = .builtIn, limits: IsolateLimits? = nil,
        logger: Logger = Logger(label: "swift-edge.router"), reloadEvery: Duration? = nil
    ) throws {
        var tenants: [(route: EdgeConfig.Route, runtime: WorkerRuntime<WasmWorker>)] = []
        var loaded: [String: WorkerRuntime<WasmWorker>] = [:]
        // Tenants never share a name or a state directory: durable bindings are stored by name in
        // the state directory, and two tenants sharing one would share their data.
        var names: [String: String] = [:]
        var stateDirectories: [String: String] = [:]
        var sharedNamespaces: [String: String] = [:]
        for route in config.routes {
            if let runtime = loaded[route.worker] {
                tenants.append((route, runtime))
                continue
            }
            let tenant = try EdgeConfig.load(route.worker, providers: providers)
            guard let main = tenant.main, main.hasSuffix(".wasm") else {
                throw ConfigError(
                    .invalidValue, file: tenant.file, key: "main", expected: "a path ending in .wasm",
                    message: "a routed worker's main must name its WebAssembly module (found \(tenant.main ?? "nothing"))")
            }
            let file = main.hasPrefix("/") ? main : URL(fileURLWithPath: route.worker).deletingLastPathComponent().appendingPathComponent(main).path
            let state = URL(fileURLWithPath: tenant.stateDirectory).standardized.path
            if let other = names[tenant.name] ?? stateDirectories[state] {
                throw ConfigError(
                    .invalidValue, file: tenant.file, key: names[tenant.name] != nil ? "name" : "state_dir", expected: "a name and state directory of its own",
                    message: "routed workers must not share a name or a state directory (\(other) has \(tenant.name) / \(state))")
            }
            names[tenant.name] = tenant.file
            stateDirectories[state] = tenant.file
            // A shared backend (PostgreSQL) names a KV namespace by its binding across the database.
            for namespace in tenant.kvNamespaces where ![.memory, .sqlite, .file].contains(namespace.backend) {
                let key = "\(namespace.backend.rawValue)/\(namespace.binding)"
                if let other = sharedNamespaces[key] {
                    throw ConfigError(
                        .invalidValue, file: tenant.file, key: "kv_namespaces",
                        expected: "a binding name no other routed worker uses on \(namespace.backend.rawValue)",
                        message: "\(other) also binds a \(namespace.backend.rawValue) KV namespace as \(namespace.binding): they would share its data")
                }
                sharedNamespaces[key] = tenant.file
            }
            var tenantLogger = logger
            tenantLogger[metadataKey: "worker"] = "\(tenant.name)"
            let runtime = try WorkerRuntime(
                worker: WasmWorker(contentsOf: file, name: tenant.name, limits: limits ?? IsolateLimits(tenant.limits.isolate), reloadEvery: reloadEvery),
                bindings: EdgeBindings(config: tenant, providers: providers, logger: tenantLogger))
            loaded[route.worker] = runtime
            tenants.append((route, runtime))
        }
        self.tenants = tenants
    }

    /// Every routed worker's background services: its queue consumers, cron trigger and alarm
    /// schedulers, with its bindings (a worker routed by several patterns runs them once).
    ///
    /// - Throws: what a worker's runtime throws making them.
    public func backgroundServices() throws -> [any Service] {
        var seen: Set<ObjectIdentifier> = []
        var services: [any Service] = []
        for tenant in tenants where seen.insert(ObjectIdentifier(tenant.runtime)).inserted {
            services += try tenant.runtime.backgroundServices()
        }
        return services
    }

    /// Hands the request to the first route's worker that matches its host and path.
    public func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        let host = request.head.authority
        guard let tenant = tenants.first(where: { $0.route.matches(host: host, path: request.url.path) }) else {
            return .text("no route serves \(host ?? "")\(request.url.path)\n", status: .notFound)
        }
        return await tenant.runtime.handle(request)
    }
}
