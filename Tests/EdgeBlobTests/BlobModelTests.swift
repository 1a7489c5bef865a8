import EdgeBlob
import EdgeTesting
import PropertyBased
import Testing

/// Operation codes for the model checks: (kind, key, parameter), 1 to 40 of them.
let blobOperations = zip(Gen.int(in: 0...6), Gen.int(in: 0...5), Gen.int(in: 0...120)).array(of: 1...40)

@Suite("Buckets against a reference model: conditional puts, ranges, conditional gets, deletes, delimited pages, multipart")
struct BlobModelTests {
    @Test("MemoryBlob, 200 sequences")
    func memory() async {
        await propertyCheck(count: 200, input: blobOperations) { codes in
            await recordingFailure {
                try await BlobModel.check(codes.map(BlobModel.Operation.init), on: BlobConformance.Harness { clock in MemoryBlob(clock: clock) })
            }
        }
    }

    @Test("a range from offset 0 of an empty object reads the empty body, in the model and in both buckets")
    func emptyObjectRange() async throws {
        // Found by the 200 sequences: an empty object made by a multipart upload, then bytes 0..<5.
        let codes = [(6, 2, 17), (1, 2, 65), (0, 1, 0), (1, 1, 65), (1, 1, 66)]
        try await BlobModel.check(codes.map(BlobModel.Operation.init), on: BlobConformance.Harness { clock in MemoryBlob(clock: clock) })
        try await BlobModel.check(codes.map(BlobModel.Operation.init), on: fileHarness)
    }

    @Test("FileBlob, 60 sequences")
    func file() async {
        await propertyCheck(count: 60, input: blobOperations) { codes in
            await recordingFailure { try await BlobModel.check(codes.map(BlobModel.Operation.init), on: fileHarness) }
        }
    }
}
