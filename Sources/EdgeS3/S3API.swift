import Crypto
public import EdgeBlob
public import EdgeCore
public import Foundation
import HTTPTypes

/// The S3 API over a set of buckets: what `aws`, boto3, s3cmd and rclone speak.
///
/// Every request is authenticated with AWS Signature Version 4 — in the `Authorization` header
/// or a presigned query (its expiry enforced) — against the configured access keys; the payload
/// is checked against `x-amz-content-sha256` (or `UNSIGNED-PAYLOAD`), aws-chunked uploads are
/// decoded with their chunk signatures and trailing checksums verified, and every comparison is
/// in constant time. Buckets are addressed path-style (`/BUCKET/KEY`) or virtual-hosted-style
/// (`BUCKET.DOMAIN`). Errors are S3's XML error documents with S3's codes.
///
/// Operations: ListBuckets, HeadBucket, GetBucketLocation, ListObjects (V1 and V2), GetObject,
/// HeadObject, PutObject, CopyObject, DeleteObject, DeleteObjects, CreateMultipartUpload,
/// UploadPart, UploadPartCopy, CompleteMultipartUpload, AbortMultipartUpload, ListParts,
/// ListMultipartUploads. R2 metadata maps onto S3's: `httpMetadata` to the standard headers,
/// `customMetadata` to `x-amz-meta-*`.
public struct S3API: Sendable {
    public struct Configuration: Sendable {
        /// The buckets, by the name clients use.
        public var buckets: [String: any BlobBucket]
        /// The access keys accepted.
        public var credentials: [S3Credentials]
        /// The region reported (`GetBucketLocation`, `x-amz-bucket-region`); requests may sign for
        /// any region.
        public var region: String
        /// A host `BUCKET.DOMAIN` (any port) addresses BUCKET virtual-hosted-style.
        public var virtualHostDomains: [String]
        /// Paths start with this (`/s3`), or "" when the API has a port of its own.
        public var pathPrefix: String
        /// How far a signed request's date may be from now, in seconds (S3: 15 minutes).
        public var maxClockSkew: Double
        /// The clock, for dates and presigned expiry.
        public var now: @Sendable () -> Date

        public init(
            buckets: [String: any BlobBucket], credentials: [S3Credentials], region: String = "us-east-1", virtualHostDomains: [String] = ["localhost"],
            pathPrefix: String = "", maxClockSkew: Double = 900, now: @escaping @Sendable () -> Date = { Date() }
        ) {
            self.buckets = buckets
            self.credentials = credentials
            self.region = region
            self.virtualHostDomains = virtualHostDomains
            self.pathPrefix = pathPrefix
            self.maxClockSkew = maxClockSkew
            self.now = now
        }
    }

    public let configuration: Configuration
    let created: Date

    public init(_ configuration: Configuration) {
        self.configuration = configuration
        created = configuration.now()
    }

    /// Whether `request` is for this API (its path starts with ``Configuration/pathPrefix``).
    public func accepts(_ request: EdgeRequest) -> Bool {
        let prefix = configuration.pathPrefix
        guard !prefix.isEmpty else { return true }
        let path = request.url.path
        return path == prefix || path.hasPrefix(prefix + "/")
    }

    /// Answers one request; never throws (errors are S3 error documents).
    public func handle(_ request: EdgeRequest) async -> EdgeResponse {
        let requestID = String(UInt64.random(in: 0...UInt64.max), radix: 16, uppercase: true)
        var resource = request.url.path
        do {
            var context = try route(request)
            resource = context.resource
            let failure = BodyFailure()
            context.body = try authenticate(request, context: context, failure: failure)
            do {
                var response = try await perform(context, request)
                response.headers[HTTPField.Name("x-amz-request-id")!] = requestID
                return response
            } catch {
                if let recorded = failure.error { throw recorded }
                throw error
            }
        } catch let error as S3Error {
            return Self.errorResponse(error, resource: error.resource ?? resource, requestID: requestID, method: request.method)
        } catch let error as BlobError {
            return Self.errorResponse(Self.s3Error(error), resource: resource, requestID: requestID, method: request.method)
        } catch let error as EdgeHTTPError where error.code == .bodyTooLarge {
            return Self.errorResponse(S3Error(.entityTooLarge, message: error.message), resource: resource, requestID: requestID, method: request.method)
        } catch {
            return Self.errorResponse(
                S3Error(.internalError, message: "we encountered an internal error: \(error)"), resource: resource, requestID: requestID,
                method: request.method)
        }
    }

    // MARK: Routing

    struct Context: Sendable {
        var bucketName: String?
        var key: String?
        /// The decoded path as signed (with the prefix).
        var signedPath: String
        var query: QueryParameters
        var body: EdgeBody = .empty
        var resource: String { "/" + [bucketName, key].compactMap { $0 }.joined(separator: "/") }

        func bucket(in api: S3API) throws -> any BlobBucket {
            guard let name = bucketName else { throw S3Error(.invalidRequest, message: "this operation needs a bucket") }
            guard let bucket = api.configuration.buckets[name] else {
                throw S3Error(.noSuchBucket, message: "the specified bucket does not exist: \(name)", resource: "/" + name)
            }
            return bucket
        }

        func requireKey() throws -> String {
            guard let key, !key.isEmpty else { throw S3Error(.invalidRequest, message: "this operation needs a key") }
            return key
        }
    }

    static func decode(_ text: Substring) -> String { QueryParameters.percentDecoded(text, plusIsSpace: false) }

    func route(_ request: EdgeRequest) throws -> Context {
        var rawPath = Substring(request.url.path)
        let signedPath = Self.decode(rawPath)
        let prefix = configuration.pathPrefix
        if !prefix.isEmpty, rawPath.hasPrefix(prefix) { rawPath = rawPath.dropFirst(prefix.count) }
        if rawPath.hasPrefix("/") { rawPath = rawPath.dropFirst() }
        let query = request.url.query
        let host = (request.head.authority ?? request.headers[HTTPField.Name("host")!] ?? "").split(separator: ":").first.map { String($0).lowercased() } ?? ""
        for domain in configuration.virtualHostDomains where host.hasSuffix("." + domain.lowercased()) {
            let bucket = String(host.dropLast(domain.count + 1))
            return Context(bucketName: bucket, key: rawPath.isEmpty ? nil : Self.decode(rawPath), signedPath: signedPath, query: query)
        }
        guard !rawPath.isEmpty else { return Context(signedPath: signedPath, query: query) }
        if let slash = rawPath.firstIndex(of: "/") {
            let key = rawPath[rawPath.index(after: slash)...]
            return Context(bucketName: Self.decode(rawPath[..<slash]), key: key.isEmpty ? nil : Self.decode(key), signedPath: signedPath, query: query)
        }
        return Context(bucketName: Self.decode(rawPath), signedPath: signedPath, query: query)
    }

    // MARK: Authentication

    struct Authorization {
        var accessKeyID: String
        var date: String
        var region: String
        var service: String
        var signedHeaders: [String]
        var signature: String
    }

    static func parseCredential(_ text: String) throws -> (String, String, String, String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5, parts[4] == "aws4_request", parts[2].count > 0 else {
            throw S3Error(.authorizationHeaderMalformed, message: "the credential \(text) is not ACCESS_KEY/DATE/REGION/SERVICE/aws4_request")
        }
        return (parts[0], parts[1], parts[2], parts[3])
    }

    /// Checks the signature and returns the body to read (decoded and verified as it streams).
    func authenticate(_ request: EdgeRequest, context: Context, failure: BodyFailure) throws -> EdgeBody {
        let query = context.query
        let now = configuration.now()
        let headerValue = { (name: String) -> String? in HTTPField.Name(name).flatMap { request.headers[$0] } }
        var items = query.map { (name: $0.name, value: $0.value) }
        let authorization: Authorization
        let amzDate: String
        var payloadHash: String
        if query["AWSAccessKeyId"] != nil || request.headers[.authorization]?.hasPrefix("AWS ") == true {
            throw S3Error(
                .invalidRequest,
                message:
                    "the authorization mechanism you have provided (Signature Version 2) is not supported; please use AWS4-HMAC-SHA256 (boto3: Config(signature_version=\"s3v4\"))"
            )
        }
        if query["X-Amz-Algorithm"] != nil {
            guard query["X-Amz-Algorithm"] == SigV4.algorithm else {
                throw S3Error(.invalidArgument, message: "X-Amz-Algorithm must be \(SigV4.algorithm)")
            }
            guard let credential = query["X-Amz-Credential"], let date = query["X-Amz-Date"], let expiresText = query["X-Amz-Expires"],
                let signed = query["X-Amz-SignedHeaders"], let signature = query["X-Amz-Signature"]
            else {
                throw S3Error(
                    .authorizationHeaderMalformed,
                    message: "a presigned URL needs X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature")
            }
            let (key, day, region, service) = try Self.parseCredential(credential)
            authorization = Authorization(
                accessKeyID: key, date: day, region: region, service: service, signedHeaders: signed.split(separator: ";").map(String.init),
                signature: signature)
            amzDate = date
            guard let expires = Int(expiresText), (1...604_800).contains(expires) else {
                throw S3Error(.authorizationHeaderMalformed, message: "X-Amz-Expires must be 1...604800 seconds, not \(expiresText)")
            }
            guard let signedAt = SigV4.parseAmzDate(date) else { throw S3Error(.authorizationHeaderMalformed, message: "X-Amz-Date \(date) is malformed") }
            if now > signedAt.addingTimeInterval(Double(expires)) { throw S3Error(.accessDenied, message: "Request has expired") }
            if signedAt > now.addingTimeInterval(configuration.maxClockSkew) { throw S3Error(.accessDenied, message: "Request is not valid yet") }
            items.removeAll { $0.name == "X-Amz-Signature" }
            payloadHash = headerValue("x-amz-content-sha256") ?? SigV4.unsignedPayload
        } else if let header = request.headers[.authorization] {
            guard header.hasPrefix(SigV4.algorithm + " ") else {
                throw S3Error(.invalidArgument, message: "only \(SigV4.algorithm) (Signature Version 4) authorization is supported")
            }
            var fields: [String: String] = [:]
            for part in header.dropFirst(SigV4.algorithm.count + 1).split(separator: ",") {
                let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
            }
            guard let credential = fields["Credential"], let signed = fields["SignedHeaders"], let signature = fields["Signature"] else {
                throw S3Error(.authorizationHeaderMalformed, message: "the Authorization header needs Credential, SignedHeaders and Signature")
            }
            let (key, day, region, service) = try Self.parseCredential(credential)
            authorization = Authorization(
                accessKeyID: key, date: day, region: region, service: service, signedHeaders: signed.split(separator: ";").map(String.init),
                signature: signature)
            guard let date = headerValue("x-amz-date") ?? request.headers[.date].flatMap({ Self.parseHTTPDate($0).map(SigV4.amzDate) }) else {
                throw S3Error(.accessDenied, message: "AWS authentication requires a valid Date or x-amz-date header")
            }
            amzDate = date
            guard let signedAt = SigV4.parseAmzDate(date) else { throw S3Error(.accessDenied, message: "x-amz-date \(date) is malformed") }
            if abs(signedAt.timeIntervalSince(now)) > configuration.maxClockSkew {
                throw S3Error(
                    .requestTimeTooSkewed,
                    message:
                        "the difference between the request time (\(date)) and the server's time (\(SigV4.amzDate(now))) is more than \(Int(configuration.maxClockSkew)) s"
                )
            }
            guard let hash = headerValue("x-amz-content-sha256") else {
                throw S3Error(.invalidRequest, message: "missing required header for this request: x-amz-content-sha256")
            }
            payloadHash = hash
        } else {
            throw S3Error(.accessDenied, message: "anonymous access is not allowed: sign requests with AWS Signature Version 4")
        }
        guard let credentials = configuration.credentials.first(where: { constantTimeEqual(Array($0.accessKeyID.utf8), Array(authorization.accessKeyID.utf8)) })
        else {
            throw S3Error(.invalidAccessKeyId, message: "the AWS access key id you provided does not exist in our records")
        }
        guard authorization.date == String(amzDate.prefix(8)) else {
            throw S3Error(.signatureDoesNotMatch, message: "the credential's date \(authorization.date) is not the request's date \(amzDate.prefix(8))")
        }
        guard authorization.signedHeaders.contains("host") else {
            throw S3Error(.accessDenied, message: "the host header must be signed")
        }
        var headers: [(name: String, value: String)] = []
        for field in request.headers { headers.append((field.name.canonicalName, field.value)) }
        if let authority = request.head.authority, request.headers[HTTPField.Name("host")!] == nil { headers.append(("host", authority)) }
        let canonical = SigV4.canonicalRequest(
            method: request.method.rawValue, path: context.signedPath, query: items, headers: headers, signedHeaders: authorization.signedHeaders,
            payloadHash: payloadHash)
        let scope = SigV4.scope(date: authorization.date, region: authorization.region, service: authorization.service)
        let key = SigV4.signingKey(secret: credentials.secretAccessKey, date: authorization.date, region: authorization.region, service: authorization.service)
        let expected = SigV4.hmacHex(SigV4.stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonical), key: key)
        guard constantTimeEqual(Array(expected.utf8), Array(authorization.signature.lowercased().utf8)) else {
            throw S3Error(
                .signatureDoesNotMatch,
                message: "the request signature we calculated does not match the signature you provided; check your key and signing method")
        }

        // The body, as the payload hash says it is framed and what it must hash to.
        var expectations = BodyExpectations()
        let contentEncoding = request.headers[.contentEncoding]?.lowercased() ?? ""
        switch payloadHash {
        case SigV4.unsignedPayload:
            break
        case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER":
            let signing = BodyExpectations.ChunkSigning(
                key: SymmetricKeyBox(bytes: key.withUnsafeBytes { Array($0) }), amzDate: amzDate, scope: scope, seedSignature: expected)
            expectations.framing = .chunked(signing: signing, trailer: payloadHash.hasSuffix("-TRAILER"))
        case "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
            expectations.framing = .chunked(signing: nil, trailer: true)
        default:
            guard payloadHash.utf8.count == 64, payloadHash.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) || ($0 >= 65 && $0 <= 70) })
            else {
                throw S3Error(.invalidArgument, message: "x-amz-content-sha256 must be a SHA-256 hex digest, UNSIGNED-PAYLOAD or a STREAMING-* value")
            }
            expectations.sha256Hex = payloadHash
        }
        if case .plain = expectations.framing, contentEncoding.contains("aws-chunked") {
            expectations.framing = .chunked(signing: nil, trailer: headerValue("x-amz-trailer") != nil)
        }
        if let text = headerValue("x-amz-decoded-content-length") {
            guard let length = Int(text), length >= 0 else { throw S3Error(.invalidArgument, message: "x-amz-decoded-content-length is not a number: \(text)") }
            expectations.decodedLength = length
        }
        if let trailer = headerValue("x-amz-trailer") {
            guard let algorithm = S3ChecksumAlgorithm(headerName: trailer.trimmingCharacters(in: .whitespaces)) else {
                throw S3Error(.invalidRequest, message: "x-amz-trailer names \(trailer); supported: x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1, -sha256")
            }
            expectations.trailerChecksum = algorithm
        }
        for algorithm in S3ChecksumAlgorithm.allCases {
            if let value = headerValue(algorithm.headerName) { expectations.checksum = (algorithm, value) }
        }
        expectations.contentMD5 = headerValue("content-md5")
        guard expectations.needsWrapping else { return request.body }
        return .stream(S3RequestBody(source: request.body, expectations: expectations, failure: failure))
    }

    // MARK: Operations

    func perform(_ context: Context, _ request: EdgeRequest) async throws -> EdgeResponse {
        let query = context.query
        guard context.bucketName != nil else {
            guard request.method == .get else { throw S3Error(.methodNotAllowed, message: "the specified method is not allowed against this resource") }
            return listBuckets()
        }
        if context.key == nil, request.method == .put, Self.subresource(query) == nil, configuration.buckets[context.bucketName ?? ""] == nil {
            throw S3Error(.notImplemented, message: "creating buckets is not supported: buckets are declared in the config (r2_buckets)")
        }
        let bucket = try context.bucket(in: self)
        guard context.key != nil else {
            switch request.method {
            case .head:
                return EdgeResponse(status: .ok, headers: [HTTPField.Name("x-amz-bucket-region")!: configuration.region])
            case .get where query["location"] != nil:
                return Self.xmlResponse(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\(xmlEscape(configuration.region))</LocationConstraint>"
                )
            case .get where query["uploads"] != nil:
                return try await listMultipartUploads(bucket, context)
            case _ where Self.subresource(query) != nil:
                return try Self.bucketSubresource(Self.subresource(query)!, method: request.method)
            case .get:
                return try await listObjects(bucket, context, version2: query["list-type"] == "2")
            case .post where query["delete"] != nil:
                return try await deleteObjects(bucket, context)
            case .put:
                // CreateBucket of a bucket the config declares: it exists and is yours (S3 in
                // us-east-1 answers 200). Others cannot be created here.
                return EdgeResponse(status: .ok, headers: [.location: "/" + (context.bucketName ?? "")])
            default:
                throw S3Error(.methodNotAllowed, message: "the specified method is not allowed against this resource")
            }
        }
        let key = try context.requireKey()
        if let subresource = Self.subresource(query), ["acl", "tagging"].contains(subresource) {
            guard request.method == .get else {
                throw S3Error(.notImplemented, message: "setting an object's \(subresource) is not supported: objects are private to the access keys")
            }
            guard try await bucket.head(key) != nil else { throw S3Error(.noSuchKey, message: "the specified key does not exist", resource: context.resource) }
            return subresource == "acl"
                ? Self.accessControlPolicy()
                : Self.xmlResponse(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet></TagSet></Tagging>")
        }
        switch request.method {
        case .get where query["uploadId"] != nil:
            return try await listParts(bucket, key, context)
        case .get, .head:
            return try await getObject(bucket, key, request, context)
        case .put where query["uploadId"] != nil:
            if request.headers[HTTPField.Name("x-amz-copy-source")!] != nil { return try await uploadPartCopy(bucket, key, request, context) }
            return try await uploadPart(bucket, key, request, context)
        case .put:
            if request.headers[HTTPField.Name("x-amz-copy-source")!] != nil { return try await copyObject(bucket, key, request, context) }
            return try await putObject(bucket, key, request, context)
        case .delete where query["uploadId"] != nil:
            try await bucket.abortMultipartUpload(key: key, uploadId: query["uploadId"] ?? "")
            return EdgeResponse(status: .noContent)
        case .delete:
            try await bucket.delete([key])
            return EdgeResponse(status: .noContent)
        case .post where query["uploads"] != nil:
            return try await createMultipartUpload(bucket, key, request, context)
        case .post where query["uploadId"] != nil:
            return try await completeMultipartUpload(bucket, key, context)
        default:
            throw S3Error(.methodNotAllowed, message: "the specified method is not allowed against this resource")
        }
    }

    /// The bucket configuration sub-resources S3 clients ask about (s3cmd's `info`, rclone's
    /// checks): answered as S3 answers for a bucket that has none of them.
    static let subresources = [
        "acl", "policy", "cors", "lifecycle", "encryption", "tagging", "website", "versioning", "logging", "object-lock", "notification",
        "replication", "ownershipControls", "accelerate", "requestPayment", "publicAccessBlock", "policyStatus", "analytics", "metrics",
        "inventory", "intelligent-tiering",
    ]

    static func subresource(_ query: QueryParameters) -> String? { subresources.first { query[$0] != nil } }

    static func bucketSubresource(_ name: String, method: HTTPRequest.Method) throws -> EdgeResponse {
        guard method == .get else {
            throw S3Error(.notImplemented, message: "bucket \(name) configuration is not supported: buckets are configured in the config file")
        }
        let missing: [String: (String, String)] = [
            "policy": ("NoSuchBucketPolicy", "The bucket policy does not exist"),
            "cors": ("NoSuchCORSConfiguration", "The CORS configuration does not exist"),
            "lifecycle": ("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"),
            "encryption": ("ServerSideEncryptionConfigurationNotFoundError", "The server side encryption configuration was not found"),
            "tagging": ("NoSuchTagSet", "The TagSet does not exist"),
            "website": ("NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration"),
            "object-lock": ("ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket"),
            "publicAccessBlock": ("NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found"),
            "ownershipControls": ("OwnershipControlsNotFoundError", "The bucket ownership controls were not found"),
        ]
        if let (code, message) = missing[name] { throw S3Error(S3Error.Code(code, status: 404), message: message) }
        let namespace = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
        switch name {
        case "acl": return accessControlPolicy()
        case "versioning": return xmlResponse("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VersioningConfiguration \(namespace)/>")
        case "logging": return xmlResponse("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<BucketLoggingStatus \(namespace)/>")
        case "notification": return xmlResponse("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<NotificationConfiguration \(namespace)/>")
        case "requestPayment":
            return xmlResponse(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<RequestPaymentConfiguration \(namespace)><Payer>BucketOwner</Payer></RequestPaymentConfiguration>"
            )
        case "accelerate": return xmlResponse("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AccelerateConfiguration \(namespace)/>")
        default: throw S3Error(.notImplemented, message: "the bucket \(name) sub-resource is not supported")
        }
    }

    /// Private: the owner (every access key) has full control.
    static func accessControlPolicy() -> EdgeResponse {
        xmlResponse(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>swift-edge</ID><DisplayName>swift-edge</DisplayName></Owner><AccessControlList><Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>swift-edge</ID><DisplayName>swift-edge</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>"
        )
    }

    func listBuckets() -> EdgeResponse {
        var xml = XMLWriter()
        xml.open("ListAllMyBucketsResult", namespace: true)
        xml.element("Owner") {
            $0.element("ID", "swift-edge")
            $0.element("DisplayName", "swift-edge")
        }
        xml.element("Buckets") { xml in
            for name in configuration.buckets.keys.sorted() {
                xml.element("Bucket") {
                    $0.element("Name", name)
                    $0.element("CreationDate", Self.isoDate(created))
                }
            }
        }
        xml.close("ListAllMyBucketsResult")
        return Self.xmlResponse(xml.text)
    }

    func listObjects(_ bucket: any BlobBucket, _ context: Context, version2: Bool) async throws -> EdgeResponse {
        let query = context.query
        let urlEncoded: Bool
        switch query["encoding-type"] {
        case nil: urlEncoded = false
        case "url": urlEncoded = true
        case let other?: throw S3Error(.invalidArgument, message: "invalid encoding-type \(other): only url is supported")
        }
        let maxKeys: Int
        if let text = query["max-keys"] {
            guard let value = Int(text), value >= 0 else { throw S3Error(.invalidArgument, message: "max-keys must be a non-negative integer, not \(text)") }
            maxKeys = min(value, 1000)
        } else {
            maxKeys = 1000
        }
        let prefix = query["prefix"].flatMap { $0.isEmpty ? nil : $0 }
        let delimiter = query["delimiter"].flatMap { $0.isEmpty ? nil : $0 }
        let token = version2 ? query["continuation-token"] : nil
        let marker = version2 ? query["start-after"] : query["marker"]
        var objects: [BlobObject] = []
        var prefixes: [String] = []
        var truncated = false
        var nextToken: String?
        if maxKeys > 0 {
            var cursor = token
            var startAfter = token == nil ? marker : nil
            // A page may come back empty of what this listing shows (common prefixes at or
            // before the marker); keep reading until something is shown or nothing is left.
            repeat {
                let page = try await bucket.list(
                    BlobListOptions(
                        prefix: prefix, delimiter: delimiter, cursor: cursor, startAfter: startAfter, limit: maxKeys - objects.count - prefixes.count,
                        include: [.httpMetadata]))
                objects += page.objects
                prefixes += page.delimitedPrefixes.filter { marker == nil || token != nil || Self.byteOrder($0, marker!) == .orderedDescending }
                truncated = page.truncated
                cursor = page.cursor
                startAfter = nil
                nextToken = page.cursor
            } while truncated && objects.count + prefixes.count == 0
            _ = cursor
        }
        var xml = XMLWriter()
        xml.open("ListBucketResult", namespace: true)
        let encode = { (text: String) -> String in urlEncoded ? SigV4.uriEncode(text, keepSlash: true) : text }
        xml.element("Name", context.bucketName ?? "")
        xml.element("Prefix", encode(prefix ?? ""))
        if let delimiter { xml.element("Delimiter", encode(delimiter)) }
        xml.element("MaxKeys", maxKeys)
        if urlEncoded { xml.element("EncodingType", "url") }
        xml.element("IsTruncated", truncated)
        if version2 {
            xml.element("KeyCount", objects.count + prefixes.count)
            if let token { xml.element("ContinuationToken", token) }
            if let start = query["start-after"] { xml.element("StartAfter", encode(start)) }
            if truncated, let nextToken { xml.element("NextContinuationToken", nextToken) }
        } else {
            xml.element("Marker", encode(marker ?? ""))
            if truncated, let last = (objects.map(\.key) + prefixes).max(by: { Self.byteOrder($0, $1) == .orderedAscending }) {
                xml.element("NextMarker", encode(last))
            }
        }
        for object in objects {
            xml.element("Contents") {
                $0.element("Key", encode(object.key))
                $0.element("LastModified", Self.isoDate(object.uploaded))
                $0.element("ETag", object.httpEtag)
                $0.element("Size", object.size)
                $0.element("StorageClass", "STANDARD")
            }
        }
        for prefix in prefixes {
            xml.element("CommonPrefixes") { $0.element("Prefix", encode(prefix)) }
        }
        xml.close("ListBucketResult")
        return Self.xmlResponse(xml.text)
    }

    static func byteOrder(_ a: String, _ b: String) -> ComparisonResult {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        for (p, q) in zip(x, y) where p != q { return p < q ? .orderedAscending : .orderedDescending }
        return x.count == y.count ? .orderedSame : (x.count < y.count ? .orderedAscending : .orderedDescending)
    }

    // MARK: Objects

    static let metaPrefix = "x-amz-meta-"

    /// The metadata of a put or a multipart upload, from the request's headers.
    static func metadata(_ request: EdgeRequest) throws -> (BlobHTTPMetadata, [String: String]) {
        var http = BlobHTTPMetadata()
        http.contentType = request.headers[.contentType]
        http.contentLanguage = request.headers[.contentLanguage]
        http.contentDisposition = request.headers[.contentDisposition]
        http.cacheControl = request.headers[.cacheControl]
        if let encoding = request.headers[.contentEncoding] {
            let kept = encoding.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.lowercased() != "aws-chunked" }
            http.contentEncoding = kept.isEmpty ? nil : kept.joined(separator: ", ")
        }
        if let expires = request.headers[.expires] { http.cacheExpiry = parseHTTPDate(expires) }
        var custom: [String: String] = [:]
        for field in request.headers where field.name.canonicalName.hasPrefix(metaPrefix) {
            let name = S3Metadata.decodeKey(String(field.name.canonicalName.dropFirst(metaPrefix.count)))
            let value = S3Metadata.decodeValue(field.value)
            custom[name] = custom[name].map { $0 + "," + value } ?? value
        }
        return (http, custom)
    }

    func putObject(_ bucket: any BlobBucket, _ key: String, _ request: EdgeRequest, _ context: Context) async throws -> EdgeResponse {
        let (http, custom) = try Self.metadata(request)
        var conditions: BlobConditional?
        if let match = request.headers[.ifMatch] { conditions = BlobConditional(etagMatches: Self.etags(match)) }
        if let noneMatch = request.headers[.ifNoneMatch] { conditions = BlobConditional(etagDoesNotMatch: Self.etags(noneMatch)) }
        let stored = try await bucket.put(
            key, body: .stream(context.body), options: BlobPutOptions(httpMetadata: http, customMetadata: custom, onlyIf: conditions))
        guard let stored else { throw S3Error(.preconditionFailed, message: "at least one of the preconditions you specified did not hold") }
        var response = EdgeResponse(status: .ok, headers: [.eTag: stored.httpEtag])
        Self.echoChecksum(request, into: &response)
        return response
    }

    static func echoChecksum(_ request: EdgeRequest, into response: inout EdgeResponse) {
        for algorithm in S3ChecksumAlgorithm.allCases {
            if let name = HTTPField.Name(algorithm.headerName), let value = request.headers[name] { response.headers[name] = value }
        }
    }

    package static func etags(_ header: String) -> [String] {
        header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    func getObject(_ bucket: any BlobBucket, _ key: String, _ request: EdgeRequest, _ context: Context) async throws -> EdgeResponse {
        for _ in 0..<3 {
            guard let object = try await bucket.head(key) else {
                throw S3Error(.noSuchKey, message: "the specified key does not exist", resource: context.resource)
            }
            var headers = Self.objectHeaders(object)
            // S3's precedence: If-Match before If-Unmodified-Since; If-None-Match before If-Modified-Since.
            let ifMatch = request.headers[.ifMatch].map { BlobConditional(etagMatches: Self.etags($0)).holds(for: object) }
            let ifNoneMatch = request.headers[.ifNoneMatch].map { BlobConditional(etagDoesNotMatch: Self.etags($0)).holds(for: object) }
            let seconds = { (date: Date) in floor(date.timeIntervalSince1970) }
            if ifMatch == false { throw S3Error(.preconditionFailed, message: "At least one of the pre-conditions you specified did not hold") }
            if ifMatch == nil, let text = request.headers[.ifUnmodifiedSince], let date = Self.parseHTTPDate(text), seconds(object.uploaded) > seconds(date) {
                throw S3Error(.preconditionFailed, message: "At least one of the pre-conditions you specified did not hold")
            }
            if ifNoneMatch == false { return EdgeResponse(status: .notModified, headers: headers) }
            if ifNoneMatch == nil, let text = request.headers[.ifModifiedSince], let date = Self.parseHTTPDate(text), seconds(object.uploaded) <= seconds(date)
            {
                return EdgeResponse(status: .notModified, headers: headers)
            }
            var range: BlobRange?
            if let header = request.headers[.range] {
                switch Self.parseRange(header) {
                case nil: break
                case .some(let parsed):
                    let unsatisfiable: Bool
                    switch parsed {
                    case .offset(let offset, _): unsatisfiable = offset >= object.size
                    case .suffix(let length): unsatisfiable = length == 0
                    case .length: unsatisfiable = false
                    }
                    if unsatisfiable {
                        throw S3Error(.invalidRange, message: "the requested range \(header) is not satisfiable (the object has \(object.size) bytes)")
                    }
                    if object.size > 0 { range = parsed }
                }
            }
            for (parameter, field) in [
                ("response-content-type", HTTPField.Name.contentType), ("response-content-language", .contentLanguage),
                ("response-expires", .expires), ("response-cache-control", .cacheControl), ("response-content-disposition", .contentDisposition),
                ("response-content-encoding", .contentEncoding),
            ] {
                if let value = context.query[parameter] { headers[field] = value }
            }
            if request.method == .head {
                headers[.contentLength] = String(object.size)
                return EdgeResponse(status: .ok, headers: headers)
            }
            guard let result = try await bucket.get(key, options: BlobGetOptions(range: range, onlyIf: BlobConditional(etagMatches: [object.etag]))) else {
                throw S3Error(.noSuchKey, message: "the specified key does not exist", resource: context.resource)
            }
            guard let body = result.body else { continue }  // replaced meanwhile: read the new one
            if let served = result.object.range, range != nil {
                headers[.contentRange] = "bytes \(served.offset)-\(served.offset + served.length - 1)/\(object.size)"
                headers[.contentLength] = String(served.length)
                return EdgeResponse(status: .partialContent, headers: headers, body: .stream(body))
            }
            headers[.contentLength] = String(object.size)
            return EdgeResponse(status: .ok, headers: headers, body: .stream(body))
        }
        throw S3Error(.internalError, message: "the object changed three times while it was being read; retry")
    }

    static func objectHeaders(_ object: BlobObject) -> HTTPFields {
        var headers: HTTPFields = [.eTag: object.httpEtag, .lastModified: httpDate(object.uploaded), .acceptRanges: "bytes"]
        headers[.contentType] = object.httpMetadata.contentType ?? "binary/octet-stream"
        if let value = object.httpMetadata.contentLanguage { headers[.contentLanguage] = value }
        if let value = object.httpMetadata.contentDisposition { headers[.contentDisposition] = value }
        if let value = object.httpMetadata.contentEncoding { headers[.contentEncoding] = value }
        if let value = object.httpMetadata.cacheControl { headers[.cacheControl] = value }
        if let value = object.httpMetadata.cacheExpiry { headers[.expires] = httpDate(value) }
        for (name, value) in object.customMetadata.sorted(by: { $0.key < $1.key }) {
            if let field = HTTPField.Name(metaPrefix + S3Metadata.encodeKey(name)) { headers[field] = S3Metadata.encodeValue(value) }
        }
        return headers
    }

    /// `bytes=A-B`, `bytes=A-`, `bytes=-N`; nil when it is not one such range (S3 then serves
    /// the whole object).
    package static func parseRange(_ header: String) -> BlobRange? {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return nil }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        if parts[0].isEmpty {
            guard let suffix = Int(parts[1]), suffix >= 0 else { return nil }
            return .suffix(suffix)
        }
        guard let start = Int(parts[0]), start >= 0 else { return nil }
        if parts[1].isEmpty { return .offset(start) }
        guard let end = Int(parts[1]), end >= start else { return nil }
        // bytes=0-9223372036854775807 (found writing the http-headers fuzz harness): to the end.
        let (length, overflow) = (end - start).addingReportingOverflow(1)
        return overflow ? .offset(start) : .offset(start, length: length)
    }

    /// `x-amz-copy-source`: `/BUCKET/KEY` or `BUCKET/KEY`, URL-encoded.
    func copySource(_ request: EdgeRequest) throws -> (any BlobBucket, String, String) {
        let raw = request.headers[HTTPField.Name("x-amz-copy-source")!] ?? ""
        var text = Self.decode(Substring(raw.split(separator: "?", maxSplits: 1).first ?? ""))
        if text.hasPrefix("/") { text.removeFirst() }
        guard let slash = text.firstIndex(of: "/"), slash != text.startIndex, text.index(after: slash) != text.endIndex else {
            throw S3Error(.invalidArgument, message: "x-amz-copy-source must be BUCKET/KEY, not \(raw)")
        }
        let name = String(text[..<slash])
        guard let bucket = configuration.buckets[name] else {
            throw S3Error(.noSuchBucket, message: "the source bucket does not exist: \(name)", resource: "/" + name)
        }
        return (bucket, name, String(text[text.index(after: slash)...]))
    }

    /// The source object, its copy-source conditions checked.
    func copySourceObject(_ request: EdgeRequest, range: BlobRange? = nil) async throws -> (BlobObject, BlobStream) {
        let (bucket, name, key) = try copySource(request)
        guard let object = try await bucket.head(key) else {
            throw S3Error(.noSuchKey, message: "the specified key does not exist", resource: "/\(name)/\(key)")
        }
        let header = { (suffix: String) in request.headers[HTTPField.Name("x-amz-copy-source-" + suffix)!] }
        let failed = S3Error(.preconditionFailed, message: "At least one of the pre-conditions you specified did not hold")
        if let match = header("if-match"), !BlobConditional(etagMatches: Self.etags(match)).holds(for: object) { throw failed }
        if let noneMatch = header("if-none-match"), !BlobConditional(etagDoesNotMatch: Self.etags(noneMatch)).holds(for: object) { throw failed }
        if let text = header("if-unmodified-since"), let date = Self.parseHTTPDate(text),
            floor(object.uploaded.timeIntervalSince1970) > date.timeIntervalSince1970
        {
            throw failed
        }
        if let text = header("if-modified-since"), let date = Self.parseHTTPDate(text),
            floor(object.uploaded.timeIntervalSince1970) <= date.timeIntervalSince1970
        {
            throw failed
        }
        guard let result = try await bucket.get(key, options: BlobGetOptions(range: range, onlyIf: BlobConditional(etagMatches: [object.etag]))),
            let body = result.body
        else {
            throw S3Error(.noSuchKey, message: "the source object changed or vanished while it was copied", resource: "/\(name)/\(key)")
        }
        return (result.object, body)
    }

    func copyObject(_ bucket: any BlobBucket, _ key: String, _ request: EdgeRequest, _ context: Context) async throws -> EdgeResponse {
        let (source, body) = try await copySourceObject(request)
        var http = source.httpMetadata
        var custom = source.customMetadata
        switch request.headers[HTTPField.Name("x-amz-metadata-directive")!]?.uppercased() ?? "COPY" {
        case "COPY": break
        case "REPLACE": (http, custom) = try Self.metadata(request)
        case let other: throw S3Error(.invalidArgument, message: "x-amz-metadata-directive must be COPY or REPLACE, not \(other)")
        }
        guard let stored = try await bucket.put(key, body: .stream(body), options: BlobPutOptions(httpMetadata: http, customMetadata: custom)) else {
            throw S3Error(.preconditionFailed, message: "At least one of the pre-conditions you specified did not hold")
        }
        var xml = XMLWriter()
        xml.open("CopyObjectResult", namespace: true)
        xml.element("LastModified", Self.isoDate(stored.uploaded))
        xml.element("ETag", stored.httpEtag)
        xml.close("CopyObjectResult")
        return Self.xmlResponse(xml.text)
    }

    func deleteObjects(_ bucket: any BlobBucket, _ context: Context) async throws -> EdgeResponse {
        let document = try XMLNode.parse(try await context.body.collect(upTo: 2 << 20))
        guard document.name == "Delete" else { throw S3Error(.malformedXML, message: "the document is <\(document.name)>, not <Delete>") }
        let keys = document.all("Object").compactMap { $0.value("Key") }
        guard !keys.isEmpty, keys.count <= 1000 else {
            throw S3Error(.malformedXML, message: "a Delete names 1...1000 objects; this one names \(keys.count)")
        }
        let quiet = document.value("Quiet")?.lowercased() == "true"
        try await bucket.delete(keys)
        var xml = XMLWriter()
        xml.open("DeleteResult", namespace: true)
        if !quiet {
            for key in keys { xml.element("Deleted") { $0.element("Key", key) } }
        }
        xml.close("DeleteResult")
        return Self.xmlResponse(xml.text)
    }

    // MARK: Multipart

    func createMultipartUpload(_ bucket: any BlobBucket, _ key: String, _ request: EdgeRequest, _ context: Context) async throws -> EdgeResponse {
        let (http, custom) = try Self.metadata(request)
        let upload = try await bucket.createMultipartUpload(key, options: BlobMultipartOptions(httpMetadata: http, customMetadata: custom))
        var xml = XMLWriter()
        xml.open("InitiateMultipartUploadResult", namespace: true)
        xml.element("Bucket", context.bucketName ?? "")
        xml.element("Key", key)
        xml.element("UploadId", upload.uploadId)
        xml.close("InitiateMultipartUploadResult")
        var response = Self.xmlResponse(xml.text)
        if let algorithm = request.headers[HTTPField.Name("x-amz-checksum-algorithm")!] {
            response.headers[HTTPField.Name("x-amz-checksum-algorithm")!] = algorithm
        }
        return response
    }

    func partNumber(_ context: Context) throws -> Int {
        guard let text = context.query["partNumber"], let number = Int(text), (1...10_000).contains(number) else {
            throw S3Error(.invalidArgument, message: "partNumber must be an integer in 1...10000")
        }
        return number
    }

    func uploadPart(_ bucket: any BlobBucket, _ key: String, _ request: EdgeRequest, _ context: Context) async throws -> EdgeResponse {
        let part = try await bucket.uploadPart(
            key: key, uploadId: context.query["uploadId"] ?? "", partNumber: try partNumber(context), body: .stream(context.body))
        var response = EdgeResponse(status: .ok, headers: [.eTag: "\"\(part.etag)\""])
        Self.echoChecksum(request, into: &response)
        return response
    }

    func uploadPartCopy(_ bucket: any BlobBucket, _ key: String, _ request: EdgeRequest, _ context: Context) async throws -> EdgeResponse {
        var range: BlobRange?
        if let header = request.headers[HTTPField.Name("x-amz-copy-source-range")!] {
            guard case .offset(let offset, let length?)? = Self.parseRange(header) else {
                throw S3Error(.invalidArgument, message: "x-amz-copy-source-range must be bytes=FIRST-LAST, not \(header)")
            }
            range = .offset(offset, length: length)
        }
        let (_, body) = try await copySourceObject(request, range: range)
        let part = try await bucket.uploadPart(key: key, uploadId: context.query["uploadId"] ?? "", partNumber: try partNumber(context), body: .stream(body))
        var xml = XMLWriter()
        xml.open("CopyPartResult", namespace: true)
        xml.element("LastModified", Self.isoDate(configuration.now()))
        xml.element("ETag", "\"\(part.etag)\"")
        xml.close("CopyPartResult")
        return Self.xmlResponse(xml.text)
    }

    func completeMultipartUpload(_ bucket: any BlobBucket, _ key: String, _ context: Context) async throws -> EdgeResponse {
        let document = try XMLNode.parse(try await context.body.collect(upTo: 4 << 20))
        guard document.name == "CompleteMultipartUpload" else {
            throw S3Error(.malformedXML, message: "the document is <\(document.name)>, not <CompleteMultipartUpload>")
        }
        var parts: [BlobUploadedPart] = []
        for node in document.all("Part") {
            guard let numberText = node.value("PartNumber"), let number = Int(numberText.trimmingCharacters(in: .whitespaces)), let etag = node.value("ETag")
            else {
                throw S3Error(.malformedXML, message: "every <Part> needs <PartNumber> and <ETag>")
            }
            var bare = etag.trimmingCharacters(in: .whitespaces)
            if bare.hasPrefix("\""), bare.hasSuffix("\""), bare.count >= 2 { bare = String(bare.dropFirst().dropLast()) }
            parts.append(BlobUploadedPart(partNumber: number, etag: bare))
        }
        guard !parts.isEmpty else { throw S3Error(.malformedXML, message: "a CompleteMultipartUpload names at least one part") }
        // S3 checks the order before the parts themselves.
        for (earlier, later) in zip(parts, parts.dropFirst()) where later.partNumber <= earlier.partNumber {
            throw S3Error(
                .invalidPartOrder, message: "the list of parts was not in ascending order: part \(later.partNumber) follows part \(earlier.partNumber)")
        }
        let object = try await bucket.completeMultipartUpload(key: key, uploadId: context.query["uploadId"] ?? "", parts: parts)
        var xml = XMLWriter()
        xml.open("CompleteMultipartUploadResult", namespace: true)
        xml.element("Location", context.resource)
        xml.element("Bucket", context.bucketName ?? "")
        xml.element("Key", key)
        xml.element("ETag", object.httpEtag)
        xml.close("CompleteMultipartUploadResult")
        return Self.xmlResponse(xml.text)
    }

    func listParts(_ bucket: any BlobBucket, _ key: String, _ context: Context) async throws -> EdgeResponse {
        let uploadId = context.query["uploadId"] ?? ""
        let maxParts = min(Int(context.query["max-parts"] ?? "") ?? 1000, 1000)
        let marker = Int(context.query["part-number-marker"] ?? "") ?? 0
        let all = try await bucket.listParts(key: key, uploadId: uploadId).filter { $0.partNumber > marker }
        let page = all.prefix(maxParts)
        var xml = XMLWriter()
        xml.open("ListPartsResult", namespace: true)
        xml.element("Bucket", context.bucketName ?? "")
        xml.element("Key", key)
        xml.element("UploadId", uploadId)
        xml.element("PartNumberMarker", marker)
        if let last = page.last { xml.element("NextPartNumberMarker", last.partNumber) }
        xml.element("MaxParts", maxParts)
        xml.element("IsTruncated", all.count > page.count)
        xml.element("StorageClass", "STANDARD")
        for part in page {
            xml.element("Part") {
                $0.element("PartNumber", part.partNumber)
                $0.element("LastModified", Self.isoDate(part.uploaded))
                $0.element("ETag", "\"\(part.etag)\"")
                $0.element("Size", part.size)
            }
        }
        xml.close("ListPartsResult")
        return Self.xmlResponse(xml.text)
    }

    func listMultipartUploads(_ bucket: any BlobBucket, _ context: Context) async throws -> EdgeResponse {
        let prefix = context.query["prefix"] ?? ""
        let maxUploads = min(Int(context.query["max-uploads"] ?? "") ?? 1000, 1000)
        let keyMarker = context.query["key-marker"] ?? ""
        let all = try await bucket.listMultipartUploads(prefix: prefix.isEmpty ? nil : prefix)
            .filter { keyMarker.isEmpty || Self.byteOrder($0.key, keyMarker) == .orderedDescending }
        let page = all.prefix(maxUploads)
        var xml = XMLWriter()
        xml.open("ListMultipartUploadsResult", namespace: true)
        xml.element("Bucket", context.bucketName ?? "")
        xml.element("KeyMarker", keyMarker)
        xml.element("UploadIdMarker", "")
        if all.count > page.count, let last = page.last { xml.element("NextKeyMarker", last.key) }
        xml.element("Prefix", prefix)
        xml.element("MaxUploads", maxUploads)
        xml.element("IsTruncated", all.count > page.count)
        for upload in page {
            xml.element("Upload") {
                $0.element("Key", upload.key)
                $0.element("UploadId", upload.uploadId)
                $0.element("Initiated", Self.isoDate(upload.initiated))
                $0.element("StorageClass", "STANDARD")
            }
        }
        xml.close("ListMultipartUploadsResult")
        return Self.xmlResponse(xml.text)
    }

    // MARK: Answers

    static func xmlResponse(_ text: String, status: HTTPResponse.Status = .ok) -> EdgeResponse {
        EdgeResponse(status: status, headers: [.contentType: "application/xml"], body: .text(text))
    }

    static func errorResponse(_ error: S3Error, resource: String, requestID: String, method: HTTPRequest.Method) -> EdgeResponse {
        let status = HTTPResponse.Status(code: error.code.status)
        var headers: HTTPFields = [HTTPField.Name("x-amz-request-id")!: requestID]
        // HEAD answers carry no body; 304 neither.
        if method == .head || error.code.status == 304 { return EdgeResponse(status: status, headers: headers) }
        var xml = XMLWriter()
        xml.open("Error")
        xml.element("Code", error.code.name)
        xml.element("Message", error.message)
        xml.element("Resource", resource)
        xml.element("RequestId", requestID)
        xml.close("Error")
        headers[.contentType] = "application/xml"
        return EdgeResponse(status: status, headers: headers, body: .text(xml.text))
    }

    static func s3Error(_ error: BlobError) -> S3Error {
        let code: S3Error.Code
        switch error.code {
        case .keyTooLong: code = .keyTooLong
        case .invalidKey: code = .invalidArgument
        case .metadataTooLarge: code = .metadataTooLarge
        case .objectTooLarge, .partTooLarge: code = .entityTooLarge
        case .checksumMismatch: code = .badDigest
        case .invalidChecksum: code = .invalidDigest
        case .invalidRange: code = .invalidRange
        case .noSuchUpload: code = .noSuchUpload
        case .invalidPart: code = .invalidPart
        case .invalidPartOrder: code = .invalidPartOrder
        case .partTooSmall: code = .entityTooSmall
        case .invalidPartNumber, .tooManyParts, .tooManyKeys, .invalidListLimit, .invalidCursor, .invalidDelimiter: code = .invalidArgument
        case .bodyFailed: code = .incompleteBody
        default: code = .internalError
        }
        return S3Error(code, message: error.message)
    }

    package static func isoDate(_ date: Date) -> String {
        let parts = SigV4.utcParts(date)
        let milliseconds = Int((date.timeIntervalSince1970 * 1000).truncatingRemainder(dividingBy: 1000))
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second, max(0, milliseconds))
    }

    static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// RFC 7231's IMF-fixdate.
    package static func httpDate(_ date: Date) -> String {
        let parts = SigV4.utcParts(date)
        let weekday = SigV4.utcCalendar.component(.weekday, from: date)
        return String(
            format: "%@, %02d %@ %04d %02d:%02d:%02d GMT", weekdays[weekday - 1], parts.day, months[parts.month - 1], parts.year, parts.hour, parts.minute,
            parts.second)
    }

    /// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) or ISO 8601 (`1994-11-06T08:49:37Z`).
    package static func parseHTTPDate(_ text: String) -> Date? {
        let fields = text.split(separator: " ")
        if fields.count == 6, let day = Int(fields[1]), let month = months.firstIndex(of: String(fields[2])), let year = Int(fields[3]) {
            let time = fields[4].split(separator: ":").compactMap { Int($0) }
            guard time.count == 3 else { return nil }
            var components = DateComponents()
            (components.year, components.month, components.day) = (year, month + 1, day)
            (components.hour, components.minute, components.second) = (time[0], time[1], time[2])
            return SigV4.utcCalendar.date(from: components)
        }
        let compact = text.replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
        if compact.count >= 16 { return SigV4.parseAmzDate(String(compact.prefix(15)) + "Z") }
        return nil
    }
}
