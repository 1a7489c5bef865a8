import Foundation

/// A local OpenTelemetry collector for tests: receives OTLP/HTTP trace exports (`/v1/traces`,
/// protobuf) and decodes them with the `opentelemetry-proto` Python package (installed with pip
/// on first use, ``PythonModules``), an implementation independent of the exporter under test.
///
/// Point a host at it with `OTEL_EXPORTER_OTLP_ENDPOINT` = ``endpoint`` (or the config's
/// `tracing.endpoint`), stop the host (its exporter sends the last batch at shutdown), then read
/// ``spans()``.
public final class OTLPReceiver: Sendable {
    /// One span as received.
    public struct Span: Decodable, Sendable {
        /// 32 hex digits.
        public var traceID: String
        /// 16 hex digits.
        public var spanID: String
        /// Empty for a trace's root span.
        public var parentSpanID: String
        public var name: String
        /// OTLP's span kind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
        public var kind: Int
        /// The `service.name` resource attribute.
        public var service: String?
        /// String attributes (others as their description).
        public var attributes: [String: String]
        /// The spans it links to (a consumer batch's other messages).
        public var links: [[String: String]]

        enum CodingKeys: String, CodingKey {
            case traceID = "trace_id", spanID = "span_id", parentSpanID = "parent_span_id", name, kind, service, attributes, links
        }
    }

    /// Where to export (`http://127.0.0.1:PORT`; the exporter appends `/v1/traces`).
    public let endpoint: String
    private let process: ChildProcess
    private let file: String

    /// Starts the receiver on a free port.
    ///
    /// - Throws: ``KillTestError`` when pip cannot install `opentelemetry-proto` or the receiver
    ///   does not start.
    public init() async throws {
        let directory = NSTemporaryDirectory() + "swift-edge-otlp-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let script = directory + "/otlp_receiver.py"
        try Self.script.write(toFile: script, atomically: true, encoding: .utf8)
        file = directory + "/spans.jsonl"
        let environment = try await PythonModules.environment(importing: "opentelemetry.proto", requirement: "opentelemetry-proto")
        let file = self.file
        let process = try await runBlocking { try ChildProcess("/usr/bin/env", ["python3", script, file], standardError: true, environment: environment) }
        try await process.waitFor("the OTLP receiver", timeout: 300) { $0.hasPrefix("listening ") }
        guard let port = process.lines.first(where: { $0.hasPrefix("listening ") }).flatMap({ Int($0.dropFirst("listening ".count)) }) else {
            throw KillTestError(message: "the OTLP receiver did not say where it listens: \(process.lines)")
        }
        self.process = process
        endpoint = "http://127.0.0.1:\(port)"
    }

    /// Every span received so far, in arrival order.
    ///
    /// - Throws: when a line cannot be decoded.
    public func spans() throws -> [Span] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Span.self, from: Data($0.utf8)) }
    }

    /// Where the spans are written, one JSON object a line (to keep as a test artifact).
    public var spansFile: String { file }

    /// Stops the receiver.
    public func stop() { process.stop() }

    deinit { process.stop() }

    static let script = #"""
        """A minimal OTLP/HTTP trace receiver (a collector's /v1/traces, protobuf), for tests.

        Decodes each ExportTraceServiceRequest with the opentelemetry-proto package (an implementation
        no one here wrote) and appends one JSON object per span to OUTPUT.jsonl: trace and span ids in
        hex, parent span id, name, kind, service name, attributes and links. Prints "listening PORT"
        once it listens; answers every request as a collector does (an empty ExportTraceServiceResponse).

        usage: otlp_receiver.py OUTPUT.jsonl
        """
        import gzip
        import json
        import sys
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

        output = sys.argv[1]


        def value(any_value):
            kind = any_value.WhichOneof("value")
            return getattr(any_value, kind) if kind else None


        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with open(output, "a") as out:
                    for resource_spans in request.resource_spans:
                        resource = {a.key: value(a.value) for a in resource_spans.resource.attributes}
                        for scope_spans in resource_spans.scope_spans:
                            for span in scope_spans.spans:
                                out.write(json.dumps({
                                    "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                                    "parent_span_id": span.parent_span_id.hex(), "name": span.name, "kind": span.kind,
                                    "service": resource.get("service.name"),
                                    "attributes": {a.key: str(value(a.value)) for a in span.attributes},
                                    "links": [{"trace_id": l.trace_id.hex(), "span_id": l.span_id.hex()} for l in span.links],
                                    "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
                                }) + "\n")
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass


        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        print(f"listening {server.server_address[1]}", flush=True)
        server.serve_forever()
        """#
}
