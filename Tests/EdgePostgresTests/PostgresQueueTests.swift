import EdgePostgres
import EdgeQueue
import EdgeTesting
import Foundation
import PostgresNIO
import Testing

@Suite("PostgresQueue", .enabled(if: postgresAvailable, skipReason))
struct PostgresQueueTests {
    /// Each case gets a scope of its own; reopening opens the same scope again.
    static let harness = QueueConformance.Harness { clock in
        PostgresQueue(pool: try database(), configuration: .init(clock: clock, scope: uniqueName("q")))
    } reopen: { backend, clock in
        let queue = backend as! PostgresQueue
        queue.close()
        return PostgresQueue(pool: queue.pool, configuration: .init(clock: clock, scope: queue.configuration.scope))
    }

    @Test("queue conformance", arguments: QueueConformance.cases + QueueConformance.durableCases)
    func conformance(_ check: QueueConformance.Case) async throws {
        try await check.run(Self.harness)
    }

    @Test("only the primary key has the row id as a column: lookups by id cannot take another index when statistics are stale")
    func idLookupsUseThePrimaryKey() async throws {
        // When autoanalyze runs while the table is drained, the planner costs every path at one
        // row; an index with `id` as a column then served `id = ANY(...)` by scanning all of it.
        let queue = PostgresQueue(pool: try database(), configuration: .init(scope: uniqueName("indexes")))
        try await queue.send("jobs", [OutgoingMessage(body: [1])])
        var definitions: [String: String] = [:]
        let rows = try await database().client.query("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'edge_queue_batches'")
        for try await (name, definition) in rows.decode((String, String).self) { definitions[name] = definition }
        #expect(definitions["edge_queue_batches_pkey"] != nil)
        #expect(definitions["edge_queue_batches_by_visibility"]?.contains("(scope, queue, visible_at, first_id)") == true, "the claim's order")
        #expect(definitions["edge_queue_batches_by_lease"]?.contains("WHERE (lease IS NOT NULL)") == true, "leased rows only")
        for (name, definition) in definitions where name != "edge_queue_batches_pkey" {
            let columns = definition.split(separator: "(", maxSplits: 1).last.map(String.init) ?? ""
            let plain = columns.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " ()")) }
            #expect(!plain.contains("id"), "\(name) has id as a column: \(definition)")
        }
    }

    @Test("a database with a row per message (edge_queue.v2) migrates when opened: ids, leases, delays and dead letters kept")
    func migratesRowPerMessage() async throws {
        // A database of its own: the migration runs once per database.
        let name = "migrate_" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        _ = try await database().client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        let server = try #require(postgresURL)
        let slash = try #require(server.lastIndex(of: "/"))
        let url = server[..<slash] + "/" + name
        let pool = try PostgresPool(url: url, maxConnections: 2, connectTimeout: testOperationTimeout, queryTimeout: testOperationTimeout)
        let clock = TestClock()
        let now = Int64(clock.now.timeIntervalSince1970 * 1000)
        // What edge_queue.v2 created, as the migrator recorded it, with four messages.
        for statement in [
            "CREATE TABLE edge_schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
            "INSERT INTO edge_schema_migrations (name) VALUES ('edge_queue.v2')",
            """
            CREATE TABLE edge_queue_messages (
                id bigserial PRIMARY KEY, scope text NOT NULL, queue text NOT NULL, body bytea NOT NULL, content_type text NOT NULL,
                sent_at bigint NOT NULL, visible_at bigint NOT NULL, attempts integer NOT NULL DEFAULT 0, lease text, source_queue text,
                trace_parent text)
            """,
            """
            INSERT INTO edge_queue_messages (id, scope, queue, body, content_type, sent_at, visible_at, attempts, lease, source_queue, trace_parent)
            VALUES (7, 'app', 'jobs', '\\x6f6e65', 'text', \(now), \(now), 0, NULL, NULL, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'),
                   (8, 'app', 'jobs', '\\x74776f', 'text', \(now), \(now + 60_000), 0, NULL, NULL, NULL),
                   (9, 'app', 'jobs', '\\x03', 'bytes', \(now), \(now + 20_000), 1, 'a-lease-of-the-old-schema', NULL, NULL),
                   (300, 'app', 'dlq', '\\x34', 'json', \(now), \(now), 0, NULL, 'jobs', NULL)
            """,
        ] {
            _ = try await pool.client.query(PostgresQuery(unsafeSQL: statement))
        }
        let backend = PostgresQueue(pool: pool, configuration: .init(clock: clock, listen: false, scope: "app"))
        #expect(try await backend.stats("jobs") == QueueStats(backlog: 3, inFlight: 1, delayed: 1, oldestMessageAge: 0))
        #expect(try await backend.peek("jobs", limit: 10).map(\.id) == ["7", "8", "9"])
        #expect(try await backend.peek("dlq", limit: 10).map(\.sourceQueue) == ["jobs"])
        let first = try await backend.claim("jobs", max: 10, visibilityTimeout: 30)
        #expect(first.map(\.lease.messageID) == [7] && first.map(\.body) == [Array("one".utf8)])
        #expect(first.first?.traceParent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" && first.first?.contentType == .text)
        // The lease taken before the upgrade still settles its message.
        let extended = try await backend.extendLeases("jobs", [QueueLease(messageID: 9, token: "a-lease-of-the-old-schema")], visibilityTimeout: 20)
        #expect(extended.map(\.messageID) == [9])
        clock.advance(by: 20)
        let second = try await backend.claim("jobs", max: 10, visibilityTimeout: 30)
        #expect(second.map(\.lease.messageID) == [9] && second.first?.attempts == 2)
        // A new message gets an id above every id given before.
        try await backend.send("jobs", [OutgoingMessage(body: [1])])
        let newest = try await backend.peek("jobs", limit: 10).map { Int64($0.id)! }
        #expect(newest.count == 4 && newest.last! > 300)
        #expect(try await backend.redrive(from: "dlq", to: nil) == 1)
        let tables = try await pool.client.query("SELECT count(*) FROM pg_tables WHERE tablename = 'edge_queue_messages'")
        for try await count in tables.decode(Int64.self) { #expect(count == 0, "the old table is dropped") }
        backend.close()
        pool.shutdown()
        _ = try await database().client.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(name) WITH (FORCE)"))
    }

    @Test("two backends (as two processes) claim concurrently: every message exactly once, none lost")
    func concurrentClaims() async throws {
        let scope = uniqueName("claims")
        let first = PostgresQueue(pool: try database(), configuration: .init(scope: scope))
        let second = PostgresQueue(
            pool: try PostgresPool(url: postgresURL!, maxConnections: 8, connectTimeout: testOperationTimeout, queryTimeout: testOperationTimeout),
            configuration: .init(scope: scope))
        for start in stride(from: 0, to: 2000, by: 100) {
            try await first.send("work", (start..<start + 100).map { OutgoingMessage(body: Array("\($0)".utf8)) })
        }
        let results = try await withThrowingTaskGroup(of: [String].self) { group in
            for backend in [first, second, first, second] {
                group.addTask {
                    var seen: [String] = []
                    while true {
                        let claimed = try await backend.claim("work", max: 25, visibilityTimeout: 600)
                        if claimed.isEmpty { return seen }
                        seen += claimed.map { String(decoding: $0.body, as: UTF8.self) }
                        try await backend.settle("work", claimed.map { .ack($0.lease) })
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(results.count == 2000)
        #expect(Set(results) == Set((0..<2000).map(String.init)))
        #expect(try await first.stats("work").backlog == 0)
    }

    @Test("a send in one process wakes an idle consumer in another through LISTEN/NOTIFY")
    func notifyWakesOtherProcess() async throws {
        let scope = uniqueName("notify")
        let producer = PostgresQueue(
            pool: try PostgresPool(url: postgresURL!, maxConnections: 4, connectTimeout: testOperationTimeout, queryTimeout: testOperationTimeout),
            configuration: .init(scope: scope))
        // Its own pool, as another process would have (the shared one is busy with other tests).
        let consumer = PostgresQueue(
            pool: try PostgresPool(url: postgresURL!, maxConnections: 4, connectTimeout: testOperationTimeout, queryTimeout: testOperationTimeout),
            configuration: .init(scope: scope))
        let signal = consumer.signal(for: "wake")
        // Until the consumer's LISTEN is in effect a NOTIFY would reach nobody (its consumers
        // would find the message on their next poll instead); taking effect wakes them once.
        // Generous bounds: CPU-heavy tests running in parallel can hold both cooperative threads
        // for tens of seconds (49 s measured in CI), and the listener task needs one to run.
        let started = Date(), listening = started.addingTimeInterval(300)
        while !consumer.pool.isListening("edge_queue"), Date() < listening { try await Task.sleep(for: .milliseconds(20)) }
        #expect(consumer.pool.isListening("edge_queue"), "the consumer's LISTEN took effect within 300 s")
        print("LISTEN took effect after \(String(format: "%.3f", Date().timeIntervalSince(started))) s")
        let before = signal.generation
        try await producer.send("wake", [OutgoingMessage(body: [1])])
        // The producer's own process is not the consumer's: only NOTIFY can wake it.
        await signal.wait(after: before, until: Date().addingTimeInterval(600), clock: SystemClock())
        #expect(signal.generation != before, "the consumer's signal fired before its 600 s timeout")
    }
}
