import CodeSearch
import EdgeCore
import EdgeQueue
import EdgeRuntime
import EdgeRuntimeTesting
import Embeddings
import Foundation
import HTTPTypes
import Synchronization
import Testing
import VectorSearch

/// A git repository in a temporary directory, laid out as the mirror of `owner/name`.
struct MirrorRepository {
    let mirrors: String
    let repo = "Codertocat/Hello-World"
    var root: String { mirrors + "/" + repo }

    init() throws {
        mirrors = NSTemporaryDirectory() + "swift-edge-tests/mirrors-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: mirrors + "/" + repo, withIntermediateDirectories: true)
        try git(["init", "-q", "-b", "master"])
    }

    @discardableResult
    func git(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-c", "user.email=test@example.com", "-c", "user.name=test"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw RepositoryError("git \(arguments) failed") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func write(_ path: String, _ text: String) throws {
        let url = URL(fileURLWithPath: root + "/" + path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    /// Commits everything; returns the commit id.
    func commit(_ message: String) throws -> String {
        try git(["add", "-A"])
        try git(["commit", "-q", "-m", message])
        return try git(["rev-parse", "HEAD"])
    }
}

/// GitHub's real push payload (a tag deletion) turned into a push of `after` to `master`.
func pushPayload(after: String, fixture: String = "push.json") throws -> [UInt8] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(fixture)")
    var payload = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    payload["ref"] = "refs/heads/master"
    payload["after"] = after
    payload["deleted"] = false
    return Array(try JSONSerialization.data(withJSONObject: payload))
}

let webhookSecret = "It's a Secret to Everybody"

func signedHeaders(_ event: String, _ body: [UInt8], delivery: String = UUID().uuidString) -> [String: String] {
    [
        "x-github-event": event, "x-github-delivery": delivery, "x-hub-signature-256": GitHubWebhook(secret: webhookSecret).signature(of: body),
        "content-type": "application/json",
    ]
}

let pipelineQueues = ["github-events", "repository-indexing", "file-indexing", "embedding-generation"]

/// Runs the queues until none has anything visible.
func pump(_ client: WorkerTestClient<CodeSearchWorker>) async throws {
    while true {
        var delivered = 0
        for queue in pipelineQueues { delivered += try await client.deliverQueue(queue) }
        if delivered == 0 { return }
    }
}

func pipelineClient(_ mirror: MirrorRepository, model: (any EmbeddingModel)? = nil) throws -> WorkerTestClient<CodeSearchWorker> {
    let config = CodeSearchWorker.defaultConfig(
        stateDirectory: NSTemporaryDirectory() + "swift-edge-tests/cs-\(UUID().uuidString)",
        model: .hashing(), mirrors: mirror.mirrors, webhookSecret: true, retryDelay: 0, visibilityTimeout: 60)
    return try WorkerTestClient(CodeSearchWorker(embeddingModel: model), config: config, secrets: ["GITHUB_WEBHOOK_SECRET": webhookSecret])
}

func json(_ response: TestResponse) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any], "\(response.status) \(response.text)")
}

func sampleTree(_ mirror: MirrorRepository) throws {
    try mirror.write(
        "Sources/Cron.swift",
        "/// Parses a cron expression into its fields.\nfunc parseCronExpression(_ text: String) -> [Int] {\n    text.split(separator: \" \").compactMap { Int($0) }\n}\n"
    )
    try mirror.write("Sources/Mail.swift", "func sendWelcomeEmail(to user: String) {\n    print(\"welcome\", user)\n}\n")
    try mirror.write(
        "Sources/Retry.swift",
        "/// Retries a failed delivery with exponential backoff.\nfunc retryDelivery(attempt: Int) -> Double {\n    pow(2, Double(attempt))\n}\n")
    try mirror.write("README.md", "# Hello\n\nA sample repository for the pipeline tests.\n")
    try mirror.write("vendor/Lib.swift", "func vendoredCode() {}\n")
    try FileManager.default.createDirectory(atPath: mirror.root + "/Assets", withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: mirror.root + "/Assets/logo.png", contents: Data([0x89, 0x50, 0x4E, 0x47, 0, 0, 0, 1]))
}

@Suite("CodeSearch pipeline (webhook → queues → coordinator → index)")
struct PipelineTests {
    @Test("a signed push through HTTP is indexed and searchable; a second push re-indexes only what changed; a duplicate changes nothing")
    func pushToSearch() async throws {
        let mirror = try MirrorRepository()
        try sampleTree(mirror)
        let first = try mirror.commit("initial")
        let client = try pipelineClient(mirror)
        let env = client.runtime.env
        let body = try pushPayload(after: first)

        try await client.live { live in
            // Rejected or ignored deliveries, over the socket.
            #expect(try await live.fetch("/webhooks/github", method: "POST", headers: ["x-github-event": "push"], body: body).status == 401)
            var forged = signedHeaders("push", body)
            forged["x-hub-signature-256"] = GitHubWebhook(secret: "wrong").signature(of: body)
            #expect(try await live.fetch("/webhooks/github", method: "POST", headers: forged, body: body).status == 401)
            let garbage = Array("{not json".utf8)
            #expect(try await live.fetch("/webhooks/github", method: "POST", headers: signedHeaders("push", garbage), body: garbage).status == 400)
            let unknown = try await live.fetch("/webhooks/github", method: "POST", headers: signedHeaders("pull_request", body), body: body)
            #expect(unknown.status == 202)
            let ping = Array(#"{"zen":"Keep it logically awesome.","hook_id":1}"#.utf8)
            #expect(try await live.fetch("/webhooks/github", method: "POST", headers: signedHeaders("ping", ping), body: ping).status == 200)
            // The real push.
            let accepted = try await live.fetch("/webhooks/github", method: "POST", headers: signedHeaders("push", body, delivery: "delivery-1"), body: body)
            #expect(accepted.status == 202, "\(accepted.text)")
        }
        #expect(try await client.bindings.queueBackend.stats("github-events").backlog == 1, "only the push was queued")
        try await pump(client)

        let jobID = CodeSearchWorker.jobID(repo: mirror.repo, revision: first)
        let job = try json(await client.fetch("/jobs/\(jobID)"))
        #expect(job["status"] as? String == "done")
        let progress = try #require(job["progress"] as? [String: Any])
        #expect(progress["files"] as? Int == 4, "Cron, Mail, Retry, README; vendor/ and the PNG are skipped: \(progress)")
        let chunks = try await env.index.chunks.count(repo: mirror.repo)
        #expect(chunks == progress["chunks"] as? Int)
        #expect(try await env.index.vectors.describe().vectorCount == expectedVectorCount(env.index))

        let search = await client.fetch("/search?q=parse%20a%20cron%20expression&top=3&repo=\(mirror.repo)")
        #expect(search.header("x-cache") == "miss")
        let results = try #require(try json(search)["results"] as? [[String: Any]])
        #expect(results.first?["path"] as? String == "Sources/Cron.swift")
        #expect(results.first?["startLine"] as? Int == 1)
        #expect(results.first?["repo"] as? String == mirror.repo)
        #expect(await client.fetch("/search?q=parse%20a%20cron%20expression&top=3&repo=\(mirror.repo)").header("x-cache") == "hit")
        #expect(await client.fetch("/search?q=&top=3").status == 400)
        #expect(await client.fetch("/search?q=x&top=0").status == 400)
        #expect(await client.fetch("/search?q=x&mode=fuzzy").text.contains("mode must be hybrid, semantic or lexical"))
        #expect(await client.fetch("/search?q=x&kind=tests").status == 400)
        let lexical = try json(await client.fetch("/search?q=parse%20a%20cron%20expression&mode=lexical&kind=code"))
        #expect((lexical["results"] as? [[String: Any]])?.first?["path"] as? String == "Sources/Cron.swift")
        let docsOnly = try json(await client.fetch("/search?q=parse%20a%20cron%20expression&kind=docs"))
        #expect((docsOnly["results"] as? [[String: Any]])?.allSatisfy { ($0["path"] as? String)?.hasSuffix(".md") == true } == true)
        #expect(await client.fetch("/jobs/nope").status == 404)

        // Second push: one file changed, one removed.
        try mirror.write(
            "Sources/Mail.swift",
            "func sendWelcomeEmail(to user: String) {\n    print(\"welcome aboard\", user)\n}\n\nfunc sendFarewellEmail(to user: String) {}\n")
        try FileManager.default.removeItem(atPath: mirror.root + "/Sources/Retry.swift")
        let second = try mirror.commit("change mail, drop retry")
        let secondBody = try pushPayload(after: second)
        #expect(
            await client.fetch("/webhooks/github", method: "POST", headers: signedHeaders("push", secondBody, delivery: "delivery-2"), body: secondBody).status
                == 202)
        try await pump(client)
        let secondJob = try json(await client.fetch("/jobs/\(CodeSearchWorker.jobID(repo: mirror.repo, revision: second))"))
        #expect(secondJob["status"] as? String == "done")
        let secondProgress = try #require(secondJob["progress"] as? [String: Any])
        #expect(secondProgress["files"] as? Int == 1, "only Mail.swift is re-chunked: \(secondProgress)")
        #expect(secondProgress["removedFiles"] as? Int == 1)
        let keys = try await env.index.chunks.keys(repo: mirror.repo)
        #expect(!keys.contains { $0.contains("Retry.swift") })
        #expect(keys.contains { $0.contains("Mail.swift") })
        let afterSecond = (expected: try await expectedVectorCount(env.index), vectors: try await env.index.vectors.describe().vectorCount)
        #expect(afterSecond.expected == afterSecond.vectors)
        let farewell = try #require(try json(await client.fetch("/search?q=farewell%20email&top=1"))["results"] as? [[String: Any]])
        #expect(farewell.first?["path"] as? String == "Sources/Mail.swift", "the cache was invalidated by the re-index")

        // The same push delivered again (GitHub redelivers with the same delivery id).
        #expect(
            await client.fetch("/webhooks/github", method: "POST", headers: signedHeaders("push", secondBody, delivery: "delivery-2"), body: secondBody).status
                == 202)
        try await pump(client)
        #expect(try await env.index.chunks.keys(repo: mirror.repo) == keys)
        #expect(try await env.index.vectors.describe().vectorCount == afterSecond.vectors)
        let again = try json(await client.fetch("/jobs/\(CodeSearchWorker.jobID(repo: mirror.repo, revision: second))"))
        #expect(again["progress"] as? [String: Any] as NSDictionary? == secondProgress as NSDictionary)
    }

    @Test("the real push fixture (a tag deletion), create and delete events are accepted and index nothing")
    func realFixturesIgnored() async throws {
        let mirror = try MirrorRepository()
        try sampleTree(mirror)
        _ = try mirror.commit("initial")
        let client = try pipelineClient(mirror)
        for (event, fixture) in [("push", "push.json"), ("push", "push.with-organization.json"), ("create", "create.json"), ("delete", "delete.json")] {
            let body = Array(try Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(fixture)")))
            #expect(await client.fetch("/webhooks/github", method: "POST", headers: signedHeaders(event, body), body: body).status == 202)
        }
        try await pump(client)
        #expect(try await client.runtime.env.index.chunks.count() == 0)
        #expect(try await client.bindings.queueBackend.stats("github-events-dlq").backlog == 0)
    }

    @Test("an installation indexes its repositories; a push for a repository without a mirror fails its job with the reason")
    func installationAndMissingMirror() async throws {
        let mirror = try MirrorRepository()
        try sampleTree(mirror)
        _ = try mirror.commit("initial")
        let client = try pipelineClient(mirror)
        let install = Array(
            try Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/installation.created.json")))
        #expect(await client.fetch("/webhooks/github", method: "POST", headers: signedHeaders("installation", install), body: install).status == 202)
        try await pump(client)
        #expect(try await client.runtime.env.index.chunks.count(repo: mirror.repo) > 0)

        var payload = try #require(
            try JSONSerialization.jsonObject(with: Data(try pushPayload(after: "0123456789012345678901234567890123456789"))) as? [String: Any])
        var repository = try #require(payload["repository"] as? [String: Any])
        repository["full_name"] = "nobody/unknown"
        payload["repository"] = repository
        let body = Array(try JSONSerialization.data(withJSONObject: payload))
        #expect(await client.fetch("/webhooks/github", method: "POST", headers: signedHeaders("push", body), body: body).status == 202)
        try await pump(client)
        let job = try json(await client.fetch("/jobs/\(CodeSearchWorker.jobID(repo: "nobody/unknown", revision: "0123456789012345678901234567890123456789"))"))
        #expect(job["status"] as? String == "failed")
        #expect((job["error"] as? String)?.contains("no source for nobody/unknown") == true)
    }

    @Test("a failing embedding provider sends batches to the DLQ after retries; a redrive completes the job")
    func deadLetterAndRedrive() async throws {
        let mirror = try MirrorRepository()
        try sampleTree(mirror)
        let head = try mirror.commit("initial")
        let model = FlakyModel()
        let client = try pipelineClient(mirror, model: model)
        let body = try pushPayload(after: head)
        #expect(await client.fetch("/webhooks/github", method: "POST", headers: signedHeaders("push", body), body: body).status == 202)
        try await pump(client)

        let backend = client.bindings.queueBackend
        let dead = try await backend.stats("embedding-generation-dlq").backlog
        #expect(dead >= 1)
        #expect(model.calls.load(ordering: .relaxed) == 4 * dead, "the first delivery and 3 retries of each batch")
        let jobPath = "/jobs/\(CodeSearchWorker.jobID(repo: mirror.repo, revision: head))"
        #expect(try json(await client.fetch(jobPath))["status"] as? String == "indexing")
        #expect(try await client.runtime.env.index.vectors.describe().vectorCount == 0)

        model.failing.store(false, ordering: .relaxed)
        #expect(try await backend.redrive(from: "embedding-generation-dlq", to: nil) == dead)
        try await pump(client)
        let job = try json(await client.fetch(jobPath))
        #expect(job["status"] as? String == "done")
        #expect(try await client.runtime.env.index.vectors.describe().vectorCount == expectedVectorCount(client.runtime.env.index))
        #expect(try await backend.stats("embedding-generation-dlq").backlog == 0)
    }
}

/// An embedding provider that fails (like a provider outage) until told otherwise.
final class FlakyModel: EmbeddingModel {
    let base = HashingEmbedder()
    let failing = Atomic(true)
    let calls = Atomic(0)
    var modelID: String { base.modelID }
    var dimensions: Int { base.dimensions }
    var maxInputTokens: Int { base.maxInputTokens }
    var maxBatchSize: Int { base.maxBatchSize }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        calls.add(1, ordering: .relaxed)
        if failing.load(ordering: .relaxed) { throw EmbeddingError(.providerUnavailable, message: "provider unavailable (HTTP 503)") }
        return try await base.embed(texts)
    }
}

/// How many vectors `index` should hold: one per stored chunk, and one more per chunk with a gloss.
func expectedVectorCount(_ index: CodeIndex) async throws -> Int {
    try await index.chunks.chunks(keys: try await index.chunks.keys()).values.reduce(0) { $0 + CodeIndex.vectorIDs(of: $1).count }
}

@Suite("CodeSearch pages, in process")
struct PageTests {
    @Test("/ searches (escaped, highlighted, + read as a space), /file shows the indexed lines, /jobs lists jobs, /jobs/events streams them")
    func pages() async throws {
        let mirror = try MirrorRepository()
        try sampleTree(mirror)
        try mirror.write("Sources/Markup.swift", "/// Renders <b>bold</b> & \"quoted\" text.\nfunc renderMarkup() {}\n")
        let head = try mirror.commit("initial")
        let client = try pipelineClient(mirror)
        let body = try pushPayload(after: head)
        #expect(await client.fetch("/webhooks/github", method: "POST", headers: signedHeaders("push", body), body: body).status == 202)
        try await pump(client)

        let empty = await client.fetch("/")
        #expect(empty.status == 200 && empty.header("content-type")?.hasPrefix("text/html") == true)
        #expect(empty.text.contains(#"<form class="search" method="get" action="/""#) && empty.text.contains("autofocus"))
        #expect(!empty.text.contains("<script src") && !empty.text.contains("<link") && !empty.text.contains("http://"), "no external assets")

        let results = await client.fetch("/?q=parse+a+cron+expression&mode=hybrid&kind=code")
        #expect(results.text.contains(#"value="parse a cron expression""#), "+ is a space in a form's GET")
        let first = results.text.range(of: #"<a class="path""#).map { String(results.text[$0.lowerBound...].prefix(400)) } ?? ""
        #expect(first.contains(">Sources/Cron.swift</a>") && first.contains("/file?repo=Codertocat/Hello-World&path=Sources/Cron.swift"), "\(first)")
        #expect(results.text.contains("<mark>"))
        let markup = await client.fetch("/?q=render+bold+quoted+markup")
        #expect(markup.text.contains("&lt;<mark>b</mark>&gt;") || markup.text.contains("&lt;b&gt;"), "snippets are escaped")
        #expect(!markup.text.contains("<b>bold</b>"))
        let hostile = await client.fetch("/?q=%3Cscript%3Ealert(1)%3C/script%3E")
        #expect(!hostile.text.contains("<script>alert(1)") && hostile.text.contains("&lt;script&gt;alert(1)"))
        #expect(await client.fetch("/?q=" + String(repeating: "a", count: 1001)).status == .badRequest)

        let file = await client.fetch("/file?repo=Codertocat/Hello-World&path=Sources/Cron.swift&start=1&end=2&q=cron")
        #expect(file.status == 200 && file.text.contains(#"<tr id="L1" class="hit">"#) && file.text.contains("parseCronExpression"))
        #expect(await client.fetch("/file?repo=Codertocat/Hello-World&path=Sources/Nothing.swift").status == .notFound)
        #expect(await client.fetch("/file?path=x").status == .badRequest)

        let jobs = await client.fetch("/jobs")
        let jobID = CodeSearchWorker.jobID(repo: mirror.repo, revision: head)
        #expect(jobs.text.contains(#"data-job="\#(jobID)""#) && jobs.text.contains("100 %") && jobs.text.contains("file-indexing-dlq"))
        #expect(jobs.text.contains("Redrive is off"), "no admin token configured")
        #expect(
            await client.fetch(
                "/jobs/redrive", method: "POST", headers: ["content-type": "application/x-www-form-urlencoded"],
                body: Array("queue=file-indexing-dlq&token=x".utf8)
            ).status == .forbidden)

        // The event stream: its first event holds the job's row.
        let stream = await client.stream(EdgeRequest(path: "/jobs/events"))
        #expect(stream.headers[.contentType] == "text/event-stream")
        var text = ""
        for try await chunk in stream.body {
            text += String(decoding: chunk, as: UTF8.self)
            if text.contains("\n\n") { break }
        }
        #expect(text.hasPrefix("event: jobs\ndata: {") && text.contains(jobID), "\(text.prefix(300))")
        #expect(try json(await client.fetch("/health"))["service"] as? String == "code-search")
    }
}
