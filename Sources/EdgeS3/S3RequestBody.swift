import Crypto
import EdgeCore
import Foundation
import Synchronization

/// How a request's body is framed and what it must hash to.
struct BodyExpectations: Sendable {
    enum Framing: Sendable {
        /// The bytes as sent.
        case plain
        /// `Content-Encoding: aws-chunked`: `HEX[;chunk-signature=SIG]\r\nDATA\r\n` … `0…\r\n`,
        /// then trailer fields when `trailer`, then `\r\n`.
        case chunked(signing: ChunkSigning?, trailer: Bool)
    }

    /// What verifies each chunk's signature: the seed is the request's signature.
    struct ChunkSigning: Sendable {
        var key: SymmetricKeyBox
        var amzDate: String
        var scope: String
        var seedSignature: String
    }

    var framing: Framing = .plain
    /// `x-amz-content-sha256` as a hex digest of the (decoded) body.
    var sha256Hex: String?
    /// `x-amz-decoded-content-length`.
    var decodedLength: Int?
    /// A checksum given as a header (`x-amz-checksum-*`), base64.
    var checksum: (S3ChecksumAlgorithm, String)?
    /// The algorithm announced for the trailer (`x-amz-trailer`).
    var trailerChecksum: S3ChecksumAlgorithm?
    /// `Content-MD5`, base64.
    var contentMD5: String?

    var needsWrapping: Bool {
        if case .chunked = framing { return true }
        return sha256Hex != nil || checksum != nil || contentMD5 != nil
    }
}

/// `SymmetricKey` is not `Sendable`; its bytes are.
struct SymmetricKeyBox: Sendable {
    let bytes: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: bytes) }
}

/// The first failure of a body, kept for the API to answer with (the bucket wraps body errors).
final class BodyFailure: Sendable {
    private let stored = Mutex<S3Error?>(nil)
    var error: S3Error? { stored.withLock { $0 } }

    func record(_ error: S3Error) -> S3Error {
        stored.withLock { if $0 == nil { $0 = error } }
        return error
    }
}

/// A request body decoded (aws-chunked) and verified (chunk signatures, `x-amz-content-sha256`,
/// `x-amz-checksum-*` in a header or the trailer, `Content-MD5`) as it streams. A mismatch
/// throws on the last read, so a put fed from it stores nothing.
struct S3RequestBody: AsyncSequence, Sendable {
    typealias Element = [UInt8]
    typealias Failure = any Error

    let source: EdgeBody
    let expectations: BodyExpectations
    let failure: BodyFailure

    func makeAsyncIterator() -> Iterator {
        Iterator(source: source.makeAsyncIterator(), expectations: expectations, failure: failure)
    }

    struct Iterator: AsyncIteratorProtocol {
        var source: EdgeBody.AsyncIterator
        let expectations: BodyExpectations
        let failure: BodyFailure
        var buffer: [UInt8] = []
        var position = 0
        var sourceDone = false
        var finished = false
        var delivered = 0
        var sha256: SHA256?
        var md5: Insecure.MD5?
        var checksum: S3Checksum?
        // aws-chunked state
        var remainingInChunk = 0
        var expectingChunkEnd = false
        var chunkHash = SHA256()
        var chunkSignature: String?
        var previousSignature: String

        init(source: EdgeBody.AsyncIterator, expectations: BodyExpectations, failure: BodyFailure) {
            self.source = source
            self.expectations = expectations
            self.failure = failure
            if expectations.sha256Hex != nil { sha256 = SHA256() }
            if expectations.contentMD5 != nil { md5 = Insecure.MD5() }
            if let algorithm = expectations.checksum?.0 ?? expectations.trailerChecksum { checksum = algorithm.start() }
            if case .chunked(let signing, _) = expectations.framing { previousSignature = signing?.seedSignature ?? "" } else { previousSignature = "" }
        }

        func fail(_ code: S3Error.Code, _ message: String) -> S3Error { failure.record(S3Error(code, message: message)) }

        mutating func next() async throws -> [UInt8]? {
            if finished { return nil }
            let chunk: [UInt8]?
            switch expectations.framing {
            case .plain:
                chunk = try await source.next()
            case .chunked(let signing, let trailer):
                chunk = try await nextDecoded(signing: signing, trailer: trailer)
            }
            guard let chunk else {
                finished = true
                try verifyEnd()
                return nil
            }
            delivered += chunk.count
            sha256?.update(data: chunk)
            md5?.update(data: chunk)
            checksum?.update(chunk)
            return chunk
        }

        mutating func verifyEnd() throws {
            if let expected = expectations.decodedLength, expected != delivered {
                throw fail(.incompleteBody, "the body decoded to \(delivered) bytes; x-amz-decoded-content-length says \(expected)")
            }
            if let expected = expectations.sha256Hex, let sha256 {
                let actual = SigV4.hex(Array(sha256.finalize()))
                guard constantTimeEqual(Array(actual.utf8), Array(expected.lowercased().utf8)) else {
                    throw fail(.contentSHA256Mismatch, "the body's SHA-256 is \(actual); x-amz-content-sha256 says \(expected)")
                }
            }
            if let expected = expectations.contentMD5, let md5 {
                let actual = base64Encode(Array(md5.finalize()))
                guard constantTimeEqual(Array(actual.utf8), Array(expected.utf8)) else {
                    throw fail(.badDigest, "the Content-MD5 you specified (\(expected)) did not match what we received (\(actual))")
                }
            }
            if let (algorithm, expected) = expectations.checksum, let checksum {
                try verify(checksum, algorithm: algorithm, expected: expected)
            }
        }

        func verify(_ checksum: S3Checksum, algorithm: S3ChecksumAlgorithm, expected: String) throws {
            let actual = checksum.base64()
            guard constantTimeEqual(Array(actual.utf8), Array(expected.utf8)) else {
                throw fail(.badDigest, "the \(algorithm.rawValue.uppercased()) you specified (\(expected)) did not match the body's (\(actual))")
            }
        }

        // MARK: aws-chunked

        /// Makes at least one unread byte available; false at the end of the source.
        mutating func fill() async throws -> Bool {
            if position < buffer.count { return true }
            guard !sourceDone, let more = try await source.next() else {
                sourceDone = true
                return false
            }
            buffer = more
            position = 0
            if !buffer.isEmpty { return true }
            return try await fill()
        }

        /// A line ending in CRLF, without it (at most 4 KiB).
        mutating func line() async throws -> String {
            var bytes: [UInt8] = []
            while true {
                guard try await fill() else { throw fail(.incompleteBody, "the aws-chunked body ended inside a chunk header or trailer") }
                let byte = buffer[position]
                position += 1
                if byte == 10 {
                    guard bytes.last == 13 else { throw fail(.invalidRequest, "a chunk header or trailer line ends without CR LF") }
                    bytes.removeLast()
                    return String(decoding: bytes, as: UTF8.self)
                }
                bytes.append(byte)
                if bytes.count > 4096 { throw fail(.invalidRequest, "a chunk header or trailer line is longer than 4096 bytes") }
            }
        }

        mutating func nextDecoded(signing: BodyExpectations.ChunkSigning?, trailer: Bool) async throws -> [UInt8]? {
            while true {
                if remainingInChunk > 0 {
                    guard try await fill() else { throw fail(.incompleteBody, "the aws-chunked body ended inside a chunk") }
                    let take = Swift.min(remainingInChunk, buffer.count - position)
                    // A whole buffer of data (the usual case for large chunks) passes without a copy.
                    let bytes = position == 0 && take == buffer.count ? buffer : Array(buffer[position..<position + take])
                    position += take
                    remainingInChunk -= take
                    if signing != nil { chunkHash.update(data: bytes) }
                    if remainingInChunk == 0 { expectingChunkEnd = true }
                    return bytes
                }
                if expectingChunkEnd {
                    guard try await line() == "" else { throw fail(.invalidRequest, "a chunk's data is longer than its header says") }
                    expectingChunkEnd = false
                    try verifyChunkSignature(signing)
                }
                let header = try await line()
                let parts = header.split(separator: ";", maxSplits: 1)
                guard let sizeText = parts.first, let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size >= 0 else {
                    throw fail(.invalidRequest, "not an aws-chunked chunk header: \(header.prefix(80))")
                }
                chunkSignature = nil
                if parts.count == 2 {
                    let extensionText = parts[1].trimmingCharacters(in: .whitespaces)
                    if extensionText.hasPrefix("chunk-signature=") { chunkSignature = String(extensionText.dropFirst("chunk-signature=".count)) }
                }
                if signing != nil, chunkSignature == nil { throw fail(.signatureDoesNotMatch, "a chunk of a signed aws-chunked body has no chunk-signature") }
                chunkHash = SHA256()
                if size > 0 {
                    remainingInChunk = size
                    continue
                }
                // The final, empty chunk.
                try verifyChunkSignature(signing)
                if trailer {
                    try await readTrailer(signing: signing)
                } else {
                    guard try await line() == "" else { throw fail(.invalidRequest, "content after the final aws-chunked chunk") }
                }
                return nil
            }
        }

        mutating func verifyChunkSignature(_ signing: BodyExpectations.ChunkSigning?) throws {
            guard let signing else { return }
            let digest = SigV4.hex(Array(chunkHash.finalize()))
            let toSign = ["AWS4-HMAC-SHA256-PAYLOAD", signing.amzDate, signing.scope, previousSignature, SigV4.emptySHA256, digest].joined(separator: "\n")
            let expected = SigV4.hmacHex(toSign, key: signing.key.key)
            guard let given = chunkSignature, constantTimeEqual(Array(expected.utf8), Array(given.lowercased().utf8)) else {
                throw fail(.signatureDoesNotMatch, "a chunk signature of the aws-chunked body does not match")
            }
            previousSignature = expected
            chunkHash = SHA256()
        }

        mutating func readTrailer(signing: BodyExpectations.ChunkSigning?) async throws {
            var fields: [(String, String)] = []
            var trailerSignature: String?
            var total = 0
            while true {
                let text = try await line()
                if text.isEmpty { break }
                total += text.utf8.count
                if total > 16_384 { throw fail(.invalidRequest, "the aws-chunked trailer is longer than 16384 bytes") }
                guard let colon = text.firstIndex(of: ":") else { throw fail(.invalidRequest, "not a trailer field: \(text.prefix(80))") }
                let name = text[..<colon].lowercased().trimmingCharacters(in: .whitespaces)
                let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if name == "x-amz-trailer-signature" { trailerSignature = value } else { fields.append((name, value)) }
            }
            if let signing {
                let canonical = fields.map { "\($0.0):\($0.1)\n" }.joined()
                let toSign = SigV4.trailerStringToSign(amzDate: signing.amzDate, scope: signing.scope, previousSignature: previousSignature, trailer: canonical)
                let expected = SigV4.hmacHex(toSign, key: signing.key.key)
                guard let given = trailerSignature, constantTimeEqual(Array(expected.utf8), Array(given.lowercased().utf8)) else {
                    throw fail(.signatureDoesNotMatch, "the trailer signature of the aws-chunked body does not match")
                }
            }
            if let algorithm = expectations.trailerChecksum {
                guard let value = fields.first(where: { $0.0 == algorithm.headerName })?.1 else {
                    throw fail(.invalidRequest, "x-amz-trailer announced \(algorithm.headerName) but the trailer does not carry it")
                }
                if let checksum { try verify(checksum, algorithm: algorithm, expected: value) }
            }
        }
    }
}
