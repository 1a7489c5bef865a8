import EdgeCoordinator
import EdgeTesting
import Foundation
import Testing
import VectorSearch

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

    @Test("--json on every command: each leaf command of `edge --help` accepts it, and commands that change state print what they did as JSON")
    func jsonEverywhere() async throws {
        let directory = try project()
        // The leaves, discovered from the help pages, so a new command without --json fails here.
        func subcommands(_ path: [String]) async throws -> [String] {
            let help = try await edge(path + ["--help"], in: directory).output
            guard let section = help.range(of: "SUBCOMMANDS:\n") else { return [] }
            return help[section.upperBound...].split(separator: "\n").compactMap { line in
                guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first, name != "See" else { return nil }
                return String(name)
            }
        }
        var leaves: [[String]] = []
        var pending: [[String]] = [[]]
        while let path = pending.popLast() {
            let children = try await subcommands(path)
            if children.isEmpty { leaves.append(path) } else { pending += children.map { path + [$0] } }
        }
        #expect(leaves.count >= 20, "\(leaves)")
        for leaf in leaves {
            let help = try await edge(leaf + ["--help"], in: directory)
            #expect(help.output.contains("--json"), "edge \(leaf.joined(separator: " ")) has no --json")
        }
        func json(_ arguments: [String]) async throws -> [String: Any] {
            let run = try await edge(arguments + ["--json"], in: directory)
            #expect(run.status == 0, "\(arguments): \(run.error)")
            return (try? JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any]) ?? ["unparsed": run.output]
        }
        #expect(try await json(["kv", "put", "--binding", "CACHE", "a", "xyz"])["bytes"] as? Int == 3)
        #expect(try await json(["kv", "delete", "--binding", "CACHE", "a"])["deleted"] as? [String] == ["a"])
        let sent = try await json(["queue", "send", "jobs", #"{"n":1}"#])
        #expect(sent["queue"] as? String == "jobs" && sent["sent"] as? Int == 1, "\(sent)")
        let redriven = try await json(["queue", "redrive", "jobs-dlq", "--to", "jobs"])
        #expect(redriven["from"] as? String == "jobs-dlq" && redriven["to"] as? String == "jobs" && redriven["redriven"] as? Int == 0, "\(redriven)")
        try Data("abc".utf8).write(to: URL(fileURLWithPath: directory + "/in.txt"))
        #expect(try await json(["blob", "put", "--binding", "FILES", "k", "--file", "in.txt"])["size"] as? Int == 3)
        #expect(try await json(["blob", "get", "--binding", "FILES", "k", "--output", "out.txt"])["size"] as? Int == 3)
        #expect(try await edge(["blob", "get", "--binding", "FILES", "k", "--json"], in: directory).status == 64, "--json needs --output")
        #expect(try await json(["blob", "rm", "--binding", "FILES", "k"])["deleted"] as? [String] == ["k"])
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

    @Test("a transfer over 8 MiB shows a progress bar when stderr is a terminal (a pseudo-terminal here), and none in a pipe")
    func progressOnlyOnATerminal() async throws {
        let directory = try project()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data(repeating: 7, count: 9 << 20).write(to: URL(fileURLWithPath: directory + "/big.bin"))
        let piped = try await edge(["blob", "put", "--binding", "FILES", "big.bin", "--file", "big.bin"], in: directory)
        #expect(piped.status == 0, "\(piped.error)")
        #expect(!piped.error.contains("%"), "no progress into a pipe: \(piped.error)")
        // The same command with stderr on a pseudo-terminal (Python's pty module opens it).
        let script = """
            import json, os, pty, subprocess, sys
            master, slave = pty.openpty()
            child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
            os.close(slave)
            seen = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            out = child.stdout.read()
            print(json.dumps({"status": child.wait(), "stderr": seen.decode("utf-8", "replace"), "stdout": out.decode()}))
            """
        let edgePath = try KillTest.executable(named: "edge")
        let result = try await ExternalCommand.run(
            ["sh", "-c", "cd \"$0\" && exec python3 -c \"$1\" \"$2\" blob put --binding FILES big2.bin --file big.bin", directory, script, edgePath])
        let line = result.output.split(separator: "\n").last.map(String.init) ?? ""
        let figures = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        #expect(figures?["status"] as? Int == 0, "\(result.output)")
        let terminal = figures?["stderr"] as? String ?? ""
        #expect(terminal.contains("100% 9/9 MiB"), "a progress bar on the terminal: \(terminal)")
        #expect(terminal.contains("[#########################]"))
    }

    @Test("queue peek shows messages without claiming them; vectors info, query and get read an index; mistakes exit non-zero")
    func peekAndVectors() async throws {
        let directory = NSTemporaryDirectory() + "swift-edge-tests/cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
        { "name": "cli-vectors", "vectorize": [{ "binding": "VECS", "index_name": "vecs", "dimensions": 4 }],
          "queues": { "producers": [{ "binding": "JOBS", "queue": "jobs" }] } }
        """.write(toFile: directory + "/edge.jsonc", atomically: true, encoding: .utf8)

        #expect(try await edge(["queue", "send", "jobs", #"{"n":1}"#], in: directory).status == 0)
        #expect(try await edge(["queue", "send", "jobs", "plain", "--text"], in: directory).status == 0)
        let peeked = try await edge(["queue", "peek", "jobs", "--json"], in: directory)
        let lines = peeked.output.split(separator: "\n")
        #expect(lines.count == 2, "\(peeked.output) \(peeked.error)")
        #expect(lines.first?.contains(#""body":"{\"n\":1}""#) == true && lines.first?.contains(#""attempts":0"#) == true, "\(peeked.output)")
        #expect(lines.last?.contains(#""contentType":"text""#) == true)
        #expect(try await edge(["queue", "peek", "jobs"], in: directory).output.split(separator: "\n").count == 2, "peeking claims nothing")
        #expect(try await edge(["queue", "peek", "jobs", "--limit", "0"], in: directory).status == 1)

        // Vectors written through the library into the config's state directory, read by the CLI.
        let index = try HNSWIndex(name: "vecs", stateDirectory: directory + "/.edge/state", configuration: VectorIndexConfiguration(dimensions: 4))
        _ = try await index.upsert([
            VectorRecord(id: "a", values: [1, 0, 0, 0], namespace: "docs", metadata: ["path": "a.md"]),
            VectorRecord(id: "b", values: [0, 1, 0, 0]), VectorRecord(id: "c", values: [0.9, 0.1, 0, 0]),
        ])
        let info = try await edge(["vectors", "info", "--binding", "VECS", "--json"], in: directory)
        #expect(info.output.contains(#""vectorCount":3"#) && info.output.contains(#""dimensions":4"#), "\(info.output) \(info.error)")
        let query = try await edge(["vectors", "query", "--binding", "VECS", "--vector", "[1, 0, 0, 0]", "--top-k", "2", "--json"], in: directory)
        let matches = query.output.split(separator: "\n")
        #expect(
            matches.count == 2 && matches.first?.contains(#""id":"a""#) == true && matches.last?.contains(#""id":"c""#) == true,
            "\(query.output) \(query.error)")
        #expect(matches.first?.contains(#""path":"a.md""#) == true)
        let byID = try await edge(["vectors", "query", "--binding", "VECS", "--id", "b", "--top-k", "1"], in: directory)
        #expect(byID.output.hasPrefix("b "), "\(byID.output)")
        let got = try await edge(["vectors", "get", "--binding", "VECS", "a"], in: directory)
        #expect(got.output.contains(#""values":[1,0,0,0]"#) && got.output.contains(#""namespace":"docs""#), "\(got.output)")
        #expect(try await edge(["vectors", "get", "--binding", "VECS", "nope"], in: directory).status == 3)
        let wrong = try await edge(["vectors", "query", "--binding", "VECS", "--vector", "[1, 0]"], in: directory)
        #expect(wrong.status == 1 && wrong.error.contains("4"), "the error names the dimensions: \(wrong.error)")
        #expect(try await edge(["vectors", "query", "--binding", "VECS", "--vector", "not json"], in: directory).status == 1)
        #expect(try await edge(["vectors", "info", "--binding", "NOPE"], in: directory).status == 78)
    }

    @Test("objects ls, get, storage and alarms read a namespace's store by object name or id; mistakes exit non-zero")
    func objects() async throws {
        let directory = NSTemporaryDirectory() + "swift-edge-tests/cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
        { "name": "cli-objects", "durable_objects": { "bindings": [{ "name": "COUNTERS", "class_name": "HelloCounter" }] } }
        """.write(toFile: directory + "/edge.jsonc", atomically: true, encoding: .utf8)
        // Storage and an alarm committed through the store, as a running namespace commits them.
        let store = try SQLiteObjectStore(namespace: "COUNTERS", stateDirectory: directory + "/.edge/state")
        let a = DurableObjectID.named("a", inNamespace: "COUNTERS").hex
        let b = DurableObjectID.named("b", inNamespace: "COUNTERS").hex
        let when = Date(timeIntervalSince1970: 1_800_000_000)
        try await store.commit(a, StorageCommit(writes: ["count": Array("3".utf8), "log/1": Array("\"x\"".utf8), "other": [0xFF, 0x00]]), lease: nil)
        try await store.commit(b, StorageCommit(alarm: ScheduledAlarm(time: when, retryCount: 0)), lease: nil)
        store.close()

        let listed = try await edge(["objects", "ls", "--binding", "COUNTERS"], in: directory)
        #expect(listed.status == 0, "\(listed.error)")
        let lines = listed.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines.contains { $0.hasPrefix(a) && $0.contains("3 keys") }, "\(listed.output)")
        #expect(lines.contains { $0.hasPrefix(b) && $0.contains("0 keys") && $0.contains("alarm 2027-01-15T08:00:00Z") }, "\(listed.output)")
        #expect(try await edge(["objects", "get", "--binding", "COUNTERS", "--name", "a", "count"], in: directory).output == "3\n")
        #expect(try await edge(["objects", "get", "--binding", "COUNTERS", "--id", a.uppercased(), "count"], in: directory).output == "3\n")
        #expect(try await edge(["objects", "get", "--binding", "COUNTERS", "--name", "a", "missing"], in: directory).status == 3)
        let storage = try await edge(["objects", "storage", "--binding", "COUNTERS", "--name", "a", "--json"], in: directory)
        #expect(storage.output.split(separator: "\n").count == 3, "\(storage.output)")
        #expect(storage.output.contains(#""value":"base64:/wA=""#), "bytes that are not UTF-8 print as base64: \(storage.output)")
        let prefixed = try await edge(["objects", "storage", "--binding", "COUNTERS", "--name", "a", "--prefix", "log/"], in: directory)
        #expect(prefixed.output == "log/1  \"x\"\n", "\(prefixed.output)")
        let alarms = try await edge(["objects", "alarms", "--binding", "COUNTERS", "--json"], in: directory)
        #expect(alarms.output.contains(b) && alarms.output.contains(#""time":"2027-01-15T08:00:00Z""#), "\(alarms.output)")
        #expect(try await edge(["objects", "get", "--binding", "COUNTERS", "--id", "xyz", "count"], in: directory).status == 1)
        #expect(try await edge(["objects", "ls", "--binding", "NOPE"], in: directory).status == 78)
    }
}
