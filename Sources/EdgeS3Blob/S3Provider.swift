import EdgeBlob
import EdgeCore
public import EdgeRuntime
import EdgeS3
public import Foundation
import NIOCore

extension BackendName {
    /// Buckets on the S3-compatible store of the config's `s3` section (EdgeS3Blob).
    public static let s3: BackendName = "s3"
}

/// The `s3` section: the store every `"backend": "s3"` bucket lives in.
///
/// ```jsonc
/// "secrets": ["S3_SECRET_ACCESS_KEY"],
/// "s3": {
///   "endpoint": "http://127.0.0.1:9000",
///   "region": "us-east-1",
///   "access_key_id": "AKIDEXAMPLE",
///   "secret_access_key_secret": "S3_SECRET_ACCESS_KEY"
/// },
/// "r2_buckets": [{ "binding": "RECORDINGS", "bucket_name": "recordings", "backend": "s3" }]
/// ```
///
/// Each bucket binding's `bucket_name` is the bucket's name in the store.
public struct S3Settings: BackendSettings, Hashable {
    public static let section = "s3"

    /// `http://` or `https://` with a host, and an optional port and path prefix.
    public var endpoint: URL
    /// The signing region. Default `us-east-1`.
    public var region: String
    /// The access key id written in the config...
    public var accessKeyID: String?
    /// ... or the name of a declared secret holding it.
    public var accessKeyIDSecret: String?
    /// The name of a declared secret holding the secret access key (never written in the config).
    public var secretAccessKeySecret: String
    /// Path-style addressing (default) or virtual-hosted (`false`).
    public var pathStyle: Bool
    /// Multipart part size in MiB, 5...5120. Default 8.
    public var partSizeMiB: Int
    /// Parts uploaded at once, 1...64. Default 4.
    public var maxConcurrentParts: Int
    /// Attempts per request, 1...64. Default 4.
    public var maxAttempts: Int
    /// Create missing buckets when the host starts (development stores). Default `false`.
    public var createBuckets: Bool

    public init(
        endpoint: URL, region: String = "us-east-1", accessKeyID: String? = nil, accessKeyIDSecret: String? = nil, secretAccessKeySecret: String,
        pathStyle: Bool = true, partSizeMiB: Int = 8, maxConcurrentParts: Int = 4, maxAttempts: Int = 4, createBuckets: Bool = false
    ) {
        self.endpoint = endpoint
        self.region = region
        self.accessKeyID = accessKeyID
        self.accessKeyIDSecret = accessKeyIDSecret
        self.secretAccessKeySecret = secretAccessKeySecret
        self.pathStyle = pathStyle
        self.partSizeMiB = partSizeMiB
        self.maxConcurrentParts = maxConcurrentParts
        self.maxAttempts = maxAttempts
        self.createBuckets = createBuckets
    }

    public init(parsing node: ConfigNode) throws {
        try node.allowKeys([
            "endpoint", "region", "access_key_id", "access_key_id_secret", "secret_access_key_secret", "path_style", "part_size_mb",
            "max_concurrent_parts", "max_attempts", "create_buckets",
        ]) { key in
            key == "secret_access_key" ? "a secret never goes in the config: declare it in \"secrets\" and name it in \"secret_access_key_secret\"" : nil
        }
        guard let endpoint = try node.optionalURL("endpoint", schemes: ["http", "https"]) else {
            throw try node.child("endpoint").error(.missingKey, expected: "an http:// or https:// URL", found: .null)
        }
        self.init(
            endpoint: endpoint, region: try node.optionalString("region") ?? "us-east-1", accessKeyID: try node.optionalString("access_key_id"),
            accessKeyIDSecret: try node.optionalString("access_key_id_secret"), secretAccessKeySecret: try node.string("secret_access_key_secret"),
            pathStyle: try node.optionalBool("path_style") ?? true, partSizeMiB: try node.optionalInt("part_size_mb", range: 5...5120) ?? 8,
            maxConcurrentParts: try node.optionalInt("max_concurrent_parts", range: 1...64) ?? 4,
            maxAttempts: try node.optionalInt("max_attempts", range: 1...64) ?? 4, createBuckets: try node.optionalBool("create_buckets") ?? false)
        if (accessKeyID == nil) == (accessKeyIDSecret == nil) {
            throw node.error(
                .invalidValue, expected: "exactly one of \"access_key_id\" and \"access_key_id_secret\"", found: .null,
                detail: "the s3 section needs the access key id, written or from a secret")
        }
    }

    public func validate(in config: EdgeConfig) throws {
        for (key, name) in [("s3.secret_access_key_secret", secretAccessKeySecret), ("s3.access_key_id_secret", accessKeyIDSecret)] {
            if let name, !config.secrets.contains(name) {
                throw ConfigError(
                    .missingBinding, file: config.file, key: key, expected: "a name listed in \"secrets\"",
                    message: "\(key) \"\(name)\" is not declared in \"secrets\"")
            }
        }
    }
}

/// S3-compatible storage as a backend: register it with a host to let its config say
/// `"backend": "s3"` for buckets.
///
/// ```swift
/// let providers = BackendProviders.builtIn.adding(PostgresProvider()).adding(S3Provider())
/// let config = try EdgeConfig.load("edge.jsonc", providers: providers)
/// ```
public struct S3Provider: BackendProvider {
    public init() {}

    public var name: BackendName { .s3 }
    public var kinds: Set<BindingKind> { [.bucket] }
    public var settingsType: (any BackendSettings.Type)? { S3Settings.self }

    public func open(_ context: BackendContext) throws -> any Backend {
        guard let settings = context.settings(S3Settings.self) else {
            throw context.error(.missingKey, key: "s3", expected: "an \"s3\" section", "backend \"s3\" is used but the config has no \"s3\" section")
        }
        let accessKeyID = try settings.accessKeyID ?? context.secret(settings.accessKeyIDSecret ?? "")
        let credentials = S3Credentials(accessKeyID: accessKeyID, secretAccessKey: try context.secret(settings.secretAccessKeySecret))
        return S3Backend(settings: settings, credentials: credentials, context: context)
    }
}

struct S3Backend: Backend {
    let settings: S3Settings
    let credentials: S3Credentials
    let context: BackendContext

    func bucket(_ binding: EdgeConfig.BucketBinding) throws -> any BlobBucket {
        let configuration = S3Blob.Configuration(
            endpoint: settings.endpoint, bucket: binding.bucketName, region: settings.region, credentials: credentials, pathStyle: settings.pathStyle,
            partSize: settings.partSizeMiB << 20, maxConcurrentParts: settings.maxConcurrentParts, maxAttempts: settings.maxAttempts,
            clock: context.clock, createBucketIfMissing: settings.createBuckets, logger: context.logger)
        do {
            return try S3Blob(configuration: configuration)
        } catch {
            throw context.error(.invalidValue, key: "r2_buckets", expected: "a bucket S3 can address", "bucket \(binding.binding): \(error)")
        }
    }
}
