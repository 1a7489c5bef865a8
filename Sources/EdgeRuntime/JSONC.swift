import EdgeCore
import Foundation

/// JSON with comments (`//`, `/* */`) and trailing commas, as wrangler.jsonc allows.
enum JSONC {
    /// Removes comments and trailing commas, keeping strings intact and line numbers unchanged.
    static func strip(_ text: String) -> String {
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        var index = 0
        var inString = false
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                out.append(byte)
                if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                    out.append(bytes[index + 1])
                    index += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") { inString = false }
                index += 1
                continue
            }
            if byte == UInt8(ascii: "\"") {
                inString = true
                out.append(byte)
                index += 1
            } else if byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "/") {
                while index < bytes.count, bytes[index] != 10 { index += 1 }
            } else if byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "*") {
                index += 2
                while index + 1 < bytes.count, !(bytes[index] == UInt8(ascii: "*") && bytes[index + 1] == UInt8(ascii: "/")) {
                    if bytes[index] == 10 { out.append(10) }
                    index += 1
                }
                index += 2
            } else if byte == UInt8(ascii: ",") {
                // Drop a comma followed (after whitespace) by a closing bracket.
                var next = index + 1
                while next < bytes.count, [9, 10, 13, 32].contains(bytes[next]) { next += 1 }
                if next < bytes.count, bytes[next] == UInt8(ascii: "}") || bytes[next] == UInt8(ascii: "]") {
                    index += 1
                } else {
                    out.append(byte)
                    index += 1
                }
            } else {
                out.append(byte)
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func parse(_ text: String, file: String) throws -> JSONValue {
        let stripped = strip(text)
        do {
            // JSONSerialization keeps integers apart from doubles better than a Decodable walk of Any.
            return try JSONValue(parsing: Data(stripped.utf8))
        } catch {
            throw ConfigError(
                .syntax, file: file, key: "(file)", expected: "JSON with // or /* */ comments",
                message: "the file is not valid JSON: \(error)")
        }
    }
}
