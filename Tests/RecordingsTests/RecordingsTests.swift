import Crypto
import EdgeBlob
import EdgeCore
import EdgeRuntime
import EdgeRuntimeTesting
import Foundation
import HTTPTypes
import Recordings
import Testing

let config = """
    { "name": "recordings", "r2_buckets": [{ "binding": "RECORDINGS" }], "limits": { "max_request_body_bytes": 1048576 } }
    """

/// A body streamed in chunks, as an upload arrives.
func chunks(_ total: Int, size: Int = 65_536, byte: UInt8 = 7) -> EdgeBody {
    let parts = stride(from: 0, to: total, by: size).map { [UInt8](repeating: byte, count: min(size, total - $0)) }
    return .stream(
        AsyncStream { continuation in
            for part in parts { continuation.yield(part) }
            continuation.finish()
        })
}

@Suite("Recordings: streaming into a bucket and back")
struct RecordingsTests {
    @Test("PUT streams into the bucket with its metadata; GET, HEAD, Range, If-None-Match, DELETE")
    func roundTrip() async throws {
        let client = try WorkerTestClient(RecordingsWorker(), config: config)
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var fields = HTTPFields(["content-type": "video/webm", "x-recording-title": "Demo", "x-recorded-by": "ana"])
        fields[.contentLength] = String(bytes.count)
        let put = await client.fetch(
            EdgeRequest(
                method: .put, path: "/recordings/demo-1", headers: fields,
                body: .stream(
                    AsyncStream { continuation in
                        for start in stride(from: 0, to: bytes.count, by: 70_000) { continuation.yield(Array(bytes[start..<min(bytes.count, start + 70_000)])) }
                        continuation.finish()
                    })))
        #expect(put.status == .created, "\(put.text)")
        let etag = try #require(put.headers[.eTag])
        #expect(etag == "\"" + Insecure.MD5.hash(data: bytes).map { String(format: "%02x", $0) }.joined() + "\"", "R2's etag: the MD5 of the body")

        let get = await client.fetch("/recordings/demo-1")
        #expect(get.status == .ok)
        #expect(get.body == bytes)
        #expect(get.headers[.contentType] == "video/webm")
        #expect(get.headers[.contentLength] == "300000")
        #expect(get.headers[.acceptRanges] == "bytes")
        #expect(get.header("x-recording-title") == "Demo" && get.header("x-recording-recorded-by") == "ana")

        let head = await client.fetch("/recordings/demo-1", method: "HEAD")
        #expect(head.status == .ok && head.body.isEmpty && head.headers[.contentLength] == "300000" && head.headers[.eTag] == etag)

        let first = await client.fetch("/recordings/demo-1", headers: ["range": "bytes=0-9"])
        #expect(first.status == .partialContent)
        #expect(first.body == Array(bytes[0...9]))
        #expect(first.headers[.contentRange] == "bytes 0-9/300000")
        let tail = await client.fetch("/recordings/demo-1", headers: ["range": "bytes=-5"])
        #expect(tail.status == .partialContent && tail.body == Array(bytes.suffix(5)) && tail.headers[.contentRange] == "bytes 299995-299999/300000")
        let open = await client.fetch("/recordings/demo-1", headers: ["range": "bytes=299990-"])
        #expect(open.body == Array(bytes[299_990...]))
        let clipped = await client.fetch("/recordings/demo-1", headers: ["range": "bytes=299998-400000"])
        #expect(clipped.body == Array(bytes[299_998...]) && clipped.headers[.contentRange] == "bytes 299998-299999/300000")
        let beyond = await client.fetch("/recordings/demo-1", headers: ["range": "bytes=300000-"])
        #expect(beyond.status == .rangeNotSatisfiable)
        #expect(beyond.headers[.contentRange] == "bytes */300000")
        #expect(await client.fetch("/recordings/demo-1", headers: ["range": "bytes=5-1"]).status == .ok, "an invalid range serves the whole object")

        let unchanged = await client.fetch("/recordings/demo-1", headers: ["if-none-match": etag])
        #expect(unchanged.status == .notModified && unchanged.body.isEmpty)
        #expect(await client.fetch("/recordings/demo-1", headers: ["if-none-match": "\"other\""]).status == .ok)

        #expect(await client.fetch("/recordings").text.contains(#""id":"demo-1""#))
        #expect(await client.fetch("/recordings/demo-1", method: "DELETE").status == .noContent)
        #expect(await client.fetch("/recordings/demo-1").status == .notFound)
        #expect(await client.fetch("/recordings/..").status == .badRequest)
    }

    @Test("a streamed body crossing the limit is answered 413 and nothing is stored")
    func overLimit() async throws {
        let client = try WorkerTestClient(RecordingsWorker(), config: config)
        let response = await client.fetch(EdgeRequest(method: .put, path: "/recordings/big", body: chunks(2 * 1_048_576)))
        #expect(response.status == .contentTooLarge)
        #expect(response.text.contains("1048576"))
        let bucket = try client.bindings.bucket("RECORDINGS")
        #expect(try await bucket.head("recordings/big") == nil, "a put fed from a body cut off stores nothing")
        #expect(try await bucket.list().objects.isEmpty)
        // Just under the limit is stored.
        #expect(await client.fetch(EdgeRequest(method: .put, path: "/recordings/fits", body: chunks(1_048_576))).status == .created)
        // A declared length over the limit is refused before the worker reads anything.
        let declared = await client.fetch(EdgeRequest(method: .put, path: "/recordings/declared", headers: [.contentLength: "2000000"], body: chunks(10)))
        #expect(declared.status == .contentTooLarge)
    }

    @Test("100 MB up and down through a live socket (curl), the server's resident memory bounded")
    func largeThroughSocket() async throws {
        let directory = try TemporaryDirectory.make("recordings-large")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try ServerProcess(executable: "recordings", arguments: ["--port", "0", "--state", directory + "/state"])
        defer { server.stop() }
        // 100 MiB of varied bytes, written in pieces.
        let upload = directory + "/upload.webm"
        _ = FileManager.default.createFile(atPath: upload, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: upload))
        var hasher = SHA256()
        let random = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
        for _ in 0..<100 {
            let piece = try random.read(upToCount: 1 << 20) ?? Data()
            hasher.update(data: piece)
            try handle.write(contentsOf: piece)
        }
        try random.close()
        try handle.close()
        let digest = Data(hasher.finalize())
        _ = try await server.request("/recordings")  // warm
        let baseline = server.memory().resident

        var started = ContinuousClock.now
        let put = try await curl([
            "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", upload, "-H", "content-type: video/webm", server.url + "/recordings/big",
        ])
        #expect(put == "201")
        let upSeconds = (ContinuousClock.now - started).inSeconds
        started = ContinuousClock.now
        let download = directory + "/download.webm"
        let get = try await curl(["-sS", "-o", download, "-w", "%{http_code}", server.url + "/recordings/big"])
        #expect(get == "200")
        let downSeconds = (ContinuousClock.now - started).inSeconds
        let downloaded = try Data(contentsOf: URL(fileURLWithPath: download))
        #expect(downloaded.count == 100 << 20)
        #expect(Data(SHA256.hash(data: downloaded)) == digest, "the bytes came back unchanged")
        let part = try await curl(["-sS", "-r", "52428800-52428899", server.url + "/recordings/big"])
        #expect(part.utf8.count > 0)

        let growth = server.memory().peak - baseline
        print(
            "recordings: 100 MiB up in \(upSeconds) s, down in \(downSeconds) s; peak resident memory \(growth >> 20) MiB above the \(baseline >> 20) MiB baseline"
        )
        #expect(growth < 100 << 20, "streaming keeps the server's memory far below the body's size (grew \(growth >> 20) MiB)")
    }

    @Test("a presigned upload URL from the worker: 100 MB PUT straight to storage through the S3 API, then served by the worker")
    func presignedUpload() async throws {
        let directory = try TemporaryDirectory.make("recordings-presigned")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = """
            {
              "name": "recordings", "state_dir": "\(directory)/state", "log_level": "warning", "secrets": ["S3_SECRET"],
              "r2_buckets": [{ "binding": "RECORDINGS", "bucket_name": "recordings" }],
              "s3_api": { "path_prefix": "/s3", "access_keys": [{ "access_key_id": "AKIDREC", "secret_access_key_secret": "S3_SECRET" }] },
            }
            """
        try config.write(toFile: directory + "/edge.jsonc", atomically: true, encoding: .utf8)
        let server = try ServerProcess(
            executable: "recordings", arguments: ["--config", directory + "/edge.jsonc", "--port", "0"], environment: ["S3_SECRET": "rec-secret"])
        defer { server.stop() }
        let (status, body) = try await server.request("/recordings/clip/upload-url", method: "POST")
        #expect(status == 200)
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: String])
        let url = try #require(answer["url"])
        #expect(url.hasPrefix(server.url + "/s3/recordings/recordings/clip?") && url.contains("X-Amz-Signature="))
        let upload = directory + "/clip.webm"
        let piece = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ 3) }
        _ = FileManager.default.createFile(atPath: upload, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: upload))
        for _ in 0..<100 { try handle.write(contentsOf: Data(piece)) }
        try handle.close()
        #expect(try await curl(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", upload, url]) == "200")
        let download = directory + "/back.webm"
        #expect(try await curl(["-sS", "-o", download, "-w", "%{http_code}", server.url + "/recordings/clip"]) == "200")
        #expect(try Data(contentsOf: URL(fileURLWithPath: download)) == Data(contentsOf: URL(fileURLWithPath: upload)))
        // The URL signs a PUT of that key only.
        let other = url.replacingOccurrences(of: "/clip?", with: "/other?")
        #expect(try await curl(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", upload, other]) == "403")
        let withoutS3 = try WorkerTestClient(RecordingsWorker(), config: #"{ "name": "r", "r2_buckets": [{ "binding": "RECORDINGS" }] }"#)
        #expect(await withoutS3.fetch("/recordings/clip/upload-url", method: "POST").status == .notImplemented)
    }

    func curl(_ arguments: [String]) async throws -> String {
        try await ExternalCommand.run(["curl"] + arguments).output
    }
}
