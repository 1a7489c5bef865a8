import EdgeKV
import EdgeSQLite
import EdgeTesting
import Foundation
import Testing

/// SQLiteKV on a file system that runs out of space (a small tmpfs the test mounts): the put that
/// does not fit fails with a typed error, every put that returned is still there, the database is
/// sound, and puts succeed again once space is freed.
@Suite("SQLiteKV on a full disk", .enabled(if: SmallFilesystem.unavailableReason == nil, Comment(rawValue: SmallFilesystem.unavailableReason ?? "")))
struct KVDiskFullTests {
    func value(_ index: Int) -> [UInt8] {
        (0..<(32 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
    }

    @Test("puts fail with KVError.storageFailure when the disk is full; nothing acknowledged is lost; puts work again once space is freed")
    func fullDisk() async throws {
        let disk = try SmallFilesystem(megabytes: 16)
        defer { disk.unmount() }
        let path = disk.path + "/kv.sqlite"
        let kv = try SQLiteKV(path: path)
        try await kv.put("first", "before the disk filled")
        try disk.fill(leavingKilobytes: 1024)

        let (written, failure) = await writeUntilFailure(limit: 1000) { index in try await kv.put("key-\(index)", bytes: value(index)) }
        let error = try #require(failure as? KVError, "a put failed on the full disk, with a KVError: \(String(describing: failure))")
        #expect(error.code == .storageFailure)
        #expect(error.description.contains("full"), "the error says the disk is full: \(error)")
        #expect(!written.isEmpty && written.count < 1000)
        // Still full: another put fails the same way, and does not crash or wedge the store.
        await #expect(throws: KVError.self) { try await kv.put("still-full", bytes: value(-1)) }
        for index in written {
            #expect(try await kv.getWithMetadata("key-\(index)")?.value == value(index), "key-\(index) was acknowledged")
        }

        try disk.freeFiller()
        try await kv.put("after", "space was freed")
        #expect(try await kv.get("after") == "space was freed")
        try kv.close()

        #expect(try RawSQLiteConnection.integrityCheck(path: path) == ["ok"])
        let reopened = try SQLiteKV(path: path)
        defer { try? reopened.close() }
        #expect(try await reopened.get("first") == "before the disk filled")
        for index in written { #expect(try await reopened.getWithMetadata("key-\(index)")?.value == value(index)) }
        #expect(try await reopened.get("after") == "space was freed")
    }
}
