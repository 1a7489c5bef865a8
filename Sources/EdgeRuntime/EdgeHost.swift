import EdgeCore
import Foundation
import HTTPTypes
public import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// Serves a worker over HTTP (Hummingbird 2) and runs its background services — queue consumers,
/// cron triggers, durable-object alarms — until SIGINT or SIGTERM. On shutdown it stops accepting
/// connections, finishes the requests and batches in flight, then awaits `waitUntil` work (bounded
/// by `limits.wait_until_timeout_ms`).
public struct EdgeHost<W: Worker>: Sendable {
    public let runtime: WorkerRuntime<W>

    public init(runtime: WorkerRuntime<W>) {
        self.runtime = runtime
    }

    /// Builds the runtime from a config file and serves it until SIGINT or SIGTERM. Logs go to
    /// standard error in the config's `log_format` with secrets redacted (``EdgeLogging``).
    ///
    /// - Parameters:
    ///   - worker: the worker to serve.
    ///   - configPath: the config file.
    ///   - providers: the backends the config may name (default: memory, SQLite, file).
    ///   - port: the port to listen on instead of `dev.port` (0 picks a free one).
    ///   - logFormat: the log format instead of the config's `log_format`.
    /// - Throws: ``ConfigError`` at startup; errors of the server.
    public static func run(
        _ worker: W, configPath: String, providers: BackendProviders = .builtIn, port: Int? = nil, logFormat: EdgeLogFormat? = nil
    ) async throws {
        var config = try EdgeConfig.load(configPath, providers: providers)
        if let port { config.port = port }
        if let logFormat { config.logFormat = logFormat }
        // Before the bindings make their loggers (a logger keeps the handler it was made with).
        EdgeLogging.bootstrap(format: config.logFormat)
        let runtime = try WorkerRuntime(worker: worker, bindings: EdgeBindings(config: config, providers: providers))
        try await EdgeHost(runtime: runtime).run()
    }

    /// The Hummingbird application: the worker on HTTP/1.1 with WebSocket upgrades
    /// (`EdgeHTTPChannel`), plus the background services.
    ///
    /// - Parameters:
    ///   - port: the port to listen on instead of `dev.port` (0 picks a free one).
    ///   - onRunning: called with the bound port once the server listens (useful with port 0).
    public func application(port: Int? = nil, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        let runtime = self.runtime
        let config = runtime.config
        let channel = EdgeHTTPChannel(runtime: runtime)
        var services = try runtime.backgroundServices()
        if let s3 = config.s3API, let s3Port = s3.port {
            // The S3 API on a port of its own: every request there is an S3 request.
            let gateway = try WorkerRuntime(worker: S3Gateway(), bindings: runtime.bindings, servesS3Only: true)
            let s3Channel = EdgeHTTPChannel(runtime: gateway)
            let logger = runtime.bindings.logger
            services.append(
                Application(
                    responder: CallbackResponder<BasicRequestContext> { _, _ in Response(status: .internalServerError) },
                    server: HTTPServerBuilder { _ in s3Channel },
                    configuration: .init(address: .hostname(config.host, port: s3Port), serverName: nil),
                    onServerRunning: { [bindings = runtime.bindings] channel in
                        let port = channel.localAddress?.port ?? 0
                        bindings.advertiseS3(port: port)
                        logger.notice("S3 API listening on http://\(config.host):\(port)")
                    },
                    logger: logger))
        }
        if config.metrics.enabled, let metricsPort = config.metrics.port {
            // The metrics endpoint on an admin port of its own; the worker's port does not serve it.
            let gateway = try WorkerRuntime(worker: MetricsGateway(), bindings: runtime.bindings, servesS3Only: false, servesMetricsOnly: true)
            let metricsChannel = EdgeHTTPChannel(runtime: gateway)
            let logger = runtime.bindings.logger
            services.append(
                Application(
                    responder: CallbackResponder<BasicRequestContext> { _, _ in Response(status: .internalServerError) },
                    server: HTTPServerBuilder { _ in metricsChannel },
                    configuration: .init(address: .hostname(config.host, port: metricsPort), serverName: nil),
                    onServerRunning: { channel in
                        logger.notice("metrics at http://\(config.host):\(channel.localAddress?.port ?? 0)\(config.metrics.path)")
                    },
                    logger: logger))
        }
        return Application(
            // Unused: EdgeHTTPChannel hands every request to the runtime itself.
            responder: CallbackResponder<BasicRequestContext> { _, _ in Response(status: .internalServerError) },
            server: HTTPServerBuilder { _ in channel },
            configuration: .init(address: .hostname(config.host, port: port ?? config.port), serverName: nil),
            services: services,
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                await runtime.bindings.advertise(port: port)
                await onRunning(port)
            },
            logger: runtime.bindings.logger
        )
    }

    /// Serves until SIGINT/SIGTERM, then drains `waitUntil` work.
    ///
    /// - Parameter onRunning: called with the bound port once the server listens.
    /// - Throws: errors of the server or of a background service.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let logger = runtime.bindings.logger
        let config = runtime.config
        let app = try application { port in
            logger.notice("\(config.name) listening on http://\(config.host):\(port)")
            await onRunning(port)
        }
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        let cancelled = await runtime.drainWaitUntil()
        if cancelled > 0 { logger.warning("cancelled waitUntil work still running at shutdown", metadata: ["tasks": "\(cancelled)"]) }
    }
}

/// The worker behind the S3 API's own port: the runtime hands every request to the API first,
/// so `fetch` is never reached.
struct S3Gateway: Worker {
    struct Env: Sendable {}
    static func makeEnv(_ bindings: EdgeBindings) throws -> Env { Env() }
    func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        EdgeResponse(status: .notFound)
    }
}
