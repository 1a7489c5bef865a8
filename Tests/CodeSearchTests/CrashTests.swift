import CodeSearch
import EdgeRuntimeTesting
import EdgeTesting
import Foundation
import Testing
import VectorSearch

/// `code-search serve` as a child process.
extension ServerProcess {
    /// `code-search serve` with the webhook secret of the tests.
    convenience init(config: String) throws {
        try self.init(arguments: ["serve", "--config", config, "--port", "0"])
    }

    convenience init(arguments: [String], environment extra: [String: String] = [:]) throws {
        try self.init(executable: "code-search", arguments: arguments, environment: extra.merging(["GITHUB_WEBHOOK_SECRET": webhookSecret]) { $1 })
    }
}

@Suite("CodeSearch crash recovery")
struct CodeSearchCrashTests {
    @Test("the server SIGKILLed three times during indexing: after restarts the job finishes and every chunk is indexed exactly once")
    func killDuringIndexing() async throws {
        let mirror = try MirrorRepository()
        let chunker = CodeChunker()
        /// Writes version `version` of a 500-file tree (every file changes between versions), commits
        /// it and returns the commit and the chunk keys the index must then hold.
        func writeTree(_ version: Int) throws -> (head: String, expected: Set<String>) {
            var expected = Set<String>()
            for number in 0..<500 {
                let path = "Sources/Module\(number % 10)/File\(number).swift"
                let text = (0..<4).map {
                    "/// Function \($0) of file \(number), version \(version).\nfunc work\(number)x\($0)(_ value: Int) -> Int {\n    value * \($0 + number + version)\n}\n"
                }.joined(separator: "\n")
                try mirror.write(path, text)
                expected.formUnion(chunker.indexedChunks(path: path, text: text).map { StoredChunk.key(repo: mirror.repo, chunk: $0) })
            }
            return (try mirror.commit("500 files, version \(version)"), expected)
        }
        var (head, expected) = try writeTree(0)
        let state = mirror.mirrors + "-state"
        let configPath = state + ".jsonc"
        // CodeSearchWorker's bindings as a user's config file gives them, with retries at once and
        // short leases, so a killed server's work comes back quickly.
        let consumers = [("github-events", 10), ("repository-indexing", 1), ("file-indexing", 1), ("embedding-generation", 1)].map { queue, batch in
            #"{ "queue": "\#(queue)", "max_batch_size": \#(batch), "max_batch_timeout": 0.5, "max_retries": 3, "retry_delay": 0, "#
                + #""dead_letter_queue": "\#(queue)-dlq", "visibility_timeout": 2 }"#
        }
        try """
        {
          "name": "code-search", "state_dir": "\(state)", "log_level": "warning",
          "vars": { "MIRRORS": "\(mirror.mirrors)", "ALLOW_CLONE": false }, "secrets": ["GITHUB_WEBHOOK_SECRET"],
          "kv_namespaces": [{ "binding": "CODESEARCH" }, { "binding": "EMBEDDING_CACHE" }],
          "r2_buckets": [{ "binding": "ARTIFACTS", "bucket_name": "codesearch-artifacts" }],
          "queues": {
            "producers": [{ "binding": "EVENTS", "queue": "github-events" }, { "binding": "REPOSITORIES", "queue": "repository-indexing" },
                          { "binding": "FILES", "queue": "file-indexing" }, { "binding": "EMBEDDINGS", "queue": "embedding-generation" }],
            "consumers": [\(consumers.joined(separator: ", "))]
          },
          "durable_objects": { "bindings": [{ "name": "INDEXER", "class_name": "IndexingCoordinator" }] },
          "vectorize": [{ "binding": "VECTORS", "index_name": "code", "dimensions": 384, "metadata_indexes": ["repo", "key"] }],
          "ai": { "binding": "AI", "model": "hashing", "cache": "EMBEDDING_CACHE", "cache_ttl": 31536000 }
        }
        """.write(toFile: configPath, atomically: true, encoding: .utf8)
        var jobPath = "/jobs/\(CodeSearchWorker.jobID(repo: mirror.repo, revision: head))"

        var server = try ServerProcess(config: configPath)
        func push(_ server: ServerProcess) async throws {
            let body = try pushPayload(after: head)
            #expect(try await server.request("/webhooks/github", method: "POST", headers: signedHeaders("push", body), body: body).0 == 202)
        }
        try await push(server)

        func job(_ server: ServerProcess) async throws -> [String: Any]? {
            let (status, body) = try await server.request(jobPath)
            guard status == 200 else { return nil }
            return try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
        }
        func batchesDone(_ job: [String: Any]?) -> Int {
            ((job?["fileBatchesDone"] as? Int) ?? 0) + ((job?["embeddingBatchesDone"] as? Int) ?? 0)
        }
        var seen = 0
        var kills = 0
        var pushes = 1
        // Kill as soon as another batch is done while a job runs; when a job finishes first (a
        // busy machine polls slowly), push a new version of every file and go on.
        while kills < 3, pushes <= 10 {
            let current = try await job(server)
            if current?["status"] as? String == "done" {
                (head, expected) = try writeTree(pushes)
                jobPath = "/jobs/\(CodeSearchWorker.jobID(repo: mirror.repo, revision: head))"
                seen = 0
                pushes += 1
                try await push(server)
                continue
            }
            if batchesDone(current) > seen {
                seen = batchesDone(current)
                server.kill()
                kills += 1
                server = try ServerProcess(config: configPath)
                continue
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(kills == 3, "three kills while a job ran (\(pushes) pushes)")

        // A deadline for progress, not a duration: on two cores shared with the rest of the run
        // (a 256 MiB S3 transfer, PostgreSQL fault tests) the last batches have taken over a minute.
        var finished: [String: Any]?
        let deadline = Date().addingTimeInterval(300)
        repeat {
            finished = try await job(server)
            if finished?["status"] as? String == "done" { break }
            try await Task.sleep(for: .milliseconds(100))
        } while Date() < deadline
        server.stop()
        #expect(finished?["status"] as? String == "done", "\(finished ?? [:])")

        let chunks = try SQLiteChunkStore(path: state + "/codesearch/chunks.sqlite")
        let keys = try await chunks.keys(repo: mirror.repo)
        #expect(keys.count == expected.count)
        #expect(Set(keys) == expected, "each chunk once, none missing, none extra")
        let vectors = try HNSWIndex(
            name: "code", stateDirectory: state,
            configuration: VectorIndexConfiguration(dimensions: 384, indexedMetadataFields: ["repo", "key"]))
        let ids = try await chunks.chunks(keys: Array(expected)).values.flatMap(CodeIndex.vectorIDs)
        #expect(try await vectors.describe().vectorCount == ids.count)
        var found = 0
        for start in stride(from: 0, to: ids.count, by: 1000) {
            found += try await vectors.getByIds(Array(ids[start..<min(ids.count, start + 1000)])).count
        }
        #expect(found == ids.count)
    }
}
