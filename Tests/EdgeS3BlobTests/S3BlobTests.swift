import Crypto
import EdgeBlob
import EdgeCore
import EdgeRuntime
import EdgeS3
import EdgeTesting
import Foundation
import HTTPTypes
import Testing

@testable import EdgeS3Blob

@Suite("S3Blob: retries, presigned URLs, metadata in headers, the s3 backend in the config")
struct S3BlobTests {
    static let proxyScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts/flaky_proxy.py").path

    func bucket(_ server: OwnS3Server, _ name: String, endpoint: URL? = nil, maxAttempts: Int = 4) throws -> S3Blob {
        try S3Blob(
            configuration: .init(
                endpoint: endpoint ?? server.endpoint, bucket: name, credentials: server.credentials, partSize: 5 << 20, maxAttempts: maxAttempts,
                baseBackoff: 0.01, maxBackoff: 0.05))
    }

    @Test("every other request fails (503 SlowDown, 500 InternalError, a dropped connection): every operation still succeeds by retrying")
    func retries() async throws {
        let server = try await OwnS3Server(buckets: ["flaky"], label: "s3blob-retries")
        defer { server.stop() }
        let proxy = try ChildProcess("/usr/bin/env", ["python3", Self.proxyScript, String(server.endpoint.port!)])
        defer { proxy.stop() }
        try await proxy.waitFor("the flaky proxy", timeout: 300) { $0.hasPrefix("listening ") }
        let port = proxy.lines.first { $0.hasPrefix("listening ") }!.dropFirst("listening ".count)
        let endpoint = URL(string: "http://127.0.0.1:\(port)")!
        let flaky = try bucket(server, "flaky", endpoint: endpoint)

        let small = try await flaky.put("small.txt", text: "hello", options: BlobPutOptions(customMetadata: ["k": "v"]))
        #expect(small?.etag == "5d41402abc4b2a76b9719d911017c592")
        let big = (0..<(12 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 11) }
        let stored = try await flaky.put(
            "big.bin",
            body: .stream(
                AsyncStream { continuation in
                    for start in stride(from: 0, to: big.count, by: 1 << 20) { continuation.yield(Array(big[start..<min(big.count, start + (1 << 20))])) }
                    continuation.finish()
                }), options: BlobPutOptions())
        #expect(stored?.size == big.count)
        #expect(stored?.etag.hasSuffix("-3") == true, "12 MiB in 5 MiB parts: a multipart upload of 3 parts")
        #expect(try await flaky.get("big.bin")?.body?.bytes() == big)
        #expect(try await flaky.list().objects.map(\.key) == ["big.bin", "small.txt"])
        try await flaky.delete(["small.txt", "big.bin"])
        #expect(try await flaky.head("small.txt") == nil)

        let stats = try await ExternalCommand.run(["curl", "-sS", "http://127.0.0.1:\(port)/__proxy/stats"])
        let counts = try JSONSerialization.jsonObject(with: Data(stats.output.utf8)) as? [String: Int]
        #expect((counts?["failed"] ?? 0) >= 10, "the proxy failed requests: \(stats.output)")

        // Without retries the first failure is the answer: a typed error, nothing half-stored.
        let once = try bucket(server, "flaky", endpoint: endpoint, maxAttempts: 1)
        var failures = 0
        for attempt in 0..<4 {
            do { try await once.put("once-\(attempt)", text: "x") } catch let error as BlobError {
                #expect(error.code == .unavailable, "\(error)")
                failures += 1
            }
        }
        #expect(failures >= 1)
        // A store nobody listens on: .unavailable after the attempts, not a hang.
        let nowhere = try bucket(server, "flaky", endpoint: URL(string: "http://127.0.0.1:\(try freeLoopbackPort())")!, maxAttempts: 2)
        await #expect(throws: BlobError.self) { _ = try await nowhere.head("k") }
    }

    @Test("presigned URLs from the binding: curl PUTs 10 MiB straight to the store, GETs it back; an expired URL and a wrong key are refused")
    func presigned() async throws {
        let server = try await OwnS3Server(buckets: ["uploads"], label: "s3blob-presign")
        defer { server.stop() }
        let config = try EdgeConfig.parse(
            """
            {
              "name": "presign", "state_dir": "\(server.directory)/app", "secrets": ["STORE_SECRET"],
              "s3": { "endpoint": "\(server.endpoint.absoluteString)", "access_key_id": "\(server.credentials.accessKeyID)", "secret_access_key_secret": "STORE_SECRET" },
              "r2_buckets": [{ "binding": "UPLOADS", "bucket_name": "uploads", "backend": "s3" }]
            }
            """, providers: BackendProviders.builtIn.adding(S3Provider()))
        let bindings = try EdgeBindings(
            config: config, providers: BackendProviders.builtIn.adding(S3Provider()), environment: ["STORE_SECRET": server.credentials.secretAccessKey])
        let bucket = try bindings.bucket("UPLOADS")
        #expect(backendObject(of: bucket, as: S3Blob.self) != nil)

        let file = server.directory + "/upload.bin"
        var bytes = [UInt8](repeating: 0, count: 10 << 20)
        for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 131 &+ index >> 9) }
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let put = try bindings.presignedURL(bucket: "UPLOADS", key: "videos/clip one.webm", method: .put, expiresIn: 300)
        #expect(put.absoluteString.hasPrefix(server.endpoint.absoluteString + "/uploads/videos/clip%20one.webm?"))
        let status = try await ExternalCommand.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", file, put.absoluteString])
        #expect(status.output == "200")
        #expect(try await bucket.get("videos/clip one.webm")?.body?.bytes() == bytes, "the worker's binding reads what the browser uploaded")

        let get = try bindings.presignedURL(bucket: "UPLOADS", key: "videos/clip one.webm", method: .get, expiresIn: 300)
        let download = server.directory + "/download.bin"
        _ = try await ExternalCommand.run(["curl", "-sS", "-o", download, get.absoluteString])
        #expect(try Data(contentsOf: URL(fileURLWithPath: download)) == Data(bytes))

        let expiring = try bindings.presignedURL(bucket: "UPLOADS", key: "videos/clip one.webm", method: .get, expiresIn: 1)
        try await Task.sleep(for: .seconds(2.2))
        let expired = try await ExternalCommand.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", expiring.absoluteString])
        #expect(expired.output == "403")
        let forged = URL(string: get.absoluteString.replacingOccurrences(of: "X-Amz-Signature=", with: "X-Amz-Signature=0"))!
        let refused = try await ExternalCommand.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", forged.absoluteString])
        #expect(refused.output == "403")
        #expect(throws: BlobError.self) { _ = try bindings.presignedURL(bucket: "UPLOADS", key: "k", method: .get, expiresIn: 604_801) }

        // The store decodes the header coding: its own binding sees the metadata as written.
        try await bucket.put("meta.txt", text: "m", options: BlobPutOptions(customMetadata: ["Author": "Ana ✓", "plain": "yes"]))
        let head = try await ExternalCommand.run(
            [try KillTest.executable(named: "edge"), "blob", "head", "--config", server.directory + "/edge.jsonc", "--binding", "B0", "meta.txt"],
            environment: ["S3_SECRET": server.credentials.secretAccessKey])
        #expect(head.output.contains("Author") && head.output.contains("Ana ✓") && !head.output.contains("edge-hex"), "\(head.output)")
    }

    @Test("metadata keys keep their case and characters, values their bytes, through headers")
    func metadataCoding() {
        let custom = [
            "author": "ana", "Author": "Ana", "ünïcode": "✓", "empty": "", "edge-hex-41": "literal", "spaced": "  padded  ", "encoded": "=?UTF-8?B?eA==?=",
        ]
        let headers = S3Metadata.headers(http: BlobHTTPMetadata(), custom: custom)
        for (name, value) in headers {
            #expect(name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }, "\(name) is a header name")
            #expect(value.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }, "\(value) is a plain header value")
        }
        #expect(headers.contains { $0.name == "x-amz-meta-author" && $0.value == "ana" }, "plain keys travel as they are")
        let received = Dictionary(headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        #expect(S3Metadata.custom(from: received) == custom)
        #expect(S3Metadata.decodeValue("=?utf-8?q?caf=C3=A9_au_lait?=") == "café au lait", "RFC 2047 Q encoding")
        #expect(S3Metadata.decodeValue("=?ISO-2022-JP?B?GyRC?=") == "=?ISO-2022-JP?B?GyRC?=", "another charset is left alone")
    }

    @Test("the s3 section: what is missing or wrong is named, and a secret never goes in the config")
    func configErrors() throws {
        let providers = BackendProviders.builtIn.adding(S3Provider())
        func error(_ s3: String, secrets: String = #"["S"]"#) -> ConfigError? {
            let text = #"{ "name": "x", "secrets": \#(secrets), "s3": \#(s3), "r2_buckets": [{ "binding": "B", "backend": "s3" }] }"#
            do {
                _ = try EdgeConfig.parse(text, providers: providers)
                return nil
            } catch let error as ConfigError {
                return error
            } catch {
                return nil
            }
        }
        #expect(error(#"{ "endpoint": "http://h:9000", "access_key_id": "A", "secret_access_key_secret": "S" }"#) == nil)
        #expect(error(#"{ "access_key_id": "A", "secret_access_key_secret": "S" }"#)?.key == "s3.endpoint")
        #expect(error(#"{ "endpoint": "ftp://h", "access_key_id": "A", "secret_access_key_secret": "S" }"#)?.key == "s3.endpoint")
        #expect(error(#"{ "endpoint": "http://h", "secret_access_key_secret": "S" }"#)?.key == "s3")
        #expect(error(#"{ "endpoint": "http://h", "access_key_id": "A", "secret_access_key_secret": "NOPE" }"#)?.key == "s3.secret_access_key_secret")
        let leaked = error(#"{ "endpoint": "http://h", "access_key_id": "A", "secret_access_key": "plain", "secret_access_key_secret": "S" }"#)
        #expect(leaked?.message.contains("secrets") == true, "\(String(describing: leaked))")
        #expect(error(#"{ "endpoint": "http://h", "access_key_id": "A", "secret_access_key_secret": "S", "part_size_mb": 4 }"#)?.key == "s3.part_size_mb")
        #expect(throws: ConfigError.self) {
            _ = try EdgeConfig.parse(#"{ "name": "x", "r2_buckets": [{ "binding": "B", "backend": "s3" }] }"#, providers: .builtIn)
        }
    }
}
