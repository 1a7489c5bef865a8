import EdgeTesting
import Foundation
import Testing
import VectorSearch

func scratchDirectory() -> String {
    let directory = NSTemporaryDirectory() + "swift-edge-tests/vectors-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    return directory
}

/// Persistent indexes remember their directory so the harness can reopen them.
final class Opened: Sendable {
    let directory = scratchDirectory()
}

@Suite("Vector index conformance")
struct VectorConformanceTests {
    @Test("FlatIndex (memory)", arguments: VectorConformance.cases)
    func flat(_ check: VectorConformance.Case) async throws {
        try await check.run(VectorConformance.Harness(exact: true) { try FlatIndex(configuration: $0) })
    }

    @Test("HNSWIndex (memory)", arguments: VectorConformance.cases)
    func hnsw(_ check: VectorConformance.Case) async throws {
        try await check.run(
            VectorConformance.Harness(exact: false, recallFloor: 0.95) {
                try HNSWIndex(configuration: $0, parameters: HNSWParameters(m: 16, efConstruction: 100, efSearch: 64))
            })
    }

    @Test("HNSWIndex (persistent)", arguments: VectorConformance.cases + VectorConformance.durableCases)
    func persistentHNSW(_ check: VectorConformance.Case) async throws {
        let opened = Opened()
        try await check.run(
            VectorConformance.Harness(
                exact: false, recallFloor: 0.95,
                reopen: { index, configuration in
                    try await index.checkpoint()
                    return try HNSWIndex(name: "test-\(configuration.metric.rawValue)", stateDirectory: opened.directory, configuration: configuration)
                }
            ) { configuration in
                try HNSWIndex(name: "test-\(configuration.metric.rawValue)", stateDirectory: opened.directory, configuration: configuration)
            })
    }

    @Test("FlatIndex (persistent)", arguments: VectorConformance.cases + VectorConformance.durableCases)
    func persistentFlat(_ check: VectorConformance.Case) async throws {
        let opened = Opened()
        try await check.run(
            VectorConformance.Harness(
                exact: true,
                reopen: { _, configuration in
                    try FlatIndex(name: "test-cosine", stateDirectory: opened.directory, configuration: configuration)
                }
            ) { configuration in
                try FlatIndex(name: "test-\(configuration.metric.rawValue)", stateDirectory: opened.directory, configuration: configuration)
            })
    }
}

@Suite("HNSW")
struct HNSWTests {
    @Test("without a checkpoint, a reopened index rebuilds from the database and still answers")
    func crashRebuild() async throws {
        let directory = scratchDirectory()
        let configuration = VectorIndexConfiguration(dimensions: 8)
        let index = try HNSWIndex(name: "crash", stateDirectory: directory, configuration: configuration)
        let records = (0..<500).map { n in VectorRecord(id: "c\(n)", values: (0..<8).map { Float(sin(Double(n * 8 + $0))) }) }
        _ = try await index.insert(records)
        let exact = try FlatIndex(configuration: configuration)
        _ = try await exact.insert(records)
        // No checkpoint: the snapshot is missing, as after a crash.
        let reopened = try HNSWIndex(name: "crash", stateDirectory: directory, configuration: configuration)
        #expect(try await reopened.describe().vectorCount == 500)
        for probe in [3, 100, 400] {
            let after = try await reopened.query(records[probe].values, options: VectorQueryOptions(topK: 5))
            let expected = try await exact.query(records[probe].values, options: VectorQueryOptions(topK: 5))
            // Equal scores may come in either order: compare the sets, and the scores rank by rank.
            #expect(Set(after.matches.map(\.id)) == Set(expected.matches.map(\.id)), "the rebuilt graph answers like the exact index")
            #expect(zip(after.matches, expected.matches).allSatisfy { abs($0.score - $1.score) < 1e-5 })
        }
    }

    @Test("checkpoint() through any VectorIndex writes the snapshot, flat and HNSW")
    func checkpointWrites() async throws {
        for graph in [false, true] {
            let directory = scratchDirectory()
            let configuration = VectorIndexConfiguration(dimensions: 4)
            let index: any VectorIndex =
                graph
                ? try HNSWIndex(name: "c", stateDirectory: directory, configuration: configuration)
                : try FlatIndex(name: "c", stateDirectory: directory, configuration: configuration)
            _ = try await index.insert([VectorRecord(id: "a", values: [1, 0, 0, 0])])
            let snapshot = directory + "/vectorize/c.snapshot"
            #expect(!FileManager.default.fileExists(atPath: snapshot), "not before the checkpoint")
            try await index.checkpoint()
            #expect(FileManager.default.fileExists(atPath: snapshot), "graph \(graph): the checkpoint wrote \(snapshot)")
        }
    }

    @Test("a snapshot is only used with the database it was written for; a corrupt one is ignored")
    func staleSnapshot() async throws {
        let directory = scratchDirectory()
        let configuration = VectorIndexConfiguration(dimensions: 4)
        let first = try HNSWIndex(name: "s", stateDirectory: directory, configuration: configuration)
        _ = try await first.insert([VectorRecord(id: "old", values: [1, 0, 0, 0])])
        try await first.checkpoint()
        // The database is lost; a new one reaches the same write count.
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: directory + "/vectorize/s.sqlite" + suffix) }
        let second = try HNSWIndex(name: "s", stateDirectory: directory, configuration: configuration)
        _ = try await second.insert([VectorRecord(id: "new", values: [0, 1, 0, 0])])
        let reopened = try HNSWIndex(name: "s", stateDirectory: directory, configuration: configuration)
        #expect(try await reopened.getByIds(["old", "new"]).map(\.id) == ["new"])
        #expect(try await reopened.query([1, 0, 0, 0], options: VectorQueryOptions(topK: 5)).matches.map(\.id) == ["new"])
        // A corrupt snapshot is ignored: the index is rebuilt from the database.
        try await reopened.checkpoint()
        try Data(repeating: 0xFF, count: 100).write(to: URL(fileURLWithPath: directory + "/vectorize/s.snapshot"))
        let afterCorruption = try HNSWIndex(name: "s", stateDirectory: directory, configuration: configuration)
        #expect(try await afterCorruption.describe().vectorCount == 1)
    }

    @Test("an index reopened with another shape is refused")
    func shapeMismatch() async throws {
        let directory = scratchDirectory()
        _ = try HNSWIndex(name: "shape", stateDirectory: directory, configuration: VectorIndexConfiguration(dimensions: 8))
        #expect(throws: VectorError.self) {
            try HNSWIndex(name: "shape", stateDirectory: directory, configuration: VectorIndexConfiguration(dimensions: 16))
        }
        #expect(throws: VectorError.self) { try FlatIndex(configuration: VectorIndexConfiguration(dimensions: 1537)) }
    }

    @Test("tombstones are compacted away once they reach a quarter of the nodes")
    func compaction() async throws {
        let index = try HNSWIndex(configuration: VectorIndexConfiguration(dimensions: 4, metric: .euclidean))
        let records = (0..<400).map { n in VectorRecord(id: "t\(n)", values: [Float(n), 0, 0, 1]) }
        _ = try await index.insert(records)
        _ = try await index.deleteByIds((0..<150).map { "t\($0)" })
        let result = try await index.query([0, 0, 0, 1], options: VectorQueryOptions(topK: 3))
        #expect(result.matches.map(\.id) == ["t150", "t151", "t152"])
        #expect(try await index.describe().vectorCount == 250)
    }
}

@Suite("Vector index crash safety")
struct VectorCrashTests {
    func crashVector(_ index: Int) -> [Float] {
        (0..<8).map { Float(sin(Double(index * 8 + $0 + 1))) }
    }

    @Test("every upsert acknowledged before SIGKILL is there after reopening (no checkpoint ever written)")
    func killedWriter() async throws {
        let directory = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lines = try await KillTest.run(executable: try KillTest.executable(named: "edge-crash-harness"), arguments: ["vector-writer", directory]) {
            $0.count >= 40
        }
        let acknowledged = lines.compactMap { Int($0) }
        #expect(acknowledged.count >= 40)
        let index = try HNSWIndex(name: "crash", stateDirectory: directory, configuration: VectorIndexConfiguration(dimensions: 8))
        let ids = acknowledged.flatMap { batch in (0..<20).map { "v\(batch * 20 + $0)" } }
        var stored: [String: VectorRecord] = [:]
        for start in stride(from: 0, to: ids.count, by: 1000) {
            for record in try await index.getByIds(Array(ids[start..<min(start + 1000, ids.count)])) { stored[record.id] = record }
        }
        let missing = ids.filter { stored[$0] == nil }
        #expect(missing.isEmpty, "acknowledged vectors lost after SIGKILL: \(missing.prefix(10))")
        // Values survive (stored normalised, as cosine indexes keep them) and the index answers.
        let probe = acknowledged.last! * 20 + 3
        let expected = crashVector(probe)
        let norm = expected.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let values = try #require(stored["v\(probe)"]?.values)
        #expect(zip(values, expected).allSatisfy { abs($0 - $1 / norm) < 1e-5 })
        let nearest = try await index.query(expected, options: VectorQueryOptions(topK: 1))
        #expect(nearest.matches.first?.id == "v\(probe)")
    }
}
