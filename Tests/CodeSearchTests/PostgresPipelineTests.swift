import CodeSearch
import EdgePostgres
import EdgeRuntimeTesting
import EdgeTesting
import Foundation
import Testing

let postgresURL = ProcessInfo.processInfo.environment["EDGE_POSTGRES_URL"]

/// The connect and query timeouts of the pools these tests open in their own process: generous, because
/// CPU-heavy tests beside them can keep a finished query's task from running for tens of seconds.
let testOperationTimeout: Duration = .seconds(600)

/// The CodeSearch suites that run several `code-search serve` processes on one PostgreSQL: one
/// after the other, so that their processes do not compete for the machine's two cores at once.
@Suite("CodeSearch, several processes on PostgreSQL", .serialized)
struct CodeSearchProcesses {}

extension CodeSearchProcesses {
    @Suite(
        "CodeSearch on PostgreSQL",
        .enabled(if: postgresURL != nil, "EDGE_POSTGRES_URL is not set: start a server with `.ci/postgres start` and export the URL it prints"))
    struct PostgresPipelineTests {
        @Test(
            "two serve processes on one PostgreSQL, artifacts on an S3 store, index a pushed repository together and answer as the SQLite default does"
        )
        func twoProcesses() async throws {
            let mirror = try MirrorRepository()
            // A repository of 120 files, each about one thing (a verb and a noun of its own): three file
            // batches, several embedding batches, and queries with one right answer.
            let verbs = ["parse", "retry", "verify", "compress", "render", "schedule", "encrypt", "resize", "validate", "merge", "download", "index"]
            let nouns = ["cron", "upload", "signature", "logfile", "template", "invoice", "password", "thumbnail", "address", "calendar"]
            for number in 0..<120 {
                let verb = verbs[number % verbs.count], noun = nouns[number / verbs.count]
                try mirror.write(
                    "Sources/Module\(number % 6)/File\(number).swift",
                    """
                    /// \(verb.capitalized) the \(noun), step \(number).
                    func \(verb)\(noun.capitalized)(_ input: String) -> String {
                        input
                    }
                    """)
            }
            let head = try mirror.commit("120 files")
            // A repository name of its own, so runs sharing a database never meet.
            let repo = "Codertocat/hello-\(UUID().uuidString.prefix(8).lowercased())"
            try FileManager.default.moveItem(atPath: mirror.root, toPath: mirror.mirrors + "/" + repo)
            var payload = try #require(try JSONSerialization.jsonObject(with: Data(try pushPayload(after: head))) as? [String: Any])
            var repository = try #require(payload["repository"] as? [String: Any])
            repository["full_name"] = repo
            payload["repository"] = repository
            let body = Array(try JSONSerialization.data(withJSONObject: payload))

            let state = mirror.mirrors + "-state"
            // The artifacts bucket lives on an S3-compatible store (the own S3 API, a process of its
            // own), created there by the first process that needs it.
            let store = try await S3StoreProcess(buckets: ["codesearch-artifacts"], label: "codesearch-store")
            defer { store.stop() }
            let environment = [
                "DATABASE_URL": postgresURL!, "S3_ENDPOINT": store.endpoint.absoluteString, "S3_ACCESS_KEY_ID": store.accessKeyID,
                "S3_SECRET_ACCESS_KEY": store.secretAccessKey,
            ]
            // Queues of their own: other tests' servers may share the database.
            let scope = "pipeline-\(UUID().uuidString.prefix(8).lowercased())"
            // Each process has a state directory of its own: they share only PostgreSQL and the store.
            func arguments(_ name: String) -> [String] {
                [
                    "serve", "--postgres", "--scope", scope, "--s3", "--model", "hashing", "--state", state + "/" + name, "--mirrors", mirror.mirrors, "--port",
                    "0",
                ]
            }
            let (argumentsA, argumentsB) = (arguments("a"), arguments("b"))
            let first = try await runBlocking { try ServerProcess(arguments: argumentsA, environment: environment) }
            let second = try await runBlocking { try ServerProcess(arguments: argumentsB, environment: environment) }
            defer {
                first.stop()
                second.stop()
            }
            #expect(try await first.request("/webhooks/github", method: "POST", headers: signedHeaders("push", body), body: body).0 == 202)

            // The job, asked of the other process.
            let jobPath = "/jobs/\(CodeSearchWorker.jobID(repo: repo, revision: head))"
            var job: [String: Any] = [:]
            for _ in 0..<600 {
                let (status, data) = try await second.request(jobPath)
                if status == 200, let object = try JSONSerialization.jsonObject(with: Data(data)) as? [String: Any] {
                    job = object
                    if job["status"] as? String == "done" { break }
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(job["status"] as? String == "done", "\(job)")
            #expect(job["plannedFiles"] as? Int == 120)
            let pool = try PostgresPool(url: postgresURL!, connectTimeout: testOperationTimeout, queryTimeout: testOperationTimeout)
            defer { pool.shutdown() }
            #expect(try await PostgresChunkStore(pool: pool).count(repo: repo) == 120, "one chunk per file, each once, in PostgreSQL")
            // The store's own CLI lists what the bucket holds: the snapshot of the indexed revision.
            let listed = try await ExternalCommand.run(
                [
                    try KillTest.executable(named: "edge"), "blob", "ls", "--config", store.directory + "/edge.jsonc", "--binding", "B0", "--prefix",
                    "snapshots/",
                ],
                environment: ["S3_SECRET": store.secretAccessKey])
            #expect(listed.output.contains("snapshots/\(repo)/"), "the artifacts are in the S3 store: \(listed.output)")
            let local = FileManager.default.enumerator(atPath: state)?.allObjects.compactMap { $0 as? String } ?? []
            #expect(!local.contains { $0.contains("codesearch-artifacts") }, "and not in the local state: \(local.filter { $0.contains("artifacts") })")
            #expect(!local.contains { $0.hasSuffix("chunks.sqlite") || $0.hasSuffix("lexical.sqlite") }, "no chunk store or lexical index on disk: \(local)")

            // The SQLite default, indexing the same tree in one process.
            let sqliteState = mirror.mirrors + "-sqlite"
            try FileManager.default.createDirectory(atPath: sqliteState, withIntermediateDirectories: true)
            for (query, file) in [("parse the cron", "File0"), ("retry an upload", "File13"), ("verify a signature", "File26")] {
                let path = "/search?q=\(query.replacingOccurrences(of: " ", with: "%20"))&top=5&repo=\(repo)"
                let fromFirst = try hits(try await first.request(path).1)
                let fromSecond = try hits(try await second.request(path).1)
                #expect(fromFirst.count == 5)
                #expect(fromFirst == fromSecond, "both processes answer alike")
                let sqlite = try await sqliteResults(query, tree: mirror.mirrors + "/" + repo, state: sqliteState)
                // The one right answer first, on both backends (further down, near-ties may differ).
                #expect(fromFirst.first?.contains("/\(file).swift") == true, "\(query): \(fromFirst)")
                #expect(fromFirst.first == sqlite.first, "PostgreSQL answers as the SQLite default: \(fromFirst) vs \(sqlite)")
            }
        }

        /// "path:startLine-endLine" of each result.
        func hits(_ body: [UInt8]) throws -> [String] {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
            return try #require(object["results"] as? [[String: Any]]).map { "\($0["path"] ?? ""):\($0["startLine"] ?? "")-\($0["endLine"] ?? "")" }
        }

        func sqliteResults(_ query: String, tree: String, state: String) async throws -> [String] {
            let executable = try KillTest.executable(named: "code-search")
            func run(_ arguments: [String]) async throws -> [UInt8] {
                let (status, output) = try await ExternalCommand.run([executable] + arguments + ["--model", "hashing", "--state", state])
                guard status == 0 else { throw KillTestError(message: "code-search \(arguments.first ?? "") exited with \(status)") }
                return Array(output.utf8)
            }
            _ = try await run(["index", tree, "--repo", "sqlite", "--revision", "HEAD"])
            return try hits(try await run(["search", query, "--top", "5", "--json"]))
        }
    }
}
