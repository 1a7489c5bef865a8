import EdgeCoordinator
import EdgeTesting
import Foundation
import Testing

/// Runs `body` inside one call on a fresh object.
func withStorage<T: Sendable>(_ body: @escaping @Sendable (DurableObjectStorage) async throws -> T) async throws -> T {
    let namespace = try DurableObjectNamespace<Probe>(name: "probe", path: try makeTemporaryDirectory() + "/do.sqlite", env: NoEnv())
    return try await namespace.get(namespace.newUniqueId()).call { try await $0.run(body) }
}

actor Probe: DurableObject {
    let state: DurableObjectState
    init(state: DurableObjectState, env: NoEnv) { self.state = state }
    func run<T: Sendable>(_ body: @Sendable (DurableObjectStorage) async throws -> T) async throws -> T { try await body(state.storage) }
    func storage() -> DurableObjectStorage { state.storage }
}

@Suite("Durable object storage")
struct StorageTests {
    @Test("get, put and delete of Codable values, single and bulk")
    func basics() async throws {
        try await withStorage { storage in
            #expect(try storage.get("missing", as: Int.self) == nil)
            try storage.put("n", 42)
            try storage.put("s", ["a": [1, 2]])
            #expect(try storage.get("n", as: Int.self) == 42)
            #expect(try storage.get("s", as: [String: [Int]].self) == ["a": [1, 2]])
            try storage.put(["x": 1, "y": 2, "z": 3])
            #expect(try storage.get(["x", "y", "nope"], as: Int.self) == ["x": 1, "y": 2])
            #expect(try storage.delete("x"))
            #expect(try !storage.delete("x"))
            #expect(try storage.delete(["y", "z", "nope"]) == 2)
            #expect { try storage.get("n", as: String.self) } throws: { ($0 as? CoordinatorError)?.code == .decodingFailed }
        }
    }

    @Test("limits: key size, value size, 128 keys per bulk operation")
    func limits() async throws {
        try await withStorage { storage in
            try storage.put(String(repeating: "k", count: 2048), 1)
            #expect { try storage.put(String(repeating: "k", count: 2049), 1) } throws: { error in
                let error = error as? CoordinatorError
                return error?.code == .keyTooLong && error?.limit == 2048 && error?.actual == 2049
            }
            #expect { try storage.put("", 1) } throws: { ($0 as? CoordinatorError)?.code == .invalidKey }
            #expect { try storage.put("big", String(repeating: "v", count: 128 * 1024)) } throws: { ($0 as? CoordinatorError)?.code == .valueTooLarge }
            let keys = (0..<129).map { "k\($0)" }
            #expect { try storage.get(keys, as: Int.self) } throws: { ($0 as? CoordinatorError)?.code == .tooManyKeys }
            #expect { try storage.put(Dictionary(uniqueKeysWithValues: keys.map { ($0, 1) })) } throws: { ($0 as? CoordinatorError)?.code == .tooManyKeys }
            #expect { try storage.delete(keys) } throws: { ($0 as? CoordinatorError)?.code == .tooManyKeys }
        }
    }

    @Test("list with start, startAfter, end, prefix, reverse and limit, across committed and uncommitted keys")
    func list() async throws {
        let namespace = try DurableObjectNamespace<Probe>(name: "probe", path: try makeTemporaryDirectory() + "/do.sqlite", env: NoEnv())
        let stub = namespace.get(namespace.idFromName("lists"))
        // Committed by a first call...
        try await stub.call { probe in try await probe.run { storage in for key in ["a", "b/1", "b/2", "b/3", "c", "é"] { try storage.put(key, key) } } }
        // ...then listed by a second call that also has uncommitted changes.
        try await stub.call { probe in
            try await probe.run { storage in
                try storage.put("b/0", "b/0")
                try storage.delete("b/2")
                func keys(_ options: DurableObjectListOptions) throws -> [String] { try storage.list(options, as: String.self).map(\.key) }
                #expect(try keys(.init()) == ["a", "b/0", "b/1", "b/3", "c", "é"])
                #expect(try keys(.init(prefix: "b/")) == ["b/0", "b/1", "b/3"])
                #expect(try keys(.init(start: "b/1")) == ["b/1", "b/3", "c", "é"])
                #expect(try keys(.init(startAfter: "b/1")) == ["b/3", "c", "é"])
                #expect(try keys(.init(end: "b/3")) == ["a", "b/0", "b/1"])
                #expect(try keys(.init(reverse: true, limit: 2)) == ["é", "c"])
                #expect(try keys(.init(prefix: "b/", reverse: true, limit: 2)) == ["b/3", "b/1"])
                #expect(try keys(.init(limit: 2)) == ["a", "b/0"])
                #expect(try storage.list(.init(prefix: "b/"), as: String.self).map(\.value) == ["b/0", "b/1", "b/3"])
                #expect { try storage.list(.init(start: "a", startAfter: "a"), as: String.self) } throws: {
                    ($0 as? CoordinatorError)?.code == .invalidListOptions
                }
            }
        }
    }

    @Test("a transaction commits atomically or rolls back on throw")
    func transactions() async throws {
        struct Abort: Error {}
        try await withStorage { storage in
            try storage.put("balance", 100)
            var readInside: Int?
            do {
                try storage.transaction {
                    try storage.put("balance", 0)
                    try storage.put("audit", "drained")
                    readInside = try storage.get("balance", as: Int.self)
                    throw Abort()
                }
                Issue.record("the transaction did not rethrow")
            } catch is Abort {}
            #expect(readInside == 0, "a transaction reads its own writes")
            #expect(try storage.get("balance", as: Int.self) == 100, "rolled back")
            #expect(try storage.get("audit", as: String.self) == nil, "rolled back")
            try storage.transaction {
                try storage.put("balance", 90)
                try storage.transaction { try storage.put("audit", "debited") }
            }
            #expect(try storage.get("balance", as: Int.self) == 90)
            #expect(try storage.get("audit", as: String.self) == "debited")
        }
    }

    @Test("deleteAll removes every key, committed or not")
    func deleteAll() async throws {
        let namespace = try DurableObjectNamespace<Probe>(name: "probe", path: try makeTemporaryDirectory() + "/do.sqlite", env: NoEnv())
        let stub = namespace.get(namespace.idFromName("wipe"))
        try await stub.call { probe in try await probe.run { storage in try storage.put(["a": 1, "b": 2]) } }
        try await stub.call { probe in
            try await probe.run { storage in
                try storage.put("c", 3)
                try storage.deleteAll()
                try storage.put("d", 4)
                #expect(try storage.list(as: Int.self).map(\.key) == ["d"])
            }
        }
        namespace.evictIdle()
        try await stub.call { probe in
            try await probe.run { storage throws in #expect(try storage.list(as: Int.self).map(\.key) == ["d"], "after rebuild") }
        }
    }
}
