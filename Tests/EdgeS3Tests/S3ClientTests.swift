import EdgeTesting
import Foundation
import Testing

/// boto3 and aws-cli, importable already or installed once (with pip) into
/// `~/.cache/swift-edge/python`, so `swift test` needs nothing installed by hand.
enum S3PythonClients {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/s3_clients.py").path
    static let cache = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/swift-edge/python").path

    static func environment() async throws -> [String: String] {
        let path = cache + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let environment = ["PYTHONPATH": cache, "PATH": path]
        let probe = try await ExternalCommand.run(["sh", "-c", "python3 -c 'import boto3' && aws --version"], environment: environment)
        if probe.status == 0 { return environment }
        let install = try await ExternalCommand.run(
            ["python3", "-m", "pip", "install", "--quiet", "--target", cache, "boto3", "awscli"], mergeStandardError: true)
        guard install.status == 0 else { throw KillTestError(message: "cannot install boto3 and awscli with pip: \(install.output)") }
        return environment
    }
}

@Suite("S3 API with real clients: boto3, aws-cli, s3cmd and rclone against edge dev")
struct S3ClientTests {
    @Test("boto3, aws-cli, s3cmd and rclone: objects, odd keys, wrong keys, presigned URLs with curl, 10,000 keys paged, 256 MiB multipart both ways")
    func realClients() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swift-edge-tests/s3-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory + "/scratch", withIntermediateDirectories: true)
        let port = try freeLoopbackPort()
        let config = """
            {
              "name": "s3-clients",
              "state_dir": "\(directory)/state",
              "log_level": "notice",
              "secrets": ["S3_SECRET"],
              "r2_buckets": [{ "binding": "MEDIA", "bucket_name": "media" }, { "binding": "LISTING", "bucket_name": "listing" }],
              "s3_api": { "port": \(port), "access_keys": [{ "access_key_id": "AKIDEDGETEST", "secret_access_key_secret": "S3_SECRET" }] },
            }
            """
        try config.write(toFile: directory + "/edge.jsonc", atomically: true, encoding: .utf8)
        let secret = "edge/secret+key=\(UUID().uuidString.prefix(8))"
        let edge = try ChildProcess(
            try KillTest.executable(named: "edge"), ["dev", "--config", directory + "/edge.jsonc", "--port", "0"], directory: directory, standardError: true,
            environment: ["S3_SECRET": secret])
        defer { edge.stop() }
        try await edge.waitFor("the S3 API listening", timeout: 300) { $0.contains("S3 API listening on") }
        // s3cmd and rclone come from Debian (.ci/run installs them); without them the Python clients run alone.
        var tools: [String] = []
        for tool in ["s3cmd", "rclone"] where try await ExternalCommand.run(["sh", "-c", "command -v \(tool)"]).status == 0 { tools.append(tool) }
        let result = try await ExternalCommand.run(
            [
                "python3", S3PythonClients.script, "http://127.0.0.1:\(port)", "AKIDEDGETEST", secret, "media", directory + "/scratch",
                "--listing-bucket", "listing", "--tools", tools.joined(separator: ","),
            ],
            environment: try await S3PythonClients.environment(), mergeStandardError: true)
        let last = result.output.split(separator: "\n").last.map(String.init) ?? ""
        #expect(result.status == 0, "\(result.output.suffix(3000))")
        let figures = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]
        #expect(figures?["listed_keys"] as? Int == 10_000)
        #expect(figures?["big_mib"] as? Int == 256)
        for tool in tools { #expect(figures?[tool] as? Bool == true, "\(tool)") }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
