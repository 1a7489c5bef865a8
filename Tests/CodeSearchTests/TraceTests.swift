import CodeSearch
import EdgeRuntimeTesting
import EdgeTesting
import Foundation
import Testing

@Suite("Traces of code-search serve, exported over OTLP/HTTP")
struct TraceTests {
    @Test(
        "a push's webhook request and everything it causes — queue sends, consumer batches, the coordinator's calls, embedding, index updates — are one trace at an OTLP collector"
    )
    func webhookToIndexedChunk() async throws {
        let scratch = NSTemporaryDirectory() + "swift-edge-tests/trace-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let receiver = try await OTLPReceiver()
        defer { receiver.stop() }

        let mirror = try MirrorRepository()
        try sampleTree(mirror)
        let head = try await runBlocking { try mirror.commit("fixtures") }
        let server = try await runBlocking {
            try ServerProcess(
                arguments: ["serve", "--model", "hashing", "--state", scratch + "/state", "--mirrors", mirror.mirrors, "--port", "0"],
                environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_SERVICE_NAME": "code-search-test"])
        }
        let body = try pushPayload(after: head)
        let (status, _) = try await server.request("/webhooks/github", method: "POST", headers: signedHeaders("push", body), body: body)
        #expect(status == 202)
        let jobPath = "/jobs/\(CodeSearchWorker.jobID(repo: mirror.repo, revision: head))"
        let deadline = Date().addingTimeInterval(600)
        var job: [String: Any] = [:]
        repeat {
            let (_, bytes) = try await server.request(jobPath)
            job = (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]) ?? [:]
            if job["status"] as? String == "done" { break }
            try await Task.sleep(for: .milliseconds(100))
        } while Date() < deadline
        #expect(job["status"] as? String == "done", "\(job)")
        // SIGTERM: the host stops, and the exporter sends the spans still batched.
        try await runBlocking { server.stop() }

        // Kept for a look after the run: .build/test-artifacts/traces/spans.jsonl.
        let artifacts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/test-artifacts/traces").path
        try? FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: artifacts + "/spans.jsonl")
        try? FileManager.default.copyItem(atPath: receiver.spansFile, toPath: artifacts + "/spans.jsonl")
        let spans = try receiver.spans()
        let webhook = try #require(spans.first { $0.name == "POST /webhooks/github" }, "\(spans.map(\.name))")
        #expect(webhook.parentSpanID.isEmpty, "the webhook request starts the trace")
        #expect(webhook.service == "code-search-test")
        let trace = spans.filter { $0.traceID == webhook.traceID }
        let names = Set(trace.map(\.name))
        for expected in ["send github-events", "process github-events", "ai embed", "vectorize upsert"] {
            #expect(names.contains(expected), "\(expected) in the webhook's trace: \(names.sorted())")
        }
        #expect(names.contains { $0.hasPrefix("durable_object ") }, "the coordinator's calls: \(names.sorted())")
        #expect(names.contains { $0.hasPrefix("process ") && $0 != "process github-events" }, "later queues' batches: \(names.sorted())")
        // Every span of the trace hangs off another span of it (no orphan), up to the webhook.
        let ids = Set(trace.map(\.spanID))
        #expect(trace.allSatisfy { $0.parentSpanID.isEmpty ? $0.spanID == webhook.spanID : ids.contains($0.parentSpanID) })
    }
}
