import Crypto
import EdgeBlob
import EdgeTesting
import Foundation
import Testing

func makeTemporaryDirectory(_ name: String = "blob") throws -> String {
    try TemporaryDirectory.make(name)
}

let fileHarness = BlobConformance.Harness { clock in
    try FileBlob(directory: try makeTemporaryDirectory(), configuration: .init(clock: clock))
} reopen: { bucket, clock in
    let file = bucket as! FileBlob
    file.close()
    return try FileBlob(directory: file.directory, configuration: .init(clock: clock))
}

@Suite("Blob conformance")
struct BlobConformanceTests {
    @Test("MemoryBlob", arguments: BlobConformance.cases)
    func memory(_ check: BlobConformance.Case) async throws {
        try await check.run(BlobConformance.Harness { clock in MemoryBlob(clock: clock) })
    }

    @Test("FileBlob", arguments: BlobConformance.cases + BlobConformance.durableCases)
    func file(_ check: BlobConformance.Case) async throws {
        try await check.run(fileHarness)
    }
}

@Suite("FileBlob")
struct FileBlobTests {
    func files(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    @Test("keys never become paths: bodies are named by random ids inside the bucket")
    func keysAreNotPaths() async throws {
        let root = try makeTemporaryDirectory()
        let bucket = try FileBlob(bucket: "uploads", stateDirectory: root)
        let keys = ["../escape", "../../etc/passwd", "a/../b", "x\u{0}y", "/absolute", String(repeating: "long/", count: 200)]
        for key in keys { try await bucket.put(key, text: key) }
        #expect(try files(root) == ["blob"], "nothing was written outside the state directory")
        #expect(try files(root + "/blob") == ["uploads"])
        let bodies = try files(bucket.directory + "/objects")
        #expect(bodies.count == keys.count)
        #expect(bodies.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) }, "body files are named by ids: \(bodies)")
        for key in keys { #expect(try await bucket.get(key)?.body?.text() == key) }
    }

    @Test(
        "bucket names that could escape the state directory are rejected", arguments: ["", "..", "../x", "a/b", ".hidden", String(repeating: "b", count: 64)])
    func badBucketNames(_ name: String) throws {
        #expect { try FileBlob(bucket: name, stateDirectory: try makeTemporaryDirectory()) } throws: { ($0 as? BlobError)?.code == .invalidBucketName }
    }

    @Test("overwritten and deleted bodies are reclaimed; a completed upload keeps only its chosen parts, freed with the object; abort frees parts")
    func reclaim() async throws {
        let bucket = try FileBlob(directory: try makeTemporaryDirectory())
        for round in 0..<5 { try await bucket.put("k", text: "version \(round)") }
        try await bucket.put("other", text: "x")
        #expect(try files(bucket.directory + "/objects").count == 2, "one body per live object")
        try await bucket.delete(["k", "other"])
        #expect(try files(bucket.directory + "/objects").isEmpty)
        let upload = try await bucket.createMultipartUpload("mp")
        let part = try await upload.uploadPart(1, .bytes([1, 2, 3]))
        _ = try await upload.uploadPart(1, .bytes([4, 5, 6]))
        #expect(try files(bucket.directory + "/parts").count == 1, "a re-uploaded part replaces the old file")
        let object = try await upload.complete([BlobUploadedPart(partNumber: 1, etag: hex(Insecure.MD5.hash(data: [4, 5, 6])))])
        #expect(object.size == 3)
        #expect(part.etag != object.etag)
        #expect(try files(bucket.directory + "/parts").count == 1, "the completed object is its part file: nothing copied")
        #expect(try files(bucket.directory + "/objects").isEmpty)
        #expect(try await bucket.get("mp")?.body?.bytes() == [4, 5, 6])
        try await bucket.put("mp", text: "replaced")
        #expect(try files(bucket.directory + "/parts").isEmpty, "replacing the object frees its parts")
        let aborted = try await bucket.createMultipartUpload("ab")
        _ = try await aborted.uploadPart(1, .bytes([1]))
        try await aborted.abort()
        #expect(try files(bucket.directory + "/parts").isEmpty, "abort frees the parts")
        #expect(try files(bucket.directory + "/tmp").isEmpty)
        // Two chosen parts of three uploaded: the third is freed; the object survives a reopen
        // (which removes only files no row references) and reads across its parts.
        let three = try await bucket.createMultipartUpload("three")
        let first = (0..<(5 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let p1 = try await three.uploadPart(1, .bytes(first))
        let p2 = try await three.uploadPart(2, .bytes([9, 9]))
        _ = try await three.uploadPart(3, .bytes([7]))
        _ = try await three.complete([p1, p2])
        #expect(try files(bucket.directory + "/parts").count == 2, "the part left out is freed")
        bucket.close()
        let reopened = try FileBlob(directory: bucket.directory)
        #expect(try await reopened.get("three")?.body?.bytes() == first + [9, 9])
        #expect(try await reopened.get("three", options: BlobGetOptions(range: .suffix(3)))?.body?.bytes() == [first.last!, 9, 9])
        try await reopened.delete("three")
        #expect(try files(bucket.directory + "/parts").isEmpty)
    }

    @Test("a failed checksum or body leaves no file behind")
    func noLeftoversOnFailure() async throws {
        let bucket = try FileBlob(directory: try makeTemporaryDirectory())
        await #expect(throws: BlobError.self) {
            _ = try await bucket.put("k", [1, 2, 3], options: BlobPutOptions(checksum: .md5([UInt8](repeating: 0, count: 16))))
        }
        #expect(try files(bucket.directory + "/objects").isEmpty)
        #expect(try files(bucket.directory + "/tmp").isEmpty)
    }

    @Test("opening removes what an interrupted write left behind")
    func orphanCleanup() async throws {
        let directory = try makeTemporaryDirectory()
        var bucket: FileBlob? = try FileBlob(directory: directory)
        try await bucket!.put("live", text: "live")
        bucket!.close()
        bucket = nil
        try Data("half written".utf8).write(to: URL(fileURLWithPath: directory + "/tmp/0123"))
        try Data("renamed, never committed".utf8).write(to: URL(fileURLWithPath: directory + "/objects/feedface"))
        try Data("orphan part".utf8).write(to: URL(fileURLWithPath: directory + "/parts/beef"))
        let reopened = try FileBlob(directory: directory)
        #expect(try files(directory + "/tmp").isEmpty)
        #expect(try files(directory + "/parts").isEmpty)
        #expect(try files(directory + "/objects").count == 1)
        #expect(try await reopened.get("live")?.body?.text() == "live")
    }

    @Test("a second handle on an open bucket leaves in-flight files alone")
    func noCleanupWhileShared() async throws {
        let directory = try makeTemporaryDirectory()
        let first = try FileBlob(directory: directory)
        try Data("another process is writing this".utf8).write(to: URL(fileURLWithPath: directory + "/tmp/inflight"))
        let second = try FileBlob(directory: directory)
        #expect(try files(directory + "/tmp") == ["inflight"])
        try await first.put("a", text: "from first")
        #expect(try await second.get("a")?.body?.text() == "from first")
    }
}

func hex(_ digest: some Sequence<UInt8>) -> String {
    digest.map { String(format: "%02x", $0) }.joined()
}
