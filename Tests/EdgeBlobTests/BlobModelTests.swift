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

    @Test("FileBlob, 60 sequences")
    func file() async {
        await propertyCheck(count: 60, input: blobOperations) { codes in
            await recordingFailure { try await BlobModel.check(codes.map(BlobModel.Operation.init), on: fileHarness) }
        }
    }
}
