import EdgeTesting
import Foundation
import Testing

/// The `edge` command line against a real state directory: results, JSON output and exit codes.
@Suite("edge CLI")
struct CLITests {
    struct Run {
        var status: Int32
        var output: String
        var error: String
    }

    func edge(_ arguments: [String], in directory: String, input: String? = nil) async throws -> Run {
        try await runBlocking {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try KillTest.executable(named: "edge"))
            process.arguments = arguments
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            let output = Pipe(), error = Pipe(), stdin = Pipe()
            process.standardOutput = output
            process.standardError = error
            process.standardInput = stdin
            try process.run()
            if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
            try stdin.fileHandleForWriting.close()
            let out = output.fileHandleForReading.readDataToEndOfFile()
            let err = error.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return Run(status: process.terminationStatus, output: String(decoding: out, as: UTF8.self), error: String(decoding: err, as: UTF8.self))
        }
    }

    func project() throws -> String {
        let directory = NSTemporaryDirectory() + "swift-edge-tests/cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try """
        { "name": "cli", "kv_namespaces": [{ "binding": "CACHE" }], "r2_buckets": [{ "binding": "FILES" }],
          "queues": { "producers": [{ "binding": "JOBS", "queue": "jobs" }] } }
        """.write(toFile: directory + "/edge.jsonc", atomically: true, encoding: .utf8)
        return directory
    }

    @Test("kv put, get, list and delete; a missing key exits 3")
    func kv() async throws {
        let directory = try project()
        #expect(try await edge(["kv", "put", "--binding", "CACHE", "a", "1"], in: directory).status == 0)
        #expect(try await edge(["kv", "put", "--binding", "CACHE", "b", "--metadata", #"{"x":1}"#], in: directory, input: "from stdin").status == 0)
        #expect(try await edge(["kv", "get", "--binding", "CACHE", "b"], in: directory).output == "from stdin")
        #expect(try await edge(["kv", "get", "--binding", "CACHE", "b", "--json"], in: directory).output.contains(#""metadata":{"x":1}"#))
        #expect(try await edge(["kv", "list", "--binding", "CACHE"], in: directory).output == "a\nb\n")
        #expect(try await edge(["kv", "delete", "--binding", "CACHE", "a"], in: directory).status == 0)
        let missing = try await edge(["kv", "get", "--binding", "CACHE", "a"], in: directory)
        #expect(missing.status == 3)
        #expect(missing.error.contains("no key \"a\""))
    }

    @Test("configuration errors exit 78 naming the file and the binding")
    func configErrors() async throws {
        let directory = try project()
        let unknown = try await edge(["kv", "list", "--binding", "NOPE"], in: directory)
        #expect(unknown.status == 78)
        #expect(unknown.error.contains("edge.jsonc") && unknown.error.contains("NOPE"))
        let noFile = try await edge(["kv", "list", "--binding", "CACHE", "--config", "missing.jsonc"], in: directory)
        #expect(noFile.status == 78)
        #expect(noFile.error.contains("missing.jsonc"))
    }

    @Test("blob put, head, get, ls and rm")
    func blob() async throws {
        let directory = try project()
        try Data("file contents".utf8).write(to: URL(fileURLWithPath: directory + "/in.txt"))
        #expect(
            try await edge(["blob", "put", "--binding", "FILES", "docs/in.txt", "--file", "in.txt", "--content-type", "text/plain"], in: directory).status == 0)
        #expect(try await edge(["blob", "head", "--binding", "FILES", "docs/in.txt"], in: directory).output.contains(#""contentType":"text/plain""#))
        #expect(try await edge(["blob", "get", "--binding", "FILES", "docs/in.txt"], in: directory).output == "file contents")
        #expect(try await edge(["blob", "ls", "--binding", "FILES", "--delimiter", "/"], in: directory).output == "docs/\n")
        #expect(try await edge(["blob", "rm", "--binding", "FILES", "docs/in.txt"], in: directory).status == 0)
        #expect(try await edge(["blob", "get", "--binding", "FILES", "docs/in.txt"], in: directory).status == 3)
    }

    @Test("queue send and stats")
    func queue() async throws {
        let directory = try project()
        #expect(try await edge(["queue", "send", "jobs", #"{"n":1}"#], in: directory).status == 0)
        #expect(try await edge(["queue", "send", "jobs", "plain", "--text"], in: directory).status == 0)
        #expect(try await edge(["queue", "stats", "jobs", "--json"], in: directory).output.contains(#""backlog":2"#))
        #expect(try await edge(["queue", "send", "jobs", "{broken"], in: directory).status == 1)
        #expect(try await edge(["queue", "redrive", "jobs-dlq"], in: directory).output == "redrove 0 messages\n")
    }

    @Test("ai embed: one JSON line out per line in, errors in place, exit 1 when any line failed")
    func aiEmbed() async throws {
        let directory = try project()
        let run = try await edge(["ai", "embed", "--model", "hashing"], in: directory, input: "\"parse the request\"\nnot json\n\"\"\n")
        #expect(run.status == 1)
        let lines = run.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect((first["embedding"] as? [Double])?.count == 384)
        #expect(first["tokens"] as? Int == 3)
        #expect(lines[1] == #"{"error":"line 2 is not a JSON string"}"#)
        #expect(lines[2].hasPrefix(#"{"embedding":["#))
        #expect(try await edge(["ai", "embed", "--model", "gpt"], in: directory, input: "").status == 64)
        #expect(try await edge(["ai", "embed", "--model-dir", "/nonexistent"], in: directory, input: "\"x\"\n").error.contains("pip install"))
    }
}
