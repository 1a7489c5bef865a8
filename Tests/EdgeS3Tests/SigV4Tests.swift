import EdgeS3
import Foundation
import Testing

/// AWS's documented examples (the Amazon S3 API reference, "Signature Calculations for the
/// Authorization Header" and "Query String Authentication"): access key AKIAIOSFODNN7EXAMPLE, bucket
/// examplebucket, 2013-05-24T00:00:00Z.
let awsExample = S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
let awsExampleDate = SigV4.parseAmzDate("20130524T000000Z")!

func signature(ofAuthorization header: String) -> String {
    String(header.split(separator: "Signature=").last ?? "")
}

@Suite("SigV4: AWS's examples and botocore's vectors")
struct SigV4Tests {
    @Test("GET Object with a Range (AWS example)")
    func getObject() {
        let headers = SigV4Signer(credentials: awsExample).sign(
            method: "GET", path: "/test.txt", query: [], headers: [("host", "examplebucket.s3.amazonaws.com"), ("range", "bytes=0-9")],
            payloadHash: SigV4.emptySHA256, date: awsExampleDate)
        let authorization = headers.first { $0.name == "authorization" }?.value ?? ""
        #expect(
            authorization
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        )
    }

    @Test("PUT Object with Date and a storage class (AWS example)")
    func putObject() {
        let headers = SigV4Signer(credentials: awsExample).sign(
            method: "PUT", path: "/test$file.text", query: [],
            headers: [("host", "examplebucket.s3.amazonaws.com"), ("date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            payloadHash: "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", date: awsExampleDate)
        #expect(
            signature(ofAuthorization: headers.first { $0.name == "authorization" }?.value ?? "")
                == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test("GET Bucket lifecycle and list objects, with queries (AWS examples)")
    func bucketQueries() {
        let signer = SigV4Signer(credentials: awsExample)
        let lifecycle = signer.sign(
            method: "GET", path: "/", query: [("lifecycle", "")], headers: [("host", "examplebucket.s3.amazonaws.com")], payloadHash: SigV4.emptySHA256,
            date: awsExampleDate)
        #expect(
            signature(ofAuthorization: lifecycle.first { $0.name == "authorization" }?.value ?? "")
                == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
        let list = signer.sign(
            method: "GET", path: "/", query: [("max-keys", "2"), ("prefix", "J")], headers: [("host", "examplebucket.s3.amazonaws.com")],
            payloadHash: SigV4.emptySHA256, date: awsExampleDate)
        #expect(
            signature(ofAuthorization: list.first { $0.name == "authorization" }?.value ?? "")
                == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test("a presigned GET valid for a day (AWS example)")
    func presigned() throws {
        let url = try SigV4Signer(credentials: awsExample).presignedURL(
            method: "GET", endpoint: URL(string: "https://examplebucket.s3.amazonaws.com")!, path: "/test.txt", expiresIn: 86_400, date: awsExampleDate)
        #expect(url.absoluteString.hasSuffix("X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"))
        #expect(url.absoluteString.contains("X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"))
        #expect(throws: S3Error.self) {
            try SigV4Signer(credentials: awsExample).presignedURL(
                method: "GET", endpoint: URL(string: "https://e.example")!, path: "/k", expiresIn: 604_801, date: awsExampleDate)
        }
    }

    @Test("chunk signatures of a streamed upload (AWS example: 64 KiB + 1 KiB of 'a')")
    func chunkSignatures() {
        let key = SigV4.signingKey(secret: awsExample.secretAccessKey, date: "20130524", region: "us-east-1", service: "s3")
        let scope = "20130524/us-east-1/s3/aws4_request"
        var previous = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
        var signatures: [String] = []
        for chunk in [[UInt8](repeating: 97, count: 65_536), [UInt8](repeating: 97, count: 1024), []] {
            previous = SigV4.hmacHex(SigV4.chunkStringToSign(amzDate: "20130524T000000Z", scope: scope, previousSignature: previous, chunk: chunk), key: key)
            signatures.append(previous)
        }
        #expect(
            signatures == [
                "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
                "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
            ])
    }

    struct Vectors: Decodable {
        struct Signed: Decodable {
            var method: String
            var path: String
            var query: [[String]]
            var headers: [String: String]
            var host: String
            var authorization: String
        }
        struct Presigned: Decodable {
            var method: String
            var path: String
            var expires: Int
            var host: String
            var url: String
        }
        var time: String
        var accessKeyID: String
        var secretAccessKey: String
        var region: String
        var signed: [Signed]
        var presigned: [Presigned]

        enum CodingKeys: String, CodingKey {
            case time, region, signed, presigned
            case accessKeyID = "access_key_id"
            case secretAccessKey = "secret_access_key"
        }
    }

    static func vectors() throws -> Vectors {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/sigv4-botocore.json")
        return try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
    }

    @Test("every request botocore signed (unicode, spaces, odd characters, queries, padded header values) signs the same here")
    func botocoreSigned() throws {
        let vectors = try Self.vectors()
        let signer = SigV4Signer(
            credentials: S3Credentials(accessKeyID: vectors.accessKeyID, secretAccessKey: vectors.secretAccessKey), region: vectors.region)
        let date = try #require(SigV4.parseAmzDate(vectors.time))
        #expect(vectors.signed.count >= 10)
        for vector in vectors.signed {
            var headers = vector.headers.filter { $0.key != "x-amz-date" && $0.key != "x-amz-content-sha256" }.map { (name: $0.key, value: $0.value) }
            headers.append(("host", vector.host))
            let signed = signer.sign(
                method: vector.method, path: vector.path, query: vector.query.map { (name: $0[0], value: $0[1]) }, headers: headers,
                payloadHash: vector.headers["x-amz-content-sha256"] ?? SigV4.unsignedPayload, date: date)
            #expect(signed.first { $0.name == "authorization" }?.value == vector.authorization, "\(vector.method) \(vector.path)")
        }
    }

    @Test("every URL botocore presigned presigns the same here")
    func botocorePresigned() throws {
        let vectors = try Self.vectors()
        let signer = SigV4Signer(
            credentials: S3Credentials(accessKeyID: vectors.accessKeyID, secretAccessKey: vectors.secretAccessKey), region: vectors.region)
        let date = try #require(SigV4.parseAmzDate(vectors.time))
        for vector in vectors.presigned {
            let url = try signer.presignedURL(
                method: vector.method, endpoint: URL(string: "http://\(vector.host)")!, path: vector.path, expiresIn: vector.expires, date: date)
            let ours = try #require(URLComponents(string: url.absoluteString)?.queryItems?.first { $0.name == "X-Amz-Signature" }?.value)
            let theirs = try #require(URLComponents(string: vector.url)?.queryItems?.first { $0.name == "X-Amz-Signature" }?.value)
            #expect(ours == theirs, "\(vector.method) \(vector.path)")
        }
    }

    @Test("CRC32, CRC32C and CRC64NVME of \"123456789\" are their catalogued check values, split or whole")
    func checksums() {
        let text = Array("123456789".utf8)
        func value(_ algorithm: S3ChecksumAlgorithm, split: Int) -> [UInt8] {
            var checksum = algorithm.start()
            checksum.update(text[..<split])
            checksum.update(text[split...])
            return checksum.finish()
        }
        for split in [0, 4, 9] {
            #expect(value(.crc32, split: split) == [0xCB, 0xF4, 0x39, 0x26])
            #expect(value(.crc32c, split: split) == [0xE3, 0x06, 0x92, 0x83])
            #expect(value(.crc64nvme, split: split) == [0xAE, 0x8B, 0x14, 0x86, 0x0A, 0x79, 0x98, 0x88])
        }
        // Long inputs go through the 8-byte path: the same as byte by byte.
        let long = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for algorithm in [S3ChecksumAlgorithm.crc32, .crc32c, .crc64nvme] {
            var whole = algorithm.start()
            whole.update(long)
            var bytewise = algorithm.start()
            for byte in long { bytewise.update([byte]) }
            #expect(whole.finish() == bytewise.finish(), "\(algorithm)")
        }
        var sha = S3ChecksumAlgorithm.sha256.start()
        sha.update(Array("abc".utf8))
        #expect(sha.base64() == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")
    }
}
