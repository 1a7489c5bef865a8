import EdgeCoordinator
import EdgeTesting
import PropertyBased
import Testing

/// Operation codes for the model checks: (kind, key, parameter), 1 to 40 of them.
let durableObjectOperations = zip(Gen.int(in: 0...10), Gen.int(in: 0...6), Gen.int(in: 0...120)).array(of: 1...40)

@Suite("Durable-object storage against a reference model: puts, deletes, transactions, deleteAll, list ranges, alarms, restarts")
struct DurableObjectModelTests {
    @Test("SQLite namespace, 100 sequences")
    func sqlite() async {
        let directory = try! makeTemporaryDirectory("do-model")
        await propertyCheck(count: 100, input: durableObjectOperations) { codes in
            await recordingFailure {
                try await DurableObjectModel.check(
                    codes.map(DurableObjectModel.Operation.init),
                    on: CoordinatorConformance.Harness { name, _, env, configuration in
                        try DurableObjectNamespace(name: name, path: directory + "/\(name).sqlite", env: env, configuration: configuration)
                    })
            }
        }
    }
}
