import EdgeKV
import EdgeTesting
import PropertyBased
import Testing

/// Operation codes for the model checks: (kind, key, parameter), 1 to 50 of them.
let kvOperations = zip(Gen.int(in: 0...8), Gen.int(in: 0...7), Gen.int(in: 0...120)).array(of: 1...50)

@Suite("KV against a reference model: random puts, TTLs, deletes, bulk writes, lists and clock moves")
struct KVModelTests {
    @Test("MemoryKV, 200 sequences")
    func memory() async {
        await propertyCheck(count: 200, input: kvOperations) { codes in
            await recordingFailure { try await KVModel.check(codes.map(KVModel.Operation.init), on: KVConformance.Harness { clock in MemoryKV(clock: clock) }) }
        }
    }

    @Test("SQLiteKV, 100 sequences")
    func sqlite() async {
        await propertyCheck(count: 100, input: kvOperations) { codes in
            await recordingFailure { try await KVModel.check(codes.map(KVModel.Operation.init), on: sqliteHarness) }
        }
    }
}

@Suite("The KV model check can fail")
struct KVModelCatchesBugsTests {
    @Test("a backend that drops metadata fails one put with metadata, and random sequences find it")
    func dropsMetadata() async throws {
        let broken = KVConformance.Harness { clock in DropsMetadata(base: MemoryKV(clock: clock)) }
        await #expect(throws: ConformanceFailure.self) {
            try await KVModel.check([KVModel.Operation((1, 0, 5))], on: broken)
        }
        try await KVModel.check([KVModel.Operation((0, 0, 5))], on: broken)  // no metadata: nothing to see
        let sequences = Observed(0)
        await withKnownIssue("the property check reports the broken backend (with the sequence shrunk)") {
            await propertyCheck(count: 200, input: kvOperations) { codes in
                await sequences.update { $0 += 1 }
                await recordingFailure { try await KVModel.check(codes.map(KVModel.Operation.init), on: broken) }
            }
        }
        #expect(await sequences.value > 1, "sequences ran")
    }
}
