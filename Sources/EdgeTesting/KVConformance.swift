import EdgeCore
public import EdgeKV
import Foundation

/// The conformance suite every `KVNamespace` backend passes: Workers KV semantics and limits,
/// expiry on a ``TestClock``, paging, unicode keys and, for durable backends, reopening.
///
/// Run it against a backend in a few lines of swift-testing:
///
/// ```swift
/// @Test(arguments: KVConformance.cases)
/// func conformance(_ check: KVConformance.Case) async throws {
///     try await check.run(KVConformance.Harness { clock in MemoryKV(clock: clock) })
/// }
/// ```
///
/// Each case gets a fresh, empty namespace from `make`, on a fresh ``TestClock``. The backend must
/// enforce `cloudflare` and conform to `KVMaintenance` (the reclamation case counts
/// stored keys). ``durableCases`` additionally need `reopen`, which closes the namespace and opens
/// it again from its storage.
public enum KVConformance {
    public typealias Harness = ConformanceHarness<any KVNamespace>
    public typealias Case = ConformanceCase<any KVNamespace>
    typealias Context = ConformanceContext<any KVNamespace>

    /// Checks every backend must pass.
    public static let cases: [Case] = [
        textRoundTrip, bytesRoundTrip, jsonRoundTrip, metadataRoundTrip, keyLimits, valueLimit, metadataLimit,
        expirationTtl, absoluteExpiration, expirationRules, overwriteReplacesExpiration, expiredKeysAreReclaimed,
        deletes, bulkGet, bulkPutIsAtomic, unicodeKeysByBytes, listPagingOver2500Keys, listPrefixes,
        listValidation, listCursorStableUnderWrites, concurrentWritersAndReaders,
    ]

    /// Checks for durable backends: what was committed is there after reopening.
    public static let durableCases: [Case] = [reopenKeepsCommittedData]

    // MARK: Values

    static let textRoundTrip = Case("text round trip and overwrite") { c in
        try Check.equal(try await c.kv.get("missing"), nil, "get of a missing key")
        try await c.kv.put("greeting", "hello")
        try Check.equal(try await c.kv.get("greeting"), "hello", "get after put")
        try await c.kv.put("greeting", "héllo wörld ✓")
        try Check.equal(try await c.kv.get("greeting"), "héllo wörld ✓", "get after overwrite")
        try await c.kv.put("empty", "")
        try Check.equal(try await c.kv.get("empty"), "", "an empty value is a value, not a missing key")
    }

    static let bytesRoundTrip = Case("bytes round trip") { c in
        let bytes: [UInt8] = [0, 1, 2, 0xFF, 0xFE, 0, 0x80, 10, 13]
        try await c.kv.put("bin", bytes: bytes)
        try Check.equal(try await c.kv.getBytes("bin"), bytes, "bytes with NULs and invalid UTF-8")
        let text = try await c.kv.get("bin")
        try Check.that(text?.contains("\u{FFFD}") == true, "invalid UTF-8 read as text becomes U+FFFD, got \(String(describing: text))")
        let large = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try await c.kv.put("large", bytes: large)
        try Check.equal(try await c.kv.getBytes("large"), large, "a 300 KB value")
    }

    struct Profile: Codable, Equatable, Sendable {
        var name: String
        var languages: [String]
        var stars: Int
    }

    static let jsonRoundTrip = Case("JSON values") { c in
        let profile = Profile(name: "swift-edge", languages: ["Swift", "C"], stars: 42)
        try await c.kv.put("profile", json: profile)
        try Check.equal(try await c.kv.get("profile", as: Profile.self), profile, "JSON round trip")
        try Check.equal(try await c.kv.get("nope", as: Profile.self), nil, "JSON get of a missing key")
        try await c.kv.put("not-json", "{oops")
        try await Check.throwsError(KVError.self, "decoding a non-JSON value", matching: { $0.code == .invalidJSON && $0.key == "not-json" }) {
            _ = try await c.kv.get("not-json", as: Profile.self)
        }
    }

    static let metadataRoundTrip = Case("metadata with values and in lists") { c in
        let metadata: JSONValue = ["author": "ana", "size": 12, "ratio": 0.5, "tags": ["a", "b"], "nested": ["ok": true, "none": nil]]
        try await c.kv.put("doc", "body", metadata: metadata)
        let entry = try await c.kv.getWithMetadata("doc")
        try Check.equal(entry?.text, "body", "value from getWithMetadata")
        try Check.equal(entry?.metadata, metadata, "metadata from getWithMetadata")
        try Check.equal(entry?.expiration, nil, "no expiration was set")
        let listed = try await c.kv.list()
        try Check.equal(listed.keys, [KVKey(name: "doc", expiration: nil, metadata: metadata)], "list shows metadata")
        try await c.kv.put("doc", "body 2")
        try Check.equal(try await c.kv.getWithMetadata("doc")?.metadata, nil, "a put without metadata replaces the old metadata")
        try Check.equal(try await c.kv.getWithMetadata("missing"), nil, "getWithMetadata of a missing key")
    }

    // MARK: Limits

    static let keyLimits = Case("key limits: 1...512 bytes, not . or ..") { c in
        for bad in ["", ".", ".."] {
            try await Check.throwsError(KVError.self, "put of key \"\(bad)\"", matching: { $0.code == .invalidKey }) {
                try await c.kv.put(bad, "x")
            }
            try await Check.throwsError(KVError.self, "get of key \"\(bad)\"", matching: { $0.code == .invalidKey }) {
                _ = try await c.kv.get(bad)
            }
        }
        try await c.kv.put("...", "three dots are fine")
        try await c.kv.put("./a", "so is a path-like key")
        let maxKey = String(repeating: "é", count: 256)  // 512 UTF-8 bytes
        try await c.kv.put(maxKey, "at the limit")
        try Check.equal(try await c.kv.get(maxKey), "at the limit", "a 512-byte key")
        let longKey = maxKey + "x"
        let error = try await Check.throwsError(KVError.self, "put of a 513-byte key", matching: { $0.code == .keyTooLong }) {
            try await c.kv.put(longKey, "x")
        }
        try Check.equal(error.limit, 512, "the error names the limit")
        try Check.equal(error.actual, 513, "the error names the actual size")
        try Check.equal(error.key, longKey, "the error names the key")
        try Check.that(error.message.contains("512") && error.message.contains("513"), "the message states limit and size: \(error.message)")
        try await Check.throwsError(KVError.self, "get of a 513-byte key", matching: { $0.code == .keyTooLong }) {
            _ = try await c.kv.get(longKey)
        }
        try await Check.throwsError(KVError.self, "delete of a 513-byte key", matching: { $0.code == .keyTooLong }) {
            try await c.kv.delete(longKey)
        }
    }

    static let valueLimit = Case("value limit: 25 MiB") { c in
        let limit = 25 * 1024 * 1024
        let atLimit = [UInt8](repeating: 7, count: limit)
        try await c.kv.put("big", bytes: atLimit)
        try Check.equal(try await c.kv.getBytes("big")?.count, limit, "a 25 MiB value is stored whole")
        let error = try await Check.throwsError(KVError.self, "put of 25 MiB + 1 byte", matching: { $0.code == .valueTooLarge }) {
            try await c.kv.put("too-big", bytes: [UInt8](repeating: 7, count: limit + 1))
        }
        try Check.equal(error.limit, limit, "the error names the limit")
        try Check.equal(error.actual, limit + 1, "the error names the size")
        try Check.equal(try await c.kv.get("too-big"), nil, "nothing was stored")
    }

    static let metadataLimit = Case("metadata limit: 1024 bytes serialized") { c in
        // {"p":"…"} is 8 bytes of JSON around the string.
        let fits: JSONValue = ["p": .string(String(repeating: "m", count: 1024 - 8))]
        try await c.kv.put("meta-ok", "v", metadata: fits)
        try Check.equal(try await c.kv.getWithMetadata("meta-ok")?.metadata, fits, "1024 bytes of metadata")
        let tooBig: JSONValue = ["p": .string(String(repeating: "m", count: 1024 - 7))]
        let error = try await Check.throwsError(KVError.self, "1025 bytes of metadata", matching: { $0.code == .metadataTooLarge }) {
            try await c.kv.put("meta-big", "v", metadata: tooBig)
        }
        try Check.equal(error.limit, 1024, "the error names the limit")
        try Check.equal(error.actual, 1025, "the error names the serialized size")
        try Check.equal(try await c.kv.get("meta-big"), nil, "nothing was stored")
    }

    // MARK: Expiration

    static let expirationTtl = Case("expirationTtl expires keys on the clock") { c in
        let start = c.now
        try await c.kv.put("session", "s1", expirationTtl: 60)
        try Check.equal(try await c.kv.getWithMetadata("session")?.expiration, start + 60, "expiration is now + ttl")
        try Check.equal(try await c.kv.list().keys.first?.expiration, start + 60, "list shows the expiration")
        c.clock.advance(by: 59)
        try Check.equal(try await c.kv.get("session"), "s1", "still there 59 s later")
        c.clock.advance(by: 1)
        try Check.equal(try await c.kv.get("session"), nil, "gone at the expiration second")
        try Check.equal(try await c.kv.getWithMetadata(["session"]).count, 0, "gone from bulk get")
        try Check.equal(try await c.kv.list().keys.count, 0, "gone from list")
        try await c.kv.put("session", "s2")
        try Check.equal(try await c.kv.get("session"), "s2", "an expired key can be written again")
    }

    static let absoluteExpiration = Case("absolute expiration") { c in
        let at = c.now + 120
        try await c.kv.put("token", "t", expiration: at, metadata: ["kind": "token"])
        try Check.equal(try await c.kv.getWithMetadata("token")?.expiration, at, "the absolute expiration is kept")
        c.clock.advance(by: 119)
        try Check.equal(try await c.kv.get("token"), "t", "there until the expiration")
        c.clock.advance(by: 1)
        try Check.equal(try await c.kv.get("token"), nil, "gone at the expiration")
    }

    static let expirationRules = Case("expirations under 60 s, in the past, or doubly set are rejected") { c in
        for ttl: Int64 in [59, 1, 0, -5] {
            let error = try await Check.throwsError(KVError.self, "expirationTtl \(ttl)", matching: { $0.code == .expirationTooSoon }) {
                try await c.kv.put("k", "v", expirationTtl: ttl)
            }
            try Check.equal(error.limit, 60, "the error names the 60 s minimum")
        }
        for offset: Int64 in [59, 0, -3600] {
            try await Check.throwsError(KVError.self, "expiration now+\(offset)", matching: { $0.code == .expirationTooSoon }) {
                try await c.kv.put("k", "v", expiration: c.now + offset)
            }
        }
        try await Check.throwsError(KVError.self, "both expiration and expirationTtl", matching: { $0.code == .invalidExpiration }) {
            try await c.kv.put("k", "v", expiration: c.now + 3600, expirationTtl: 3600)
        }
        try Check.equal(try await c.kv.get("k"), nil, "no rejected put stored anything")
        try await c.kv.put("k", "v", expirationTtl: 60)
        try await c.kv.put("k2", "v", expiration: c.now + 60)
        try Check.equal(try await c.kv.get(["k", "k2"]).count, 2, "exactly 60 s ahead is accepted")
    }

    static let overwriteReplacesExpiration = Case("overwriting replaces the expiration") { c in
        try await c.kv.put("k", "v1", expirationTtl: 60)
        try await c.kv.put("k", "v2")
        c.clock.advance(by: 3600)
        try Check.equal(try await c.kv.get("k"), "v2", "a put without expiration makes the key permanent")
        try await c.kv.put("k", "v3", expirationTtl: 120)
        c.clock.advance(by: 120)
        try Check.equal(try await c.kv.get("k"), nil, "a put with a TTL makes it expire again")
    }

    static let expiredKeysAreReclaimed = Case("expired keys are reclaimed from storage") { c in
        guard let maintenance = c.kv as? any KVMaintenance else {
            throw ConformanceFailure(message: "the backend must conform to KVMaintenance", location: "KVConformance")
        }
        try await c.kv.put((0..<50).map { KVWrite(key: "temp:\($0)", text: "x", options: KVPutOptions(expirationTtl: 60)) })
        try await c.kv.put("keep", "forever")
        try Check.equal(try await maintenance.storedKeyCount(), 51, "all keys stored")
        c.clock.advance(by: 61)
        // A write after the sweep interval reclaims expired keys without anyone reading them.
        try await c.kv.put("trigger", "write")
        try Check.equal(try await maintenance.storedKeyCount(), 2, "expired keys swept by a later write")
        try await c.kv.put((0..<10).map { KVWrite(key: "more:\($0)", text: "x", options: KVPutOptions(expirationTtl: 60)) })
        c.clock.advance(by: 61)
        try Check.equal(try await maintenance.purgeExpired(), 10, "purgeExpired removes the rest")
        try Check.equal(try await maintenance.storedKeyCount(), 2, "only live keys remain")
    }

    // MARK: Deletes and bulk

    static let deletes = Case("delete and bulk delete") { c in
        try await c.kv.put("a", "1")
        try await c.kv.delete("a")
        try Check.equal(try await c.kv.get("a"), nil, "deleted")
        try await c.kv.delete("never-existed")
        try await c.kv.put((0..<20).map { KVWrite(key: "d\($0)", text: "\($0)") })
        try await c.kv.delete((0..<10).map { "d\($0)" } + ["missing"])
        try Check.equal(try await c.kv.listAll().map(\.name), (10..<20).map { "d\($0)" }, "bulk delete removed exactly its keys")
        let tooMany = (0...10_000).map { "k\($0)" }
        let error = try await Check.throwsError(KVError.self, "bulk delete of 10,001 keys", matching: { $0.code == .tooManyKeys }) {
            try await c.kv.delete(tooMany)
        }
        try Check.equal(error.limit, 10_000, "the error names the limit")
    }

    static let bulkGet = Case("bulk get of up to 100 keys") { c in
        try await c.kv.put((0..<100).map { KVWrite(key: "b\($0)", text: "value \($0)") })
        let keys = (0..<100).map { "b\($0)" }
        let values = try await c.kv.get(keys)
        try Check.equal(values.count, 100, "all 100 values")
        try Check.equal(values["b42"], "value 42", "value of b42")
        let partial = try await c.kv.get(["b1", "missing", "b2"])
        try Check.equal(partial, ["b1": "value 1", "b2": "value 2"], "missing keys are absent")
        try await c.kv.put("j", json: Profile(name: "x", languages: [], stars: 1))
        try Check.equal(try await c.kv.get(["j"], as: Profile.self)["j"]?.stars, 1, "bulk get as JSON")
        let error = try await Check.throwsError(KVError.self, "bulk get of 101 keys", matching: { $0.code == .tooManyKeys }) {
            _ = try await c.kv.get(keys + ["one-more"])
        }
        try Check.equal(error.limit, 100, "the error names the limit")
        try Check.equal(error.actual, 101, "the error names the count")
        try Check.equal(try await c.kv.get([String]()).count, 0, "bulk get of no keys")
    }

    static let bulkPutIsAtomic = Case("bulk put is all or nothing") { c in
        var writes = (0..<10).map { KVWrite(key: "p\($0)", text: "v") }
        writes.append(KVWrite(key: String(repeating: "k", count: 513), text: "bad key"))
        try await Check.throwsError(KVError.self, "bulk put with one bad key", matching: { $0.code == .keyTooLong }) {
            try await c.kv.put(writes)
        }
        try Check.equal(try await c.kv.list().keys.count, 0, "no entry of a rejected bulk put is stored")
        try await c.kv.put(Array(writes.dropLast()))
        try Check.equal(try await c.kv.list().keys.count, 10, "a valid bulk put stores every entry")
        try await Check.throwsError(KVError.self, "bulk put of 10,001 entries", matching: { $0.code == .tooManyKeys && $0.limit == 10_000 }) {
            try await c.kv.put((0...10_000).map { KVWrite(key: "x\($0)", text: "v") })
        }
    }

    // MARK: Lists

    static let unicodeKeysByBytes = Case("unicode keys are compared and ordered as UTF-8 bytes") { c in
        let keys = ["z", "a", "B", "é", "e\u{301}", "日本", "🎉", "\u{FF61}", "a\u{0}b", "a b", "Ä", "A\u{308}"]
        for (index, key) in keys.enumerated() { try await c.kv.put(key, "\(index)") }
        // "é" and "e\u{301}" are equal Swift Strings but different byte strings: two keys.
        try Check.equal(try await c.kv.get("é"), "3", "precomposed é keeps its own value")
        try Check.equal(try await c.kv.get("e\u{301}"), "4", "decomposed é keeps its own value")
        let expected = keys.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
        let listed = try await c.kv.listAll().map { Array($0.name.utf8) }
        try Check.equal(listed, expected, "list order is UTF-8 byte order")
        try Check.equal(try await c.kv.list(prefix: "日").keys.map(\.name), ["日本"], "a multi-byte prefix")
        try await c.kv.delete("e\u{301}")
        try Check.equal(try await c.kv.get("é"), "3", "deleting the decomposed form leaves the precomposed one")
    }

    static let listPagingOver2500Keys = Case("cursor paging over 2,500 keys") { c in
        let names = (0..<2500).map { String(format: "key-%05d", $0) }
        try await c.kv.put(names.map { KVWrite(key: $0, text: "v") })
        var pages: [KVListResult] = []
        var cursor: String?
        repeat {
            let page = try await c.kv.list(cursor: cursor)
            pages.append(page)
            cursor = page.cursor
            try Check.that(pages.count <= 3, "paging must end")
        } while !pages.last!.listComplete
        try Check.equal(pages.map(\.keys.count), [1000, 1000, 500], "default page size 1000")
        try Check.equal(pages.map(\.listComplete), [false, false, true], "list_complete only on the last page")
        try Check.equal(pages.last?.cursor, nil, "no cursor on the last page")
        try Check.equal(pages.flatMap(\.keys).map(\.name), names, "every key once, in order")
        var small: [String] = []
        cursor = nil
        repeat {
            let page = try await c.kv.list(limit: 333, cursor: cursor)
            small += page.keys.map(\.name)
            cursor = page.listComplete ? nil : page.cursor
        } while cursor != nil
        try Check.equal(small, names, "paging 333 at a time sees every key once")
        let exact = try await c.kv.list(prefix: "key-024", limit: 100)
        try Check.equal(exact.keys.count, 100, "a prefix with exactly 100 keys")
        try Check.that(exact.listComplete, "a page that holds the last key is complete")
    }

    static let listPrefixes = Case("list by prefix") { c in
        for key in ["user:1", "user:2", "user:10", "users", "user", "usez", "admin:1", "user:\u{10FFFF}"] { try await c.kv.put(key, "v") }
        try Check.equal(try await c.kv.list(prefix: "user:").keys.map(\.name), ["user:1", "user:10", "user:2", "user:\u{10FFFF}"], "prefix user:")
        try Check.equal(
            try await c.kv.list(prefix: "user").keys.map(\.name), ["user", "user:1", "user:10", "user:2", "user:\u{10FFFF}", "users"], "prefix user")
        try Check.equal(try await c.kv.list(prefix: "nothing").keys, [], "a prefix with no keys")
        try Check.equal(try await c.kv.list(prefix: "").keys.count, 8, "an empty prefix lists everything")
        let first = try await c.kv.list(prefix: "user", limit: 2)
        try Check.equal(first.keys.map(\.name), ["user", "user:1"], "first prefixed page")
        let second = try await c.kv.list(prefix: "user", limit: 10, cursor: first.cursor)
        try Check.equal(second.keys.map(\.name), ["user:10", "user:2", "user:\u{10FFFF}", "users"], "the cursor keeps the prefix's range")
        try Check.that(second.listComplete, "second prefixed page is the last")
    }

    static let listValidation = Case("list limits and cursors are validated") { c in
        for limit in [0, -1, 1001] {
            let error = try await Check.throwsError(KVError.self, "list limit \(limit)", matching: { $0.code == .invalidListLimit }) {
                _ = try await c.kv.list(limit: limit)
            }
            try Check.equal(error.limit, 1000, "the error names the maximum")
        }
        try await Check.throwsError(KVError.self, "a forged cursor", matching: { $0.code == .invalidCursor }) {
            _ = try await c.kv.list(cursor: "not-a-cursor")
        }
        try Check.that(try await c.kv.list(limit: 1000).listComplete, "limit 1000 is allowed")
    }

    static let listCursorStableUnderWrites = Case("a cursor resumes after its last key under concurrent writes") { c in
        try await c.kv.put((0..<20).map { KVWrite(key: String(format: "k%02d", $0 * 2), text: "v") })
        let first = try await c.kv.list(limit: 5)
        try Check.equal(first.keys.last?.name, "k08", "first page ends at k08")
        try await c.kv.put("k01", "inserted before the cursor")
        try await c.kv.put("k09", "inserted after the cursor")
        try await c.kv.delete("k10")
        let second = try await c.kv.list(limit: 5, cursor: first.cursor)
        try Check.equal(second.keys.map(\.name), ["k09", "k12", "k14", "k16", "k18"], "the next page starts right after k08")
    }

    static let concurrentWritersAndReaders = Case("concurrent writers and readers see their own writes") { c in
        let kv = c.kv
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for index in 0..<25 {
                        let key = "w\(writer)-\(index)"
                        try await kv.put(key, "\(writer * 1000 + index)")
                        let read = try await kv.get(key)
                        try Check.equal(read, "\(writer * 1000 + index)", "read-your-write of \(key)")
                    }
                }
            }
            try await group.waitForAll()
        }
        try Check.equal(try await kv.listAll().count, 200, "every concurrent write is there")
    }

    // MARK: Durability

    static let reopenKeepsCommittedData = Case("reopening returns what was committed") { c in
        try await c.kv.put("plain", "text")
        try await c.kv.put("meta", "m", metadata: ["v": 1])
        try await c.kv.put("ttl", "t", expirationTtl: 600)
        try await c.kv.put("gone", "g")
        try await c.kv.delete("gone")
        try await c.kv.put((0..<300).map { KVWrite(key: "bulk:\($0)", text: "\($0)") })
        let reopened = try await c.reopen()
        try Check.equal(try await reopened.get("plain"), "text", "plain value after reopen")
        try Check.equal(try await reopened.getWithMetadata("meta")?.metadata, ["v": 1], "metadata after reopen")
        try Check.equal(try await reopened.getWithMetadata("ttl")?.expiration, c.now + 600, "expiration after reopen")
        try Check.equal(try await reopened.get("gone"), nil, "a delete is durable too")
        try Check.equal(try await reopened.list(prefix: "bulk:").keys.count, 300, "a bulk put after reopen")
        c.clock.advance(by: 600)
        try Check.equal(try await reopened.get("ttl"), nil, "expiry continues after reopen")
    }
}

extension ConformanceContext where Binding == any KVNamespace {
    var kv: any KVNamespace { binding }
    var now: Int64 { clock.nowEpochSeconds }
}
