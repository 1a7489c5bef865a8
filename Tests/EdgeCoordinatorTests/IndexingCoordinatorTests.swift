import EdgeCoordinator
import EdgeTesting
import Foundation
import Testing

@Suite("IndexingCoordinator")
struct IndexingCoordinatorTests {
    func namespace(_ clock: TestClock) throws -> DurableObjectNamespace<IndexingCoordinator> {
        try DurableObjectNamespace<IndexingCoordinator>(
            name: "indexing", path: try makeTemporaryDirectory() + "/do.sqlite",
            env: .init(clock: clock, leaseSeconds: 60), configuration: .init(clock: clock))
    }

    @Test("100 concurrent workers claim 10,000 jobs: each claimed by one live lease, each completed once")
    func hundredWorkers() async throws {
        let clock = TestClock()
        let namespace = try namespace(clock)
        let stub = namespace.get(namespace.idFromName("repo:swift-edge"))
        let ids = (0..<10_000).map { "file-\($0)" }
        for chunk in stride(from: 0, to: ids.count, by: 1000) {
            let slice = Array(ids[chunk..<(chunk + 1000)])
            #expect(try await stub.call { try await $0.enqueue(slice) } == 1000)
        }
        let claims = ClaimLog()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<100 {
                group.addTask {
                    let workerID = "worker-\(worker)"
                    while let claim = try await stub.call({ try await $0.claimJob(workerID: workerID) }) {
                        await claims.add(claim.jobID, workerID)
                        let counted = try await stub.call { try await $0.complete(jobID: claim.jobID, workerID: workerID) }
                        #expect(counted, "the worker holding the live lease completes its job")
                    }
                }
            }
            try await group.waitForAll()
        }
        let claimed = await claims.byJob
        #expect(claimed.count == 10_000, "every job was claimed")
        #expect(claimed.values.allSatisfy { $0.count == 1 }, "no job was handed to two workers")
        let progress = try await stub.call { try await $0.currentProgress() }
        #expect(progress == .init(total: 10_000, pending: 0, claimed: 0, done: 10_000))
        for id in ["file-0", "file-4999", "file-9999"] {
            #expect(try await stub.call { try await $0.job(id) }?.completions == 1, "\(id) completed exactly once")
        }
    }

    @Test("an expired lease is handed out again and the old holder can no longer complete")
    func leaseExpiry() async throws {
        let clock = TestClock()
        let namespace = try namespace(clock)
        let stub = namespace.get(namespace.idFromName("repo"))
        _ = try await stub.call { try await $0.enqueue(["only"]) }
        let first = try #require(try await stub.call { try await $0.claimJob(workerID: "a") })
        #expect(try await stub.call { try await $0.claimJob(workerID: "b") } == nil, "held by a")
        clock.advance(by: 61)
        let second = try #require(try await stub.call { try await $0.claimJob(workerID: "b") })
        #expect(second.jobID == first.jobID)
        #expect(try await stub.call { try await $0.complete(jobID: "only", workerID: "a") } == false, "a's lease expired")
        #expect(try await stub.call { try await $0.complete(jobID: "only", workerID: "b") } == true)
        namespace.evictIdle()
        clock.advance(by: 100)
        namespace.evictIdle()
        #expect(try await stub.call { try await $0.currentProgress() }.done == 1, "progress rebuilt from storage after eviction")
    }
}

actor ClaimLog {
    var byJob: [String: [String]] = [:]
    func add(_ job: String, _ worker: String) { byJob[job, default: []].append(worker) }
}
