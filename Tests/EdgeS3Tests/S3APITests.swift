import Crypto
import EdgeBlob
import EdgeCore
import EdgeS3
import Foundation
import HTTPTypes
import Testing

/// Drives S3API in process with requests signed by SigV4Signer (the independent clients —
/// boto3, aws-cli — are in S3ClientTests).
struct S3Harness {
    let bucket = MemoryBlob()
    let credentials = S3Credentials(accessKeyID: "edge-test", secretAccessKey: "s3cr3t/with+odd=chars")
    let api: S3API
    let now = Date()

    init() {
        api = S3API(.init(buckets: ["media": bucket], credentials: [credentials]))
    }

    enum Payload {
        case hashed, unsigned
        case raw(String)
    }

    /// A request signed as botocore signs one: path-style on host 127.0.0.1:9000.
    func request(
        _ method: HTTPRequest.Method, _ path: String, query: [(String, String)] = [], headers: [(String, String)] = [], body: [UInt8] = [],
        payload: Payload = .hashed, secret: String? = nil, accessKey: String? = nil, date: Date? = nil, host: String = "127.0.0.1:9000"
    ) -> EdgeRequest {
        let hash: String
        switch payload {
        case .hashed: hash = SigV4.sha256Hex(body)
        case .unsigned: hash = SigV4.unsignedPayload
        case .raw(let value): hash = value
        }
        let signer = SigV4Signer(
            credentials: S3Credentials(accessKeyID: accessKey ?? credentials.accessKeyID, secretAccessKey: secret ?? credentials.secretAccessKey))
        let all = headers.map { (name: $0.0.lowercased(), value: $0.1) } + [(name: "host", value: host)]
        let signed = signer.sign(
            method: method.rawValue, path: path, query: query.map { (name: $0.0, value: $0.1) }, headers: all, payloadHash: hash, date: date ?? now)
        var fields = HTTPFields()
        for (name, value) in all + signed where name != "host" { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        var target = SigV4.uriEncode(path, keepSlash: true)
        if !query.isEmpty { target += "?" + SigV4.canonicalQuery(query.map { (name: $0.0, value: $0.1) }) }
        let head = HTTPRequest(method: method, scheme: "http", authority: host, path: target, headerFields: fields)
        return EdgeRequest(head: head, body: .bytes(body))
    }

    func send(_ request: EdgeRequest) async -> (status: Int, headers: HTTPFields, body: String) {
        let response = await api.handle(request)
        let bytes = (try? await response.body.collect(upTo: 64 << 20)) ?? []
        return (response.status.code, response.headers, String(decoding: bytes, as: UTF8.self))
    }

    func errorCode(_ body: String) -> String? {
        guard let start = body.range(of: "<Code>"), let end = body.range(of: "</Code>") else { return nil }
        return String(body[start.upperBound..<end.lowerBound])
    }
}

@Suite("S3 API in process")
struct S3APITests {
    @Test("put, get, head, ranges, conditionals, metadata, list, copy, delete")
    func objects() async throws {
        let s3 = S3Harness()
        let body = Array("hello, S3 world".utf8)
        let put = await s3.send(
            s3.request(
                .put, "/media/greetings/hello.txt", headers: [("Content-Type", "text/plain"), ("x-amz-meta-Author", "ada"), ("Cache-Control", "max-age=60")],
                body: body))
        #expect(put.status == 200)
        let etag = try #require(put.headers[.eTag])
        #expect(etag == "\"" + SigV4.hex(Array(Insecure.MD5.hash(data: body))) + "\"")
        let get = await s3.send(s3.request(.get, "/media/greetings/hello.txt"))
        #expect(get.status == 200 && get.body == "hello, S3 world")
        #expect(get.headers[.contentType] == "text/plain" && get.headers[HTTPField.Name("x-amz-meta-author")!] == "ada")
        #expect(get.headers[.cacheControl] == "max-age=60" && get.headers[.eTag] == etag)
        let range = await s3.send(s3.request(.get, "/media/greetings/hello.txt", headers: [("Range", "bytes=7-8")]))
        #expect(range.status == 206 && range.body == "S3" && range.headers[.contentRange] == "bytes 7-8/15")
        let beyond = await s3.send(s3.request(.get, "/media/greetings/hello.txt", headers: [("Range", "bytes=99-")]))
        #expect(beyond.status == 416 && s3.errorCode(beyond.body) == "InvalidRange")
        #expect(await s3.send(s3.request(.get, "/media/greetings/hello.txt", headers: [("If-None-Match", etag)])).status == 304)
        #expect(await s3.send(s3.request(.get, "/media/greetings/hello.txt", headers: [("If-Match", "\"nope\"")])).status == 412)
        let overridden = await s3.send(s3.request(.get, "/media/greetings/hello.txt", query: [("response-content-type", "application/x-hello")]))
        #expect(overridden.headers[.contentType] == "application/x-hello")
        let head = await s3.send(s3.request(.head, "/media/greetings/hello.txt"))
        #expect(head.status == 200 && head.body.isEmpty && head.headers[.contentLength] == "15")
        let missingHead = await s3.send(s3.request(.head, "/media/nothing"))
        #expect(missingHead.status == 404 && missingHead.body.isEmpty)
        let missing = await s3.send(s3.request(.get, "/media/nothing"))
        #expect(missing.status == 404 && s3.errorCode(missing.body) == "NoSuchKey" && missing.body.contains("<Resource>/media/nothing</Resource>"))
        #expect(s3.errorCode(await s3.send(s3.request(.get, "/elsewhere/x")).body) == "NoSuchBucket")

        let copy = await s3.send(s3.request(.put, "/media/copies/hello.txt", headers: [("x-amz-copy-source", "/media/greetings%2Fhello.txt")]))
        #expect(copy.status == 200 && copy.body.contains("<CopyObjectResult") && copy.body.contains(etag.replacingOccurrences(of: "\"", with: "&quot;")))
        let copied = await s3.send(s3.request(.get, "/media/copies/hello.txt"))
        #expect(copied.body == "hello, S3 world" && copied.headers[HTTPField.Name("x-amz-meta-author")!] == "ada")

        let list = await s3.send(s3.request(.get, "/media", query: [("list-type", "2"), ("delimiter", "/")]))
        #expect(
            list.body.contains("<Prefix>copies/</Prefix>") && list.body.contains("<Prefix>greetings/</Prefix>") && list.body.contains("<KeyCount>2</KeyCount>"))
        let buckets = await s3.send(s3.request(.get, "/"))
        #expect(buckets.body.contains("<Name>media</Name>"))
        #expect(await s3.send(s3.request(.delete, "/media/copies/hello.txt")).status == 204)
        #expect(await s3.send(s3.request(.get, "/media/copies/hello.txt")).status == 404)
        let deleteBody = Array("<Delete><Object><Key>greetings/hello.txt</Key></Object><Object><Key>never</Key></Object></Delete>".utf8)
        let deleted = await s3.send(s3.request(.post, "/media", query: [("delete", "")], body: deleteBody))
        #expect(deleted.status == 200 && deleted.body.contains("<Deleted><Key>greetings/hello.txt</Key></Deleted>"))
        #expect(try await s3.bucket.head("greetings/hello.txt") == nil)
    }

    @Test("authentication: wrong secret, unknown key, anonymous, skewed clock, payload hash mismatch; nothing stored")
    func authentication() async throws {
        let s3 = S3Harness()
        let wrong = await s3.send(s3.request(.put, "/media/k", body: [1, 2, 3], secret: "not-the-secret"))
        #expect(wrong.status == 403 && s3.errorCode(wrong.body) == "SignatureDoesNotMatch")
        let unknown = await s3.send(s3.request(.get, "/media/k", accessKey: "nobody"))
        #expect(unknown.status == 403 && s3.errorCode(unknown.body) == "InvalidAccessKeyId")
        let anonymous = await s3.send(EdgeRequest(method: .get, path: "/media/k"))
        #expect(anonymous.status == 403 && s3.errorCode(anonymous.body) == "AccessDenied")
        let skewed = await s3.send(s3.request(.get, "/media/k", date: Date().addingTimeInterval(-3600)))
        #expect(skewed.status == 403 && s3.errorCode(skewed.body) == "RequestTimeTooSkewed")
        let lying = await s3.send(s3.request(.put, "/media/k", body: [1, 2, 3], payload: .raw(SigV4.sha256Hex([9, 9, 9]))))
        #expect(lying.status == 400 && s3.errorCode(lying.body) == "XAmzContentSHA256Mismatch")
        let badMD5 = await s3.send(s3.request(.put, "/media/k", headers: [("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==")], body: [1, 2, 3]))
        #expect(badMD5.status == 400 && s3.errorCode(badMD5.body) == "BadDigest")
        #expect(try await s3.bucket.head("k") == nil, "nothing stored")
        // A request whose signed header was changed after signing.
        var tampered = s3.request(.get, "/media/k", headers: [("Range", "bytes=0-1")])
        tampered.headers[.range] = "bytes=0-2"
        #expect(s3.errorCode(await s3.send(tampered).body) == "SignatureDoesNotMatch")
    }

    /// An aws-chunked body: `chunks` of data, signed from `seed` when `signing` is given, then
    /// a trailer.
    static func chunked(_ chunks: [[UInt8]], signing: (key: SymmetricKey, date: String, scope: String, seed: String)?, trailer: String?) -> [UInt8] {
        var out: [UInt8] = []
        var previous = signing?.seed ?? ""
        for chunk in chunks + [[]] {
            var header = String(chunk.count, radix: 16)
            if let signing {
                previous = SigV4.hmacHex(
                    SigV4.chunkStringToSign(amzDate: signing.date, scope: signing.scope, previousSignature: previous, chunk: chunk), key: signing.key)
                header += ";chunk-signature=" + previous
            }
            out += Array((header + "\r\n").utf8) + chunk
            if !chunk.isEmpty { out += Array("\r\n".utf8) }
        }
        if let trailer { out += Array((trailer + "\r\n").utf8) }
        out += Array("\r\n".utf8)
        return out
    }

    @Test("aws-chunked uploads: unsigned with a trailing checksum, and a wrong checksum stores nothing")
    func unsignedTrailer() async throws {
        let s3 = S3Harness()
        let data = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var crc = S3ChecksumAlgorithm.crc32c.start()
        crc.update(data)
        let headers = [
            ("Content-Encoding", "aws-chunked"), ("x-amz-decoded-content-length", String(data.count)), ("x-amz-trailer", "x-amz-checksum-crc32c"),
        ]
        let good = Self.chunked([Array(data[..<65_536]), Array(data[65_536...])], signing: nil, trailer: "x-amz-checksum-crc32c:" + crc.base64())
        let put = await s3.send(s3.request(.put, "/media/chunked", headers: headers, body: good, payload: .raw("STREAMING-UNSIGNED-PAYLOAD-TRAILER")))
        #expect(put.status == 200)
        let stored = try #require(try await s3.bucket.get("chunked")?.body)
        #expect(try await collect(stored) == data)
        let bad = Self.chunked([data], signing: nil, trailer: "x-amz-checksum-crc32c:AAAAAA==")
        let refused = await s3.send(s3.request(.put, "/media/chunked-bad", headers: headers, body: bad, payload: .raw("STREAMING-UNSIGNED-PAYLOAD-TRAILER")))
        #expect(refused.status == 400 && s3.errorCode(refused.body) == "BadDigest")
        #expect(try await s3.bucket.head("chunked-bad") == nil)
    }

    @Test("aws-chunked uploads signed chunk by chunk: stored when every signature holds; a changed chunk stores nothing")
    func signedChunks() async throws {
        let s3 = S3Harness()
        let data = [UInt8](repeating: 97, count: 66_560)
        let headers = [("Content-Encoding", "aws-chunked"), ("x-amz-decoded-content-length", String(data.count))]
        for tamper in [false, true] {
            var request = s3.request(.put, "/media/signed-\(tamper)", headers: headers, payload: .raw("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"))
            let seed = signature(ofAuthorization: request.headers[.authorization] ?? "")
            let amzDate = request.headers[HTTPField.Name("x-amz-date")!] ?? ""
            let day = String(amzDate.prefix(8))
            let key = SigV4.signingKey(secret: s3.credentials.secretAccessKey, date: day, region: "us-east-1", service: "s3")
            var body = Self.chunked(
                [Array(data[..<65_536]), Array(data[65_536...])], signing: (key, amzDate, "\(day)/us-east-1/s3/aws4_request", seed), trailer: nil)
            // A byte of the first chunk's data (after its header line), not of a header.
            if tamper, let newline = body.firstIndex(of: 10) { body[newline + 100] = 98 }
            request.body = .bytes(body)
            let response = await s3.send(request)
            if tamper {
                #expect(response.status == 403 && s3.errorCode(response.body) == "SignatureDoesNotMatch")
                #expect(try await s3.bucket.head("signed-true") == nil)
            } else {
                #expect(response.status == 200)
                #expect(try await s3.bucket.head("signed-false")?.size == data.count)
            }
        }
    }

    @Test("presigned URLs: a GET works, an expired one is 403, a changed one is 403")
    func presigned() async throws {
        let s3 = S3Harness()
        _ = try await s3.bucket.put("shared.webm", [1, 2, 3])
        let signer = SigV4Signer(credentials: s3.credentials)
        func get(_ url: URL) async -> (status: Int, headers: HTTPFields, body: String) {
            let target = url.path + "?" + (url.query ?? "")
            return await s3.send(EdgeRequest(head: HTTPRequest(method: .get, scheme: "http", authority: "127.0.0.1:9000", path: target), body: .empty))
        }
        let url = try signer.presignedURL(
            method: "GET", endpoint: URL(string: "http://127.0.0.1:9000")!, path: "/media/shared.webm", expiresIn: 3600, date: Date())
        #expect(await get(url).status == 200)
        let old = try signer.presignedURL(
            method: "GET", endpoint: URL(string: "http://127.0.0.1:9000")!, path: "/media/shared.webm", expiresIn: 60, date: Date().addingTimeInterval(-120))
        let expired = await get(old)
        #expect(expired.status == 403 && expired.body.contains("Request has expired"))
        let other = URL(string: url.absoluteString.replacingOccurrences(of: "shared.webm", with: "other.webm"))!
        #expect(s3.errorCode(await get(other).body) == "SignatureDoesNotMatch")
    }

    @Test("keys with ../, spaces, unicode and 1,024 bytes round-trip and list as themselves")
    func oddKeys() async throws {
        let s3 = S3Harness()
        let keys = ["../escape", "a/../../b", "spaces in key", "ünïcödé/☃ snow", "plus+and=eq&amp", String(repeating: "k", count: 1024), "//double//slash"]
        for key in keys {
            let put = await s3.send(s3.request(.put, "/media/" + key, body: Array(key.utf8)))
            #expect(put.status == 200, "\(key.prefix(40))")
            #expect(await s3.send(s3.request(.get, "/media/" + key)).body == key)
        }
        let list = await s3.send(s3.request(.get, "/media", query: [("list-type", "2"), ("encoding-type", "url")]))
        #expect(list.body.contains("<Key>..%2F</Key>") == false)
        #expect(list.body.contains("<Key>../escape</Key>") && list.body.contains("<Key>spaces%20in%20key</Key>"))
        let tooLong = await s3.send(s3.request(.put, "/media/" + String(repeating: "k", count: 1025), body: [1]))
        #expect(tooLong.status == 400 && s3.errorCode(tooLong.body) == "KeyTooLongError")
    }

    @Test("multipart: create, parts, list parts and uploads, complete with the etags, abort")
    func multipart() async throws {
        let s3 = S3Harness()
        let created = await s3.send(s3.request(.post, "/media/big.bin", query: [("uploads", "")], headers: [("Content-Type", "video/webm")]))
        let uploadId = try #require(created.body.components(separatedBy: "<UploadId>").last?.components(separatedBy: "</UploadId>").first)
        let first = [UInt8](repeating: 1, count: 5 * 1024 * 1024)
        let second = [UInt8](repeating: 2, count: 1000)
        var etags: [String] = []
        for (number, part) in [(1, first), (2, second)] {
            let uploaded = await s3.send(s3.request(.put, "/media/big.bin", query: [("partNumber", String(number)), ("uploadId", uploadId)], body: part))
            #expect(uploaded.status == 200)
            etags.append(uploaded.headers[.eTag] ?? "")
        }
        let parts = await s3.send(s3.request(.get, "/media/big.bin", query: [("uploadId", uploadId)]))
        #expect(parts.body.contains("<PartNumber>2</PartNumber>") && parts.body.contains("<Size>1000</Size>"))
        let uploads = await s3.send(s3.request(.get, "/media", query: [("uploads", "")]))
        #expect(uploads.body.contains("<UploadId>\(uploadId)</UploadId>"))
        let wrongOrder =
            "<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>\(etags[1])</ETag></Part><Part><PartNumber>1</PartNumber><ETag>\(etags[0])</ETag></Part></CompleteMultipartUpload>"
        let refused = await s3.send(s3.request(.post, "/media/big.bin", query: [("uploadId", uploadId)], body: Array(wrongOrder.utf8)))
        #expect(s3.errorCode(refused.body) == "InvalidPartOrder", "\(refused.body)")
        let complete =
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\(etags[0])</ETag></Part><Part><PartNumber>2</PartNumber><ETag>\(etags[1])</ETag></Part></CompleteMultipartUpload>"
        let done = await s3.send(s3.request(.post, "/media/big.bin", query: [("uploadId", uploadId)], body: Array(complete.utf8)))
        #expect(done.status == 200 && done.body.contains("-2&quot;</ETag>"))
        let object = try #require(try await s3.bucket.head("big.bin"))
        #expect(object.size == first.count + second.count && object.httpMetadata.contentType == "video/webm")
        let again = await s3.send(s3.request(.post, "/media/again.bin", query: [("uploads", "")]))
        let abortId = try #require(again.body.components(separatedBy: "<UploadId>").last?.components(separatedBy: "</UploadId>").first)
        #expect(await s3.send(s3.request(.delete, "/media/again.bin", query: [("uploadId", abortId)])).status == 204)
        let gone = await s3.send(s3.request(.put, "/media/again.bin", query: [("partNumber", "1"), ("uploadId", abortId)], body: [1]))
        #expect(gone.status == 404 && s3.errorCode(gone.body) == "NoSuchUpload")
    }

    @Test("virtual-hosted-style: the bucket in the Host")
    func virtualHosted() async throws {
        let s3 = S3Harness()
        let put = await s3.send(s3.request(.put, "/vh.txt", body: [7], host: "media.localhost:9000"))
        #expect(put.status == 200)
        #expect(try await s3.bucket.head("vh.txt")?.size == 1)
    }
}

func collect(_ stream: BlobStream) async throws -> [UInt8] {
    var out: [UInt8] = []
    for try await chunk in stream { out += chunk }
    return out
}
