import Crypto

/// The checksums S3 clients send (`x-amz-checksum-ALGORITHM`, base64 of the big-endian value):
/// CRC32, CRC32C, CRC64NVME, SHA-1 and SHA-256, computed incrementally over a streamed body.
public enum S3ChecksumAlgorithm: String, Sendable, CaseIterable {
    case crc32, crc32c, crc64nvme, sha1, sha256

    /// `x-amz-checksum-crc32`, …
    public var headerName: String { "x-amz-checksum-\(rawValue)" }

    /// The algorithm of a header name such as `x-amz-checksum-crc32c`; nil for others.
    public init?(headerName: String) {
        let name = headerName.lowercased()
        guard name.hasPrefix("x-amz-checksum-") else { return nil }
        self.init(rawValue: String(name.dropFirst("x-amz-checksum-".count)))
    }

    /// A fresh incremental checksum.
    public func start() -> S3Checksum { S3Checksum(self) }
}

/// One checksum being computed.
public struct S3Checksum: Sendable {
    public let algorithm: S3ChecksumAlgorithm
    private var crc32: UInt32 = 0xFFFF_FFFF
    private var crc64: UInt64 = 0xFFFF_FFFF_FFFF_FFFF
    private var sha1 = Insecure.SHA1()
    private var sha256 = SHA256()

    init(_ algorithm: S3ChecksumAlgorithm) { self.algorithm = algorithm }

    public mutating func update(_ bytes: some Collection<UInt8>) {
        switch algorithm {
        case .crc32: crc32 = CRCTableStore.crc32.update(crc32, bytes)
        case .crc32c: crc32 = CRCTableStore.crc32c.update(crc32, bytes)
        case .crc64nvme: crc64 = CRCTableStore.crc64nvme.update(crc64, bytes)
        case .sha1: sha1.update(data: Array(bytes))
        case .sha256: sha256.update(data: Array(bytes))
        }
    }

    /// The value, big-endian bytes.
    public func finish() -> [UInt8] {
        switch algorithm {
        case .crc32, .crc32c:
            let value = crc32 ^ 0xFFFF_FFFF
            return (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }
        case .crc64nvme:
            let value = crc64 ^ 0xFFFF_FFFF_FFFF_FFFF
            return (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
        case .sha1: return Array(sha1.finalize())
        case .sha256: return Array(sha256.finalize())
        }
    }

    /// The value as S3 writes it: base64.
    public func base64() -> String { base64Encode(finish()) }
}

package func base64Encode(_ bytes: [UInt8]) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var out = [UInt8]()
    var index = 0
    while index < bytes.count {
        let chunk = bytes[index..<min(index + 3, bytes.count)]
        let b0 = chunk[chunk.startIndex]
        let b1 = chunk.count > 1 ? chunk[chunk.startIndex + 1] : 0
        let b2 = chunk.count > 2 ? chunk[chunk.startIndex + 2] : 0
        out.append(alphabet[Int(b0 >> 2)])
        out.append(alphabet[Int((b0 & 3) << 4 | b1 >> 4)])
        out.append(chunk.count > 1 ? alphabet[Int((b1 & 15) << 2 | b2 >> 6)] : UInt8(ascii: "="))
        out.append(chunk.count > 2 ? alphabet[Int(b2 & 63)] : UInt8(ascii: "="))
        index += 3
    }
    return String(decoding: out, as: UTF8.self)
}

/// Slicing-by-8 tables of the reflected CRCs.
struct CRCTables<Value: FixedWidthInteger & UnsignedInteger & Sendable>: Sendable {
    let tables: [[Value]]

    init(reflectedPolynomial: Value) {
        var first = [Value](repeating: 0, count: 256)
        for byte in 0..<256 {
            var crc = Value(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ reflectedPolynomial : crc >> 1 }
            first[byte] = crc
        }
        var tables = [first]
        for slice in 1..<8 {
            tables.append(
                (0..<256).map { byte in
                    let previous = tables[slice - 1][byte]
                    return (previous >> 8) ^ first[Int(truncatingIfNeeded: previous & 0xFF)]
                })
        }
        self.tables = tables
    }

    func update(_ start: Value, _ bytes: some Collection<UInt8>) -> Value {
        var crc = start
        let done = bytes.withContiguousStorageIfAvailable { buffer -> Value in
            var crc = start
            var index = 0
            let count = buffer.count
            tables.withUnsafeBufferPointer { t in
                let (t0, t1, t2, t3, t4, t5, t6, t7) = (t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7])
                while count - index >= 8 {
                    var word: UInt64 = 0
                    for k in 0..<8 { word |= UInt64(buffer[index + k]) << (8 * k) }
                    // The CRC (32 or 64 bits) folds into the word's low bytes; each byte then
                    // advances through the table of its distance from the end.
                    let mixed = UInt64(truncatingIfNeeded: crc) ^ word
                    crc =
                        t7[Int(mixed & 0xFF)] ^ t6[Int((mixed >> 8) & 0xFF)] ^ t5[Int((mixed >> 16) & 0xFF)] ^ t4[Int((mixed >> 24) & 0xFF)]
                        ^ t3[Int((mixed >> 32) & 0xFF)] ^ t2[Int((mixed >> 40) & 0xFF)] ^ t1[Int((mixed >> 48) & 0xFF)] ^ t0[Int(mixed >> 56)]
                    index += 8
                }
                while index < count {
                    crc = (crc >> 8) ^ t0[Int(truncatingIfNeeded: (crc ^ Value(buffer[index])) & 0xFF)]
                    index += 1
                }
            }
            return crc
        }
        if let done { return done }
        for byte in bytes { crc = (crc >> 8) ^ tables[0][Int(truncatingIfNeeded: (crc ^ Value(byte)) & 0xFF)] }
        return crc
    }
}

enum CRCTableStore {
    static let crc32 = CRCTables<UInt32>(reflectedPolynomial: 0xEDB8_8320)
    static let crc32c = CRCTables<UInt32>(reflectedPolynomial: 0x82F6_3B78)
    static let crc64nvme = CRCTables<UInt64>(reflectedPolynomial: 0x9A6C_9329_AC4B_C9B5)
}
