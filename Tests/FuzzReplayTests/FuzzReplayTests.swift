import EdgeFuzzing
import Foundation
import Testing
import VectorSearch

/// Every seed of the fuzz corpus and every input that ever crashed a harness, run through the
/// harness again: a regression brings the crash back here, in `swift test`, with no fuzzer.
@Suite("Fuzz corpus and crashers replayed")
struct FuzzReplayTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Fuzz").standardized.path

    static func inputs(_ harness: FuzzHarness, _ kind: String) -> [String] {
        let directory = root + "/\(kind)/\(harness.rawValue)"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { directory + "/" + $0 }
    }

    @Test("each harness has seeds, and they and its crashers run clean", arguments: FuzzHarness.allCases)
    func replay(_ harness: FuzzHarness) async throws {
        let seeds = Self.inputs(harness, "corpus")
        #expect(seeds.count >= 3, "Fuzz/corpus/\(harness.rawValue) holds \(seeds.count) seeds")
        for path in seeds + Self.inputs(harness, "crashers") {
            let data = try #require(FileManager.default.contents(atPath: path), "cannot read \(path)")
            await harness.run(Array(data))
        }
    }
}

/// The vector-snapshot seeds are real snapshots: an index is built, checkpointed, and its file
/// re-headed for the harness. `EDGE_FUZZ_WRITE_SEEDS=1 swift test --filter FuzzSeedTests`
/// (re)writes them; otherwise the committed ones must still decode, so the fuzzer starts deep.
@Suite("Fuzz seeds that come from real files")
struct FuzzSeedTests {
    @Test("vector snapshots: flat and HNSW indexes of 4 dimensions, checkpointed and re-headed")
    func vectorSnapshots() async throws {
        let directory = FuzzReplayTests.root + "/corpus/vector-snapshot"
        if ProcessInfo.processInfo.environment["EDGE_FUZZ_WRITE_SEEDS"] != nil {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for (count, graph) in [(1, false), (12, false), (1, true), (40, true), (200, true)] {
                let state = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-seed-\(UUID().uuidString)").path
                defer { try? FileManager.default.removeItem(atPath: state) }
                let records = (0..<count).map { index in
                    VectorRecord(id: "v\(index)", values: (0..<4).map { Float(sin(Double(index * 4 + $0))) })
                }
                let configuration = VectorIndexConfiguration(dimensions: 4, metric: .cosine)
                if graph {
                    let index = try HNSWIndex(name: "seed", stateDirectory: state, configuration: configuration, parameters: FuzzHarness.snapshotParameters)
                    _ = try await index.upsert(records)
                    try await index.checkpoint()
                } else {
                    let index = try FlatIndex(name: "seed", stateDirectory: state, configuration: configuration)
                    _ = try await index.upsert(records)
                    try await index.checkpoint()
                }
                let listing = (try? FileManager.default.contentsOfDirectory(atPath: state + "/vectorize")) ?? []
                let file = try #require(FileManager.default.contents(atPath: state + "/vectorize/seed.snapshot"), "\(listing)")
                let input = try #require(FuzzHarness.vectorSnapshotInput(fromFile: Array(file), hasGraph: graph))
                try Data(input).write(to: URL(fileURLWithPath: directory + "/\(graph ? "hnsw" : "flat")-\(count)"))
            }
        }
        let seeds = FuzzReplayTests.inputs(.vectorSnapshot, "corpus")
        #expect(seeds.count >= 5)
        for path in seeds {
            let input = Array(try #require(FileManager.default.contents(atPath: path)))
            #expect(FuzzHarness.vectorSnapshotDecodes(input), "\(path) is refused before its vectors")
        }
    }
}
