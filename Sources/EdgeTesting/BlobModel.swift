public import EdgeBlob
import Foundation

/// Model-based checking of a `BlobBucket`: random sequences of puts (plain and conditional),
/// ranged and conditional gets, deletes, delimited lists with small pages, and multipart uploads
/// (completed and aborted) run against a backend and against a plain dictionary of byte arrays.
/// After every operation each key's size and bytes read the same from both. Operations are
/// three small integers each (see ``KVModel``).
public enum BlobModel {
    public static let keys = ["a", "a/b", "a/c/d", "b", "é/x", "z"]

    public enum Operation: Sendable, CustomStringConvertible {
        case put(key: Int, size: Int, condition: Int)
        case get(key: Int, range: Int)
        case conditionalGet(key: Int, stale: Bool)
        case delete(key: Int)
        case deleteMany(first: Int)
        case list(prefix: String?, delimited: Bool, limit: Int)
        case multipart(key: Int, size: Int, complete: Bool)

        /// Decodes (kind, key, parameter) codes: kind 0...6, key any, parameter 0...120.
        public init(_ code: (Int, Int, Int)) {
            let (kind, key, parameter) = code
            let index = abs(key) % BlobModel.keys.count
            switch abs(kind) % 7 {
            case 0: self = .put(key: index, size: parameter % 23, condition: parameter % 5)
            case 1: self = .get(key: index, range: parameter)
            case 2: self = .conditionalGet(key: index, stale: parameter % 2 == 0)
            case 3: self = .delete(key: index)
            case 4: self = .deleteMany(first: index)
            case 5: self = .list(prefix: [nil, "a", "a/", "é"][index % 4], delimited: parameter % 2 == 0, limit: 1 + parameter % 3)
            default: self = .multipart(key: index, size: parameter % 17, complete: parameter % 4 != 0)
            }
        }

        public var description: String {
            let k = BlobModel.keys
            switch self {
            case .put(let key, let size, let condition): return "put(\(k[key]), \(size) bytes, condition \(condition))"
            case .get(let key, let range): return "get(\(k[key]), range code \(range))"
            case .conditionalGet(let key, let stale): return "get(\(k[key]), onlyIf etag \(stale ? "stale" : "current"))"
            case .delete(let key): return "delete(\(k[key]))"
            case .deleteMany(let first): return "delete(\(k[first]), \(k[(first + 1) % k.count]))"
            case .list(let prefix, let delimited, let limit): return "list(prefix \(prefix ?? "-"), \(delimited ? "delimiter /" : "flat"), limit \(limit))"
            case .multipart(let key, let size, let complete): return "multipart(\(k[key]), \(size) bytes, \(complete ? "complete" : "abort"))"
            }
        }
    }

    /// The range a code asks for, and what the model expects from `size` bytes: a slice, or nil
    /// for `invalidRange`.
    static func range(_ code: Int, size: Int) -> (BlobRange?, Range<Int>?) {
        let a = code % 13, b = code / 13 % 9
        switch code % 4 {
        case 0: return (nil, 0..<size)
        case 1:
            // Offset 0 of an empty object is the empty body, as `BlobRange.resolve` documents.
            guard a < size || (a == 0 && size == 0), b > 0 else { return (.offset(a, length: b == 0 ? 0 : b), nil) }
            return (.offset(a, length: b), a..<min(size, a + b))
        case 2:
            guard b > 0 else { return (.length(0), nil) }
            return (.length(b), 0..<min(size, b))
        default:
            guard a > 0 else { return (.suffix(0), nil) }
            return (.suffix(a), max(0, size - a)..<size)
        }
    }

    static func content(_ seed: Int, size: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: seed &* 31 &+ $0 &* 7) } }

    /// Runs `operations` on a fresh bucket of `harness` and on the model.
    ///
    /// - Throws: ``ConformanceFailure`` at the first operation after which they differ (naming
    ///   the sequence so far), or what the backend threw.
    public static func check(_ operations: [Operation], on harness: ConformanceHarness<any BlobBucket>) async throws {
        let bucket = try await harness.make(TestClock())
        var model: [String: (bytes: [UInt8], etag: String)] = [:]
        var staleEtags: [String] = ["never-an-etag"]
        var done: [Operation] = []
        for (step, operation) in operations.enumerated() {
            done.append(operation)
            let context = "after \(done.map(\.description).joined(separator: "; "))"
            switch operation {
            case .put(let key, let size, let condition):
                let name = keys[key]
                let bytes = content(step, size: size)
                let current = model[name]?.etag
                let onlyIf: BlobConditional?
                let succeeds: Bool
                switch condition {
                case 1:
                    onlyIf = BlobConditional(etagMatches: [current ?? staleEtags.last!])
                    succeeds = current != nil
                case 2:
                    // A superseded etag; equal contents (two empty bodies) can make it current again.
                    onlyIf = BlobConditional(etagMatches: [staleEtags.last!])
                    succeeds = current != nil && current == staleEtags.last
                case 3:
                    onlyIf = BlobConditional(etagDoesNotMatch: ["*"])
                    succeeds = current == nil
                default:
                    onlyIf = nil
                    succeeds = true
                }
                let stored = try await bucket.put(name, body: .bytes(bytes), options: BlobPutOptions(onlyIf: onlyIf))
                try Check.equal(stored != nil, succeeds, "\(operation) stored \(context)")
                if let stored {
                    try Check.equal(stored.size, size, "the stored size \(context)")
                    if let current { staleEtags.append(current) }
                    model[name] = (bytes, stored.etag)
                }
            case .get(let key, let code):
                let name = keys[key]
                guard let entry = model[name] else {
                    try Check.that(try await bucket.get(name) == nil, "\(name) is absent \(context)")
                    break
                }
                let (range, slice) = Self.range(code, size: entry.bytes.count)
                if let slice {
                    let result = try await bucket.get(name, options: BlobGetOptions(range: range))
                    try Check.equal(try await result?.body?.bytes(), Array(entry.bytes[slice]), "\(operation) bytes \(context)")
                } else {
                    try await Check.throwsError(
                        BlobError.self, "\(operation) \(context)", matching: { $0.code == .invalidRange },
                        { _ = try await bucket.get(name, options: BlobGetOptions(range: range)) })
                }
            case .conditionalGet(let key, let stale):
                let name = keys[key]
                let etag = stale ? staleEtags.last! : (model[name]?.etag ?? staleEtags.last!)
                let result = try await bucket.get(name, options: BlobGetOptions(onlyIf: BlobConditional(etagMatches: [etag])))
                try Check.equal(result == nil, model[name] == nil, "\(name) present \(context)")
                if let entry = model[name] {
                    let matches = entry.etag == etag
                    try Check.equal(result?.body != nil, matches, "a body only when the etag matches \(context)")
                    if matches { try Check.equal(try await result?.body?.bytes(), entry.bytes, "the bytes \(context)") }
                }
            case .delete(let key):
                try await bucket.delete(keys[key])
                model[keys[key]] = nil
            case .deleteMany(let first):
                let names = [keys[first], keys[(first + 1) % keys.count]]
                try await bucket.delete(names)
                for name in names { model[name] = nil }
            case .list(let prefix, let delimited, let limit):
                var objects: [String] = []
                var prefixes: [String] = []
                var cursor: String?
                var pages = 0
                repeat {
                    let page = try await bucket.list(BlobListOptions(prefix: prefix, delimiter: delimited ? "/" : nil, cursor: cursor, limit: limit))
                    objects += page.objects.map(\.key)
                    prefixes += page.delimitedPrefixes
                    try Check.that(page.objects.count + page.delimitedPrefixes.count <= limit, "a page past the limit \(context)")
                    cursor = page.truncated ? page.cursor : nil
                    pages += 1
                } while cursor != nil && pages < 50
                let matching = model.keys.filter { prefix.map($0.hasPrefix) ?? true }
                var expectedObjects: [String] = []
                var expectedPrefixes: Set<String> = []
                for key in matching {
                    let rest = key.dropFirst(prefix?.count ?? 0)
                    if delimited, let slash = rest.firstIndex(of: "/") {
                        expectedPrefixes.insert((prefix ?? "") + rest[...slash])
                    } else {
                        expectedObjects.append(key)
                    }
                }
                func byteOrder(_ a: String, _ b: String) -> Bool { Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) }
                try Check.equal(objects, expectedObjects.sorted(by: byteOrder), "\(operation) objects \(context)")
                try Check.equal(Set(prefixes), expectedPrefixes, "\(operation) prefixes \(context)")
                try Check.equal(prefixes.count, expectedPrefixes.count, "\(operation) each prefix once \(context)")
            case .multipart(let key, let size, let complete):
                let name = keys[key]
                let upload = try await bucket.createMultipartUpload(name)
                let bytes = content(step, size: size)
                let part = try await upload.uploadPart(1, .bytes(bytes))
                if complete {
                    let object = try await upload.complete([part])
                    try Check.equal(object.size, size, "the completed size \(context)")
                    if let current = model[name]?.etag { staleEtags.append(current) }
                    model[name] = (bytes, object.etag)
                } else {
                    try await upload.abort()
                }
                try Check.that(try await bucket.listMultipartUploads(prefix: name).allSatisfy { $0.key != name }, "no upload left pending \(context)")
            }
            for name in keys {
                let head = try await bucket.head(name)
                try Check.equal(head?.size, model[name]?.bytes.count, "\(name) size \(context)")
                try Check.equal(head?.etag, model[name]?.etag, "\(name) etag \(context)")
            }
        }
        for name in keys {
            try Check.equal(try await bucket.get(name)?.body?.bytes(), model[name]?.bytes, "\(name) bytes at the end")
        }
    }
}
