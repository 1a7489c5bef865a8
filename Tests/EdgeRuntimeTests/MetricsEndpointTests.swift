import EdgeBlob
import EdgeKV
import EdgeRuntime
import EdgeRuntimeTesting
import EdgeTesting
import Embeddings
import Foundation
import Testing
import VectorSearch

/// One sample of a scrape as Prometheus's own Python parser (`prometheus_client`) reads it.
struct ScrapedSample: Decodable {
    var name: String
    var labels: [String: String]
    var value: Double
}

/// Scrapes `url` (or reads a scrape saved in the file at that path) and parses it with
/// `prometheus_client.parser` (an implementation no one here wrote); returns its samples.
func scrapeWithPrometheusParser(_ url: String) async throws -> [ScrapedSample] {
    let script = """
        import json, sys, urllib.request
        from prometheus_client.parser import text_string_to_metric_families
        if sys.argv[1].startswith("http"):
            with urllib.request.urlopen(sys.argv[1]) as response:
                assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4"), response.headers["Content-Type"]
                text = response.read().decode("utf-8")
        else:
            text = open(sys.argv[1], encoding="utf-8").read()
        samples = [{"name": s.name, "labels": s.labels, "value": s.value} for f in text_string_to_metric_families(text) for s in f.samples]
        print(json.dumps(samples))
        """
    let result = try await ExternalCommand.run(
        ["python3", "-c", script, url], environment: try await PythonModules.environment(importing: "prometheus_client", requirement: "prometheus-client"),
        mergeStandardError: true)
    guard result.status == 0, let line = result.output.split(separator: "\n").last else {
        throw KillTestError(message: "the Prometheus parser failed on \(url) (exit \(result.status)): \(result.output)")
    }
    return try JSONDecoder().decode([ScrapedSample].self, from: Data(line.utf8))
}

extension [ScrapedSample] {
    /// The value of the sample `name` whose labels include `labels`; nil when there is none.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        first { sample in sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value } }?.value
    }
}

@Suite("The Prometheus endpoint of edge dev, read by Prometheus's own parser")
struct MetricsEndpointTests {
    func start(_ config: String) async throws -> (ChildProcess, Int, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swift-edge-tests/metrics-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try config.replacingOccurrences(of: "STATE_DIR", with: directory + "/state").write(toFile: directory + "/edge.jsonc", atomically: true, encoding: .utf8)
        let edge = try ChildProcess(
            try KillTest.executable(named: "edge"), ["dev", "--config", directory + "/edge.jsonc", "--port", "0"], directory: directory, standardError: true)
        try await edge.waitFor("edge dev listening", timeout: 300) { $0.contains("listening on http://") }
        let line = edge.lines.first { $0.contains("listening on http://") } ?? ""
        guard let port = line.split(separator: ":").last.flatMap({ Int($0.prefix { $0.isNumber }) }) else {
            throw KillTestError(message: "no port in \(line)")
        }
        return (edge, port, directory)
    }

    func request(_ url: String, method: String = "GET") async throws -> (Int, String) {
        let response = try await TestHTTP.send(url, method: method)
        return (response.status, response.text)
    }

    @Test(
        "after known work the scrape counts exactly that work: requests by status with latency histograms, KV operations, queue acknowledgements, durable objects built and evicted"
    )
    func knownWork() async throws {
        let (edge, port, directory) = try await start(
            """
            {
              "name": "metrics-test",
              "state_dir": "STATE_DIR",
              "log_level": "notice",
              "kv_namespaces": [{ "binding": "COUNTER" }],
              "queues": { "consumers": [{ "queue": "jobs", "max_batch_timeout": 0, "poll_interval": 0.05, "dead_letter_queue": "jobs-dlq" }] },
              "durable_objects": { "bindings": [{ "name": "COUNTERS", "class_name": "HelloCounter" }], "idle_timeout_ms": 300 },
            }
            """)
        defer {
            edge.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
        let base = "http://127.0.0.1:\(port)"
        for _ in 0..<3 { #expect(try await request(base + "/count").0 == 200) }
        for _ in 0..<2 { #expect(try await request(base + "/health").0 == 200) }
        #expect(try await request(base + "/files/absent").0 == 404, "no bucket is bound")
        for _ in 0..<2 { #expect(try await request(base + "/objects/a", method: "POST").0 == 200) }
        #expect(try await request(base + "/objects/b", method: "POST").0 == 200)
        let edgePath = try KillTest.executable(named: "edge")
        // Two messages already dead-lettered (sent there directly), before the consumer reports.
        for n in 0..<2 {
            let sent = try await ExternalCommand.run([edgePath, "queue", "send", "jobs-dlq", "{\"dead\":\(n)}", "--config", directory + "/edge.jsonc"])
            #expect(sent.status == 0, "\(sent.output)")
        }
        for n in 0..<4 {
            let sent = try await ExternalCommand.run([edgePath, "queue", "send", "jobs", "{\"n\":\(n)}", "--config", directory + "/edge.jsonc"])
            #expect(sent.status == 0, "\(sent.output)")
        }
        // The consumer and the eviction of idle objects run in edge dev: wait (real time, bounded)
        // until the four messages are acknowledged and both objects evicted.
        var samples: [ScrapedSample] = []
        let deadline = Date().addingTimeInterval(600)
        repeat {
            samples = try await scrapeWithPrometheusParser(base + "/__edge/metrics")
            if samples.value("edge_queue_acked_total", ["queue": "jobs"]) == 4,
                samples.value("edge_do_active", ["namespace": "COUNTERS"]) == 0,
                (samples.value("edge_do_evicted_total", ["namespace": "COUNTERS"]) ?? 0) >= 2,
                samples.value("edge_queue_backlog", ["queue": "jobs-dlq"]) == 2
            {
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        } while Date() < deadline
        let worker = ["worker": "metrics-test", "method": "GET"]
        #expect(samples.value("edge_http_requests_total", worker.merging(["status": "200"]) { $1 }) == 5)
        #expect(samples.value("edge_http_requests_total", worker.merging(["status": "404"]) { $1 }) == 1)
        #expect(samples.value("edge_http_request_duration_seconds_count", worker) == 6)
        #expect(samples.value("edge_http_request_duration_seconds_bucket", worker.merging(["le": "+Inf"]) { $1 }) == 6)
        let buckets = samples.filter {
            $0.name == "edge_http_request_duration_seconds_bucket" && $0.labels["worker"] == "metrics-test" && $0.labels["method"] == "GET"
        }
        #expect(buckets.count >= 10)
        #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0.value <= $1.value }, "cumulative buckets never decrease")
        #expect((samples.value("edge_http_request_duration_seconds_sum", worker) ?? 0) > 0)
        #expect(samples.value("edge_kv_operations_total", ["namespace": "COUNTER", "operation": "get"]) == 3)
        #expect(samples.value("edge_kv_operations_total", ["namespace": "COUNTER", "operation": "put"]) == 3)
        #expect(samples.value("edge_kv_failures_total", ["namespace": "COUNTER"]) == 0)
        #expect(samples.value("edge_queue_acked_total", ["queue": "jobs"]) == 4)
        #expect(samples.value("edge_queue_retried_total", ["queue": "jobs"]) == 0)
        #expect(samples.value("edge_queue_backlog", ["queue": "jobs-dlq"]) == 2, "the consumer samples its dead-letter queue")
        #expect(samples.value("edge_http_requests_total", ["worker": "metrics-test", "method": "POST", "status": "200"]) == 3)
        // Two objects; on a slow machine "a" may go idle (300 ms) between its two calls and be
        // built again, so the counts must agree with each other rather than be exactly 2.
        let built = samples.value("edge_do_instances_constructed_total", ["namespace": "COUNTERS"]) ?? 0
        #expect(built >= 2 && built <= 3, "\(built)")
        #expect(samples.value("edge_do_evicted_total", ["namespace": "COUNTERS"]) == built, "every instance built was evicted")
        #expect(samples.value("edge_do_active", ["namespace": "COUNTERS"]) == 0)
        #expect(samples.value("edge_do_alarms_failed_total", ["namespace": "COUNTERS"]) == 0)
        #expect(samples.value("edge_do_calls_total", ["namespace": "COUNTERS", "operation": "fetch"]) == 3)
        #expect(samples.value("edge_do_call_errors_total", ["namespace": "COUNTERS", "operation": "fetch"]) == 0)
        #expect(samples.value("edge_do_call_duration_seconds_count", ["namespace": "COUNTERS", "operation": "fetch"]) == 3)
        #expect(samples.value("edge_binding_operations_total", ["kind": "kv", "binding": "COUNTER", "operation": "put"]) == 3, "metered bindings in edge dev")
        // Scrapes are not requests of the worker: scraping again changes no request count.
        let again = try await scrapeWithPrometheusParser(base + "/__edge/metrics")
        #expect(again.value("edge_http_requests_total", worker.merging(["status": "200"]) { $1 }) == 5)
        let (status, body) = try await request(base + "/__edge/metrics", method: "POST")
        #expect(status == 405, "\(body)")
    }

    @Test("on an admin port of its own, the endpoint answers there and the worker's port leaves the path to the worker")
    func adminPort() async throws {
        let (edge, port, directory) = try await start(
            """
            { "name": "metrics-admin", "state_dir": "STATE_DIR", "log_level": "notice", "metrics": { "port": 0, "path": "/internal/metrics" } }
            """)
        defer {
            edge.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
        try await edge.waitFor("the metrics port", timeout: 60) { $0.contains("metrics at http://") }
        let line = edge.lines.first { $0.contains("metrics at http://") } ?? ""
        let url = String(line[line.range(of: "http://")!.lowerBound...]).trimmingCharacters(in: .whitespaces)
        #expect(url.hasSuffix("/internal/metrics"), "\(line)")
        #expect(try await request("http://127.0.0.1:\(port)/health").0 == 200)
        let samples = try await scrapeWithPrometheusParser(url)
        #expect(samples.value("edge_http_requests_total", ["worker": "metrics-admin", "method": "GET", "status": "200"]) == 1)
        let (status, body) = try await request("http://127.0.0.1:\(port)/internal/metrics")
        #expect(status == 200 && !body.contains("# TYPE"), "the worker's port serves the worker there: \(body)")
        let adminBase = String(url.dropLast("/internal/metrics".count))
        #expect(try await request(adminBase + "/health").0 == 404, "the admin port serves only the endpoint")
    }

    @Test("a vector index reports its size and query latency")
    func vectorIndex() async throws {
        #expect(EdgeMetrics.bootstrap(), "swift-edge's registry is this test process's backend")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swift-edge-tests/metrics-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let name = "metrics-\(UInt32.random(in: 0...UInt32.max))"
        let index = try HNSWIndex(name: name, stateDirectory: directory, configuration: VectorIndexConfiguration(dimensions: 4, metric: .cosine))
        _ = try await index.upsert((0..<10).map { VectorRecord(id: "v\($0)", values: [Float($0), 1, 2, 3]) })
        for _ in 0..<3 { _ = try await index.query([1, 1, 1, 1], options: VectorQueryOptions(topK: 3)) }
        _ = try await index.deleteByIds(["v1", "v2"])
        let file = directory + "/scrape.txt"
        try Data(EdgeMetrics.scrape()).write(to: URL(fileURLWithPath: file))
        let samples = try await scrapeWithPrometheusParser(file)
        #expect(samples.value("edge_vectors_count", ["index": name]) == 8)
        #expect(samples.value("edge_vectors_query_duration_seconds_count", ["index": name]) == 3)
        #expect(samples.value("edge_vectors_query_duration_seconds_bucket", ["index": name, "le": "+Inf"]) == 3)
    }

    @Test("every binding's operations are counted, timed and their errors counted, by kind, binding and operation, whatever the backend")
    func bindingOperations() async throws {
        #expect(EdgeMetrics.bootstrap(), "swift-edge's registry is this test process's backend")
        let tag = String(UInt32.random(in: 0...UInt32.max), radix: 16).uppercased()
        let (kvName, bucketName, indexName, aiName, queue) = ("KV\(tag)", "FILES\(tag)", "VEC\(tag)", "AI\(tag)", "jobs-\(tag.lowercased())")
        let client = try WorkerTestClient(
            HelloWorker(),
            config: """
                {
                  "name": "metered",
                  "kv_namespaces": [{ "binding": "\(kvName)" }],
                  "r2_buckets": [{ "binding": "\(bucketName)" }],
                  "queues": { "producers": [{ "binding": "JOBS", "queue": "\(queue)" }] },
                  "vectorize": [{ "binding": "\(indexName)", "index_name": "v\(tag.lowercased())", "dimensions": 8, "metric": "cosine" }],
                  "ai": { "binding": "\(aiName)", "model": "hashing", "dimensions": 8 }
                }
                """)
        let kv = try client.bindings.kv(kvName)
        try await kv.put("a", "1")
        try await kv.put("b", "2")
        _ = try await kv.get("a")
        _ = try await kv.get("missing")
        _ = try await kv.list(KVListOptions())
        await #expect(throws: KVError.self) { try await kv.put("", "empty key") }
        let bucket = try client.bindings.bucket(bucketName)
        _ = try await bucket.put("x", body: .bytes(Array("body".utf8)), options: BlobPutOptions())
        _ = try await bucket.get("x", options: BlobGetOptions())
        _ = try await bucket.head("x")
        try await bucket.delete(["x"])
        let upload = try await bucket.createMultipartUpload("big")
        let part = try await upload.uploadPart(1, .bytes(Array(repeating: 7, count: 10)))
        _ = try await upload.complete([part])
        try await QueueProducer<String>(queue: queue, backend: client.bindings.queueBackend).send("hello")
        _ = try await client.bindings.queueBackend.stats(queue)
        let model = try client.bindings.ai(aiName)
        let vectors = try await model.embed(["parse a cron expression", "send an email"])
        let index = try client.bindings.vectorize(indexName)
        _ = try await index.upsert(vectors.enumerated().map { VectorRecord(id: "t\($0.offset)", values: $0.element) })
        _ = try await index.query(vectors[0], options: VectorQueryOptions(topK: 1))

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("swift-edge-tests/scrape-\(tag).txt").path
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(EdgeMetrics.scrape()).write(to: URL(fileURLWithPath: file))
        let samples = try await scrapeWithPrometheusParser(file)
        func count(_ kind: String, _ binding: String, _ operation: String) -> Double? {
            samples.value("edge_binding_operations_total", ["kind": kind, "binding": binding, "operation": operation])
        }
        #expect(count("kv", kvName, "put") == 3, "two puts and the refused one")
        #expect(count("kv", kvName, "get") == 2)
        #expect(count("kv", kvName, "list") == 1)
        #expect(samples.value("edge_binding_errors_total", ["kind": "kv", "binding": kvName, "operation": "put"]) == 1)
        #expect(samples.value("edge_binding_errors_total", ["kind": "kv", "binding": kvName, "operation": "get"]) == 0, "a miss is not an error")
        let timed = ["kind": "kv", "binding": kvName, "operation": "put"]
        #expect(samples.value("edge_binding_operation_duration_seconds_count", timed) == 3)
        #expect(samples.value("edge_binding_operation_duration_seconds_bucket", timed.merging(["le": "+Inf"]) { $1 }) == 3)
        for operation in ["put", "get", "head", "delete", "create_multipart_upload", "upload_part", "complete_multipart_upload"] {
            #expect(count("blob", bucketName, operation) == 1, "blob \(operation)")
        }
        #expect(count("queue", queue, "send") == 1)
        #expect(count("queue", queue, "stats") == 1)
        #expect(count("ai", aiName, "embed") == 1)
        #expect(count("vectorize", indexName, "upsert") == 1)
        #expect(count("vectorize", indexName, "query") == 1)
    }
}
