import EdgeBlob
import EdgeTesting
import Foundation
import Testing

/// FileBlob on a file system that runs out of space (a small tmpfs the test mounts): the put that
/// does not fit fails with a typed error and leaves nothing (no torn object, no temporary file),
/// an overwrite that does not fit leaves the old object whole, every put that returned reads
/// back, and puts succeed again once space is freed.
@Suite("FileBlob on a full disk", .enabled(if: SmallFilesystem.unavailableReason == nil, Comment(rawValue: SmallFilesystem.unavailableReason ?? "")))
struct BlobDiskFullTests {
    func body(_ index: Int, mebibytes: Int = 1) -> [UInt8] {
        (0..<(mebibytes << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index) }
    }

    @Test("puts fail with BlobError.storageFailure when the disk is full; no torn object; puts work again once space is freed")
    func fullDisk() async throws {
        let disk = try SmallFilesystem(megabytes: 24)
        defer { disk.unmount() }
        let directory = disk.path + "/bucket"
        let bucket = try FileBlob(directory: directory)
        _ = try await bucket.put("keep", body(-1))
        try disk.fill(leavingKilobytes: 6 << 10)

        let (written, failure) = await writeUntilFailure(limit: 100) { index in _ = try await bucket.put("object-\(index)", body(index)) }
        let error = try #require(failure as? BlobError, "a put failed on the full disk, with a BlobError: \(String(describing: failure))")
        #expect(error.code == .storageFailure)
        #expect(error.description.contains("space"), "the error says the disk has no space left: \(error)")
        #expect(!written.isEmpty && written.count < 100)
        let refused = written.count
        #expect(try await bucket.head("object-\(refused)") == nil, "the put that failed left no object")
        // An overwrite that does not fit keeps the old object whole.
        await #expect(throws: BlobError.self) { _ = try await bucket.put("keep", body(-2, mebibytes: 4)) }
        #expect(try await bucket.get("keep")?.body?.bytes() == body(-1))
        for index in written { #expect(try await bucket.get("object-\(index)")?.body?.bytes() == body(index), "object-\(index) was acknowledged") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/tmp").isEmpty, "no temporary file remains")

        try disk.freeFiller()
        _ = try await bucket.put("object-\(refused)", body(refused))
        _ = try await bucket.put("keep", body(-2, mebibytes: 4))
        bucket.close()

        let reopened = try FileBlob(directory: directory)
        defer { reopened.close() }
        for index in written + [refused] { #expect(try await reopened.get("object-\(index)")?.body?.bytes() == body(index)) }
        #expect(try await reopened.get("keep")?.body?.bytes() == body(-2, mebibytes: 4))
        let objects = try FileManager.default.contentsOfDirectory(atPath: directory + "/objects")
        #expect(objects.count == written.count + 2, "one file per object, no orphan: \(objects.count)")
    }
}
