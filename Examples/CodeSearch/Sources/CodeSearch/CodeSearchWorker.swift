import Crypto
import EdgeBlob
public import EdgeCoordinator
public import EdgeCore
public import EdgeKV
import EdgePostgres
public import EdgeQueue
public import EdgeRuntime
public import Embeddings
import Foundation
import HTTPTypes
import Logging
import VectorSearch

/// `github-events`: a verified webhook delivery.
public struct GitHubDelivery: Codable, Sendable, Hashable {
    public var event: GitHubEvent
    /// GitHub's `X-GitHub-Delivery` id.
    public var delivery: String
}

/// `repository-indexing`: list a repository and plan the job's file batches.
public struct RepositoryTask: Codable, Sendable, Hashable {
    public var job: String
    public var repo: String
    public var source: RepositorySource
}

/// `file-indexing`: read, chunk and store a ``FileBatch`` (up to 50 files, or removed files).
public struct FileTask: Codable, Sendable, Hashable {
    public var job: String
    public var repo: String
    public var source: RepositorySource
    public var batch: Int
    public var files: FileBatch
}

/// `embedding-generation`: embed up to 128 chunks into the vector index.
public struct EmbeddingTask: Codable, Sendable, Hashable {
    public var job: String
    public var repo: String
    public var batch: String
    public var keys: [String]
}

/// The pipeline's four queues, each with its message type (and a dead-letter queue of the same).
public enum PipelineQueues {
    public static let events = QueueName<GitHubDelivery>("github-events")
    public static let repositories = QueueName<RepositoryTask>("repository-indexing")
    public static let files = QueueName<FileTask>("file-indexing")
    public static let embeddings = QueueName<EmbeddingTask>("embedding-generation")
}

/// The CodeSearch worker: `POST /webhooks/github` → `github-events` → `repository-indexing`
/// (the ``IndexingCoordinator`` of the repository tracks the job) → `file-indexing` (50-file
/// batches) → `embedding-generation` (128-chunk batches through the cached model) → the vector
/// index; `GET /search` answers hybrid queries (cached in KV) and `GET /jobs/ID` shows progress.
///
/// Bindings (see ``defaultConfig(stateDirectory:model:port:mirrors:allowClone:)``): queues
/// `EVENTS`, `REPOSITORIES`, `FILES`, `EMBEDDINGS` (each consumed, each with a dead-letter
/// queue), durable objects `INDEXER` (`IndexingCoordinator`), KV `CODESEARCH` (search cache and
/// job directory) and `EMBEDDING_CACHE`, bucket `ARTIFACTS` (snapshots, manifests, plans),
/// vector index `VECTORS` (metadata indexes `repo`, `key`), model `AI`; secret
/// `GITHUB_WEBHOOK_SECRET` (optional: without it the webhook answers 503); vars `MIRRORS` (a
/// directory holding `owner/name` mirrors) and `ALLOW_CLONE` (`true` to clone a repository with
/// no mirror from its clone URL into the state directory).
public struct CodeSearchWorker: Worker {
    public struct Env: Sendable {
        public var webhook: GitHubWebhook?
        public var events: QueueProducer<GitHubDelivery>
        public var repositories: QueueProducer<RepositoryTask>
        public var files: QueueProducer<FileTask>
        public var embeddings: QueueProducer<EmbeddingTask>
        public var coordinators: DurableObjectNamespace<IndexingCoordinator>
        public var store: any KVNamespace
        public var index: CodeIndex
        public var mirrors: String?
        public var cloneDirectory: String?
        public var searchCacheTTL: Int64
        /// The queues' backend: the jobs page reads the dead-letter queues' depth and redrives them.
        public var queues: any QueueBackend
        /// The token the jobs page's redrive asks for (secret `CODESEARCH_ADMIN_TOKEN`); nil: no redrive.
        public var adminToken: String?
    }

    /// Replaces the configured model (tests use it to make the provider fail).
    let embeddingModel: (any EmbeddingModel)?

    public init(embeddingModel: (any EmbeddingModel)? = nil) {
        self.embeddingModel = embeddingModel
    }

    public static func makeEnv(_ bindings: EdgeBindings) throws -> Env {
        let state = bindings.config.stateDirectory
        let directory =
            bindings.inMemory
            ? NSTemporaryDirectory() + "codesearch-\(UUID().uuidString)"
            : URL(fileURLWithPath: state).appendingPathComponent("codesearch").path
        // Chunks and the lexical index live where the vectors do: in the PostgreSQL database
        // when the vector index is there (every process sharing it shares the whole index),
        // else in SQLite files of the state directory.
        let vectorBackend = bindings.config.vectorize.first { $0.binding == "VECTORS" }?.backend
        let chunks: any ChunkStore
        let lexical: any LexicalIndex
        if vectorBackend == .postgres, let pool = bindings.shared(PostgresPool.self, from: .postgres) {
            chunks = PostgresChunkStore(pool: pool)
            lexical = PostgresLexicalIndex(pool: pool)
        } else {
            chunks = try SQLiteChunkStore(path: directory + "/chunks.sqlite")
            let local = try SQLiteLexicalIndex(path: directory + "/lexical.sqlite")
            // The postings are read into memory now, in the background, not by the first search.
            Task.detached(priority: .utility) { _ = try? await local.warm() }
            lexical = local
        }
        let index = CodeIndex(
            model: try bindings.ai("AI"), vectors: try bindings.vectorize("VECTORS"), chunks: chunks, lexical: lexical,
            artifacts: try bindings.bucket("ARTIFACTS"))
        let allowClone = (try? bindings.variable("ALLOW_CLONE")) == "true"
        return Env(
            webhook: (try? bindings.secret("GITHUB_WEBHOOK_SECRET")).map { GitHubWebhook(secret: $0) },
            events: try bindings.queue("EVENTS", for: PipelineQueues.events),
            repositories: try bindings.queue("REPOSITORIES", for: PipelineQueues.repositories),
            files: try bindings.queue("FILES", for: PipelineQueues.files),
            embeddings: try bindings.queue("EMBEDDINGS", for: PipelineQueues.embeddings),
            coordinators: try bindings.durableObjects(IndexingCoordinator.self, binding: "INDEXER", env: .init(clock: bindings.clock)),
            store: try bindings.kv("CODESEARCH"), index: index,
            mirrors: try? bindings.variable("MIRRORS"),
            cloneDirectory: allowClone ? URL(fileURLWithPath: state).appendingPathComponent("codesearch/clones").path : nil,
            searchCacheTTL: Int64((try? bindings.variable("SEARCH_CACHE_TTL")).flatMap(Int64.init) ?? 300),
            queues: bindings.queueBackend, adminToken: (try? bindings.secret("CODESEARCH_ADMIN_TOKEN")).flatMap { $0.isEmpty ? nil : $0 })
    }

    func index(_ env: Env) -> CodeIndex {
        embeddingModel.map { env.index.with(model: $0) } ?? env.index
    }

    // MARK: HTTP

    public func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        let path = request.url.path
        switch (request.method, path) {
        case (.post, "/webhooks/github"):
            return try await webhook(request, env: env, ctx: ctx)
        case (.get, "/search"):
            return try await search(request, env: env)
        case (.get, "/"):
            return try await searchPage(request, env: env)
        case (.get, "/file"):
            return try await filePage(request, env: env)
        case (.get, "/jobs"):
            return try await jobsPage(request, env: env)
        case (.get, "/jobs/events"):
            return jobEvents(env: env)
        case (.post, "/jobs/redrive"):
            return try await redrive(request, env: env)
        case (_, "/jobs/redrive"):
            return try .json(["error": "method \(request.method) not allowed on \(path)"], status: 405)
        case (.get, _) where path.hasPrefix("/jobs/"):
            let id = String(path.dropFirst("/jobs/".count))
            guard let job = try await job(id, env: env) else { return try .json(["error": "no job \(id)"], status: 404) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            return EdgeResponse(status: .ok, headers: [.contentType: "application/json"], body: .bytes(Array(try encoder.encode(job))))
        case (.get, "/health"):
            return try .json([
                "service": "code-search",
                "endpoints": "GET / (search page), GET /jobs (jobs page), POST /webhooks/github, GET /search?q=&top=&repo=&mode=&kind=, GET /jobs/ID",
            ])
        case (_, "/webhooks/github"), (_, "/search"), (_, "/jobs/redrive"):
            return try .json(["error": "method \(request.method) not allowed on \(path)"], status: 405)
        default:
            return try .json(["error": "no route \(request.method) \(path)"], status: 404)
        }
    }

    func webhook(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        guard let webhook = env.webhook else {
            return try .json(["error": "the webhook secret GITHUB_WEBHOOK_SECRET is not configured"], status: 503)
        }
        let name = request.header("x-github-event")
        let event: GitHubEvent?
        do {
            // GitHub caps a delivery at 25 MB.
            let body = try await request.body.collect(upTo: webhook.maxBodyBytes)
            event = try webhook.event(name: name, body: body, signatureHeader: request.header("x-hub-signature-256"))
        } catch let error as WebhookError {
            return try .json(["error": error.message], status: HTTPResponse.Status(code: error.status))
        } catch let error as EdgeHTTPError where error.code == .bodyTooLarge {
            return try .json(["error": "a webhook delivery is at most \(webhook.maxBodyBytes) bytes"], status: .contentTooLarge)
        }
        guard let event else { return try .json(["ignored": "event \(name ?? "(none)") is not handled"], status: 202) }
        if case .ping = event { return try .json(["ok": "pong"]) }
        let delivery = request.header("x-github-delivery") ?? UUID().uuidString
        // 202 only once the event is durably queued: a failure here is a 500 and GitHub redelivers.
        try await env.events.send(GitHubDelivery(event: event, delivery: delivery))
        return try .json(["queued": delivery], status: 202)
    }

    func search(_ request: EdgeRequest, env: Env) async throws -> EdgeResponse {
        let query = request.url.query
        let text = (query["q"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, text.utf8.count <= 1000 else {
            return try .json(["error": "q must be 1...1000 bytes of text, got \(text.utf8.count)"], status: 400)
        }
        let top = Int(query["top"] ?? "10")
        guard let top, (1...100).contains(top) else {
            return try .json(["error": "top must be an integer in 1...100, got \(query["top"] ?? "")"], status: 400)
        }
        let repo = query["repo"].flatMap { $0.isEmpty ? nil : $0 }
        guard let mode = CodeIndex.SearchMode(rawValue: query["mode"] ?? "hybrid") else {
            return try .json(["error": "mode must be hybrid, semantic or lexical, got \(query["mode"] ?? "")"], status: 400)
        }
        guard let kind = CodeIndex.SearchKind(rawValue: query["kind"] ?? "all") else {
            return try .json(["error": "kind must be all, code or docs, got \(query["kind"] ?? "")"], status: 400)
        }
        struct Answer: Codable {
            var query: String
            var results: [SearchResult]
        }
        let generation = try await env.store.get("generation") ?? "0"
        let key = "search:" + Hex.encode(SHA256.hash(data: Array("\(generation)\n\(repo ?? "")\n\(top)\n\(mode)\n\(kind)\n\(text)".utf8)))
        if let cached = try await env.store.getBytes(key) {
            return EdgeResponse(status: .ok, headers: [.contentType: "application/json", Self.cacheField: "hit"], body: .bytes(cached))
        }
        let results: [SearchResult]
        do {
            results = try await index(env).search(text, top: top, repo: repo, mode: mode, kind: kind)
        } catch let error as CodeSearchError where error.code == .modelMismatch {
            return try .json(["error": error.message], status: 409)
        }
        var response = try EdgeResponse.json(Answer(query: text, results: results))
        try await env.store.put(key, bytes: response.body.storedBytes ?? [], expirationTtl: max(60, env.searchCacheTTL))
        response.headers[Self.cacheField] = "miss"
        return response
    }

    static let cacheField = HTTPField.Name("x-cache")!

    func job(_ id: String, env: Env) async throws -> IndexingJob? {
        guard id.count <= 64, let repo = try await env.store.get("job:\(id)") else { return nil }
        return try await coordinator(repo, env).call { try await $0.job(id) }
    }

    func coordinator(_ repo: String, _ env: Env) -> DurableObjectStub<IndexingCoordinator> {
        env.coordinators.get(env.coordinators.idFromName(repo))
    }

    /// Marks the search cache of `GET /search` stale (results cached before stay unread): for
    /// whoever changes the index outside the pipeline, as `code-search` does when it re-embeds.
    ///
    /// - Throws: `KVError` when the store cannot be written.
    public static func invalidateSearchCache(_ env: Env) async throws {
        try await env.store.put("generation", UUID().uuidString)
    }

    func touchIndex(_ env: Env) async throws {
        try await Self.invalidateSearchCache(env)
    }

    // MARK: Queues

    /// One handler per stage, each typed by its queue.
    public static let queues: [QueueHandler<CodeSearchWorker>] = [
        .consume(PipelineQueues.events) { worker, batch, env, ctx in
            await each(batch, ctx) { try await worker.handle($0.event, delivery: $0.delivery, env: env, ctx: ctx) }
        },
        .consume(PipelineQueues.repositories) { worker, batch, env, ctx in
            await each(batch, ctx) { try await worker.plan($0, env: env, ctx: ctx) }
        },
        .consume(PipelineQueues.files) { worker, batch, env, ctx in
            await each(batch, ctx) { try await worker.indexFiles($0, env: env) }
        },
        .consume(PipelineQueues.embeddings) { worker, batch, env, ctx in
            await each(batch, ctx) { try await worker.embed($0, env: env) }
        },
    ]

    /// Runs `work` for each message: acknowledged when it returns, retried (then dead-lettered)
    /// when it throws, without holding back the rest of the batch.
    static func each<Message>(_ batch: MessageBatch<Message>, _ ctx: ExecutionContext, _ work: (Message) async throws -> Void) async {
        for message in batch.messages {
            do {
                try await work(message.body)
                message.ack()
            } catch {
                ctx.logger.error(
                    "pipeline message failed; it will be retried (then dead-lettered)",
                    metadata: ["queue": "\(batch.queue)", "attempt": "\(message.attempts)", "error": "\(error)"])
                message.retry()
            }
        }
    }

    /// `github-events`: turns a delivery into indexing jobs.
    func handle(_ event: GitHubEvent, delivery: String, env: Env, ctx: ExecutionContext) async throws {
        switch event {
        case .ping:
            return
        case .push(let push):
            let branch = "refs/heads/" + (push.repository.defaultBranch ?? "main")
            guard !push.deleted, push.ref == branch else {
                ctx.logger.info(
                    "push ignored: only pushes to the default branch are indexed", metadata: ["repo": "\(push.repository.fullName)", "ref": "\(push.ref)"])
                return
            }
            try await startJob(repo: push.repository.fullName, revision: push.after, cloneURL: push.repository.cloneURL, env: env, ctx: ctx)
        case .create(let repository, let ref, let refType):
            // A repository's first branch: index it. Other branches and tags are not indexed.
            guard refType == "branch", ref == (repository.defaultBranch ?? "main") else { return }
            try await startJob(repo: repository.fullName, revision: nil, cloneURL: repository.cloneURL, env: env, ctx: ctx, salt: delivery)
        case .delete(let repository, let ref, _):
            ctx.logger.info("ref deleted; the default branch's index is kept", metadata: ["repo": "\(repository.fullName)", "ref": "\(ref)"])
        case .installation(let action, let repositories):
            for repo in repositories {
                switch action {
                case "created", "added", "unsuspend":
                    try await startJob(repo: repo, revision: nil, cloneURL: nil, env: env, ctx: ctx, salt: delivery)
                case "deleted", "removed":
                    // Uninstalled: remove the repository from the index.
                    try await startJob(repo: repo, revision: nil, cloneURL: nil, env: env, ctx: ctx, salt: delivery, purge: true)
                default:
                    break
                }
            }
        }
    }

    /// The job id of indexing `repo` at `revision`: the same push delivered twice is one job.
    public static func jobID(repo: String, revision: String?, salt: String? = nil) -> String {
        Hex.encode(SHA256.hash(data: Array("\(repo)\n\(revision ?? "")\n\(salt ?? "")".utf8)).prefix(8))
    }

    func startJob(repo: String, revision: String?, cloneURL: String?, env: Env, ctx: ExecutionContext, salt: String? = nil, purge: Bool = false) async throws {
        let id = Self.jobID(repo: repo, revision: revision, salt: salt)
        try await env.store.put("job:\(id)", repo)
        let job = try await coordinator(repo, env).call { try await $0.register(id: id, repo: repo, revision: revision) }
        guard job.status == .queued || job.status == .indexing else { return }  // done or failed: a duplicate delivery
        let source: RepositorySource
        if purge {
            source = RepositorySource(root: "", kind: .empty)
        } else {
            do {
                source = try resolveSource(repo: repo, revision: revision, cloneURL: cloneURL, env: env)
            } catch let error as RepositoryError {
                // Retrying cannot help: the job fails with the reason, the message is done.
                _ = try await coordinator(repo, env).call { try await $0.fail(id: id, error: error.message) }
                ctx.logger.error("indexing job failed", metadata: ["repo": "\(repo)", "job": "\(id)", "error": "\(error.message)"])
                return
            }
        }
        try await env.repositories.send(RepositoryTask(job: id, repo: repo, source: source))
    }

    /// The local source of `repo`: `MIRRORS/owner/name` (a git repository, read at `revision`,
    /// fetched when it lacks it; or a plain directory), else a clone under the state directory
    /// when cloning is allowed.
    func resolveSource(repo: String, revision: String?, cloneURL: String?, env: Env) throws -> RepositorySource {
        let parts = repo.split(separator: "/")
        guard parts.count == 2, !parts.contains(where: { $0 == "." || $0 == ".." }) else { throw RepositoryError("\(repo) is not an owner/name repository") }
        var candidates: [String] = []
        if let mirrors = env.mirrors { candidates += ["\(mirrors)/\(repo)", "\(mirrors)/\(repo).git"] }
        if let clones = env.cloneDirectory { candidates.append("\(clones)/\(repo).git") }
        for directory in candidates where FileManager.default.fileExists(atPath: directory) {
            let isGit = FileManager.default.fileExists(atPath: directory + "/.git") || FileManager.default.fileExists(atPath: directory + "/HEAD")
            guard isGit else { return try .local(directory) }
            if let revision, let source = try? RepositorySource.gitCommit(directory, revision: revision) { return source }
            if revision != nil { _ = try? Git.run(["fetch", "--quiet", "origin"], in: directory) }
            return try .gitCommit(directory, revision: revision ?? "HEAD")
        }
        if let clones = env.cloneDirectory, let cloneURL {
            let directory = "\(clones)/\(repo).git"
            try RepositorySource.cloneOrFetch(cloneURL, into: directory)
            return try .gitCommit(directory, revision: revision ?? "HEAD")
        }
        throw RepositoryError(
            "no source for \(repo): no mirror under MIRRORS (\(env.mirrors ?? "not set")) and cloning is \(env.cloneDirectory == nil ? "off (ALLOW_CLONE)" : "impossible without a clone URL")"
        )
    }

    /// `repository-indexing`: plans the job and queues its file batches.
    func plan(_ task: RepositoryTask, env: Env, ctx: ExecutionContext) async throws {
        let index = index(env)
        let plan = try await index.plan(source: task.source, repo: task.repo)
        _ = try await index.artifacts.put("jobs/\(task.job)/plan.json", Array(try JSONEncoder().encode(plan)))
        let batches = index.fileBatches(plan).enumerated().map { number, files in
            FileTask(job: task.job, repo: task.repo, source: task.source, batch: number, files: files)
        }
        // Queue the batches first, then record the plan: a redelivery re-sends the same batches,
        // which the coordinator counts once.
        for sends in CodeIndex.slices(batches, of: 100) {
            try await env.files.sendBatch(sends.map { QueueSendRequest(body: $0) })
        }
        let batchCount = batches.count
        let report = try await coordinator(task.repo, env).call {
            try await $0.planned(id: task.job, files: plan.changed.count, removals: plan.removed.count, fileBatches: batchCount)
        }
        ctx.logger.info(
            "indexing planned",
            metadata: [
                "repo": "\(task.repo)", "job": "\(task.job)", "changed": "\(plan.changed.count)",
                "removed": "\(plan.removed.count)", "batches": "\(batches.count)",
            ])
        if report.completed { try await finish(report.job, env: env) }
    }

    /// `file-indexing`: chunks a batch of files and queues their embeddings.
    func indexFiles(_ task: FileTask, env: Env) async throws {
        let index = index(env)
        let (summary, keys) = try await index.indexFiles(task.files.paths, removed: task.files.removed, source: task.source, repo: task.repo)
        let embeddings = index.embeddingBatches(keys).enumerated().map { number, keys in
            EmbeddingTask(job: task.job, repo: task.repo, batch: "e\(task.batch).\(number)", keys: keys)
        }
        for sends in CodeIndex.slices(embeddings, of: 100) {
            try await env.embeddings.sendBatch(sends.map { QueueSendRequest(body: $0) })
        }
        try await touchIndex(env)
        let embeddingCount = embeddings.count
        let report = try await coordinator(task.repo, env).call {
            try await $0.fileBatchDone(id: task.job, batch: "f\(task.batch)", summary: summary, embeddingBatches: embeddingCount)
        }
        if report.completed { try await finish(report.job, env: env) }
    }

    /// `embedding-generation`: embeds a batch of chunks into the vector index.
    func embed(_ task: EmbeddingTask, env: Env) async throws {
        let summary = try await index(env).embed(keys: task.keys)
        try await touchIndex(env)
        let report = try await coordinator(task.repo, env).call { try await $0.embeddingBatchDone(id: task.job, batch: task.batch, summary: summary) }
        if report.completed { try await finish(report.job, env: env) }
    }

    /// A job is done: its plan becomes the repository's snapshot (the base of the next push).
    func finish(_ job: IndexingJob, env: Env) async throws {
        let index = index(env)
        guard let stored = try await index.artifacts.get("jobs/\(job.id)/plan.json"), let body = stored.body else { return }
        try await index.commit(try JSONDecoder().decode(IndexPlan.self, from: Data(try await body.bytes())))
        try await index.checkpoint()
        try await touchIndex(env)
    }
}

extension CodeSearchWorker {
    /// The config `code-search` uses (and `serve` runs) for a state directory: every binding the
    /// worker needs, on the embedded default (SQLite files under `stateDirectory`).
    ///
    /// - Parameters:
    ///   - model: the embedding model. The vector index (`code`) holds one model's embeddings
    ///     (``IndexModelRecord``): indexing with another re-embeds every stored chunk.
    ///   - webhookSecret: declare the `GITHUB_WEBHOOK_SECRET` secret (its value then comes from
    ///     the environment or `.dev.vars`).
    ///   - adminToken: declare the `CODESEARCH_ADMIN_TOKEN` secret, which the jobs page's redrive asks for.
    ///   - sharedBackend: put KV, queues, durable objects and the vector index in this backend
    ///     (`.postgres`, with its settings added to the returned config by the caller), so several
    ///     processes share the pipeline; the chunks and the lexical index follow the vector index
    ///     into PostgreSQL. The artifacts bucket stays in the state directory unless the caller
    ///     puts it in a shared store (S3), as `code-search --postgres --s3` does.
    public static func defaultConfig(
        stateDirectory: String, model: EdgeConfig.EmbeddingModelChoice = .minilm(), port: Int = 8787,
        mirrors: String? = nil, allowClone: Bool = false, webhookSecret: Bool = false, adminToken: Bool = false, retryDelay: Double = 5,
        visibilityTimeout: Double = 300, sharedBackend: BackendName? = nil
    ) -> EdgeConfig {
        var config = EdgeConfig(name: "code-search", file: "code-search (built-in config)", stateDirectory: stateDirectory)
        config.logLevel = .warning
        config.vars["ALLOW_CLONE"] = String(allowClone)
        if let mirrors { config.vars["MIRRORS"] = mirrors }
        if webhookSecret { config.secrets.append("GITHUB_WEBHOOK_SECRET") }
        if adminToken { config.secrets.append("CODESEARCH_ADMIN_TOKEN") }
        let backend = sharedBackend ?? .sqlite
        config.kvNamespaces = [.init(binding: "CODESEARCH", backend: backend), .init(binding: "EMBEDDING_CACHE", backend: backend)]
        config.r2Buckets = [.init(binding: "ARTIFACTS", bucketName: "codesearch-artifacts")]
        config.queueBackend = backend
        config.queueProducers = [
            .init(binding: "EVENTS", queue: "github-events"), .init(binding: "REPOSITORIES", queue: "repository-indexing"),
            .init(binding: "FILES", queue: "file-indexing"), .init(binding: "EMBEDDINGS", queue: "embedding-generation"),
        ]
        config.queueConsumers = [("github-events", 10), ("repository-indexing", 1), ("file-indexing", 1), ("embedding-generation", 1)].map { queue, batch in
            .init(
                queue: queue,
                configuration: QueueConsumerConfiguration(
                    maxBatchSize: batch, maxBatchTimeout: 0.5, maxRetries: 3, retryDelay: retryDelay,
                    deadLetterQueue: queue + "-dlq", visibilityTimeout: visibilityTimeout))
        }
        config.durableObjects = [.init(name: "INDEXER", className: "IndexingCoordinator")]
        config.durableObjectsBackend = backend
        config.vectorize = [
            .init(
                binding: "VECTORS", indexName: "code", dimensions: model.dimensions, metric: .cosine, backend: backend,
                indexedMetadataFields: ["repo", "key"])
        ]
        config.ai = .init(binding: "AI", model: model, cache: "EMBEDDING_CACHE", cacheTTL: .seconds(31_536_000))
        config.port = port
        return config
    }
}
