import EdgeTesting
import Foundation
import Testing
import VectorSearch

/// HNSWIndex on a file system that runs out of space (a small tmpfs the test mounts): the upsert
/// that does not fit fails with a typed error, every upsert that returned is there after a
/// reopen, and upserts and checkpoints succeed again once space is freed.
@Suite("HNSWIndex on a full disk", .enabled(if: SmallFilesystem.unavailableReason == nil, Comment(rawValue: SmallFilesystem.unavailableReason ?? "")))
struct VectorDiskFullTests {
    func record(_ index: Int) -> VectorRecord {
        VectorRecord(id: "v\(index)", values: (0..<256).map { Float(sin(Double(index * 256 + $0))) }, metadata: ["n": .int(Int64(index))])
    }

    @Test("upserts fail with VectorError.storage when the disk is full; acknowledged vectors survive a reopen; writes work again once space is freed")
    func fullDisk() async throws {
        let disk = try SmallFilesystem(megabytes: 24)
        defer { disk.unmount() }
        let directory = disk.path + "/vectors"
        let configuration = VectorIndexConfiguration(dimensions: 256)
        let index = try HNSWIndex(name: "full", stateDirectory: directory, configuration: configuration)
        _ = try await index.upsert((0..<50).map(record))
        try disk.fill(leavingKilobytes: 1024)

        // Batch b holds vectors 50(b+1) ..< 50(b+2).
        let (batches, failure) = await writeUntilFailure(limit: 1000) { batch in
            _ = try await index.upsert((50 * (batch + 1)..<50 * (batch + 2)).map(record))
        }
        var written = 50 * (batches.count + 1)
        let error = try #require(failure as? VectorError, "an upsert failed on the full disk, with a VectorError: \(String(describing: failure))")
        #expect(error.code == .storage)
        #expect(written > 50)
        // Queries still answer from what was acknowledged.
        let match = try await index.query(record(7).values, options: VectorQueryOptions(topK: 1))
        #expect(match.matches.first?.id == "v7")

        try disk.freeFiller()
        _ = try await index.upsert((written..<written + 50).map(record))
        written += 50
        try await index.checkpoint()

        let reopened = try HNSWIndex(name: "full", stateDirectory: directory, configuration: configuration)
        let ids = (0..<written).map { "v\($0)" }
        let stored = try await reopened.getByIds(ids)
        #expect(stored.count == written, "every acknowledged vector is there")
        #expect(Set(stored.map(\.id)) == Set(ids))
        #expect(try await reopened.describe().vectorCount == written)
    }
}
