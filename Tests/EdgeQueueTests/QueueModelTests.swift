import EdgeQueue
import EdgeTesting
import PropertyBased
import Testing

/// Operation codes for the model checks: (kind, index, parameter), 1 to 60 of them.
let queueOperations = zip(Gen.int(in: 0...9), Gen.int(in: 0...7), Gen.int(in: 0...120)).array(of: 1...60)

@Suite("Queues against a reference model: sends, delays, claims, acks, retries, releases, dead letters, redrives, expiring leases")
struct QueueModelTests {
    @Test("MemoryQueue, 200 sequences")
    func memory() async {
        await propertyCheck(count: 200, input: queueOperations) { codes in
            await recordingFailure {
                try await QueueModel.check(codes.map(QueueModel.Operation.init), on: QueueConformance.Harness { clock in MemoryQueue(clock: clock) })
            }
        }
    }

    @Test("SQLiteQueue, 100 sequences")
    func sqlite() async {
        await propertyCheck(count: 100, input: queueOperations) { codes in
            await recordingFailure { try await QueueModel.check(codes.map(QueueModel.Operation.init), on: sqliteHarness) }
        }
    }
}
