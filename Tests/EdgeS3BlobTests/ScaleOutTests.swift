import Crypto
import EdgeS3
import EdgeTesting
import Foundation
import Testing

let scaleOutPostgresURL = ProcessInfo.processInfo.environment["EDGE_POSTGRES_URL"]

/// The scaling guide's two-machine setup, as processes: KV and durable objects on PostgreSQL,
/// the bucket on an S3-compatible store (swift-edge's own S3 API, a third process), nothing in
/// either app process's state directory that the other needs.
@Suite(
    "Two edge dev processes share all state: PostgreSQL for KV and durable objects, S3 for buckets",
    .enabled(if: scaleOutPostgresURL != nil, "EDGE_POSTGRES_URL is not set: start a server with `.ci/postgres start` and export the URL it prints"))
struct ScaleOutTests {
    func startEdgeDev(_ directory: String, secret: String) async throws -> (process: ChildProcess, url: String) {
        let process = try ChildProcess(
            try KillTest.executable(named: "edge"), ["dev", "--config", directory + "/edge.jsonc", "--port", "0"], directory: directory,
            standardError: true, environment: ["STORE_SECRET": secret])
        try await process.waitFor("edge dev listening", timeout: 300) { $0.contains("listening on http://") }
        let line = try #require(process.lines.first { $0.contains("listening on http://") })
        let port = try #require(line.split(separator: ":").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) })
        return (process, "http://127.0.0.1:\(port)")
    }

    func curl(_ arguments: [String]) async throws -> String {
        try await ExternalCommand.run(["curl", "-sS"] + arguments).output
    }

    @Test("a file PUT through one process is served by the other, a count and an object's counter run across both, a delete is seen by both")
    func sharedState() async throws {
        let store = try await OwnS3Server(buckets: ["shared-files"], label: "scale-out-store")
        defer { store.stop() }
        let scope = "scale-\(UUID().uuidString.prefix(8).lowercased())"
        let config = """
            {
              "name": "\(scope)", "main": "hello", "state_dir": "state", "log_level": "info",
              "secrets": ["STORE_SECRET"],
              "postgres": { "url": "\(scaleOutPostgresURL!)", "scope": "\(scope)", "max_connections": 4 },
              "s3": { "endpoint": "\(store.endpoint.absoluteString)", "access_key_id": "\(store.credentials.accessKeyID)", "secret_access_key_secret": "STORE_SECRET" },
              "kv_namespaces": [{ "binding": "COUNTER", "backend": "postgres" }],
              "r2_buckets": [{ "binding": "FILES", "bucket_name": "shared-files", "backend": "s3" }],
              "durable_objects": { "backend": "postgres", "bindings": [{ "name": "COUNTERS", "class_name": "HelloCounter" }] }
            }
            """
        var directories: [String] = []
        for name in ["a", "b"] {
            let directory = store.directory + "/app-\(name)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try config.write(toFile: directory + "/edge.jsonc", atomically: true, encoding: .utf8)
            directories.append(directory)
        }
        let secret = store.credentials.secretAccessKey
        let a = try await startEdgeDev(directories[0], secret: secret)
        defer { a.process.stop() }
        let b = try await startEdgeDev(directories[1], secret: secret)
        defer { b.process.stop() }

        // 24 MiB: a multipart upload from process A into the store.
        let upload = store.directory + "/video.webm"
        var bytes = [UInt8](repeating: 0, count: 24 << 20)
        for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 2_654_435_761 >> 13) }
        try Data(bytes).write(to: URL(fileURLWithPath: upload))
        let put = try await curl(["-o", "/dev/null", "-w", "%{http_code}", "-T", upload, "-H", "content-type: video/webm", a.url + "/files/video.webm"])
        #expect(put == "201")
        let download = store.directory + "/from-b.webm"
        let get = try await curl(["-o", download, "-w", "%{http_code} %{content_type}", b.url + "/files/video.webm"])
        #expect(get == "200 video/webm")
        #expect(Data(SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: download)))) == Data(SHA256.hash(data: bytes)), "B serves A's bytes")

        // A process's first use of a PostgreSQL binding applies its schema under a lock other
        // test processes may hold for a while: warm both up first (not what this test measures).
        for process in [a, b] {
            let deadline = Date().addingTimeInterval(600)
            while Int(try await curl([process.url + "/count"])) == nil, Date() < deadline { try await Task.sleep(for: .milliseconds(200)) }
        }
        // KV and object names are not scoped by the config's name: count from where they are.
        let answers = [try await curl([a.url + "/count"]), try await curl([b.url + "/count"]), try await curl([a.url + "/count"])]
        let counts = answers.compactMap { Int($0) }
        #expect(counts.count == 3 && counts[1] == counts[0] + 1 && counts[2] == counts[0] + 2, "one count across both: \(answers)")
        let object = "shared-\(scope)"
        let first = try await curl(["-X", "POST", a.url + "/objects/\(object)"])
        let second = try await curl(["-X", "POST", b.url + "/objects/\(object)"])
        #expect(first.contains(#""value":1"#) && second.contains(#""value":2"#), "\(first) then \(second)")

        #expect(try await curl(["-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE", b.url + "/files/video.webm"]) == "204")
        #expect(try await curl(["-o", "/dev/null", "-w", "%{http_code}", a.url + "/files/video.webm"]) == "404")
        // Neither process keeps the file: the state directories hold no blob data.
        for directory in directories {
            let sizes =
                FileManager.default.enumerator(atPath: directory + "/state")?.compactMap { path -> Int? in
                    (try? FileManager.default.attributesOfItem(atPath: directory + "/state/" + (path as! String)))?[.size] as? Int
                } ?? []
            #expect(sizes.reduce(0, +) < 1 << 20, "\(directory) holds \(sizes.reduce(0, +)) bytes")
        }
    }
}
