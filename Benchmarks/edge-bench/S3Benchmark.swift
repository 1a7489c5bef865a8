import EdgeBlob
import Foundation

/// `edge-bench s3`: the S3 API against the binding it serves, in the same run.
///
/// - `s3.put_256m` / `s3.get_256m`: `aws s3 cp` of a 256 MiB file up and down (aws-cli's multipart
///   defaults: 8 MiB parts, 10 at a time) through `edge-bench serve s3` (the S3 API of EdgeHost
///   over a file bucket), against the same file streamed into and out of a FileBlob bucket in
///   this process. Ratio target 0.7 each.
/// - `s3.put_small` / `s3.get_small`: 4 KiB objects per second with boto3 from 8 threads
///   (`Benchmarks/scripts/s3_small.py`), reported.
///
/// Needs aws-cli and boto3 (`pip install awscli boto3`).
struct S3Benchmark {
    static let accessKey = "AKIDEDGEBENCH"
    static let secret = "edge-bench-secret"
    let options: BenchOptions

    func run() async throws {
        guard Self.which("aws") else { throw BenchError(message: "aws-cli is not installed: pip install awscli boto3") }
        let directory = try options.scratchDirectory("s3")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = try Self.freePort()
        try FileManager.default.createDirectory(atPath: directory + "/server", withIntermediateDirectories: true)
        let server = try ServerChild("s3", directory: directory + "/server", port: port)
        defer { server.stop() }
        let endpoint = "http://127.0.0.1:\(port)"
        try await Self.waitForPort(port)

        let mebibytes = 256
        let file = directory + "/upload.bin"
        let chunk = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        for _ in 0..<mebibytes { handle.write(Data(chunk)) }
        try handle.close()
        let megabytes = Double(mebibytes << 20) / 1_000_000

        let bucket = try FileBlob(bucket: "binding", stateDirectory: directory + "/binding")
        defer { bucket.close() }
        var best = (put: 0.0, putPeer: 0.0, get: 0.0, getPeer: 0.0)
        for round in 0..<max(2, options.rounds) {
            // Through the S3 API with aws-cli.
            var start = seconds()
            try Self.aws(["s3", "cp", "--quiet", file, "s3://media/big-\(round).bin"], endpoint: endpoint)
            best.put = max(best.put, megabytes / (seconds() - start))
            let downloaded = directory + "/down-\(round).bin"
            start = seconds()
            try Self.aws(["s3", "cp", "--quiet", "s3://media/big-\(round).bin", downloaded], endpoint: endpoint)
            best.get = max(best.get, megabytes / (seconds() - start))
            guard (try FileManager.default.attributesOfItem(atPath: downloaded)[.size] as? Int) == mebibytes << 20 else {
                throw BenchError(message: "aws s3 cp downloaded a file of the wrong size")
            }
            try? FileManager.default.removeItem(atPath: downloaded)

            // The same file through the binding, streamed from disk and back to disk.
            start = seconds()
            _ = try await bucket.put("big-\(round).bin", body: .stream(FileChunks(path: file)), options: BlobPutOptions())
            best.putPeer = max(best.putPeer, megabytes / (seconds() - start))
            start = seconds()
            guard let body = try await bucket.get("big-\(round).bin")?.body else { throw BenchError(message: "the binding lost the object") }
            _ = FileManager.default.createFile(atPath: downloaded, contents: nil)
            let out = try FileHandle(forWritingTo: URL(fileURLWithPath: downloaded))
            for try await piece in body { out.write(Data(piece)) }
            try out.close()
            best.getPeer = max(best.getPeer, megabytes / (seconds() - start))
            try? FileManager.default.removeItem(atPath: downloaded)
        }
        let load = quote("aws s3 cp, 256 MiB, aws-cli's multipart defaults")
        BenchLine(
            suite: "s3", name: "s3.put_256m", value: best.put, unit: "MB/s", peer: "the-binding", peerValue: best.putPeer,
            extra: ["target_ratio": "0.7", "load": load]
        ).print()
        BenchLine(
            suite: "s3", name: "s3.get_256m", value: best.get, unit: "MB/s", peer: "the-binding", peerValue: best.getPeer,
            extra: ["target_ratio": "0.7", "load": load]
        ).print()

        let script = benchScript("s3_small.py")
        let output = try Self.run(["python3", script, endpoint, Self.accessKey, Self.secret, "media"])
        guard let figures = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Double] else {
            throw BenchError(message: "s3_small.py printed \(output)")
        }
        let small = quote("boto3, 8 threads, 4 KiB objects")
        BenchLine(suite: "s3", name: "s3.put_small", value: figures["put_per_s"] ?? 0, unit: "objects/s", extra: ["load": small]).print()
        BenchLine(suite: "s3", name: "s3.get_small", value: figures["get_per_s"] ?? 0, unit: "objects/s", extra: ["load": small]).print()
    }

    /// A file as 1 MiB chunks.
    struct FileChunks: AsyncSequence, Sendable {
        typealias Element = [UInt8]
        let path: String

        struct AsyncIterator: AsyncIteratorProtocol {
            let handle: FileHandle?
            mutating func next() async throws -> [UInt8]? {
                guard let handle, let data = try handle.read(upToCount: 1 << 20), !data.isEmpty else { return nil }
                return Array(data)
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: FileHandle(forReadingAtPath: path)) }
    }

    static func aws(_ arguments: [String], endpoint: String) throws {
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ACCESS_KEY_ID"] = accessKey
        environment["AWS_SECRET_ACCESS_KEY"] = secret
        environment["AWS_DEFAULT_REGION"] = "us-east-1"
        environment["AWS_CONFIG_FILE"] = "/dev/null"
        environment["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
        _ = try run(["aws", "--endpoint-url", endpoint] + arguments, environment: environment)
    }

    @discardableResult
    static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchError(message: "\(arguments.prefix(4).joined(separator: " ")) failed (\(process.terminationStatus)): \(errorText.suffix(600))")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func which(_ tool: String) -> Bool {
        (try? run(["sh", "-c", "command -v \(tool)"])) != nil
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw BenchError(message: "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Waits until something accepts connections on `port`.
    static func waitForPort(_ port: Int) async throws {
        for _ in 0..<500 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            close(fd)
            if connected { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError(message: "the S3 API never listened on port \(port)")
    }
}
