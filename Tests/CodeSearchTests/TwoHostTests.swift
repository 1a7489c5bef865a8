import CodeSearch
import EdgePostgres
import EdgeRuntimeTesting
import EdgeTesting
import Foundation
import PostgresNIO
import Testing

extension CodeSearchProcesses {
    @Suite(
        "CodeSearch on two hosts",
        .enabled(if: postgresURL != nil, "EDGE_POSTGRES_URL is not set: start a server with `.ci/postgres start` and export the URL it prints"),
        .enabled(if: networkNamespaces, "the kernel refused to make a network namespace or a bridge here (needs root with CAP_NET_ADMIN)"))
    struct TwoHostTests {
        static let forwardScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Scripts/tcp_forward.py").path

        @Test(
            "two network namespaces share only PostgreSQL and the bucket over veth links: a push to host A is searchable from host B; A SIGKILLed mid-job, B finishes it, each chunk indexed once"
        )
        func twoHosts() async throws {
            let network = TwoHostNetwork()
            defer { network.remove() }
            // Child processes (ip, git, the servers\' start) are waited for off the cooperative pool.
            try await runBlocking { try network.create() }

            // The machine's servers, reachable from the hosts only through the bridge.
            let store = try await S3StoreProcess(buckets: ["codesearch-artifacts"], label: "two-hosts-store")
            defer { store.stop() }
            var database = try #require(URLComponents(string: postgresURL!))
            let databasePort = try freeLoopbackPort(), storePort = try freeLoopbackPort()
            let forward = try ChildProcess(
                "/usr/bin/env",
                [
                    "python3", Self.forwardScript, network.bridgeAddress, "\(databasePort)", database.host ?? "127.0.0.1", "\(database.port ?? 5432)",
                    network.bridgeAddress, "\(storePort)", store.endpoint.host ?? "127.0.0.1", "\(store.endpoint.port ?? 80)",
                ])
            defer { forward.stop() }
            try await forward.waitFor("the forwarder", timeout: 300) { $0 == "listening" }
            database.host = network.bridgeAddress
            database.port = databasePort

            let mirror = try MirrorRepository()
            let repo = "Codertocat/two-hosts-\(UUID().uuidString.prefix(8).lowercased())"
            try FileManager.default.moveItem(atPath: mirror.root, toPath: mirror.mirrors + "/" + repo)
            let root = mirror.mirrors + "/" + repo
            func write(_ files: [String: String]) throws {
                for (path, text) in files {
                    let url = URL(fileURLWithPath: root + "/" + path)
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try text.write(to: url, atomically: true, encoding: .utf8)
                }
            }
            @Sendable func commit(_ message: String) throws -> String {
                for arguments in [["add", "-A"], ["commit", "-q", "-m", message]] {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                    process.arguments = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"] + arguments
                    process.currentDirectoryURL = URL(fileURLWithPath: root)
                    try process.run()
                    process.waitUntilExit()
                }
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = ["git", "-C", root, "rev-parse", "HEAD"]
                let output = Pipe()
                process.standardOutput = output
                try process.run()
                let head = output.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                return String(decoding: head, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            func push(_ head: String) throws -> [UInt8] {
                var payload = try #require(try JSONSerialization.jsonObject(with: Data(try pushPayload(after: head))) as? [String: Any])
                var repository = try #require(payload["repository"] as? [String: Any])
                repository["full_name"] = repo
                payload["repository"] = repository
                return Array(try JSONSerialization.data(withJSONObject: payload))
            }

            let codeSearch = try KillTest.executable(named: "code-search")
            // Queues of their own: other tests' servers may share the database.
            let scope = "two-hosts-\(network.suffix)"
            let scratch = mirror.mirrors + "-hosts"
            let databaseURL = database.string ?? ""
            let (accessKeyID, secretAccessKey) = (store.accessKeyID, store.secretAccessKey)
            @Sendable func host(_ number: Int) throws -> ServerProcess {
                try ServerProcess(
                    executable: "/usr/bin/env",
                    arguments: [
                        "ip", "netns", "exec", network.namespace(number), codeSearch, "serve", "--postgres", "--scope", scope, "--s3", "--model", "hashing",
                        "--state", scratch + "/host\(number)", "--mirrors", mirror.mirrors, "--host", network.address(number), "--port", "0",
                        "--visibility-timeout", "5",
                    ],
                    environment: [
                        "DATABASE_URL": databaseURL, "S3_ENDPOINT": "http://\(network.bridgeAddress):\(storePort)",
                        "S3_ACCESS_KEY_ID": accessKeyID, "S3_SECRET_ACCESS_KEY": secretAccessKey, "GITHUB_WEBHOOK_SECRET": webhookSecret,
                    ])
            }
            let a = try await runBlocking { try host(0) }
            let b = try await runBlocking { try host(1) }
            defer {
                if a.process.isRunning { a.kill() }
                b.stop()
            }
            #expect(a.host == network.address(0) && b.host == network.address(1), "each host listens on its own namespace's address")
            func job(_ head: String, from server: ServerProcess) async throws -> [String: Any] {
                let (status, data) = try await server.request("/jobs/\(CodeSearchWorker.jobID(repo: repo, revision: head))")
                guard status == 200 else { return [:] }
                return (try JSONSerialization.jsonObject(with: Data(data)) as? [String: Any]) ?? [:]
            }
            func waitForDone(_ head: String, from server: ServerProcess, seconds: Int) async throws -> [String: Any] {
                var last: [String: Any] = [:]
                for _ in 0..<(seconds * 10) {
                    last = try await job(head, from: server)
                    if last["status"] as? String == "done" { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                return last
            }

            // 1. A push delivered to host A is searchable from host B.
            try write(["Sources/Cron.swift": "/// Parses a cron expression into its fields.\nfunc parseCronExpression(_ text: String) -> [Int] {\n    []\n}\n"])
            let first = try await runBlocking { try commit("one file") }
            let firstBody = try push(first)
            #expect(try await a.request("/webhooks/github", method: "POST", headers: signedHeaders("push", firstBody), body: firstBody).0 == 202)
            let firstJob = try await waitForDone(first, from: b, seconds: 120)
            #expect(firstJob["status"] as? String == "done", "\(firstJob)")
            let found = try JSONSerialization.jsonObject(with: Data(try await b.request("/search?q=parse%20a%20cron%20expression&top=1&repo=\(repo)").1))
            let results = (found as? [String: Any])?["results"] as? [[String: Any]]
            #expect(results?.first?["path"] as? String == "Sources/Cron.swift", "host B finds what host A indexed: \(found)")

            // 2. A larger push to A (13 file batches of up to 50: enough that the job is still under
            // way when the test sees its first batch done, which four batches no longer were once
            // the queue got faster); A is SIGKILLed then; B finishes it.
            let steps = 640
            var files: [String: String] = [:]
            var second = ""
            var killedAt: [String: Any] = [:]
            // A test process kept from polling (a loaded machine) may first see the job finished:
            // then every file changes again and is pushed again, at most three times.
            for revision in 0..<3 where killedAt["status"] as? String != "indexing" {
                for number in 0..<steps {
                    files["Sources/Steps/Step\(number).swift"] =
                        "/// Step \(number) of the pipeline (revision \(revision)): it undoes the step before it.\nfunc undoStep\(number)(_ input: Int) -> Int {\n    input - \(number)\n}\n"
                }
                try write(files)
                second = try await runBlocking { try commit("\(steps) files, revision \(revision)") }
                let secondBody = try push(second)
                #expect(try await a.request("/webhooks/github", method: "POST", headers: signedHeaders("push", secondBody), body: secondBody).0 == 202)
                killedAt = [:]
                for _ in 0..<1200 {
                    let state = try await job(second, from: b)
                    if (state["fileBatchesDone"] as? Int ?? 0) >= 1 || state["status"] as? String == "done" {
                        killedAt = state
                        break
                    }
                    try await Task.sleep(for: .milliseconds(25))
                }
            }
            a.kill()
            #expect(killedAt["status"] as? String == "indexing", "A was killed mid-job: \(killedAt)")
            let secondJob = try await waitForDone(second, from: b, seconds: 240)
            #expect(secondJob["status"] as? String == "done", "host B finished the job: \(secondJob)")
            // Every batch counted once by the coordinator, whoever ran it and however often.
            #expect(
                secondJob["fileBatchesDone"] as? Int == secondJob["fileBatches"] as? Int && secondJob["fileBatches"] as? Int == (steps + 1 + 49) / 50,
                "\(secondJob)")
            #expect(secondJob["embeddingBatchesDone"] as? Int == secondJob["embeddingBatches"] as? Int, "\(secondJob)")
            let progress = secondJob["progress"] as? [String: Any]
            // A batch redone after the kill finds the files A had already indexed (their manifests)
            // unchanged; each of the one-chunk files is counted once either way, and embedded once.
            let counted = (progress?["files"] as? Int ?? 0) + (progress?["unchangedFiles"] as? Int ?? 0)
            #expect(counted == steps && progress?["embedded"] as? Int == steps, "\(progress ?? [:])")

            // Each chunk once: the chunk store and the vector index hold exactly the tree's chunks.
            let chunker = CodeChunker()
            var expected = Set<String>()
            let tree = files.merging(
                ["Sources/Cron.swift": try String(contentsOfFile: root + "/Sources/Cron.swift", encoding: .utf8)], uniquingKeysWith: { $1 })
            for (path, text) in tree {
                expected.formUnion(chunker.indexedChunks(path: path, text: text).map { StoredChunk.key(repo: repo, chunk: $0) })
            }
            let pool = try PostgresPool(url: postgresURL!, connectTimeout: testOperationTimeout, queryTimeout: testOperationTimeout)
            defer { pool.shutdown() }
            let chunks = PostgresChunkStore(pool: pool)
            #expect(Set(try await chunks.keys(repo: repo)) == expected, "every chunk, none twice, none stale")
            let vectorIDs = try await chunks.chunks(keys: Array(expected)).values.flatMap(CodeIndex.vectorIDs)
            let rows = try await pool.client.query(#"SELECT count(*), count(DISTINCT id) FROM "vec_code" WHERE metadata->>'repo' = \#(repo)"#)
            for try await (count, distinct) in rows.decode((Int64, Int64).self) {
                #expect(count == Int64(vectorIDs.count) && distinct == count, "vectors: \(count) (\(distinct) distinct), expected \(vectorIDs.count)")
            }
            let step = try JSONSerialization.jsonObject(with: Data(try await b.request("/search?q=undo%20step%20137&top=3&repo=\(repo)").1))
            #expect("\(step)".contains("Step137.swift"), "\(step)")
        }
    }
}
