import EdgeCoordinator
import EdgePostgres
import EdgeTesting
import PostgresNIO
import Testing

@Suite("Durable objects on PostgreSQL", .enabled(if: postgresAvailable, skipReason))
struct PostgresCoordinatorTests {
    @Test("coordinator conformance", arguments: CoordinatorConformance.cases)
    func conformance(_ check: CoordinatorConformance.Case) async throws {
        // A new namespace on the same name is another owner (as another process would be):
        // the durability case shows the first hand its object over.
        // Long leases: the cases check storage semantics, not expiry (the lease tests do), and
        // in a starved CI run an owner once went more than 10 s without renewing, so its commit
        // was fenced ("no longer holds the lease"), as it must be, and the case failed.
        try await check.run(
            CoordinatorConformance.Harness { name, _, env, configuration in
                try DurableObjectNamespace(
                    name: name, pool: try database(), env: env, configuration: configuration, leaseSeconds: testLeaseSeconds,
                    handoverTimeout: testLeaseSeconds)
            })
    }
}

@Suite("Durable-object leases on PostgreSQL", .enabled(if: postgresAvailable, skipReason))
struct PostgresLeaseTests {
    func lease(_ name: String, _ id: String) async throws -> (owner: String, epoch: Int64)? {
        let rows = try await database().client.query("SELECT owner, epoch FROM edge_do_leases WHERE namespace = \(name) AND object_id = \(id)")
        for try await row in rows.decode((String, Int64).self) { return row }
        return nil
    }

    @Test("an instance whose lease was lost never commits, even once its process holds the lease again")
    func staleInstanceIsFenced() async throws {
        let name = uniqueName("fence")
        // Two namespaces on their own pools: two processes. Their leases are long: this test ends
        // A's lease itself, and a lapse of B's would fence B's increment.
        let a = try DurableObjectNamespace<Counter>(
            name: name, pool: try PostgresPool(url: postgresURL!, maxConnections: 4, connectTimeout: testOperationTimeout, queryTimeout: testOperationTimeout),
            env: (), leaseSeconds: testLeaseSeconds)
        let b = try DurableObjectNamespace<Counter>(
            name: name, pool: try PostgresPool(url: postgresURL!, maxConnections: 4, connectTimeout: testOperationTimeout, queryTimeout: testOperationTimeout),
            env: (), leaseSeconds: testLeaseSeconds)
        let id = a.idFromName("shared")
        #expect(try await a.get(id).call { try await $0.increment() } == 1)
        let first = try #require(try await lease(name, id.hex))

        // A's lease runs out while A still has the object in memory (A paused, say): B takes it.
        try await database().client.query("UPDATE edge_do_leases SET expires_at = 0 WHERE namespace = \(name) AND object_id = \(id.hex)")
        #expect(try await b.get(id).call { try await $0.increment() } == 2)
        #expect(b.evictIdle(idleFor: 0) == 1)
        let released = ContinuousClock.now.advanced(by: testOperationTimeout)
        while try await lease(name, id.hex) != nil, ContinuousClock.now < released { try await Task.sleep(for: .milliseconds(10)) }

        // A's process takes the lease again for a new instance (a new epoch) ...
        try await database().client.query(
            """
            INSERT INTO edge_do_leases (namespace, object_id, owner, expires_at, epoch)
            VALUES (\(name), \(id.hex), \(first.owner), 9000000000000, nextval('edge_do_lease_epochs'))
            """)
        // ... so the stale instance, which still counts from 1, must not commit its 2.
        await #expect {
            _ = try await a.get(id).call { try await $0.increment() }
        } throws: { error in
            (error as? CoordinatorError)?.code == .storageFailure
        }
        let c = try DurableObjectNamespace<Counter>(name: name, pool: try database(), env: ())
        try await database().client.query("DELETE FROM edge_do_leases WHERE namespace = \(name)")
        #expect(try await c.get(id).call { try await $0.value() } == 2, "B's increment stands")
    }
}
