import EdgeBlob
import EdgeS3
import EdgeS3Blob
import EdgeTesting
import Foundation
import Testing

/// moto's S3 server, started by `.ci/moto start` (as `.ci/run` does) and named by EDGE_S3_MOTO_URL.
let motoURL = ProcessInfo.processInfo.environment["EDGE_S3_MOTO_URL"].flatMap(URL.init(string:))
let motoSkipReason: Comment = "EDGE_S3_MOTO_URL is not set: start moto's S3 server with `.ci/moto start` and export the URL it prints"

/// A free TCP port on loopback (bound, then released).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw KillTestError(message: "no free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// `edge dev` serving swift-edge's own S3 API over `buckets` file buckets on loopback.
final class OwnS3Server: Sendable {
    let directory: String
    let endpoint: URL
    let credentials: S3Credentials
    let process: ChildProcess

    init(buckets: [String], label: String) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("swift-edge-tests/\(label)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let port = try freePort()
        let bindings = buckets.enumerated().map { #"{ "binding": "B\#($0.offset)", "bucket_name": "\#($0.element)" }"# }.joined(separator: ", ")
        let config = """
            {
              "name": "s3-store", "state_dir": "\(directory)/state", "log_level": "notice", "secrets": ["S3_SECRET"],
              "r2_buckets": [\(bindings)],
              "s3_api": { "port": \(port), "access_keys": [{ "access_key_id": "AKIDSTORE", "secret_access_key_secret": "S3_SECRET" }] },
            }
            """
        try config.write(toFile: directory + "/edge.jsonc", atomically: true, encoding: .utf8)
        let secret = "store-secret-\(UUID().uuidString.prefix(8))"
        credentials = S3Credentials(accessKeyID: "AKIDSTORE", secretAccessKey: secret)
        endpoint = URL(string: "http://127.0.0.1:\(port)")!
        process = try ChildProcess(
            try KillTest.executable(named: "edge"), ["dev", "--config", directory + "/edge.jsonc", "--port", "0"], directory: directory,
            standardError: true, environment: ["S3_SECRET": secret])
        try await process.waitFor("the S3 API listening") { $0.contains("S3 API listening on") }
    }

    func stop() {
        process.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Runs every case of a conformance suite in turn, recording each failure as its own issue.
func runAll<Binding: Sendable>(_ cases: [ConformanceCase<Binding>], _ harness: ConformanceHarness<Binding>, store: String) async {
    for check in cases {
        do {
            try await check.run(harness)
        } catch {
            Issue.record("\(store): \(check.name): \(error)")
        }
    }
}
