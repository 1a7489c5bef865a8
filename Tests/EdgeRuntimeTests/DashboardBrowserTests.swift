import EdgeRuntime
import EdgeRuntimeTesting
import EdgeTesting
import Foundation
import Testing
import VectorSearch

/// Where the dashboard test keeps its screenshots (`.build/test-artifacts/dashboard`).
let dashboardArtifacts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/test-artifacts/dashboard").path

@Suite(
    "edge dev's dashboard in headless Chromium",
    .enabled(
        if: HeadlessChromium.isAvailable,
        "needs Debian's chromium and PyPI's playwright (`apt-get install chromium`, `pip install playwright`; .ci/run installs both)"))
struct DashboardBrowserTests {
    @Test(
        "an operator reads every binding, downloads an object, is refused while locked, unlocks and redrives, opens an object's storage, queries vectors and watches the live log; the alarm shows in the metrics"
    )
    func operatorWalkthrough() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swift-edge-tests/dashboard-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
        {
          "name": "dashboard-test",
          "state_dir": "\(directory)/state",
          "log_level": "notice",
          "secrets": ["DASHBOARD_TOKEN"],
          "dashboard": { "token_secret": "DASHBOARD_TOKEN" },
          "kv_namespaces": [{ "binding": "COUNTER" }],
          "r2_buckets": [{ "binding": "FILES" }],
          "queues": { "consumers": [{ "queue": "jobs", "max_batch_timeout": 0, "poll_interval": 0.05, "dead_letter_queue": "jobs-dlq" }] },
          "durable_objects": { "bindings": [{ "name": "COUNTERS", "class_name": "HelloCounter" }] },
          "vectorize": [{ "binding": "VECTORS", "index_name": "docs", "dimensions": 4, "metric": "cosine" }]
        }
        """.write(toFile: directory + "/edge.jsonc", atomically: true, encoding: .utf8)
        let token = "token-\(UUID().uuidString)"
        try "DASHBOARD_TOKEN=\(token)\n".write(toFile: directory + "/.dev.vars", atomically: true, encoding: .utf8)
        // Vectors written where edge dev's binding opens them, before it starts.
        do {
            let index = try HNSWIndex(
                name: "docs", stateDirectory: directory + "/state", configuration: VectorIndexConfiguration(dimensions: 4, metric: .cosine))
            _ = try await index.upsert((0..<20).map { VectorRecord(id: "v\($0)", values: [Float($0), 1, Float($0 % 3), 2], metadata: ["n": .int(Int64($0))]) })
        }

        let edgePath = try KillTest.executable(named: "edge")
        let edge = try await runBlocking {
            try ChildProcess(edgePath, ["dev", "--config", directory + "/edge.jsonc", "--port", "0"], directory: directory, standardError: true)
        }
        defer { edge.stop() }
        try await edge.waitFor("edge dev listening", timeout: 300) { $0.contains("listening on http://") }
        let line = edge.lines.first { $0.contains("listening on http://") } ?? ""
        let port = try #require(line.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) })
        let base = "http://127.0.0.1:\(port)"
        func request(_ path: String, method: String = "GET", body: Data? = nil) async throws -> Int {
            try await TestHTTP.send(base + path, method: method, body: body.map { Array($0) } ?? []).status
        }
        // Known contents: a counter in KV, an object in a folder, a counter object with an alarm
        // an hour away, two messages in the dead-letter queue.
        #expect(try await request("/count") == 200)
        #expect(try await request("/files/reports/2026/summary.txt", method: "PUT", body: Data("quarterly summary".utf8)) == 201)
        #expect(try await request("/objects/alpha?alarm_in=3600", method: "POST") == 200)
        for n in 0..<2 {
            let sent = try await ExternalCommand.run([edgePath, "queue", "send", "jobs-dlq", "{\"lost\":\(n)}", "--config", directory + "/edge.jsonc"])
            #expect(sent.status == 0, "\(sent.output)")
        }

        let spec: [String: Any] = [
            "token": token, "download_key": "reports/2026/summary.txt", "download_body": "quarterly summary", "dlq": "jobs-dlq",
            "dlq_messages": 2, "redrive_to": "jobs", "object_name": "alpha", "vector_id": "v7",
        ]
        try JSONSerialization.data(withJSONObject: spec).write(to: URL(fileURLWithPath: directory + "/spec.json"))
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Browser/dashboard.py").path
        let (status, output) = try await ExternalCommand.run(
            ["python3", script, base, directory + "/spec.json", dashboardArtifacts], mergeStandardError: true)
        #expect(status == 0, "\(output)")
        let report = output.split(separator: "\n").last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let steps = ((report?["steps"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
        #expect(
            steps == ["overview", "kv value", "download", "locked", "redrive", "durable object", "vector query", "live log", "no javascript"],
            "\(output)")
        for name in ["overview", "bucket", "requests"] {
            #expect(FileManager.default.fileExists(atPath: "\(dashboardArtifacts)/\(name).png"), "screenshot \(name).png kept")
        }

        // The redriven messages reach the consumer; the alarm an hour away is pending.
        var samples: [ScrapedSample] = []
        let deadline = Date().addingTimeInterval(600)
        repeat {
            samples = try await scrapeWithPrometheusParser(base + "/__edge/metrics")
            if samples.value("edge_queue_acked_total", ["queue": "jobs"]) == 2, samples.value("edge_do_alarms_pending", ["namespace": "COUNTERS"]) == 1 {
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        } while Date() < deadline
        #expect(samples.value("edge_queue_acked_total", ["queue": "jobs"]) == 2, "the two redriven messages were consumed")
        #expect(samples.value("edge_do_alarms_pending", ["namespace": "COUNTERS"]) == 1)
    }
}
