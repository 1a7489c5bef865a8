import Crypto
import EdgeCore
import Foundation

/// Digests of a body computed while it streams past: always MD5 (the etag), SHA-256 when a put asks
/// to verify one.
struct BodyDigests {
    private var md5 = Insecure.MD5()
    private var sha256: SHA256?
    private(set) var size = 0

    init(sha256: Bool) {
        self.sha256 = sha256 ? SHA256() : nil
    }

    mutating func update(_ chunk: [UInt8]) {
        md5.update(data: chunk)
        sha256?.update(data: chunk)
        size += chunk.count
    }

    func finish() -> BlobChecksums {
        BlobChecksums(md5: Array(md5.finalize()), sha256: sha256.map { Array($0.finalize()) })
    }
}

extension BlobChecksum {
    var wantsSHA256: Bool {
        if case .sha256 = self { return true }
        return false
    }

    /// - Throws: ``BlobError`` `.checksumMismatch` when `digests` differ from this checksum.
    func verify(_ digests: BlobChecksums, key: String) throws {
        let (name, expected, actual): (String, [UInt8], [UInt8]?) =
            switch self {
            case .md5(let value): ("MD5", value, digests.md5)
            case .sha256(let value): ("SHA-256", value, digests.sha256)
            }
        if actual != expected {
            throw BlobError(
                .checksumMismatch, key: key,
                message:
                    "the \(name) of the body of key \(ByteKeys.describe(key)) is \(hex(actual ?? [])), not the \(hex(expected)) the put asked to verify; nothing was stored"
            )
        }
    }
}

/// The etag of a multipart object: MD5 of the concatenated binary part MD5s, then `-N`.
func multipartETag(partMD5s: [[UInt8]]) -> String {
    var md5 = Insecure.MD5()
    for digest in partMD5s { md5.update(data: digest) }
    return hex(md5.finalize()) + "-\(partMD5s.count)"
}

/// A new version or upload id: 32 random hex digits.
func newIdentifier() -> String {
    hex(withUnsafeBytes(of: UUID().uuid) { Array($0) })
}

extension Date {
    /// This date truncated to whole milliseconds (the precision objects record `uploaded` with).
    var wholeMilliseconds: Date {
        Date(timeIntervalSince1970: (timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }

    var millisecondsSince1970: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.down)) }
}
