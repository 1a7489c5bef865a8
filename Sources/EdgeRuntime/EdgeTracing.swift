public import Foundation
import Logging
import OTel
public import ServiceLifecycle
import Synchronization
import Tracing

/// Traces: spans across `fetch`, queue sends and consumer batches, durable-object calls and every
/// binding operation, exported over OTLP/HTTP (protobuf) with swift-otel.
///
/// Spans are made through swift-distributed-tracing wherever swift-edge does work; they cost
/// nothing until a tracer is bootstrapped. ``bootstrap(_:serviceName:environment:)`` installs swift-otel's
/// tracer when the config's `tracing` section (or the standard `OTEL_EXPORTER_OTLP_ENDPOINT` /
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` variables) names a collector; ``EdgeBindings`` calls it,
/// and ``EdgeHost`` runs the exporter's service, which sends the last spans at shutdown.
///
/// The trace context crosses what is not a call as W3C `traceparent`: request headers (a
/// server span continues its caller's trace), queue messages (stored with each message; a consumer
/// batch's span continues its first traced message's trace and links the others') and forwarded
/// durable-object requests.
public enum EdgeTracing {
    private static let state = Mutex<(done: Bool, service: (any Service)?)>((false, nil))

    /// Installs swift-otel's tracer (OTLP/HTTP exporter, batch span processor) as the process's
    /// tracer, unless tracing is off in `settings` or another tracer was installed first.
    /// Only the first call in a process does anything (swift-distributed-tracing allows one
    /// bootstrap per process).
    ///
    /// - Parameters:
    ///   - settings: the config's `tracing` section.
    ///   - serviceName: the `service.name` resource attribute (default: the config's `name`).
    ///   - environment: where the `OTEL_*` variables are read.
    /// - Returns: the exporter's service, to run in the host's service group; nil when nothing was
    ///   installed, and from every later call (one service group runs it).
    /// - Throws: swift-otel's configuration errors (an invalid endpoint).
    @discardableResult
    public static func bootstrap(
        _ settings: EdgeConfig.TracingSettings, serviceName: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> (any Service)? {
        try state.withLock { (state: inout (done: Bool, service: (any Service)?)) -> (any Service)? in
            if state.done { return nil }
            state.done = true
            let fromEnvironment = environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] ?? environment["OTEL_EXPORTER_OTLP_ENDPOINT"]
            guard settings.enabled ?? (settings.endpoint != nil || fromEnvironment != nil) else { return nil }
            guard InstrumentationSystem.instrument is NoOpInstrument || InstrumentationSystem.instrument is NoOpTracer else { return nil }
            var configuration = OTel.Configuration.default
            configuration.serviceName = settings.serviceName ?? serviceName
            // swift-otel's own warnings (an unreachable collector) go through the process's
            // logging, in its format (JSON lines with `log_format: json`).
            configuration.diagnosticLogger = .custom(Logger(label: "swift-edge.otel"))
            configuration.diagnosticLogLevel = .warning
            configuration.logs.enabled = false
            configuration.metrics.enabled = false
            configuration.traces.enabled = true
            configuration.propagators = [.traceContext]
            configuration.traces.batchSpanProcessor.scheduleDelay = .seconds(1)
            if let ratio = settings.sampleRatio, let sampler = OTel.Configuration.TracesConfiguration.SamplerConfiguration.parentBasedTraceIDRatio(ratio: ratio)
            {
                configuration.traces.sampler = sampler
            }
            if let endpoint = settings.endpoint { configuration.traces.otlpExporter.endpoint = endpoint }
            let backend = try OTel.makeTracingBackend(configuration: configuration)
            InstrumentationSystem.bootstrap(backend.factory)
            state.service = backend.service
            return backend.service
        }
    }

    /// The exporter's service when ``bootstrap(_:serviceName:environment:)`` installed one.
    public static var service: (any Service)? { state.withLock { $0.service } }
}
