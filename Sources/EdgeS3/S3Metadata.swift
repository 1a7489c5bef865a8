package import EdgeBlob
import EdgeCore
import Foundation

/// How R2's metadata travels in S3's headers, both ways: the S3 API (server) and S3Blob
/// (client) use the same coding, so what one writes the other reads back unchanged.
///
/// - `customMetadata` goes in `x-amz-meta-*` headers. Header names are case-insensitive ASCII
///   tokens, so a key made of anything but lower-case letters, digits and `-_.!#$&'*+^`|~`
///   travels as `edge-hex-` and the hex of its UTF-8 (`Author` → `x-amz-meta-edge-hex-417574686f72`),
///   keeping its case and its non-ASCII characters; keys written by other S3 clients read back as
///   they are.
/// - Values that are not plain printable ASCII (or that would be mistaken for an encoded word)
///   are sent as RFC 2047 encoded words (`=?UTF-8?B?…?=`), as AWS S3 does itself, and decoded
///   on the way back.
/// - `httpMetadata` maps to the standard headers: `Content-Type`, `Content-Language`,
///   `Content-Disposition`, `Content-Encoding`, `Cache-Control` and `Expires`.
package enum S3Metadata {
    package static let prefix = "x-amz-meta-"

    package static func headers(http: BlobHTTPMetadata, custom: [String: String]) -> [(name: String, value: String)] {
        var headers: [(String, String)] = []
        if let value = http.contentType { headers.append(("content-type", value)) }
        if let value = http.contentLanguage { headers.append(("content-language", value)) }
        if let value = http.contentDisposition { headers.append(("content-disposition", value)) }
        if let value = http.contentEncoding { headers.append(("content-encoding", value)) }
        if let value = http.cacheControl { headers.append(("cache-control", value)) }
        if let value = http.cacheExpiry { headers.append(("expires", S3API.httpDate(value))) }
        for (key, value) in custom.sorted(by: { $0.key < $1.key }) { headers.append((prefix + encodeKey(key), encodeValue(value))) }
        return headers
    }

    package static func http(from headers: [String: String]) -> BlobHTTPMetadata {
        BlobHTTPMetadata(
            contentType: headers["content-type"], contentLanguage: headers["content-language"], contentDisposition: headers["content-disposition"],
            contentEncoding: headers["content-encoding"], cacheControl: headers["cache-control"],
            cacheExpiry: headers["expires"].flatMap(S3API.parseHTTPDate))
    }

    package static func custom(from headers: [String: String]) -> [String: String] {
        var custom: [String: String] = [:]
        for (name, value) in headers where name.hasPrefix(prefix) {
            custom[decodeKey(String(name.dropFirst(prefix.count)))] = decodeValue(value)
        }
        return custom
    }

    // MARK: Keys

    package static func isKept(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "^"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default: false
        }
    }

    /// Keys that are not plain header-name characters travel hex-encoded behind this marker.
    package static let hexMarker = "edge-hex-"

    package static func encodeKey(_ key: String) -> String {
        if !key.isEmpty, key.utf8.allSatisfy(isKept), !key.hasPrefix(hexMarker) { return key }
        return hexMarker + Hex.encode(Array(key.utf8))
    }

    package static func decodeKey(_ name: String) -> String {
        guard name.hasPrefix(hexMarker), let bytes = Hex.decode(String(name.dropFirst(hexMarker.count))) else { return name }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Values

    package static func encodeValue(_ value: String) -> String {
        let plain =
            value.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F } && !value.hasPrefix("=?") && value.first != " " && value.last != " "
        if plain { return value }
        return "=?UTF-8?B?" + Data(value.utf8).base64EncodedString() + "?="
    }

    /// Decodes RFC 2047 encoded words (`B` and `Q`, UTF-8 or ASCII); anything else is returned
    /// unchanged.
    package static func decodeValue(_ value: String) -> String {
        guard value.hasPrefix("=?"), value.hasSuffix("?=") else { return value }
        var words: [String] = []
        for word in value.split(separator: " ") {
            let parts = word.split(separator: "?", omittingEmptySubsequences: false)
            guard parts.count == 5, parts[0] == "=", parts[4] == "=" else { return value }
            let charset = parts[1].lowercased()
            guard charset == "utf-8" || charset == "us-ascii" else { return value }
            switch parts[2].uppercased() {
            case "B":
                guard let data = Data(base64Encoded: String(parts[3])) else { return value }
                words.append(String(decoding: data, as: UTF8.self))
            case "Q":
                var bytes: [UInt8] = []
                var text = Array(parts[3].utf8)[...]
                while let byte = text.popFirst() {
                    if byte == UInt8(ascii: "_") {
                        bytes.append(0x20)
                    } else if byte == UInt8(ascii: "="), text.count >= 2, let decoded = UInt8(String(decoding: text.prefix(2), as: UTF8.self), radix: 16) {
                        bytes.append(decoded)
                        text = text.dropFirst(2)
                    } else {
                        bytes.append(byte)
                    }
                }
                words.append(String(decoding: bytes, as: UTF8.self))
            default: return value
            }
        }
        return words.joined()
    }
}
