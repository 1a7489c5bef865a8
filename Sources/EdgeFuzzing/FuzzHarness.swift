import CodeSearch
import EdgeBlob
import EdgeCore
import EdgeQueue
import EdgeRuntime
import EdgeS3
import Embeddings
import Foundation
import HTTPTypes
import Recordings
public import VectorSearch

/// The fuzz harnesses: one per parser that takes outside input. Each feeds its bytes to the real
/// parser and checks what the parser promises: no crash, only its documented error type, and
/// results that hold together (a range inside its object, a schedule that matches the time it
/// names, a request signed by nobody never served). A broken promise stops the process with
/// `preconditionFailure`, which libFuzzer reports as a crash and `swift test` as a dead runner.
///
/// `Fuzz/run` drives them with libFuzzer; `FuzzReplayTests` replays every seed and every input
/// that ever crashed (`Fuzz/corpus/NAME`, `Fuzz/crashers/NAME`).
public enum FuzzHarness: String, CaseIterable, Sendable {
    /// `edge.jsonc`: JSONC syntax and the whole config schema (`EdgeConfig.parse`).
    case config
    /// A GitHub delivery: line 1 the event name, line 2 the `X-Hub-Signature-256` header (`sign`
    /// for a correct one), the rest the body (`GitHubWebhook.event`).
    case webhook
    /// HTTP header values: `Range` (S3 API, the recordings worker), `If-Match`-style entity tags,
    /// HTTP dates, request targets and queries.
    case httpHeaders = "http-headers"
    /// A queue message body: byte 1 the content type, the rest the body, decoded as the consumer
    /// would (`QueueCoding.decode`).
    case queueMessage = "queue-message"
    /// A cron expression, and its next fire time (`CronSchedule`).
    case cron
    /// Text through the WordPiece tokenizer (normalisation, added tokens, WordPiece).
    case wordpiece
    /// A safetensors file: header and tensor reads (`SafeTensors`).
    case safetensors
    /// A vector index snapshot after its fixed header: vectors and HNSW graph, then a search.
    case vectorSnapshot = "vector-snapshot"
    /// An S3 XML body (`XMLNode.parse`): DeleteObjects, CompleteMultipartUpload.
    case s3XML = "s3-xml"
    /// A whole S3 API request (`METHOD TARGET`, header lines, a blank line, the body), signed with
    /// the harness's key so it reaches every operation: XML bodies, ranges, conditions, copies,
    /// multipart, aws-chunked bodies.
    case s3Request = "s3-request"
    /// An S3 request authenticated only by what the input says (Authorization header, presigned
    /// query, `x-amz-date`): SigV4 parsing. Never served, since no input knows the key.
    case sigv4
    /// An aws-chunked body (`STREAMING-UNSIGNED-PAYLOAD-TRAILER` framing, trailer checksums) in
    /// a signed PutObject.
    case awsChunked = "aws-chunked"

    /// Runs one input.
    public func run(_ data: [UInt8]) async {
        switch self {
        case .config: Self.config(data)
        case .webhook: Self.webhook(data)
        case .httpHeaders: Self.httpHeaders(data)
        case .queueMessage: Self.queueMessage(data)
        case .cron: Self.cron(data)
        case .wordpiece: Self.wordpiece(data)
        case .safetensors: Self.safetensors(data)
        case .vectorSnapshot: Self.vectorSnapshot(data)
        case .s3XML: Self.s3XML(data)
        case .s3Request: await S3Fuzzing.request(data, sign: true)
        case .sigv4: await S3Fuzzing.request(data, sign: false)
        case .awsChunked: await S3Fuzzing.awsChunked(data)
        }
    }

    static func text(_ data: [UInt8]) -> String { String(decoding: data, as: UTF8.self) }

    static func fail(_ message: String) -> Never { preconditionFailure("fuzz invariant broken: \(message)") }

    // MARK: Parsers

    static func config(_ data: [UInt8]) {
        do {
            _ = try EdgeConfig.parse(text(data), file: "/fuzz/edge.jsonc")
        } catch is ConfigError {
        } catch {
            fail("EdgeConfig.parse threw \(type(of: error)), not ConfigError: \(error)")
        }
    }

    static let webhookSecret = GitHubWebhook(secret: "fuzz-secret", maxBodyBytes: 1 << 20)

    static func webhook(_ data: [UInt8]) {
        let lines = data.split(separator: UInt8(ascii: "\n"), maxSplits: 2, omittingEmptySubsequences: false)
        let name = lines.count > 0 ? text(Array(lines[0])) : nil
        var signature = lines.count > 1 ? text(Array(lines[1])) : nil
        let body = lines.count > 2 ? Array(lines[2]) : []
        if signature == "sign" { signature = webhookSecret.signature(of: body) }
        do {
            let event = try webhookSecret.event(name: name, body: body, signatureHeader: signature)
            if event != nil, signature != webhookSecret.signature(of: body) {
                fail("a delivery with a wrong signature was accepted")
            }
        } catch is WebhookError {
        } catch {
            fail("GitHubWebhook threw \(type(of: error)), not WebhookError")
        }
    }

    static func httpHeaders(_ data: [UInt8]) {
        let value = text(data)
        if let range = S3API.parseRange(value) {
            switch range {
            case .offset(let offset, let length): if offset < 0 || (length ?? 0) < 0 { fail("negative range \(range) from \(value)") }
            case .length(let length), .suffix(let length): if length < 0 { fail("negative range \(range) from \(value)") }
            }
        }
        for size in [0, 1, 100, 1 << 40] {
            if case .range(let offset, let length) = RecordingsWorker.parseRange(value, size: size) {
                if offset < 0 || length <= 0 || offset + length > size { fail("range \(offset)+\(length) outside \(size) bytes from \(value)") }
            }
        }
        _ = S3API.etags(value)
        if let date = S3API.parseHTTPDate(value), !date.timeIntervalSince1970.isFinite { fail("non-finite date from \(value)") }
        let url = EdgeURL(target: value)
        if url.path.isEmpty { fail("empty path from \(value)") }
        _ = url.pathSegments
        _ = QueryParameters(parsing: Substring(value), plusIsSpace: true)
    }

    static func queueMessage(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let types: [QueueContentType] = [.json, .text, .bytes]
        let contentType = types[Int(first) % types.count]
        let body = Array(data.dropFirst())
        for decode in [
            { _ = try QueueCoding.decode(body, as: contentType, to: JSONValue.self) },
            { _ = try QueueCoding.decode(body, as: contentType, to: [String: Int].self) },
            { _ = try QueueCoding.decode(body, as: contentType, to: String.self) },
            { _ = try QueueCoding.decode(body, as: contentType, to: [UInt8].self) },
        ] as [() throws -> Void] {
            do {
                try decode()
            } catch is QueueError, is DecodingError {
            } catch {
                fail("queue decoding threw \(type(of: error))")
            }
        }
    }

    static func cron(_ data: [UInt8]) {
        let expression = text(data)
        let schedule: CronSchedule
        do {
            schedule = try CronSchedule(expression)
        } catch is CronSchedule.ParseError {
            return
        } catch {
            fail("CronSchedule threw \(type(of: error))")
        }
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        if let next = schedule.nextFire(after: start) {
            if next <= start { fail("\(expression) fires at \(next), not after \(start)") }
            if !schedule.matches(next) { fail("\(expression) names \(next) but does not match it") }
        }
    }

    static let tokenizer: WordPieceTokenizer = {
        let pieces = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "queue", "##s", "##ing", "swift", "edge", "a", "b", "##a", "##b", "中", ".", ",",
            "(", ")", "{", "}", "_", "##_", "un", "##aff", "##able", "é", "e", "1", "##1",
        ]
        let vocabulary = Dictionary(uniqueKeysWithValues: pieces.enumerated().map { ($1, Int32($0)) })
        return try! WordPieceTokenizer(
            vocabulary: vocabulary, maxCharactersPerWord: 40,
            addedTokens: WordPieceTokenizer.defaultAddedTokens(vocabulary) + [
                .init(content: "<fn>", id: 100, singleWord: true, leftStrip: true, rightStrip: true),
                .init(content: "<Cls>", id: 101, normalized: true),
            ])
    }()

    static func wordpiece(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let text = text(Array(data.dropFirst()))
        let limit = Int(first) + 2
        let ids = tokenizer.encode(text, maxTokens: limit)
        if ids.first != tokenizer.classifierID || ids.last != tokenizer.separatorID { fail("\(ids) lacks [CLS] ... [SEP]") }
        if ids.count > limit { fail("\(ids.count) tokens past the limit \(limit)") }
        let full = tokenizer.tokenCount(text)
        if ids.count < limit, ids.count != full { fail("untruncated \(ids.count) tokens but tokenCount \(full)") }
    }

    static func safetensors(_ data: [UInt8]) {
        let file: SafeTensors
        do {
            file = try SafeTensors(data: Data(data))
        } catch is EmbeddingError {
            return
        } catch {
            fail("SafeTensors threw \(type(of: error))")
        }
        for (name, info) in file.tensors {
            if info.shape.contains(where: { $0 < 0 }) { fail("tensor \(name) accepted with the shape \(info.shape)") }
            do {
                let values = try file.floats(name, shape: info.shape)
                if values.count != info.shape.reduce(1, *) { fail("tensor \(name): \(values.count) values for shape \(info.shape)") }
            } catch is EmbeddingError {
            } catch {
                fail("SafeTensors.floats threw \(type(of: error))")
            }
        }
    }

    /// The HNSW parameters of the snapshots the harness reads (those of the seeds).
    public static let snapshotParameters = HNSWParameters(m: 4, efConstruction: 16, efSearch: 8)

    /// A harness input from a real snapshot file of a 4-dimension index: its header (magic,
    /// database id, generation, dimensions) replaced by a flag byte (1: it has a graph).
    public static func vectorSnapshotInput(fromFile bytes: [UInt8], hasGraph: Bool) -> [UInt8]? {
        guard bytes.count > 16, Array(bytes.prefix(8)) == Array("EDGEVEC2".utf8) else { return nil }
        let idLength = bytes[8..<16].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let headerLength = 16 + idLength + 16
        guard idLength >= 0, headerLength <= bytes.count else { return nil }
        return [hasGraph ? 1 : 0] + bytes[headerLength...]
    }

    /// Whether `input` decodes to a snapshot (rather than being refused at its header): seeds must.
    public static func vectorSnapshotDecodes(_ input: [UInt8]) -> Bool {
        guard let first = input.first else { return false }
        let hnsw = first & 1 == 1 ? snapshotParameters : nil
        return ((try? VectorPersistence.decodeSnapshot(snapshotBytes(input), databaseID: "fuzz", generation: 7, dimensions: 4, hnsw: hnsw)) ?? nil) != nil
    }

    static func snapshotBytes(_ input: [UInt8]) -> [UInt8] {
        // The fixed header a real snapshot of a 4-dimension index starts with; the input is the rest.
        var bytes = Array("EDGEVEC2".utf8)
        func int64(_ value: Int64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        int64(4)
        bytes += Array("fuzz".utf8)
        int64(7)
        int64(4)
        return bytes + input.dropFirst()
    }

    static func vectorSnapshot(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let hnsw = first & 1 == 1 ? snapshotParameters : nil
        do {
            guard let snapshot = try VectorPersistence.decodeSnapshot(snapshotBytes(data), databaseID: "fuzz", generation: 7, dimensions: 4, hnsw: hnsw)
            else { return }
            let found = snapshot.nearest([0.5, -0.5, 0.5, -0.5], metric: first & 2 == 2 ? .euclidean : .cosine, ef: 8)
            if found.contains(where: { $0 < 0 || $0 >= snapshot.count }) { fail("search returned a slot outside \(snapshot.count)") }
        } catch is VectorError {
        } catch {
            fail("decodeSnapshot threw \(type(of: error))")
        }
    }

    static func s3XML(_ data: [UInt8]) {
        do {
            let node = try XMLNode.parse(data)
            _ = node.children
        } catch is S3Error {
        } catch {
            fail("XMLNode.parse threw \(type(of: error))")
        }
    }
}
