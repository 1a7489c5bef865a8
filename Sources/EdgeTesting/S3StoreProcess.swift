public import Foundation

/// A free TCP port on loopback: bound, then released, for a server a test starts next.
///
/// - Throws: ``KillTestError`` when no port can be bound.
public func freeLoopbackPort() throws -> Int {
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
    guard bound else { throw KillTestError(message: "no free port on loopback") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// An S3-compatible store for a test: `edge dev` (this package's `edge` executable) serving
/// its S3 API over file buckets on loopback, with one access key. Point an `S3Blob`, boto3 or
/// a `"backend": "s3"` config at ``endpoint``.
///
/// ```swift
/// let store = try await S3StoreProcess(buckets: ["media"])
/// defer { store.stop() }
/// // store.endpoint, store.accessKeyID, store.secretAccessKey
/// ```
public final class S3StoreProcess: Sendable {
    /// A directory of its own (the store's state, and room for the test's files); removed by ``stop()``.
    public let directory: String
    /// `http://127.0.0.1:PORT`.
    public let endpoint: URL
    public let accessKeyID: String
    public let secretAccessKey: String
    public let process: ChildProcess

    /// Starts the store with `buckets` (their names in S3) and waits until its S3 API listens.
    ///
    /// - Throws: ``KillTestError`` when `edge` is not built or does not start within a minute.
    public init(buckets: [String], label: String = "s3-store") async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("swift-edge-tests/\(label)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let port = try freeLoopbackPort()
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
        accessKeyID = "AKIDSTORE"
        secretAccessKey = secret
        endpoint = URL(string: "http://127.0.0.1:\(port)")!
        process = try ChildProcess(
            try KillTest.executable(named: "edge"), ["dev", "--config", directory + "/edge.jsonc", "--port", "0"], directory: directory,
            standardError: true, environment: ["S3_SECRET": secret])
        try await process.waitFor("the S3 API listening", timeout: 300) { $0.contains("S3 API listening on") }
    }

    /// Stops the store and removes its directory.
    public func stop() {
        process.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
