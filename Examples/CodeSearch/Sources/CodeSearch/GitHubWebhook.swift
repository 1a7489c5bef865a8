import Crypto
import EdgeCore
import Foundation

/// A GitHub webhook event the pipeline acts on, reduced to what indexing needs.
public enum GitHubEvent: Codable, Sendable, Hashable {
    /// The hook was set up; nothing to index.
    case ping(hookID: Int?, zen: String?)
    /// Commits were pushed to `ref`: re-index what changed between `before` and `after`.
    case push(Push)
    /// A branch or tag was created.
    case create(repository: Repository, ref: String, refType: String)
    /// A branch or tag was deleted.
    case delete(repository: Repository, ref: String, refType: String)
    /// The app was installed on (or removed from) repositories.
    case installation(action: String, repositories: [String])

    public struct Repository: Codable, Sendable, Hashable {
        /// `owner/name`.
        public var fullName: String
        public var cloneURL: String?
        public var defaultBranch: String?
    }

    public struct Push: Codable, Sendable, Hashable {
        public var repository: Repository
        public var ref: String
        public var before: String
        public var after: String
        public var deleted: Bool
        /// Paths added, modified and removed across the pushed commits.
        public var added: [String]
        public var modified: [String]
        public var removed: [String]
    }
}

/// Why a webhook delivery was refused; `status` is the HTTP answer.
public struct WebhookError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case missingSignature, badSignature, malformedBody, tooLarge
    }

    public var code: Code
    public var message: String

    /// 401 for signature problems, 413 for an oversized body, 400 for a malformed one.
    public var status: Int {
        switch code {
        case .missingSignature, .badSignature: return 401
        case .tooLarge: return 413
        case .malformedBody: return 400
        }
    }

    public var description: String { message }
}

/// Verifies and parses GitHub webhook deliveries.
public struct GitHubWebhook: Sendable {
    /// GitHub's own cap on delivery payloads (25 MB).
    public static let defaultMaxBodyBytes = 25 * 1024 * 1024

    let secret: SymmetricKey
    public let maxBodyBytes: Int

    public init(secret: String, maxBodyBytes: Int = defaultMaxBodyBytes) {
        self.secret = SymmetricKey(data: Array(secret.utf8))
        self.maxBodyBytes = maxBodyBytes
    }

    /// `sha256=` + the hex HMAC-SHA256 of `body`, as GitHub sends in `X-Hub-Signature-256`.
    public func signature(of body: [UInt8]) -> String {
        "sha256=" + Hex.encode(HMAC<SHA256>.authenticationCode(for: body, using: secret))
    }

    /// Checks the `X-Hub-Signature-256` header against `body` in constant time.
    ///
    /// - Throws: ``WebhookError`` `.tooLarge`, `.missingSignature`, `.badSignature`.
    public func verify(body: [UInt8], signatureHeader: String?) throws {
        guard body.count <= maxBodyBytes else {
            throw WebhookError(code: .tooLarge, message: "webhook body of \(body.count) bytes exceeds the limit of \(maxBodyBytes) bytes")
        }
        guard let header = signatureHeader?.trimmingCharacters(in: .whitespaces), !header.isEmpty else {
            throw WebhookError(code: .missingSignature, message: "missing X-Hub-Signature-256 header")
        }
        guard header.hasPrefix("sha256="), let given = Hex.decode(String(header.dropFirst(7))), given.count == 32 else {
            throw WebhookError(code: .badSignature, message: "X-Hub-Signature-256 is not sha256=<64 hex digits>")
        }
        // Crypto's isValidAuthenticationCode compares in constant time.
        guard HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: body, using: secret) else {
            throw WebhookError(code: .badSignature, message: "X-Hub-Signature-256 does not match the body")
        }
    }

    /// Verifies and parses a delivery. Returns nil for an event the pipeline does not handle
    /// (it is acknowledged and ignored).
    ///
    /// - Throws: ``WebhookError`` (signature, size, or a body that is not the event's JSON).
    public func event(name: String?, body: [UInt8], signatureHeader: String?) throws -> GitHubEvent? {
        try verify(body: body, signatureHeader: signatureHeader)
        let json: JSONValue
        do {
            json = try JSONValue(parsing: Data(body))
        } catch {
            throw WebhookError(code: .malformedBody, message: "the webhook body is not JSON")
        }
        guard case .object = json else { throw WebhookError(code: .malformedBody, message: "the webhook body is not a JSON object") }
        func string(_ path: String) throws -> String {
            guard case .string(let value)? = json[path: path] else {
                throw WebhookError(code: .malformedBody, message: "\(name ?? "event") payload lacks \"\(path)\"")
            }
            return value
        }
        func repository() throws -> GitHubEvent.Repository {
            var cloneURL: String?
            if case .string(let url)? = json[path: "repository.clone_url"] { cloneURL = url }
            var branch: String?
            if case .string(let value)? = json[path: "repository.default_branch"] { branch = value }
            return GitHubEvent.Repository(fullName: try string("repository.full_name"), cloneURL: cloneURL, defaultBranch: branch)
        }
        switch name {
        case "ping":
            var hookID: Int?
            if case .int(let id)? = json[path: "hook_id"] { hookID = Int(id) }
            var zen: String?
            if case .string(let text)? = json[path: "zen"] { zen = text }
            return .ping(hookID: hookID, zen: zen)
        case "push":
            var added: [String] = [], modified: [String] = [], removed: [String] = []
            if case .array(let commits)? = json[path: "commits"] {
                for commit in commits {
                    added += Self.strings(commit[path: "added"])
                    modified += Self.strings(commit[path: "modified"])
                    removed += Self.strings(commit[path: "removed"])
                }
            }
            var deleted = false
            if case .bool(let flag)? = json[path: "deleted"] { deleted = flag }
            return .push(
                GitHubEvent.Push(
                    repository: try repository(), ref: try string("ref"), before: try string("before"), after: try string("after"),
                    deleted: deleted, added: Self.unique(added), modified: Self.unique(modified), removed: Self.unique(removed)))
        case "create":
            return .create(repository: try repository(), ref: try string("ref"), refType: try string("ref_type"))
        case "delete":
            return .delete(repository: try repository(), ref: try string("ref"), refType: try string("ref_type"))
        case "installation":
            var names: [String] = []
            if case .array(let repositories)? = json[path: "repositories"] {
                names = repositories.compactMap { value -> String? in
                    if case .string(let name)? = value[path: "full_name"] { return name }
                    return nil
                }
            }
            return .installation(action: try string("action"), repositories: names)
        default:
            return nil
        }
    }

    /// The strings of a JSON array (nothing for anything else).
    static func strings(_ value: JSONValue?) -> [String] {
        guard case .array(let items)? = value else { return [] }
        return items.compactMap { item -> String? in
            if case .string(let text) = item { return text }
            return nil
        }
    }

    static func unique(_ paths: [String]) -> [String] {
        var seen = Set<String>()
        return paths.filter { seen.insert($0).inserted }
    }
}
