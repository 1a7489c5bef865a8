import Foundation

/// Keys as the bindings order them: UTF-8 byte strings, compared bytewise (never as Swift
/// `String`s, which compare by canonical equivalence).
package enum ByteKeys {
    /// The smallest byte string greater than every string that starts with `prefix`, or `nil` when
    /// there is none (the prefix is empty or all 0xFF bytes).
    package static func successor(ofPrefix prefix: [UInt8]) -> [UInt8]? {
        var bytes = prefix
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return nil
    }

    /// An opaque list cursor: `tag` + "." + the bytes in unpadded base64url.
    package static func encodeCursor(_ bytes: [UInt8], tag: String) -> String {
        tag + "."
            + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The bytes of a cursor made by ``encodeCursor(_:tag:)`` with the same tag, or `nil`.
    package static func decodeCursor(_ cursor: String, tag: String) -> [UInt8]? {
        guard cursor.hasPrefix(tag + ".") else { return nil }
        var base64 = String(cursor.dropFirst(tag.count + 1))
            .replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), !data.isEmpty else { return nil }
        return Array(data)
    }

    /// A key as it appears in error messages: quoted, and cut short (with its size) when long.
    package static func describe(_ key: String) -> String {
        let utf8 = key.utf8
        if utf8.count <= 64 { return "\"\(key)\"" }
        return "\"\(String(decoding: utf8.prefix(48), as: UTF8.self))…\" (\(utf8.count) bytes)"
    }

    /// Whether `name` can name a file or directory of a binding: 1...`maxLength` ASCII letters,
    /// digits, `_`, `-` and `.`, not starting with `.`.
    package static func isSafeResourceName(_ name: String, maxLength: Int) -> Bool {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
        return allowed && (1...maxLength).contains(name.utf8.count) && !name.hasPrefix(".")
    }
}

/// A sorted set of byte-string keys with binary search, for the in-memory backends.
package struct SortedByteKeys: Sendable {
    package private(set) var keys: [[UInt8]] = []

    package init() {}

    /// Index of the first key not below `bound`.
    package func lowerBound(_ bound: [UInt8]) -> Int {
        var low = 0
        var high = keys.count
        while low < high {
            let mid = (low + high) / 2
            if keys[mid].lexicographicallyPrecedes(bound) { low = mid + 1 } else { high = mid }
        }
        return low
    }

    package mutating func insert(_ key: [UInt8]) {
        let index = lowerBound(key)
        if index == keys.count || keys[index] != key { keys.insert(key, at: index) }
    }

    package mutating func remove(_ key: [UInt8]) {
        let index = lowerBound(key)
        if index < keys.count, keys[index] == key { keys.remove(at: index) }
    }

    package mutating func removeAll(where shouldRemove: ([UInt8]) -> Bool) {
        keys.removeAll(where: shouldRemove)
    }

    /// Keys `k` with `lower <= k < upper` (no upper bound when `nil`), in order.
    package func range(from lower: [UInt8], below upper: [UInt8]?) -> some Sequence<[UInt8]> {
        keys[lowerBound(lower)...].lazy.prefix { key in upper.map { key.lexicographicallyPrecedes($0) } ?? true }
    }
}
