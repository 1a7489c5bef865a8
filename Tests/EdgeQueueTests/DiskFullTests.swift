import EdgeQueue
import EdgeSQLite
import EdgeTesting
import Foundation
import Testing

/// SQLiteQueue on a file system that runs out of space (a small tmpfs the test mounts): the send
/// that does not fit fails with a typed error, every send that returned is delivered, the
/// database is sound, and sends succeed again once space is freed.
@Suite("SQLiteQueue on a full disk", .enabled(if: SmallFilesystem.unavailableReason == nil, Comment(rawValue: SmallFilesystem.unavailableReason ?? "")))
struct QueueDiskFullTests {
    func body(_ index: Int) -> [UInt8] {
        (0..<(64 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ index) }
    }

    @Test("sends fail with QueueError.storageFailure when the disk is full; every acknowledged message is delivered; sends work again once space is freed")
    func fullDisk() async throws {
        let disk = try SmallFilesystem(megabytes: 16)
        defer { disk.unmount() }
        let path = disk.path + "/queues.sqlite"
        let queue = try SQLiteQueue(path: path)
        try await queue.send("work", [OutgoingMessage(body: body(-1))])
        try disk.fill(leavingKilobytes: 1024)

        let (acknowledged, failure) = await writeUntilFailure(limit: 1000) { index in
            try await queue.send("work", [OutgoingMessage(body: body(index))])
        }
        var sent = [-1] + acknowledged
        let error = try #require(failure as? QueueError, "a send failed on the full disk, with a QueueError: \(String(describing: failure))")
        #expect(error.code == .storageFailure)
        #expect(error.description.contains("full"), "the error says the disk is full: \(error)")
        #expect(sent.count > 1 && sent.count < 1001)

        try disk.freeFiller()
        try await queue.send("work", [OutgoingMessage(body: body(1000))])
        sent.append(1000)
        queue.close()
        #expect(try RawSQLiteConnection.integrityCheck(path: path) == ["ok"])

        let reopened = try SQLiteQueue(path: path)
        defer { reopened.close() }
        var delivered: [[UInt8]] = []
        while true {
            let batch = try await reopened.claim("work", max: 100, visibilityTimeout: 600)
            if batch.isEmpty { break }
            delivered += batch.map(\.body)
            try await reopened.settle("work", batch.map { .ack($0.lease) })
        }
        #expect(delivered == sent.map(body), "every acknowledged send, once, in order")
    }
}
