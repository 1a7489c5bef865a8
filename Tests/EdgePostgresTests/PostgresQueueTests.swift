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

    @Test("only the primary key has the message id as a column: lookups by id cannot take another index when statistics are stale")
    func idLookupsUseThePrimaryKey() async throws {
        // When autoanalyze runs while the table is drained, the planner costs every path at one
        // row; an index with `id` as a column then served `id = ANY(...)` by scanning all of it.
        let queue = PostgresQueue(pool: try database(), configuration: .init(scope: uniqueName("indexes")))
        try await queue.send("jobs", [OutgoingMessage(body: [1])])
        var definitions: [String: String] = [:]
        let rows = try await database().client.query("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'edge_queue_messages'")
        for try await (name, definition) in rows.decode((String, String).self) { definitions[name] = definition }
        #expect(definitions["edge_queue_messages_pkey"] != nil)
        #expect(definitions["edge_queue_messages_by_visibility"]?.contains("(id + 0)") == true, "the claim's order, by an expression")
        for (name, definition) in definitions where name != "edge_queue_messages_pkey" {
            let columns = definition.split(separator: "(", maxSplits: 1).last.map(String.init) ?? ""
            let plain = columns.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " ()")) }
            #expect(!plain.contains("id"), "\(name) has id as a column: \(definition)")
        }
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
                        let claimed = try await backend.claim("work", max: 25, visibilityTimeout: 30)
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
        await signal.wait(after: before, until: Date().addingTimeInterval(120), clock: SystemClock())
        #expect(signal.generation != before, "the consumer's signal fired before its 120 s timeout")
    }
}
