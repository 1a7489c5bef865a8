public import Crypto
import EdgeCore
public import Foundation

/// An access key and its secret.
public struct S3Credentials: Sendable, Hashable {
    public var accessKeyID: String
    public var secretAccessKey: String

    public init(accessKeyID: String, secretAccessKey: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }
}

/// AWS Signature Version 4 (`AWS4-HMAC-SHA256`): the signing key, canonical requests and
/// strings to sign, shared by ``SigV4Signer`` (requests and presigned URLs) and by the verifier of
/// the S3 API.
public enum SigV4 {
    public static let algorithm = "AWS4-HMAC-SHA256"
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    public static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    public static func amzDate(_ date: Date) -> String {
        let parts = utcParts(date)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second)
    }

    /// Parses `yyyyMMdd'T'HHmmss'Z'`; nil when malformed.
    public static func parseAmzDate(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8), let hour = number(9..<11),
            let minute = number(11..<13), let second = number(13..<15), (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60,
            second < 61
        else { return nil }
        var components = DateComponents()
        (components.year, components.month, components.day) = (year, month, day)
        (components.hour, components.minute, components.second) = (hour, minute, second)
        return utcCalendar.date(from: components)
    }

    static let utcCalendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    static func utcParts(_ date: Date) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        let c = utcCalendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return (c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }

    /// `HMAC-SHA256(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
    public static func signingKey(secret: String, date: String, region: String, service: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array(("AWS4" + secret).utf8))
        for part in [date, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    public static func hmacHex(_ text: String, key: SymmetricKey) -> String {
        hex(Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)))
    }

    public static func sha256Hex(_ bytes: some Sequence<UInt8>) -> String {
        hex(Array(SHA256.hash(data: Array(bytes))))
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// AWS's URI encoding: every byte but `A-Z a-z 0-9 - . _ ~` as `%XX` (upper case); `/` kept
    /// when `keepSlash` (paths), encoded otherwise (query keys and values).
    public static func uriEncode(_ text: String, keepSlash: Bool) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isUnreserved(byte) || (keepSlash && byte == UInt8(ascii: "/")) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 15)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x2E || byte == 0x5F
            || byte == 0x7E
    }

    /// The canonical query string: each name and value URI-encoded, sorted by name then value.
    public static func canonicalQuery(_ items: [(name: String, value: String)]) -> String {
        let encoded: [(String, String)] = items.map { item in (uriEncode(item.name, keepSlash: false), uriEncode(item.value, keepSlash: false)) }
        let sorted = encoded.sorted { (a: (String, String), b: (String, String)) -> Bool in a.0 == b.0 ? a.1 < b.1 : a.0 < b.0 }
        return sorted.map { pair in pair.0 + "=" + pair.1 }.joined(separator: "&")
    }

    /// A header value as signed: trimmed, runs of spaces collapsed to one.
    public static func canonicalHeaderValue(_ value: String) -> String {
        var out = ""
        var space = false
        for character in value.trimmingCharacters(in: .whitespaces) {
            if character == " " || character == "\t" {
                space = true
                continue
            }
            if space { out.append(" ") }
            space = false
            out.append(character)
        }
        return out
    }

    /// The canonical request. `path` is the decoded path (it is encoded here, `/` kept);
    /// `headers` are (lower-case name, value) for every signed header, in any order (values of
    /// one name joined with `,`).
    public static func canonicalRequest(
        method: String, path: String, query: [(name: String, value: String)], headers: [(name: String, value: String)], signedHeaders: [String],
        payloadHash: String
    ) -> String {
        var joined: [String: [String]] = [:]
        for (name, value) in headers { joined[name.lowercased(), default: []].append(canonicalHeaderValue(value)) }
        let canonicalHeaders = signedHeaders.map { "\($0):\((joined[$0] ?? []).joined(separator: ","))\n" }.joined()
        return [
            method, uriEncode(path.isEmpty ? "/" : path, keepSlash: true), canonicalQuery(query), canonicalHeaders,
            signedHeaders.joined(separator: ";"), payloadHash,
        ].joined(separator: "\n")
    }

    /// The credential scope, `DATE/REGION/SERVICE/aws4_request`.
    public static func scope(date: String, region: String, service: String) -> String {
        "\(date)/\(region)/\(service)/aws4_request"
    }

    public static func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        [algorithm, amzDate, scope, sha256Hex(Array(canonicalRequest.utf8))].joined(separator: "\n")
    }

    /// The string to sign of one chunk of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body.
    public static func chunkStringToSign(amzDate: String, scope: String, previousSignature: String, chunk: [UInt8]) -> String {
        ["AWS4-HMAC-SHA256-PAYLOAD", amzDate, scope, previousSignature, emptySHA256, sha256Hex(chunk)].joined(separator: "\n")
    }

    /// The string to sign of the trailer of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` body.
    public static func trailerStringToSign(amzDate: String, scope: String, previousSignature: String, trailer: String) -> String {
        ["AWS4-HMAC-SHA256-TRAILER", amzDate, scope, previousSignature, sha256Hex(Array(trailer.utf8))].joined(separator: "\n")
    }
}

/// Signs requests and presigns URLs for an S3-compatible endpoint.
public struct SigV4Signer: Sendable {
    public var credentials: S3Credentials
    public var region: String
    public var service: String

    public init(credentials: S3Credentials, region: String = "us-east-1", service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The headers to add to a request: `x-amz-date`, `x-amz-content-sha256`, `Authorization`.
    /// `headers` must include `host`; every header given is signed.
    public func sign(
        method: String, path: String, query: [(name: String, value: String)], headers: [(name: String, value: String)], payloadHash: String,
        date: Date
    ) -> [(name: String, value: String)] {
        let amzDate = SigV4.amzDate(date)
        let day = String(amzDate.prefix(8))
        var all = headers.map { ($0.name.lowercased(), $0.value) }
        all.append(("x-amz-date", amzDate))
        all.append(("x-amz-content-sha256", payloadHash))
        let signed = Array(Set(all.map(\.0))).sorted()
        let canonical = SigV4.canonicalRequest(method: method, path: path, query: query, headers: all, signedHeaders: signed, payloadHash: payloadHash)
        let scope = SigV4.scope(date: day, region: region, service: service)
        let key = SigV4.signingKey(secret: credentials.secretAccessKey, date: day, region: region, service: service)
        let signature = SigV4.hmacHex(SigV4.stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonical), key: key)
        return [
            ("x-amz-date", amzDate), ("x-amz-content-sha256", payloadHash),
            (
                "authorization",
                "\(SigV4.algorithm) Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signed.joined(separator: ";")), Signature=\(signature)"
            ),
        ]
    }

    /// A presigned URL: `endpoint` (scheme, host, port) + `path` (decoded), valid for
    /// `expiresIn` seconds (1...604,800) from `date`, signing only `host`.
    ///
    /// - Throws: ``S3Error`` `.invalidArgument` when `expiresIn` is out of range.
    public func presignedURL(
        method: String, endpoint: URL, path: String, query: [(name: String, value: String)] = [], expiresIn: Int, date: Date
    )
        throws -> URL
    {
        guard (1...604_800).contains(expiresIn) else {
            throw S3Error(.invalidArgument, message: "a presigned URL expires in 1...604800 seconds, not \(expiresIn)")
        }
        let amzDate = SigV4.amzDate(date)
        let day = String(amzDate.prefix(8))
        let scope = SigV4.scope(date: day, region: region, service: service)
        var host = endpoint.host ?? "localhost"
        if let port = endpoint.port { host += ":\(port)" }
        var items = query
        items += [
            ("X-Amz-Algorithm", SigV4.algorithm), ("X-Amz-Credential", "\(credentials.accessKeyID)/\(scope)"), ("X-Amz-Date", amzDate),
            ("X-Amz-Expires", String(expiresIn)), ("X-Amz-SignedHeaders", "host"),
        ]
        let canonical = SigV4.canonicalRequest(
            method: method, path: path, query: items, headers: [("host", host)], signedHeaders: ["host"], payloadHash: SigV4.unsignedPayload)
        let key = SigV4.signingKey(secret: credentials.secretAccessKey, date: day, region: region, service: service)
        let signature = SigV4.hmacHex(SigV4.stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonical), key: key)
        let base = endpoint.absoluteString.hasSuffix("/") ? String(endpoint.absoluteString.dropLast()) : endpoint.absoluteString
        let text = base + SigV4.uriEncode(path, keepSlash: true) + "?" + SigV4.canonicalQuery(items) + "&X-Amz-Signature=" + signature
        guard let url = URL(string: text) else { throw S3Error(.invalidArgument, message: "cannot form a URL from \(text)") }
        return url
    }
}
