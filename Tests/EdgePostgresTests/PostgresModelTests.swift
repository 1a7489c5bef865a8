import EdgeCoordinator
import EdgeKV
import EdgePostgres
import EdgeQueue
import EdgeTesting
import PropertyBased
import Testing

@Suite("PostgreSQL backends against reference models", .enabled(if: postgresAvailable, skipReason))
struct PostgresModelTests {
    @Test("PostgresKV, 40 sequences")
    func kv() async {
        await propertyCheck(count: 40, input: zip(Gen.int(in: 0...8), Gen.int(in: 0...7), Gen.int(in: 0...120)).array(of: 1...50)) { codes in
            await recordingFailure { try await KVModel.check(codes.map(KVModel.Operation.init), on: PostgresKVTests.harness) }
        }
    }

    @Test("PostgresQueue, 40 sequences")
    func queue() async {
        await propertyCheck(count: 40, input: zip(Gen.int(in: 0...9), Gen.int(in: 0...7), Gen.int(in: 0...120)).array(of: 1...60)) { codes in
            await recordingFailure { try await QueueModel.check(codes.map(QueueModel.Operation.init), on: PostgresQueueTests.harness) }
        }
    }

    /// The leases are long: this checks storage semantics, and the suite's load can starve a
    /// renewal past the default 10 s (the commit is then fenced, rightly); expiry and fencing have
    /// their own tests (`PostgresCoordinatorTests`, the partition test).
    @Test("durable objects on PostgreSQL, 30 sequences")
    func durableObjects() async {
        await propertyCheck(count: 30, input: zip(Gen.int(in: 0...10), Gen.int(in: 0...6), Gen.int(in: 0...120)).array(of: 1...40)) { codes in
            await recordingFailure {
                try await DurableObjectModel.check(
                    codes.map(DurableObjectModel.Operation.init),
                    on: CoordinatorConformance.Harness { name, _, env, configuration in
                        try DurableObjectNamespace(
                            name: name, pool: try database(), env: env, configuration: configuration, leaseSeconds: testLeaseSeconds,
                            handoverTimeout: testLeaseSeconds)
                    })
            }
        }
    }
}
