import EdgeCore
import HTTPTypes
import Metrics
public import Prometheus
import Synchronization

/// swift-edge's metrics, served in Prometheus's text format at `/__edge/metrics` (config
/// `metrics`: `enabled`, `path`, `port` for an admin port of its own).
///
/// Every binding and the runtime record through swift-metrics: HTTP requests by worker, method
/// and status with a latency histogram, KV operations and failures, queue acknowledgements,
/// retries, dead letters, backlog, in-flight messages and oldest message age, embedding cache hits
/// and misses. ``bootstrap()`` makes ``registry`` swift-metrics' backend, so the endpoint shows
/// them; ``EdgeBindings`` calls it when the config enables metrics, before it opens a binding
/// (a metric made before bootstrapping records nothing).
///
/// An application that bootstraps its own swift-metrics backend first keeps it: swift-edge's
/// metrics then go there, and the endpoint shows only what was recorded in ``registry`` directly.
public enum EdgeMetrics {
    /// The registry the endpoint serves.
    public static let registry = PrometheusCollectorRegistry()

    /// nil until ``bootstrap()`` ran; then whether ``registry`` is swift-metrics' backend.
    private static let bootstrapped = Mutex<Bool?>(nil)

    /// Latency buckets from 100 µs to 10 s: local bindings answer in microseconds, so the
    /// Prometheus default (from 5 ms) would put every operation in its first bucket.
    public static let durationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    /// Makes ``registry`` swift-metrics' backend, unless another backend was bootstrapped first.
    /// Safe to call more than once and from several threads (swift-metrics allows one bootstrap
    /// per process).
    ///
    /// - Returns: whether ``registry`` receives the process's metrics.
    @discardableResult
    public static func bootstrap() -> Bool {
        bootstrapped.withLock { state in
            if let state { return state }
            let ours = MetricsSystem.factory is NOOPMetricsHandler
            if ours {
                var factory = PrometheusMetricsFactory(registry: registry)
                factory.defaultDurationHistogramBuckets = durationBuckets
                MetricsSystem.bootstrap(factory)
            }
            state = ours
            return ours
        }
    }

    /// The registry in the text exposition format 0.0.4.
    public static func scrape() -> [UInt8] { registry.emitToBuffer() }

    /// The endpoint's answer: the scrape to GET and HEAD, 405 to anything else.
    static func response(to request: EdgeRequest) -> EdgeResponse {
        guard request.method == .get || request.method == .head else {
            return EdgeResponse(
                status: .methodNotAllowed, headers: [.allow: "GET, HEAD", .contentType: "text/plain; charset=utf-8"],
                body: .bytes(Array("the metrics endpoint answers GET and HEAD\n".utf8)))
        }
        let body = scrape()
        return EdgeResponse(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: .bytes(request.method == .head ? [] : body))
    }
}

/// The worker behind the metrics endpoint's own port: the runtime answers the metrics path
/// before the worker, so `fetch` answers every other path with 404.
struct MetricsGateway: Worker {
    struct Env: Sendable {}
    static func makeEnv(_ bindings: EdgeBindings) throws -> Env { Env() }
    func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        EdgeResponse(status: .notFound)
    }
}
