import EdgeRuntime
import EdgeRuntimeTesting
import EdgeTesting
import Foundation
import Testing

@Suite("Logs of edge dev: JSON lines with request ids, secrets never written")
struct LogFormatTests {
    @Test("log_format json: every line is one JSON object, request lines carry the response's request id, a secret in a path is redacted")
    func jsonLinesWithoutSecrets() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swift-edge-tests/logs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
        { "name": "logs-test", "state_dir": "state", "log_level": "info", "log_format": "json", "secrets": ["API_TOKEN"],
          "kv_namespaces": [{ "binding": "COUNTER" }] }
        """.write(toFile: directory + "/edge.jsonc", atomically: true, encoding: .utf8)
        let secret = "tok-\(UUID().uuidString)"
        let edge = try ChildProcess(
            try KillTest.executable(named: "edge"), ["dev", "--config", directory + "/edge.jsonc", "--port", "0"], directory: directory, standardError: true,
            environment: ["API_TOKEN": secret])
        defer { edge.stop() }
        try await edge.waitFor("edge dev listening", timeout: 300) { $0.contains("listening on http://") }
        let listening = edge.lines.first { $0.contains("listening on http://") } ?? ""
        guard let port = listening.split(separator: ":").last.flatMap({ Int($0.prefix { $0.isNumber }) }) else {
            throw KillTestError(message: "no port in \(listening)")
        }
        // A token in a URL is the classic leak: the request line logs the path.
        let response = try await TestHTTP.send("http://127.0.0.1:\(port)/callback/\(secret)", headers: ["x-request-id": "req-from-client-1"])
        #expect(response.headers["x-request-id"] == "req-from-client-1")
        let counted = try await TestHTTP.send("http://127.0.0.1:\(port)/count")
        let countedID = try #require(counted.headers["x-request-id"])
        try await edge.waitUntil("both request lines", timeout: 600) { lines in lines.filter { $0.contains("\"request_id\"") }.count >= 2 }
        edge.stop()

        let lines = edge.lines.filter { !$0.isEmpty }
        #expect(lines.count >= 3, "\(lines)")
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object != nil, "not one JSON object: \(line)")
            #expect(object?["time"] is String && object?["level"] is String && object?["message"] is String, "\(line)")
            #expect(!line.contains(secret), "a secret in the log: \(line)")
        }
        let requestLines = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.filter { $0["request_id"] != nil }
        let callback = requestLines.first { $0["request_id"] as? String == "req-from-client-1" }
        #expect((callback?["message"] as? String)?.contains("/callback/[redacted]") == true, "\(String(describing: callback))")
        #expect(requestLines.contains { $0["request_id"] as? String == countedID && ($0["message"] as? String)?.contains("/count") == true })
    }

    @Test("with tracing on, a request continues its caller's traceparent: its log lines carry that trace id, and its span reaches the collector under it")
    func traceIDsInLogs() async throws {
        let receiver = try await OTLPReceiver()
        defer { receiver.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swift-edge-tests/logs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
        { "name": "traced", "state_dir": "state", "log_level": "info", "log_format": "json", "kv_namespaces": [{ "binding": "COUNTER" }],
          "tracing": { "endpoint": "\(receiver.endpoint)/v1/traces" } }
        """.write(toFile: directory + "/edge.jsonc", atomically: true, encoding: .utf8)
        let edge = try ChildProcess(
            try KillTest.executable(named: "edge"), ["dev", "--config", directory + "/edge.jsonc", "--port", "0"], directory: directory, standardError: true)
        defer { edge.stop() }
        try await edge.waitFor("edge dev listening", timeout: 300) { $0.contains("listening on http://") }
        let listening = edge.lines.first { $0.contains("listening on http://") } ?? ""
        let port = try #require(listening.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) })
        let traceID = (0..<32).map { _ in String(Int.random(in: 0..<16), radix: 16) }.joined()
        let parentSpan = (0..<16).map { _ in String(Int.random(in: 0..<16), radix: 16) }.joined()
        _ = try await TestHTTP.send("http://127.0.0.1:\(port)/count", headers: ["traceparent": "00-\(traceID)-\(parentSpan)-01"])
        _ = try await TestHTTP.send("http://127.0.0.1:\(port)/health")
        try await edge.waitUntil("both request lines", timeout: 600) { lines in lines.filter { $0.contains("\"request_id\"") }.count >= 2 }
        try await runBlocking { edge.stop(grace: 600) }  // its exporter sends the last spans as it stops

        let lines = edge.lines.filter { !$0.isEmpty }.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.count == edge.lines.filter { !$0.isEmpty }.count, "every line is JSON: \(edge.lines)")
        let counted = try #require(lines.first { ($0["message"] as? String)?.contains("/count") == true })
        #expect(counted["trace_id"] as? String == traceID, "the caller's trace continues: \(counted)")
        let health = try #require(lines.first { ($0["message"] as? String)?.contains("/health") == true })
        let ownTrace = try #require(health["trace_id"] as? String, "a request without traceparent starts a trace: \(health)")
        #expect(ownTrace.count == 32 && ownTrace != traceID)
        let spans = try receiver.spans()
        let server = try #require(spans.first { $0.name == "GET /count" }, "\(spans.map(\.name))")
        #expect(server.traceID == traceID && server.parentSpanID == parentSpan && server.kind == 2 && server.service == "traced")
        #expect(spans.contains { $0.name == "kv get" && $0.parentSpanID == server.spanID && $0.attributes["edge.binding"] == "COUNTER" })
        #expect(spans.contains { $0.name == "GET /health" && $0.traceID == ownTrace })
    }
}
