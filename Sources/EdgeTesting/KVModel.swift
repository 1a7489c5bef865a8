import EdgeCore
public import EdgeKV
import Foundation

/// Model-based checking of a `KVNamespace`: random operation sequences run against the backend
/// and against a plain dictionary with expirations, and after every operation each key the
/// sequence uses must read the same from both (value, metadata, expiration), and lists must page
/// through the same live keys in byte order.
///
/// Operations are built from three small integers each, so a property-testing library can
/// generate and shrink them (swift-edge's own tests use swift-property-based):
///
/// ```swift
/// await propertyCheck(input: zip(Gen.int(in: 0...8), Gen.int(in: 0...7), Gen.int(in: 0...120)).array(of: 1...60)) { codes in
///     // swift-property-based counts recorded issues and drops thrown errors: record the failure.
///     await recordingFailure { try await KVModel.check(codes.map(KVModel.Operation.init), on: harness) }
/// }
/// ```
public enum KVModel {
    /// The keys a sequence touches: prefixes, a multi-byte character, byte-order neighbours.
    public static let keys = ["a", "a/b", "a/c", "b", "bb", "é", "z/1", "z/2"]

    public enum Operation: Sendable, CustomStringConvertible {
        case put(key: Int, value: Int, ttl: Int64?, expiresIn: Int64?, metadata: Bool)
        case putMany(first: Int, value: Int)
        case delete(key: Int)
        case deleteMany(first: Int)
        case get(key: Int)
        case list(prefix: String?, limit: Int)
        case advance(seconds: Int)

        /// Decodes (kind, key, parameter) codes: kind 0...8, key any, parameter 0...120.
        public init(_ code: (Int, Int, Int)) {
            let (kind, key, parameter) = code
            let index = abs(key) % KVModel.keys.count
            switch abs(kind) % 9 {
            case 0: self = .put(key: index, value: parameter, ttl: nil, expiresIn: nil, metadata: false)
            case 1: self = .put(key: index, value: parameter, ttl: 60 + Int64(parameter), expiresIn: nil, metadata: true)
            case 2: self = .put(key: index, value: parameter, ttl: nil, expiresIn: 60 + Int64(parameter), metadata: parameter % 2 == 0)
            case 3: self = .delete(key: index)
            case 4: self = .putMany(first: index, value: parameter)
            case 5: self = .deleteMany(first: index)
            case 6: self = .get(key: index)
            case 7: self = .list(prefix: [nil, "a", "z/", "b"][index % 4], limit: 1 + parameter % 3)
            default: self = .advance(seconds: parameter)
            }
        }

        public var description: String {
            switch self {
            case .put(let key, let value, let ttl, let expiresIn, let metadata):
                "put(\(KVModel.keys[key]), v\(value)\(ttl.map { ", ttl \($0)" } ?? "")\(expiresIn.map { ", expires in \($0)" } ?? "")\(metadata ? ", metadata" : ""))"
            case .putMany(let first, let value): "putMany(\(KVModel.keys[first]), \(KVModel.keys[(first + 1) % KVModel.keys.count]), v\(value))"
            case .delete(let key): "delete(\(KVModel.keys[key]))"
            case .deleteMany(let first): "deleteMany(\(KVModel.keys[first]), \(KVModel.keys[(first + 1) % KVModel.keys.count]))"
            case .get(let key): "get(\(KVModel.keys[key]))"
            case .list(let prefix, let limit): "list(prefix \(prefix ?? "none"), limit \(limit))"
            case .advance(let seconds): "advance(\(seconds) s)"
            }
        }
    }

    struct Entry: Equatable {
        var value: [UInt8]
        var metadata: JSONValue?
        var expiration: Int64?
    }

    /// Runs `operations` on a fresh binding of `harness` and on the model.
    ///
    /// - Throws: ``ConformanceFailure`` at the first operation after which they differ, naming
    ///   it and the sequence so far; or what the backend threw.
    public static func check(_ operations: [Operation], on harness: ConformanceHarness<any KVNamespace>) async throws {
        let clock = TestClock()
        let kv = try await harness.make(clock)
        var model: [String: Entry] = [:]
        var done: [Operation] = []
        func now() -> Int64 { clock.nowEpochSeconds }
        func live(_ key: String) -> Entry? {
            guard let entry = model[key] else { return nil }
            if let expiration = entry.expiration, expiration <= now() { return nil }
            return entry
        }
        for operation in operations {
            done.append(operation)
            let context = "after \(done.map(\.description).joined(separator: "; "))"
            switch operation {
            case .put(let key, let value, let ttl, let expiresIn, let metadata):
                let bytes = Array("v\(value)".utf8)
                let meta: JSONValue? = metadata ? ["n": .int(Int64(value))] : nil
                let expiration = expiresIn.map { now() + $0 }
                try await kv.put(keys[key], value: bytes, options: KVPutOptions(expiration: expiration, expirationTtl: ttl, metadata: meta))
                model[keys[key]] = Entry(value: bytes, metadata: meta, expiration: expiration ?? ttl.map { now() + $0 })
            case .putMany(let first, let value):
                let names = [keys[first], keys[(first + 1) % keys.count]]
                try await kv.put(names.map { KVWrite(key: $0, value: Array("m\(value)".utf8), options: KVPutOptions()) })
                for name in names { model[name] = Entry(value: Array("m\(value)".utf8)) }
            case .delete(let key):
                try await kv.delete(keys[key])
                model[keys[key]] = nil
            case .deleteMany(let first):
                let names = [keys[first], keys[(first + 1) % keys.count]]
                try await kv.delete(names)
                for name in names { model[name] = nil }
            case .get(let key):
                try Check.equal(try await kv.get(keys[key]), live(keys[key]).map { String(decoding: $0.value, as: UTF8.self) }, "get \(keys[key]) \(context)")
            case .list(let prefix, let limit):
                var listed: [KVKey] = []
                var cursor: String?
                repeat {
                    let page = try await kv.list(KVListOptions(prefix: prefix, limit: limit, cursor: cursor))
                    try Check.that(page.keys.count <= limit, "a page of \(page.keys.count) keys past the limit \(limit) \(context)")
                    listed += page.keys
                    cursor = page.listComplete ? nil : page.cursor
                    try Check.that(page.listComplete || cursor != nil, "an incomplete page without a cursor \(context)")
                } while cursor != nil
                let expected = keys.filter { live($0) != nil && (prefix.map($0.hasPrefix) ?? true) }.sorted {
                    Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8))
                }
                try Check.equal(listed.map(\.name), expected, "list(prefix \(prefix ?? "none")) \(context)")
                for key in listed {
                    try Check.equal(key.expiration, live(key.name)?.expiration, "listed expiration of \(key.name) \(context)")
                    try Check.equal(key.metadata, live(key.name)?.metadata, "listed metadata of \(key.name) \(context)")
                }
            case .advance(let seconds):
                clock.advance(by: Double(seconds))
            }
            // Every key reads as the model says, after every operation.
            let read = try await kv.getWithMetadata(keys)
            for key in keys {
                let expected = live(key).map { KVEntry(value: $0.value, metadata: $0.metadata, expiration: $0.expiration) }
                try Check.equal(read[key], expected, "\(key) \(context)")
            }
        }
    }
}
