public import AsyncHTTPClient
import Crypto
public import EdgeBlob
public import EdgeCore
public import EdgeS3
public import Foundation
public import Logging
public import NIOCore
import NIOHTTP1
import Synchronization

/// A `BlobBucket` over any S3-compatible endpoint (AWS S3, Cloudflare R2, MinIO, Ceph, moto,
/// swift-edge's own S3 API): the backend that lets several processes on several machines share
/// buckets, as `"backend": "s3"` in the config.
///
/// ```swift
/// let bucket = try S3Blob(configuration: .init(
///     endpoint: URL(string: "http://127.0.0.1:9000")!, bucket: "recordings",
///     credentials: S3Credentials(accessKeyID: "AKID", secretAccessKey: secret)))
/// try await bucket.put("hello.txt", text: "hello")
/// ```
///
/// Requests are signed with AWS Signature Version 4 and sent with AsyncHTTPClient. Bodies stream
/// both ways: a put held in memory up to ``Configuration/partSize`` is one `PutObject`; a larger
/// or streamed body becomes a multipart upload whose parts (``Configuration/partSize`` each, at
/// most ``Configuration/maxConcurrentParts`` in flight) are uploaded in parallel, so memory stays
/// at `partSize × (maxConcurrentParts + 1)` whatever the object's size. A get streams the
/// response as it is read. Connection errors, 5xx answers and throttling (`SlowDown`, 429) are
/// retried with exponential backoff and jitter, up to ``Configuration/maxAttempts`` attempts.
///
/// How R2's semantics map onto S3's:
/// - `etag` is S3's ETag: the MD5 of the body for a single put, `MD5-of-parts-N` for a multipart
///   upload (as in R2).
/// - `uploaded` is the store's `Last-Modified`, whole seconds; `version` is derived from the ETag
///   and `Last-Modified` (S3 has no version without bucket versioning).
/// - `httpMetadata` maps to the standard headers and `customMetadata` to `x-amz-meta-*`; keys
///   keep their case and non-ASCII characters, values are RFC 2047-encoded when they need to be
///   (see the guide).
/// - Preconditions (`onlyIf`) are checked against the current object and then sent as
///   `If-Match`/`If-None-Match`, so a store that supports conditional writes makes a conditional
///   put atomic.
/// - Incomplete multipart uploads older than ``Configuration/maxUploadAge`` are aborted by
///   ``cleanUpIncompleteUploads()`` (AWS users may also set a lifecycle rule).
///
/// Every operation throws `BlobError`: the same codes as the local backends for bad input
/// (checked before any request is sent), `.accessDenied` when the store refuses the credentials,
/// `.unavailable` when it cannot be reached after the retries, `.storageFailure` for any other
/// answer (the message names the store's code).
public struct S3Blob: BlobBucket, BlobPresigning {
    public struct Configuration: Sendable {
        /// The endpoint: scheme, host, port, and an optional path prefix (`http://127.0.0.1:9000`,
        /// `https://s3.eu-west-1.amazonaws.com`, `https://ACCOUNT.r2.cloudflarestorage.com`).
        public var endpoint: URL
        /// The bucket's name in the store.
        public var bucket: String
        /// The signing region. Default `us-east-1` (R2 takes `auto`).
        public var region: String
        public var credentials: S3Credentials
        /// Path-style addressing (`endpoint/bucket/key`, the default, what every S3-compatible
        /// store accepts) or virtual-hosted (`bucket.endpoint/key`).
        public var pathStyle: Bool
        /// The size of a multipart upload's parts, and the largest body sent as one put.
        /// 5 MiB...5 GiB; default 8 MiB.
        public var partSize: Int
        /// Parts uploaded at once. Default 4.
        public var maxConcurrentParts: Int
        /// Attempts per request, the first included. Default 4.
        public var maxAttempts: Int
        /// The first retry waits up to this many seconds, doubling each time. Default 0.1.
        public var baseBackoff: Double
        /// The longest wait between attempts, in seconds. Default 5.
        public var maxBackoff: Double
        /// The deadline of one request until its answer's head arrives (a body then streams for as
        /// long as it is read, bounded by the client's read timeout). Default 15 minutes.
        public var requestTimeout: TimeAmount
        public var limits: BlobLimits
        /// The clock upload ages are measured with (requests are always signed with real time).
        public var clock: any EdgeClock
        /// Incomplete multipart uploads older than this are aborted by
        /// ``S3Blob/cleanUpIncompleteUploads()``. Default 7 days.
        public var maxUploadAge: TimeInterval
        /// Create the bucket, if the store does not have it, before the first operation
        /// (development stores). Default `false`.
        public var createBucketIfMissing: Bool
        public var logger: Logger

        public init(
            endpoint: URL, bucket: String, region: String = "us-east-1", credentials: S3Credentials, pathStyle: Bool = true,
            partSize: Int = 8 << 20, maxConcurrentParts: Int = 4, maxAttempts: Int = 4, baseBackoff: Double = 0.1, maxBackoff: Double = 5,
            requestTimeout: TimeAmount = .minutes(15), limits: BlobLimits = .r2, clock: any EdgeClock = SystemClock(),
            maxUploadAge: TimeInterval = 7 * 86_400, createBucketIfMissing: Bool = false, logger: Logger = Logger(label: "swift-edge.blob.s3")
        ) {
            self.createBucketIfMissing = createBucketIfMissing
            self.endpoint = endpoint
            self.bucket = bucket
            self.region = region
            self.credentials = credentials
            self.pathStyle = pathStyle
            self.partSize = partSize
            self.maxConcurrentParts = maxConcurrentParts
            self.maxAttempts = maxAttempts
            self.baseBackoff = baseBackoff
            self.maxBackoff = maxBackoff
            self.requestTimeout = requestTimeout
            self.limits = limits
            self.clock = clock
            self.maxUploadAge = maxUploadAge
            self.logger = logger
        }
    }

    public let configuration: Configuration
    let transport: S3Transport

    /// The client every ``S3Blob`` shares unless given another: connections kept alive per host,
    /// a 10-second connect timeout, a 120-second read timeout (a store that stops sending a body
    /// fails the read instead of hanging it), and failed connections not retried inside the client (S3Blob
    /// retries the whole request with its own backoff, so an unreachable store fails in
    /// `maxAttempts` tries instead of waiting for the request's deadline). It lives as long as
    /// the process.
    public static let defaultHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(120))
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.decompression = .disabled
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()
    /// The creation of the bucket every operation waits for, when asked for (tried again by the
    /// next operation when it failed).
    private let creation: BucketCreation?

    public var limits: BlobLimits { configuration.limits }

    /// A bucket over `configuration.endpoint`. No request is sent until the first operation.
    ///
    /// - Parameters:
    ///   - configuration: the store, the bucket, the credentials and how to talk to it.
    ///   - httpClient: the client requests go through; by default ``defaultHTTPClient``.
    /// - Throws: `BlobError` `.invalidBucketName` for an empty bucket name, `.unsupported` for
    ///   an endpoint that is not `http` or `https` with a host, a part size outside
    ///   `limits.minPartBytes...limits.maxPartBytes`, or a part concurrency or attempt count
    ///   outside 1...64.
    public init(configuration: Configuration, httpClient: HTTPClient = S3Blob.defaultHTTPClient) throws {
        func invalid(_ message: String) -> BlobError { BlobError(.unsupported, message: "S3 bucket \"\(configuration.bucket)\": \(message)") }
        guard !configuration.bucket.isEmpty, !configuration.bucket.contains("/") else {
            throw BlobError(.invalidBucketName, message: "an S3 bucket name must be non-empty and contain no '/', not \"\(configuration.bucket)\"")
        }
        guard ["http", "https"].contains(configuration.endpoint.scheme ?? ""), configuration.endpoint.host?.isEmpty == false else {
            throw invalid("the endpoint \(configuration.endpoint) is not an http or https URL with a host")
        }
        let parts = configuration.limits.minPartBytes...configuration.limits.maxPartBytes
        guard parts.contains(configuration.partSize) else {
            throw invalid("part size \(configuration.partSize) is outside \(parts.lowerBound)...\(parts.upperBound) bytes")
        }
        guard (1...64).contains(configuration.maxConcurrentParts) else {
            throw invalid("maxConcurrentParts \(configuration.maxConcurrentParts) is outside 1...64")
        }
        guard (1...64).contains(configuration.maxAttempts) else { throw invalid("maxAttempts \(configuration.maxAttempts) is outside 1...64") }
        self.configuration = configuration
        transport = S3Transport(configuration: configuration, client: httpClient)
        let transport = transport
        creation = configuration.createBucketIfMissing ? BucketCreation { try await Self.createBucket(transport) } : nil
    }

    /// Waits for the bucket's creation, when the configuration asks for it.
    private func prepared() async throws {
        guard let creation else { return }
        do { try await creation.wait() } catch { throw map(error, key: nil) }
    }

    // MARK: Bucket

    /// Creates the bucket when the store does not have it yet (for development stores such as
    /// moto, MinIO or swift-edge's own S3 API; on AWS, buckets are usually made beforehand).
    ///
    /// - Throws: `BlobError` `.accessDenied`, `.unavailable` or `.storageFailure`.
    public func createBucketIfMissing() async throws {
        do { try await Self.createBucket(transport) } catch { throw map(error, key: nil) }
    }

    private static func createBucket(_ transport: S3Transport) async throws {
        let found = try await transport.send(S3Request(method: .HEAD, key: nil), key: nil, accept: [404])
        guard found.status == 404 else { return }
        do {
            _ = try await transport.send(S3Request(method: .PUT, key: nil), key: nil)
        } catch let failure as S3Failure where ["BucketAlreadyOwnedByYou", "BucketAlreadyExists"].contains(failure.code) {
            return
        }
    }

    // MARK: Objects

    public func head(_ key: String) async throws -> BlobObject? {
        try limits.validateKey(key)
        try await prepared()
        do {
            let response = try await transport.send(S3Request(method: .HEAD, key: key, headers: [("x-amz-checksum-mode", "ENABLED")]), key: key, accept: [404])
            if response.status == 404 { return nil }
            return try object(key, response.headers, size: Int(response.header("content-length") ?? "") ?? 0)
        } catch {
            throw map(error, key: key)
        }
    }

    public func get(_ key: String, options: BlobGetOptions) async throws -> BlobGetResult? {
        try limits.validateKey(key)
        try await prepared()
        // A range with no bytes or a negative offset is refused as the local backends refuse it
        // (an end beyond the object is the store's to judge).
        if let range = options.range { _ = try range.resolve(size: .max, key: key) }
        for _ in 0..<3 {
            var headers: [(name: String, value: String)] = []
            if let onlyIf = options.onlyIf {
                guard let current = try await head(key) else { return nil }
                if !onlyIf.holds(for: current) { return BlobGetResult(object: current, body: nil) }
                headers.append(("if-match", current.httpEtag))
            }
            if let range = options.range { headers.append(("range", Self.rangeHeader(range))) }
            let response: S3Response
            do {
                response = try await transport.send(S3Request(method: .GET, key: key, headers: headers), key: key, accept: [404, 412, 416])
            } catch {
                throw map(error, key: key)
            }
            switch response.status {
            case 404:
                return nil
            case 412:
                continue  // replaced between the check and the read: check again
            case 416:
                // S3 refuses any range of an empty object; R2 serves offset 0 of one.
                guard let current = try await head(key) else { return nil }
                var object = current
                object.range = try options.range?.resolve(size: current.size, key: key)
                return BlobGetResult(object: object, body: BlobStream(next: { nil }))
            default:
                var size = Int(response.header("content-length") ?? "") ?? 0
                var range: ResolvedRange?
                if let contentRange = response.header("content-range"), let parsed = Self.parseContentRange(contentRange) {
                    size = parsed.total
                    range = ResolvedRange(offset: parsed.offset, length: parsed.length)
                } else if options.range != nil {
                    range = ResolvedRange(offset: 0, length: size)
                }
                var object = try object(key, response.headers, size: size)
                object.range = range
                return BlobGetResult(object: object, body: Self.stream(response.body, key: key))
            }
        }
        throw BlobError(.storageFailure, key: key, message: "key \(ByteKeys.describe(key)) kept changing while it was read")
    }

    public func put(_ key: String, body: BlobBody, options: BlobPutOptions) async throws -> BlobObject? {
        try limits.validatePut(key: key, options: options)
        try await prepared()
        var conditions: [(name: String, value: String)] = []
        if let onlyIf = options.onlyIf {
            let current = try await head(key)
            guard onlyIf.holds(for: current) else { return nil }
            conditions = current.map { [("if-match", $0.httpEtag)] } ?? [("if-none-match", "*")]
        }
        let metadata = S3Metadata.headers(http: options.httpMetadata, custom: options.customMetadata)
        do {
            let etag: String?
            if let bytes = body.knownBytes, bytes.count <= configuration.partSize {
                etag = try await putSingle(key, bytes, headers: metadata + conditions, checksum: options.checksum)
            } else {
                etag = try await putStreaming(key, body, metadata: metadata, conditions: conditions, checksum: options.checksum)
            }
            guard let etag else { return nil }
            var stored = try await head(key)
            if stored?.etag != etag { stored = nil }
            var object =
                stored
                ?? BlobObject(
                    key: key, version: etag, size: body.knownBytes?.count ?? 0, etag: etag, uploaded: Date(), checksums: BlobChecksums(),
                    httpMetadata: options.httpMetadata,
                    customMetadata: options.customMetadata)
            if case .sha256(let digest) = options.checksum { object.checksums.sha256 = digest }
            return object
        } catch {
            throw map(error, key: key)
        }
    }

    /// One `PutObject`; `nil` when the store refused its preconditions.
    private func putSingle(_ key: String, _ bytes: [UInt8], headers: [(name: String, value: String)], checksum: BlobChecksum?) async throws -> String? {
        try limits.checkPutSize(bytes.count, key: key)
        var headers = headers
        if let checksum {
            try Self.verify(checksum, md5: Array(Insecure.MD5.hash(data: bytes)), sha256: Array(SHA256.hash(data: bytes)), key: key)
            headers.append(Self.checksumHeader(checksum))
        }
        let request = S3Request(method: .PUT, key: key, headers: headers, body: .bytes(ByteBuffer(bytes: bytes)))
        let response = try await transport.send(request, key: key, accept: [412])
        if response.status == 412 {
            // After a lost answer, the retry's precondition can fail on this very write.
            let md5 = Hex.encode(Insecure.MD5.hash(data: bytes))
            if response.attempts > 1, try await head(key)?.etag == md5 { return md5 }
            return nil
        }
        return Self.unquote(response.header("etag") ?? "")
    }

    /// A body larger than one part, or of unknown length: a single put if it turns out to fit,
    /// otherwise a multipart upload with parts in parallel, aborted if anything fails.
    private func putStreaming(
        _ key: String, _ body: BlobBody, metadata: [(name: String, value: String)], conditions: [(name: String, value: String)],
        checksum: BlobChecksum?
    ) async throws -> String? {
        let partSize = configuration.partSize
        var md5 = Insecure.MD5()
        var sha256 = SHA256()
        var buffer: [UInt8] = []
        var uploadId: String?
        var total = 0
        do {
            let parts = try await withThrowingTaskGroup(of: BlobUploadedPart.self) { group -> [BlobUploadedPart]? in
                var parts: [BlobUploadedPart] = []
                var inFlight = 0
                var number = 0
                func send(_ bytes: [UInt8]) async throws {
                    if number == limits.maxParts {
                        throw BlobError(
                            .objectTooLarge, key: key, limit: limits.maxParts * partSize, actual: total,
                            message:
                                "the body of key \(ByteKeys.describe(key)) needs more than \(limits.maxParts) parts of \(partSize) bytes; raise the part size (s3.part_size_mb)"
                        )
                    }
                    if uploadId == nil { uploadId = try await createUpload(key, headers: metadata) }
                    if inFlight == configuration.maxConcurrentParts, let done = try await group.next() {
                        parts.append(done)
                        inFlight -= 1
                    }
                    number += 1
                    let (upload, partNumber) = (uploadId!, number)
                    group.addTask { try await uploadPartBytes(key, uploadId: upload, partNumber: partNumber, bytes) }
                    inFlight += 1
                }
                try await body.forEachChunk(key: key) { chunk in
                    total += chunk.count
                    if total > limits.maxObjectBytes {
                        throw BlobError(
                            .objectTooLarge, key: key, limit: limits.maxObjectBytes, actual: total,
                            message: "the body of key \(ByteKeys.describe(key)) exceeds \(limits.maxObjectBytes) bytes, the largest object")
                    }
                    if checksum != nil {
                        md5.update(data: chunk)
                        sha256.update(data: chunk)
                    }
                    if buffer.isEmpty, chunk.count == partSize {
                        try await send(chunk)  // a chunk that is exactly one part goes without a copy
                        return
                    }
                    var rest = chunk[...]
                    while !rest.isEmpty {
                        let take = min(partSize - buffer.count, rest.count)
                        if buffer.isEmpty { buffer.reserveCapacity(partSize) }
                        buffer += rest.prefix(take)
                        rest = rest.dropFirst(take)
                        if buffer.count == partSize {
                            try await send(buffer)
                            buffer = []
                        }
                    }
                }
                if uploadId == nil { return nil }
                if !buffer.isEmpty {
                    try await send(buffer)
                    buffer = []
                }
                while let done = try await group.next() { parts.append(done) }
                return parts.sorted { $0.partNumber < $1.partNumber }
            }
            if let checksum {
                try Self.verify(checksum, md5: Array(md5.finalize()), sha256: Array(sha256.finalize()), key: key)
            }
            guard let parts, let uploadId else {
                return try await putSingle(key, buffer, headers: metadata + conditions, checksum: checksum)
            }
            guard let etag = try await complete(key, uploadId: uploadId, parts: parts, headers: conditions) else {
                await abortQuietly(key, uploadId: uploadId)
                return nil
            }
            return etag
        } catch {
            if let uploadId { await abortQuietly(key, uploadId: uploadId) }
            throw error
        }
    }

    public func delete(_ keys: [String]) async throws {
        if keys.count > limits.maxDeleteKeys {
            throw BlobError(
                .tooManyKeys, limit: limits.maxDeleteKeys, actual: keys.count,
                message: "a delete takes at most \(limits.maxDeleteKeys) keys; got \(keys.count)")
        }
        for key in keys { try limits.validateKey(key) }
        try await prepared()
        do {
            // XML cannot carry control characters: such keys are deleted one by one.
            let (plain, odd) = (keys.filter(Self.isXMLSafe), keys.filter { !Self.isXMLSafe($0) })
            for key in odd + (plain.count == 1 ? plain : []) {
                _ = try await transport.send(S3Request(method: .DELETE, key: key), key: key, accept: [404])
            }
            guard plain.count > 1 else { return }
            var xml = XMLWriter()
            xml.open("Delete", namespace: true)
            xml.element("Quiet", true)
            for key in plain { xml.element("Object") { $0.element("Key", key) } }
            xml.close("Delete")
            let bytes = Array(xml.text.utf8)
            let request = S3Request(
                method: .POST, key: nil, query: [("delete", "")],
                headers: [("content-md5", Data(Insecure.MD5.hash(data: bytes)).base64EncodedString()), ("content-type", "application/xml")],
                body: .bytes(ByteBuffer(bytes: bytes)))
            let response = try await transport.send(request, key: nil)
            let document = try XMLNode.parse(try await response.collect())
            if let failed = document.all("Error").first(where: { $0.value("Code") != "NoSuchKey" }) {
                throw S3Failure(
                    status: 500, code: failed.value("Code") ?? "", message: "deleting \(failed.value("Key") ?? "?"): \(failed.value("Message") ?? "")")
            }
        } catch {
            throw map(error, key: keys.count == 1 ? keys[0] : nil)
        }
    }

    public func list(_ options: BlobListOptions) async throws -> BlobListResult {
        let limit = options.limit ?? limits.maxListLimit
        if limit < 1 || limit > limits.maxListLimit {
            throw BlobError(.invalidListLimit, limit: limits.maxListLimit, actual: limit, message: "list limit \(limit) is outside 1...\(limits.maxListLimit)")
        }
        if let delimiter = options.delimiter, delimiter.isEmpty {
            throw BlobError(.invalidDelimiter, message: "the list delimiter must not be empty")
        }
        try await prepared()
        var query: [(name: String, value: String)] = [("list-type", "2"), ("encoding-type", "url"), ("max-keys", String(limit))]
        if let prefix = options.prefix, !prefix.isEmpty { query.append(("prefix", prefix)) }
        if let delimiter = options.delimiter { query.append(("delimiter", delimiter)) }
        if let startAfter = options.startAfter { query.append(("start-after", startAfter)) }
        if let cursor = options.cursor, !cursor.isEmpty {
            guard let token = ByteKeys.decodeCursor(cursor, tag: Self.cursorTag) else {
                throw BlobError(.invalidCursor, message: "list cursor \"\(cursor.prefix(80))\" was not issued by this bucket")
            }
            query.append(("continuation-token", String(decoding: token, as: UTF8.self)))
        }
        let document: XMLNode
        do {
            let response = try await transport.send(S3Request(method: .GET, key: nil, query: query), key: nil)
            document = try XMLNode.parse(try await response.collect())
        } catch let failure as S3Failure where failure.status == 400 && options.cursor.map({ !$0.isEmpty }) == true {
            throw BlobError(.invalidCursor, message: "list cursor \"\(options.cursor!.prefix(80))\" was not issued by this bucket (\(failure.code))")
        } catch {
            throw map(error, key: nil)
        }
        let encoded = document.value("EncodingType") == "url"
        let decode = { (text: String) in encoded ? Self.urlDecode(text) : text }
        var objects: [BlobObject] = []
        for entry in document.all("Contents") {
            let key = decode(entry.value("Key") ?? "")
            let etag = Self.unquote(entry.value("ETag") ?? "")
            let uploaded = Self.wholeSeconds(S3API.parseHTTPDate(entry.value("LastModified") ?? "") ?? Date(timeIntervalSince1970: 0))
            objects.append(
                BlobObject(
                    key: key, version: Self.version(etag: etag, uploaded: uploaded), size: Int(entry.value("Size") ?? "") ?? 0, etag: etag,
                    uploaded: uploaded, checksums: BlobChecksums(md5: Self.md5(ofETag: etag)), httpMetadata: BlobHTTPMetadata(), customMetadata: [:]))
        }
        if !options.include.isEmpty {
            objects = try await withThrowingTaskGroup(of: (Int, BlobObject?).self) { group in
                var filled = objects
                var next = 0
                func start() {
                    guard next < objects.count else { return }
                    let (index, key) = (next, objects[next].key)
                    group.addTask { (index, try await head(key)) }
                    next += 1
                }
                for _ in 0..<8 { start() }
                while let (index, found) = try await group.next() {
                    if let found {
                        if options.include.contains(.httpMetadata) { filled[index].httpMetadata = found.httpMetadata }
                        if options.include.contains(.customMetadata) { filled[index].customMetadata = found.customMetadata }
                    }
                    start()
                }
                return filled
            }
        }
        let prefixes = document.all("CommonPrefixes").compactMap { $0.value("Prefix") }.map(decode)
        let truncated = document.value("IsTruncated") == "true"
        return BlobListResult(
            objects: objects, truncated: truncated,
            cursor: truncated ? document.value("NextContinuationToken").map { ByteKeys.encodeCursor(Array($0.utf8), tag: Self.cursorTag) } : nil,
            delimitedPrefixes: prefixes)
    }

    // MARK: Multipart

    public func createMultipartUpload(_ key: String, options: BlobMultipartOptions) async throws -> BlobMultipartUpload {
        try limits.validateKey(key)
        try limits.validateMetadata(options.customMetadata, key: key)
        try await prepared()
        do {
            let uploadId = try await createUpload(key, headers: S3Metadata.headers(http: options.httpMetadata, custom: options.customMetadata))
            return BlobMultipartUpload(bucket: self, key: key, uploadId: uploadId)
        } catch {
            throw map(error, key: key)
        }
    }

    public func uploadPart(key: String, uploadId: String, partNumber: Int, body: BlobBody) async throws -> BlobUploadedPart {
        try limits.validateKey(key)
        try limits.validatePartNumber(partNumber, key: key)
        var bytes: [UInt8]
        if let known = body.knownBytes {
            bytes = known
        } else {
            bytes = []
            try await body.forEachChunk(key: key) { chunk in
                bytes += chunk
                try limits.checkPartSize(bytes.count, key: key)
            }
        }
        try limits.checkPartSize(bytes.count, key: key)
        do {
            return try await uploadPartBytes(key, uploadId: uploadId, partNumber: partNumber, bytes)
        } catch let failure as S3Failure where failure.status >= 500 {
            // Some stores (moto) fail a part of an unknown upload with a server error: ask
            // whether the upload exists before reporting the store as unavailable.
            do {
                _ = try await transport.send(S3Request(method: .GET, key: key, query: [("max-parts", "1"), ("uploadId", uploadId)]), key: key).collect()
            } catch {
                throw map(error, key: key)
            }
            throw map(failure, key: key)
        } catch {
            throw map(error, key: key)
        }
    }

    public func completeMultipartUpload(key: String, uploadId: String, parts: [BlobUploadedPart]) async throws -> BlobObject {
        try limits.validateKey(key)
        if parts.isEmpty || parts.count > limits.maxParts {
            throw BlobError(
                .tooManyParts, key: key, limit: limits.maxParts, actual: parts.count,
                message: "completing key \(ByteKeys.describe(key)) needs 1...\(limits.maxParts) parts; got \(parts.count)")
        }
        for (previous, part) in zip(parts, parts.dropFirst()) where part.partNumber <= previous.partNumber {
            throw BlobError(
                .invalidPartOrder, key: key, actual: part.partNumber,
                message:
                    "parts of key \(ByteKeys.describe(key)) must be listed in ascending part-number order; part \(part.partNumber) follows part \(previous.partNumber)"
            )
        }
        do {
            // Some stores (moto) complete an upload twice; R2 answers the second with NoSuchUpload.
            _ = try await transport.send(S3Request(method: .GET, key: key, query: [("max-parts", "1"), ("uploadId", uploadId)]), key: key).collect()
            guard try await complete(key, uploadId: uploadId, parts: parts, headers: []) != nil, let object = try await head(key) else {
                throw BlobError(.storageFailure, key: key, message: "the completed object \(ByteKeys.describe(key)) is not in the bucket")
            }
            return object
        } catch let failure as S3Failure where failure.code == "EntityTooSmall" {
            // Name the part and its size, as the local backends do.
            let sizes = Dictionary(
                (try? await listParts(key: key, uploadId: uploadId))?.map { ($0.partNumber, $0.size) } ?? [], uniquingKeysWith: { a, _ in a })
            let small = parts.dropLast().first { (sizes[$0.partNumber] ?? Int.max) < limits.minPartBytes }
            throw BlobError(
                .partTooSmall, key: key, limit: limits.minPartBytes, actual: small.flatMap { sizes[$0.partNumber] },
                message:
                    "part \(small.map { String($0.partNumber) } ?? "?") of key \(ByteKeys.describe(key)) is smaller than \(limits.minPartBytes) bytes; every part but the last must be at least that (\(failure.code))"
            )
        } catch {
            throw map(error, key: key)
        }
    }

    public func abortMultipartUpload(key: String, uploadId: String) async throws {
        try limits.validateKey(key)
        do {
            _ = try await transport.send(S3Request(method: .DELETE, key: key, query: [("uploadId", uploadId)]), key: key, accept: [404])
        } catch {
            throw map(error, key: key)
        }
    }

    @discardableResult
    public func cleanUpIncompleteUploads() async throws -> Int {
        let cutoff = configuration.clock.now.addingTimeInterval(-configuration.maxUploadAge)
        var removed = 0
        for upload in try await listMultipartUploads(prefix: nil) where upload.initiated <= cutoff {
            try await abortMultipartUpload(key: upload.key, uploadId: upload.uploadId)
            removed += 1
        }
        if removed > 0 {
            configuration.logger.info("aborted incomplete multipart uploads", metadata: ["count": "\(removed)", "bucket": "\(configuration.bucket)"])
        }
        return removed
    }

    public func listParts(key: String, uploadId: String) async throws -> [BlobPartInfo] {
        try limits.validateKey(key)
        var parts: [BlobPartInfo] = []
        var marker: String?
        do {
            repeat {
                var query: [(name: String, value: String)] = [("uploadId", uploadId)]
                if let marker { query.append(("part-number-marker", marker)) }
                let response = try await transport.send(S3Request(method: .GET, key: key, query: query), key: key)
                let document = try XMLNode.parse(try await response.collect())
                for part in document.all("Part") {
                    parts.append(
                        BlobPartInfo(
                            partNumber: Int(part.value("PartNumber") ?? "") ?? 0, etag: Self.unquote(part.value("ETag") ?? ""),
                            size: Int(part.value("Size") ?? "") ?? 0,
                            uploaded: S3API.parseHTTPDate(part.value("LastModified") ?? "") ?? Date(timeIntervalSince1970: 0)))
                }
                marker = document.value("IsTruncated") == "true" ? document.value("NextPartNumberMarker") : nil
            } while marker != nil
        } catch {
            throw map(error, key: key)
        }
        return parts
    }

    public func listMultipartUploads(prefix: String?) async throws -> [BlobPendingUpload] {
        var uploads: [BlobPendingUpload] = []
        var markers: (key: String, upload: String)?
        do {
            repeat {
                var query: [(name: String, value: String)] = [("uploads", ""), ("encoding-type", "url")]
                if let prefix, !prefix.isEmpty { query.append(("prefix", prefix)) }
                if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.upload)] }
                let response = try await transport.send(S3Request(method: .GET, key: nil, query: query), key: nil)
                let document = try XMLNode.parse(try await response.collect())
                let encoded = document.value("EncodingType") == "url"
                for upload in document.all("Upload") {
                    let key = upload.value("Key") ?? ""
                    uploads.append(
                        BlobPendingUpload(
                            key: encoded ? Self.urlDecode(key) : key, uploadId: upload.value("UploadId") ?? "",
                            initiated: S3API.parseHTTPDate(upload.value("Initiated") ?? "") ?? Date(timeIntervalSince1970: 0)))
                }
                if document.value("IsTruncated") == "true", let key = document.value("NextKeyMarker"), let upload = document.value("NextUploadIdMarker") {
                    markers = (encoded ? Self.urlDecode(key) : key, upload)
                } else {
                    markers = nil
                }
            } while markers != nil
        } catch {
            throw map(error, key: nil)
        }
        return uploads
    }

    // MARK: Presigned URLs

    /// A URL that lets anyone holding it `GET`, `PUT` (or `HEAD`, `DELETE`) `key` directly at
    /// the store until it expires, with no credentials: a browser uploads a recording straight
    /// to storage.
    ///
    /// - Throws: `BlobError` `.invalidKey`/`.keyTooLong`, or `.unsupported` for an
    ///   `expiresIn` outside 1...604,800 seconds.
    public func presignedURL(for key: String, method: String, expiresIn: Int) throws -> URL {
        try limits.validateKey(key)
        do {
            return try transport.signer.presignedURL(
                method: method.uppercased(), endpoint: transport.origin, path: transport.path(key), expiresIn: expiresIn, date: Date())
        } catch let error as S3Error {
            throw BlobError(.unsupported, key: key, limit: 604_800, actual: expiresIn, message: error.message)
        }
    }

    // MARK: Requests

    private func createUpload(_ key: String, headers: [(name: String, value: String)]) async throws -> String {
        let response = try await transport.send(S3Request(method: .POST, key: key, query: [("uploads", "")], headers: headers), key: key)
        let document = try XMLNode.parse(try await response.collect())
        guard let uploadId = document.value("UploadId"), !uploadId.isEmpty else {
            throw BlobError(.storageFailure, key: key, message: "the store answered CreateMultipartUpload without an UploadId")
        }
        return uploadId
    }

    private func uploadPartBytes(_ key: String, uploadId: String, partNumber: Int, _ bytes: [UInt8]) async throws -> BlobUploadedPart {
        let request = S3Request(
            method: .PUT, key: key, query: [("partNumber", String(partNumber)), ("uploadId", uploadId)], body: .bytes(ByteBuffer(bytes: bytes)))
        let response = try await transport.send(request, key: key)
        return BlobUploadedPart(partNumber: partNumber, etag: Self.unquote(response.header("etag") ?? ""))
    }

    /// Completes an upload; `nil` when the store refused the preconditions in `headers`.
    private func complete(_ key: String, uploadId: String, parts: [BlobUploadedPart], headers: [(name: String, value: String)]) async throws -> String? {
        var xml = XMLWriter()
        xml.open("CompleteMultipartUpload", namespace: true)
        for part in parts {
            xml.element("Part") {
                $0.element("PartNumber", part.partNumber)
                $0.element("ETag", "\"\(Self.unquote(part.etag))\"")
            }
        }
        xml.close("CompleteMultipartUpload")
        let request = S3Request(
            method: .POST, key: key, query: [("uploadId", uploadId)], headers: headers + [("content-type", "application/xml")],
            body: .bytes(ByteBuffer(string: xml.text)))
        let response: S3Response
        do {
            response = try await transport.send(request, key: key, accept: [412])
        } catch let failure as S3Failure where failure.code == "NoSuchUpload" && failure.attempts > 1 {
            // An earlier attempt completed the upload but its answer was lost.
            if let etag = try await head(key)?.etag, etag.hasSuffix("-\(parts.count)") { return etag }
            throw failure
        }
        if response.status == 412 { return nil }
        // S3 may answer 200 and still report an error in the document.
        let document = try XMLNode.parse(try await response.collect())
        if document.name == "Error" {
            throw S3Failure(status: 200, code: document.value("Code") ?? "", message: document.value("Message") ?? "")
        }
        return Self.unquote(document.value("ETag") ?? "")
    }

    private func abortQuietly(_ key: String, uploadId: String) async {
        // In a task of its own: the abort must run even when the put was cancelled.
        let transport = transport
        do {
            try await Task {
                _ = try await transport.send(S3Request(method: .DELETE, key: key, query: [("uploadId", uploadId)]), key: key, accept: [404])
            }.value
        } catch {
            configuration.logger.warning(
                "could not abort a failed multipart upload", metadata: ["key": "\(ByteKeys.describe(key))", "upload": "\(uploadId)", "error": "\(error)"])
        }
    }

    // MARK: Mapping

    private func object(_ key: String, _ headers: [String: String], size: Int) throws -> BlobObject {
        let etag = Self.unquote(headers["etag"] ?? "")
        let uploaded = Self.wholeSeconds(headers["last-modified"].flatMap(S3API.parseHTTPDate) ?? Date(timeIntervalSince1970: 0))
        var checksums = BlobChecksums(md5: Self.md5(ofETag: etag))
        if let sha = headers["x-amz-checksum-sha256"], let digest = Data(base64Encoded: sha), digest.count == 32 { checksums.sha256 = Array(digest) }
        return BlobObject(
            key: key, version: Self.version(etag: etag, uploaded: uploaded), size: size, etag: etag, uploaded: uploaded, checksums: checksums,
            httpMetadata: S3Metadata.http(from: headers), customMetadata: S3Metadata.custom(from: headers))
    }

    /// The store's answers as `BlobError`s; errors that already are pass through.
    func map(_ error: any Error, key: String?) -> any Error {
        guard let failure = error as? S3Failure else {
            if error is BlobError || error is CancellationError { return error }
            return BlobError(.storageFailure, key: key, message: "S3 bucket \(configuration.bucket): \(error)")
        }
        let message = "S3 bucket \(configuration.bucket) answered \(failure.status) \(failure.code): \(failure.message)"
        let code: BlobError.Code =
            switch failure.code {
            case "NoSuchUpload": .noSuchUpload
            case "InvalidPart": .invalidPart
            case "InvalidPartOrder": .invalidPartOrder
            case "EntityTooSmall": .partTooSmall
            case "EntityTooLarge": .objectTooLarge
            case "BadDigest", "XAmzContentChecksumMismatch", "InvalidDigest": .checksumMismatch
            case "InvalidRange": .invalidRange
            case "KeyTooLongError": .keyTooLong
            case "MetadataTooLarge": .metadataTooLarge
            case "InvalidBucketName": .invalidBucketName
            case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "RequestTimeTooSkewed", "ExpiredToken", "InvalidToken": .accessDenied
            case "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout": .unavailable
            default: failure.status >= 500 ? .unavailable : .storageFailure
            }
        return BlobError(code, key: key, message: message)
    }

    /// List cursors wrap the store's continuation token, so a cursor from elsewhere is refused
    /// before it reaches the store.
    static let cursorTag = "s3"

    static func rangeHeader(_ range: BlobRange) -> String {
        switch range {
        case .offset(let offset, let length?): "bytes=\(offset)-\(offset + length - 1)"
        case .offset(let offset, nil): "bytes=\(offset)-"
        case .length(let length): "bytes=0-\(length - 1)"
        case .suffix(let suffix): "bytes=-\(suffix)"
        }
    }

    /// `bytes FIRST-LAST/TOTAL`.
    static func parseContentRange(_ header: String) -> (offset: Int, length: Int, total: Int)? {
        guard header.hasPrefix("bytes ") else { return nil }
        let parts = header.dropFirst(6).split(separator: "/")
        guard parts.count == 2, let total = Int(parts[1]) else { return nil }
        let bounds = parts[0].split(separator: "-")
        guard bounds.count == 2, let first = Int(bounds[0]), let last = Int(bounds[1]) else { return nil }
        return (first, last - first + 1, total)
    }

    static func stream(_ body: HTTPClientResponse.Body, key: String) -> BlobStream {
        let reader = ResponseReader(iterator: body.makeAsyncIterator())
        return BlobStream(next: {
            do {
                guard let buffer = try await reader.next() else { return nil }
                return Array(buffer.readableBytesView)
            } catch {
                throw BlobError(.storageFailure, key: key, message: "reading key \(ByteKeys.describe(key)) from S3 failed: \(error)")
            }
        })
    }

    static func verify(_ checksum: BlobChecksum, md5: [UInt8], sha256: [UInt8], key: String) throws {
        let (name, expected, actual) =
            switch checksum {
            case .md5(let digest): ("MD5", digest, md5)
            case .sha256(let digest): ("SHA-256", digest, sha256)
            }
        if expected != actual {
            throw BlobError(
                .checksumMismatch, key: key, message: "the \(name) of key \(ByteKeys.describe(key)) is \(Hex.encode(actual)), not \(Hex.encode(expected))")
        }
    }

    static func checksumHeader(_ checksum: BlobChecksum) -> (name: String, value: String) {
        switch checksum {
        case .md5(let digest): ("content-md5", Data(digest).base64EncodedString())
        case .sha256(let digest): ("x-amz-checksum-sha256", Data(digest).base64EncodedString())
        }
    }

    static func unquote(_ etag: String) -> String {
        var text = etag.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("W/") { text.removeFirst(2) }
        if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") { text = String(text.dropFirst().dropLast()) }
        return text
    }

    static func md5(ofETag etag: String) -> [UInt8]? {
        guard etag.utf8.count == 32, let bytes = Hex.decode(etag) else { return nil }
        return bytes
    }

    static func version(etag: String, uploaded: Date) -> String {
        Hex.encode(SHA256.hash(data: Array("\(etag)|\(Int64(uploaded.timeIntervalSince1970))".utf8))).prefix(32).description
    }

    static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }

    static func isXMLSafe(_ key: String) -> Bool {
        key.unicodeScalars.allSatisfy { $0.value >= 0x20 || $0 == "\t" || $0 == "\n" } && !key.contains("\r")
    }

    static func urlDecode(_ text: String) -> String {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? text
    }
}

/// The one reader of a response body (a ``BlobStream`` is read by one task at a time).
final class ResponseReader: @unchecked Sendable {
    private var iterator: HTTPClientResponse.Body.AsyncIterator

    init(iterator: HTTPClientResponse.Body.AsyncIterator) { self.iterator = iterator }

    func next() async throws -> ByteBuffer? { try await iterator.next() }
}

/// A bucket creation every operation waits for; one that failed is tried again by the next
/// operation instead of failing every operation for the life of the process.
final class BucketCreation: Sendable {
    private let create: @Sendable () async throws -> Void
    private let state = Mutex<Task<Void, any Error>?>(nil)

    init(_ create: @escaping @Sendable () async throws -> Void) { self.create = create }

    func wait() async throws {
        let task = state.withLock { current -> Task<Void, any Error> in
            if let current { return current }
            let task = Task { try await create() }
            current = task
            return task
        }
        do {
            try await task.value
        } catch {
            state.withLock { current in if current == task { current = nil } }
            throw error
        }
    }
}
