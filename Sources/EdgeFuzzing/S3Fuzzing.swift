import EdgeBlob
import EdgeCore
import EdgeS3
import Foundation
import HTTPTypes

/// The S3 API under fuzzing: a fresh in-memory bucket per input, holding a few objects, behind an
/// ``S3API`` whose clock is fixed so a request signed for that time is current.
enum S3Fuzzing {
    static let credentials = S3Credentials(accessKeyID: "AKIDFUZZ", secretAccessKey: "fuzz/secret+key=1")
    static let date = Date(timeIntervalSince1970: 1_700_000_000)
    static let host = "127.0.0.1:9000"

    static func api() async -> (S3API, MemoryBlob) {
        let bucket = MemoryBlob()
        _ = try? await bucket.put("a.txt", Array(repeating: UInt8(ascii: "a"), count: 100))
        _ = try? await bucket.put("dir/b.bin", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        let now = date
        let api = S3API(.init(buckets: ["media": bucket, "other": MemoryBlob()], credentials: [credentials], now: { now }))
        return (api, bucket)
    }

    /// `METHOD TARGET\n` + `name: value\n`… + `\n` + body.
    static func parse(_ data: [UInt8]) -> (method: HTTPRequest.Method, target: String, headers: [(String, String)], body: [UInt8])? {
        var lines: [String] = []
        var index = 0
        var body: [UInt8] = []
        while index < data.count {
            guard let end = data[index...].firstIndex(of: UInt8(ascii: "\n")) else {
                lines.append(String(decoding: data[index...], as: UTF8.self))
                index = data.count
                break
            }
            let line = String(decoding: data[index..<end], as: UTF8.self)
            index = end + 1
            if line.isEmpty || line == "\r" {
                body = Array(data[index...])
                break
            }
            lines.append(line.hasSuffix("\r") ? String(line.dropLast()) : line)
        }
        guard let first = lines.first else { return nil }
        let parts = first.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, let method = HTTPRequest.Method(String(parts[0])), parts[1].hasPrefix("/") else { return nil }
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return (method, String(parts[1]), headers, body)
    }

    static func fields(_ headers: [(String, String)]) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in headers where name != "host" {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        return fields
    }

    /// Serves one request: signed with the API's key (`sign`), or as the input authenticates it.
    static func request(_ data: [UInt8], sign: Bool) async {
        guard let (method, target, given, body) = parse(data) else { return }
        var headers = given
        var requestTarget = target
        if sign {
            let url = EdgeURL(target: target)
            let path = QueryParameters.percentDecoded(Substring(url.path), plusIsSpace: false)
            let query = url.query.items.map { (name: $0.name, value: $0.value) }
            let hash = given.first { $0.0 == "x-amz-content-sha256" }?.1 ?? SigV4.sha256Hex(body)
            headers = given.filter { !["authorization", "x-amz-date", "x-amz-content-sha256", "host"].contains($0.0) }
            let signed = SigV4Signer(credentials: credentials).sign(
                method: method.rawValue, path: path, query: query, headers: headers.map { (name: $0.0, value: $0.1) } + [(name: "host", value: host)],
                payloadHash: hash, date: date)
            headers += signed.map { ($0.name, $0.value) }
            requestTarget = SigV4.uriEncode(path, keepSlash: true) + (query.isEmpty ? "" : "?" + SigV4.canonicalQuery(query))
        }
        let authority = given.first { $0.0 == "host" }?.1 ?? host
        let head = HTTPRequest(method: method, scheme: "http", authority: authority, path: requestTarget, headerFields: fields(headers))
        let (api, _) = await api()
        let response = await api.handle(EdgeRequest(head: head, body: .bytes(body)))
        let answer = (try? await response.body.collect(upTo: 8 << 20)) ?? []
        let status = response.status.code
        guard (100..<600).contains(status) else { FuzzHarness.fail("status \(status)") }
        if !sign, status < 300, method != .options {
            FuzzHarness.fail("a request nobody signed with the key was served (\(status)): \(String(decoding: answer.prefix(200), as: UTF8.self))")
        }
    }

    /// A PutObject whose body is the input after its first line, framed aws-chunked with an
    /// unsigned payload and trailer; the first line is `x-amz-decoded-content-length` (or empty)
    /// and, after a space, the trailer's checksum header name.
    static func awsChunked(_ data: [UInt8]) async {
        let newline = data.firstIndex(of: UInt8(ascii: "\n")) ?? data.count
        let first = String(decoding: data[..<newline], as: UTF8.self).split(separator: " ", omittingEmptySubsequences: false)
        let body = newline < data.count ? Array(data[(newline + 1)...]) : []
        var headers: [(String, String)] = [("content-encoding", "aws-chunked"), ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")]
        let declared = first.first.flatMap { Int($0) }
        if let length = first.first, !length.isEmpty { headers.append(("x-amz-decoded-content-length", String(length))) }
        if first.count > 1, !first[1].isEmpty { headers.append(("x-amz-trailer", String(first[1]))) }
        let signed = SigV4Signer(credentials: credentials).sign(
            method: "PUT", path: "/media/up.bin", query: [], headers: headers.map { (name: $0.0, value: $0.1) } + [(name: "host", value: host)],
            payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER", date: date)
        headers += signed.map { ($0.name, $0.value) }
        let head = HTTPRequest(method: .put, scheme: "http", authority: host, path: "/media/up.bin", headerFields: fields(headers))
        let (api, bucket) = await api()
        let response = await api.handle(EdgeRequest(head: head, body: .bytes(body)))
        _ = try? await response.body.collect(upTo: 1 << 20)
        let stored = try? await bucket.head("up.bin")
        if response.status.code == 200 {
            guard let stored else { FuzzHarness.fail("200 for a put that stored nothing") }
            if let declared, stored.size != declared { FuzzHarness.fail("stored \(stored.size) bytes of a declared \(declared)") }
        } else if stored != nil {
            FuzzHarness.fail("a refused put (\(response.status.code)) left an object behind")
        }
    }
}
