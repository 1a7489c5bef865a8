import EdgeCore
import EdgeKV
import EdgeQueue
import Foundation
import HTTPTypes

/// The worker's HTML pages: search (`/`), a file (`/file`), jobs (`/jobs`, live through
/// `/jobs/events`) and the redrive of a dead-letter queue (`POST /jobs/redrive`).
extension CodeSearchWorker {
    /// The queues whose dead-letter queues the jobs page shows.
    static let pipelineQueues = ["github-events", "repository-indexing", "file-indexing", "embedding-generation"]

    /// `GET /?q=&mode=&kind=&repo=`: the search form, and results for a query. Without
    /// JavaScript the form submits here and the page is rendered with the results.
    func searchPage(_ request: EdgeRequest, env: Env) async throws -> EdgeResponse {
        // The form submits with GET, encoded as forms are (`+` for a space).
        let parameters = formQuery(request)
        var form = Pages.SearchForm()
        form.query = (parameters["q"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        form.mode = parameters["mode"].flatMap(CodeIndex.SearchMode.init(rawValue:)) ?? .hybrid
        form.kind = parameters["kind"].flatMap(CodeIndex.SearchKind.init(rawValue:)) ?? .all
        form.repo = parameters["repo"].flatMap { $0.isEmpty ? nil : $0 }
        let repos = Array(Set(try await jobs(env: env).map(\.repo))).sorted()
        guard !form.query.isEmpty else { return .html(Pages.search(form, repos: repos, results: nil)) }
        guard form.query.utf8.count <= 1000 else {
            return .html(Pages.search(form, repos: repos, results: nil, error: "The query is longer than 1000 bytes."), status: .badRequest)
        }
        do {
            let results = try await index(env).search(form.query, top: form.top, repo: form.repo, mode: form.mode, kind: form.kind)
            return .html(Pages.search(form, repos: repos, results: results))
        } catch let error as CodeSearchError where error.code == .modelMismatch {
            return .html(Pages.search(form, repos: repos, results: nil, error: error.message), status: .conflict)
        }
    }

    /// `GET /file?repo=&path=&start=&end=`: a file as the index holds it (its chunks' lines),
    /// lines `start`...`end` marked. Nothing is read from disk: any process sharing the index
    /// can show it.
    func filePage(_ request: EdgeRequest, env: Env) async throws -> EdgeResponse {
        let parameters = formQuery(request)
        guard let repo = parameters["repo"], let path = parameters["path"], !repo.isEmpty, !path.isEmpty else {
            return .html(Pages.layout(title: "code-search", here: "", body: "<p class=\"empty\">A file needs repo and path.</p>"), status: .badRequest)
        }
        let keys = try await env.index.chunks.keys(repo: repo, path: path)
        let stored = try await env.index.chunks.chunks(keys: keys)
        guard !stored.isEmpty else {
            return .html(
                Pages.layout(
                    title: "code-search", here: "", body: "<p class=\"empty\">\(Pages.escape(path)) is not in the index of \(Pages.escape(repo)).</p>"),
                status: .notFound)
        }
        var lines: [Int: String] = [:]
        for chunk in stored.values.map(\.chunk) where !chunk.isCard {
            for (offset, line) in chunk.text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                lines[chunk.startLine + offset] = String(line)
            }
        }
        let start = parameters["start"].flatMap(Int.init), end = parameters["end"].flatMap(Int.init)
        return .html(Pages.file(repo: repo, path: path, lines: lines, start: start, end: end, query: parameters["q"]))
    }

    /// The query string of a page's URL read as an HTML form encodes it (`+` is a space).
    func formQuery(_ request: EdgeRequest) -> QueryParameters {
        QueryParameters(parsing: Substring(request.url.rawQuery ?? ""), plusIsSpace: true)
    }

    /// The newest jobs (up to `limit`), newest first, among the first 1,000 of the job directory
    /// in KV (one page of its listing: each listed job is asked of its coordinator).
    func jobs(env: Env, limit: Int = 50) async throws -> [IndexingJob] {
        let ids = try await env.store.list(KVListOptions(prefix: "job:", limit: 1000)).keys.map { String($0.name.dropFirst(4)) }
        var found: [IndexingJob] = []
        for id in ids {
            if let job = try await job(id, env: env) { found.append(job) }
        }
        return Array(found.sorted { $0.created > $1.created || ($0.created == $1.created && $0.id < $1.id) }.prefix(limit))
    }

    /// Each pipeline queue's dead-letter queue and how many messages it holds.
    func deadLetters(env: Env) async throws -> [(queue: String, backlog: Int)] {
        var counts: [(queue: String, backlog: Int)] = []
        for queue in Self.pipelineQueues {
            counts.append((queue + "-dlq", try await env.queues.stats(queue + "-dlq").backlog))
        }
        return counts
    }

    /// `GET /jobs`: every job's progress and the dead-letter queues, with a redrive form.
    func jobsPage(_ request: EdgeRequest, env: Env) async throws -> EdgeResponse {
        let queue = request.url.query["queue"].flatMap { Self.pipelineQueues.contains($0) ? $0 : nil }
        let notice = request.url.query["redriven"].flatMap(Int.init).map { "Redriven: \($0) message(s) back to \(queue ?? "their queue")." }
        return .html(
            Pages.jobs(try await jobs(env: env), deadLetters: try await deadLetters(env: env), redriveEnabled: env.adminToken != nil, notice: notice))
    }

    /// `GET /jobs/events`: server-sent events (`jobs`) with the jobs' rows and the dead-letter
    /// counts whenever they change (checked twice a second), until the client goes away.
    func jobEvents(env: Env) -> EdgeResponse {
        .serverSentEvents { events in
            var last = ""
            var quiet = 0
            while !Task.isCancelled {
                let rows = try await jobs(env: env).map(Pages.jobRow).joined()
                let dlq = Dictionary(uniqueKeysWithValues: try await deadLetters(env: env).map { ($0.queue, $0.backlog) })
                let payload = String(decoding: try JSONSerialization.data(withJSONObject: ["rows": rows, "dlq": dlq], options: [.sortedKeys]), as: UTF8.self)
                if payload != last {
                    try await events.event(payload, name: "jobs")
                    last = payload
                    quiet = 0
                } else {
                    quiet += 1
                    // A comment now and then: a client that went away is noticed at the write.
                    if quiet % 20 == 0 { try await events.write(": keep-alive\n\n") }
                }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// `POST /jobs/redrive` (form: `queue`, `token`): moves a dead-letter queue's messages back to
    /// the queue they came from. 403 without the right token (compared in constant time), or when
    /// no token is configured; 400 for a queue that is not a pipeline dead-letter queue.
    func redrive(_ request: EdgeRequest, env: Env) async throws -> EdgeResponse {
        let form = try await request.formData()
        guard let expected = env.adminToken else {
            return .html(
                Pages.layout(title: "Jobs", here: "/jobs", body: "<p class=\"empty\">Redrive is off: CODESEARCH_ADMIN_TOKEN is not set.</p>"),
                status: .forbidden)
        }
        guard let token = form["token"], constantTimeEqual(Array(token.utf8), Array(expected.utf8)) else {
            return .html(Pages.layout(title: "Jobs", here: "/jobs", body: "<p class=\"empty\" role=\"alert\">Wrong admin token.</p>"), status: .forbidden)
        }
        guard let queue = form["queue"], Self.pipelineQueues.map({ $0 + "-dlq" }).contains(queue) else {
            return .html(
                Pages.layout(title: "Jobs", here: "/jobs", body: "<p class=\"empty\">Unknown dead-letter queue \(Pages.escape(form["queue"] ?? "")).</p>"),
                status: .badRequest)
        }
        let moved = try await env.queues.redrive(from: queue, to: nil)
        return .redirect(to: "/jobs?redriven=\(moved)&queue=\(Pages.query(String(queue.dropLast(4))))", status: .seeOther)
    }
}
