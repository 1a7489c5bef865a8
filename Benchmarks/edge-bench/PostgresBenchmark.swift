import EdgeCore
import EdgeKV
import EdgePostgres
import EdgeQueue
import Foundation
import NIOCore
import PostgresNIO
import Synchronization
import VectorSearch

/// `edge-bench kv|queue|vectors --backend postgres [--url URL]`: the PostgreSQL backends, each
/// next to the same work written directly against the same server with postgres-nio, in the same
/// run. The URL comes from `--url` or `EDGE_POSTGRES_URL` (`.ci/postgres start` prints one).
struct PostgresBenchmark {
    let options: BenchOptions
    let suite: String

    func run() async throws {
        guard let url = options.url ?? ProcessInfo.processInfo.environment["EDGE_POSTGRES_URL"] else {
            throw BenchError(message: "--backend postgres needs --url postgres://... or EDGE_POSTGRES_URL (start one with .ci/postgres start)")
        }
        let database = try PostgresPool(url: url, maxConnections: 8)
        defer { database.shutdown() }
        switch suite {
        case "kv": try await kv(database)
        case "queue": try await queue(database)
        case "vectors": try await vectors(database)
        case "coordinator": try await ForwardingBenchmark(options: options, url: url).run()
        case "codesearch": try await CodeSearchBenchmark(options: options, postgres: database).run()
        default: throw BenchError(message: "--backend postgres runs the kv, queue, vectors, coordinator and codesearch suites, not \(suite)")
        }
    }

    /// Runs `body` on `database`'s pool, mapping nothing: the peer's plain SQL.
    static func sql(_ database: PostgresPool, _ query: PostgresQuery) async throws -> PostgresRowSequence {
        try await database.client.query(query)
    }

    // MARK: KV

    func kv(_ database: PostgresPool) async throws {
        let run = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let ours = try PostgresKV(namespace: "bench-\(run)", pool: database)
        let peerTable = "bench_kv_\(run)"
        _ = try await Self.sql(database, PostgresQuery(unsafeSQL: "CREATE TABLE \(peerTable) (key text PRIMARY KEY, value text NOT NULL)"))
        let value = String(repeating: "x", count: 100)
        let keys = (0..<10_000).map { String(format: "key-%06d", $0) }
        for start in stride(from: 0, to: keys.count, by: 1000) {
            let slice = Array(keys[start..<start + 1000])
            try await ours.put(slice.map { KVWrite(key: $0, text: value) })
            _ = try await Self.sql(database, "INSERT INTO \(unescaped: peerTable) (key, value) SELECT unnest(\(slice)), \(value)")
        }
        var generator = SplitMix64(seed: 7)
        let lookups = (0..<4096).map { _ in keys[Int(generator.next() % UInt64(keys.count))] }
        var position = 0
        let get = try await compare(rounds: options.rounds, duration: options.duration) {
            position = (position + 1) & 4095
            _ = try await ours.get(lookups[position])
        } peer: {
            position = (position + 1) & 4095
            for try await _ in try await Self.sql(database, "SELECT value FROM \(unescaped: peerTable) WHERE key = \(lookups[position])").decode(String.self) {}
        }
        BenchLine(suite: "kv", name: "postgres.get", value: get.ours, unit: "ops/s", peer: "postgres-nio-sql", peerValue: get.peer).print()

        var counter = 0
        let put = try await compare(rounds: options.rounds, duration: options.duration) {
            counter += 1
            try await ours.put("put-\(counter)", value)
        } peer: {
            counter += 1
            _ = try await Self.sql(
                database,
                """
                INSERT INTO \(unescaped: peerTable) (key, value) VALUES (\("put-\(counter)"), \(value))
                ON CONFLICT (key) DO UPDATE SET value = excluded.value
                """)
        }
        BenchLine(suite: "kv", name: "postgres.put", value: put.ours, unit: "ops/s", peer: "postgres-nio-sql", peerValue: put.peer).print()

        let batch = try await compare(rounds: options.rounds, duration: options.duration, opsPerCall: 100) {
            counter += 1
            try await ours.put((0..<100).map { KVWrite(key: "batch-\(counter)-\($0)", text: value) })
        } peer: {
            counter += 1
            let names = (0..<100).map { "batch-\(counter)-\($0)" }
            _ = try await Self.sql(
                database,
                """
                INSERT INTO \(unescaped: peerTable) (key, value) SELECT unnest(\(names)), \(value)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value
                """)
        }
        BenchLine(suite: "kv", name: "postgres.put_batch", value: batch.ours, unit: "ops/s", peer: "postgres-nio-sql", peerValue: batch.peer).print()

        let list = try await compare(rounds: options.rounds, duration: options.duration) {
            _ = try await ours.list(KVListOptions(prefix: "key-00", limit: 100))
        } peer: {
            for try await _ in try await Self.sql(
                database, "SELECT key FROM \(unescaped: peerTable) WHERE key >= 'key-00' AND key < 'key-01' ORDER BY key LIMIT 101"
            ).decode(String.self) {}
        }
        BenchLine(
            suite: "kv", name: "postgres.list", value: list.ours, unit: "lists/s", peer: "postgres-nio-sql", peerValue: list.peer, extra: ["limit": "100"]
        ).print()
        _ = try await Self.sql(database, "DELETE FROM edge_kv WHERE namespace = \("bench-\(run)")")
        _ = try await Self.sql(database, PostgresQuery(unsafeSQL: "DROP TABLE \(peerTable)"))
    }

    // MARK: Queue

    func queue(_ database: PostgresPool) async throws {
        let total = 20_000
        for consumers in [1, 2] {
            // Alternating rounds, the median of each side.
            var ours: [Double] = [], peer: [Double] = []
            for _ in 0..<max(3, options.rounds) {
                ours.append(try await endToEnd(database, messages: total, consumers: consumers))
                peer.append(try await peerEndToEnd(database, messages: total, consumers: consumers))
            }
            BenchLine(
                suite: "queue", name: consumers == 1 ? "postgres.e2e_vs_job_table" : "postgres.e2e_2consumers_vs_job_table",
                value: VectorsBenchmark.median(ours), unit: "messages/s", peer: "skip-locked-batched-job-table",
                peerValue: VectorsBenchmark.median(peer),
                extra: ["messages": "\(total)", "consumers": "\(consumers)", "rounds": "\(max(3, options.rounds))", "target_ratio": "1.0"]
            ).print()
        }
        // The consumers alone, draining a backlog of `total` sent before they start.
        for consumers in [1, 2] {
            var ours: [Double] = [], peer: [Double] = []
            for _ in 0..<max(3, options.rounds) {
                ours.append(try await endToEnd(database, messages: total, consumers: consumers, prefilled: true))
                peer.append(try await peerEndToEnd(database, messages: total, consumers: consumers, prefilled: true))
            }
            BenchLine(
                suite: "queue", name: consumers == 1 ? "postgres.drain_vs_job_table" : "postgres.drain_2consumers_vs_job_table",
                value: VectorsBenchmark.median(ours), unit: "messages/s", peer: "skip-locked-batched-job-table", peerValue: VectorsBenchmark.median(peer),
                extra: ["messages": "\(total)", "consumers": "\(consumers)", "rounds": "\(max(3, options.rounds))"]
            ).print()
        }
        // The producer alone, no consumer running: where the end-to-end rates above are bound.
        var ours: [Double] = [], peer: [Double] = []
        for _ in 0..<max(3, options.rounds) {
            ours.append(try await produce(database, messages: total))
            peer.append(try await peerProduce(database, messages: total))
        }
        BenchLine(
            suite: "queue", name: "postgres.send_vs_job_table_insert", value: VectorsBenchmark.median(ours), unit: "messages/s",
            peer: "batched-insert-job-table", peerValue: VectorsBenchmark.median(peer),
            extra: ["messages": "\(total)", "batch": "100", "rounds": "\(max(3, options.rounds))"]
        ).print()
    }

    /// `QueueProducer.sendBatch` of 100 messages at a time into PostgresQueue, no consumer; 8-byte
    /// `.bytes` bodies, as the peer's payloads are raw bytes.
    func produce(_ database: PostgresPool, messages: Int) async throws -> Double {
        let backend = PostgresQueue(pool: database, configuration: .init(scope: "bench-\(UUID().uuidString.prefix(8))"))
        defer { backend.close() }
        let producer = try QueueProducer<[UInt8]>(queue: "bench", backend: backend)
        let start = seconds()
        for base in stride(from: 0, to: messages, by: 100) {
            try await producer.sendBatch(
                (base..<(base + 100)).map { QueueSendRequest(body: withUnsafeBytes(of: UInt64($0).littleEndian) { [UInt8]($0) }, contentType: .bytes) })
        }
        let rate = Double(messages) / (seconds() - start)
        _ = try await Self.sql(database, "DELETE FROM edge_queue_batches WHERE scope = \(backend.configuration.scope)")
        return rate
    }

    /// The job table's producer of ``peerEndToEnd(_:messages:consumers:prefilled:)`` alone: one
    /// `INSERT ... SELECT unnest($1)` of 100 payloads per statement, each committed.
    func peerProduce(_ database: PostgresPool, messages: Int) async throws -> Double {
        let table = try await createJobTable(database)
        let start = seconds()
        try await insertJobs(database, table: table, messages: messages)
        let rate = Double(messages) / (seconds() - start)
        _ = try await Self.sql(database, PostgresQuery(unsafeSQL: "DROP TABLE \(table)"))
        return rate
    }

    /// A new job table for the peer; returns its name.
    func createJobTable(_ database: PostgresPool) async throws -> String {
        let table = "bench_jobs_\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
        _ = try await Self.sql(
            database,
            PostgresQuery(
                unsafeSQL:
                    "CREATE TABLE \(table) (id bigserial PRIMARY KEY, payload bytea NOT NULL, visible_at timestamptz NOT NULL DEFAULT now())")
        )
        return table
    }

    /// The job table's producer: `messages` payloads, 100 per `INSERT ... SELECT unnest($1)`.
    func insertJobs(_ database: PostgresPool, table: String, messages: Int) async throws {
        for base in stride(from: 0, to: messages, by: 100) {
            let payloads = (base..<base + 100).map { ByteBuffer(string: String($0)) }
            _ = try await Self.sql(database, "INSERT INTO \(unescaped: table) (payload) SELECT unnest(\(payloads))")
        }
    }

    /// PostgresQueue end to end: sends in batches of 100 while consumers claim batches of 100;
    /// with `prefilled`, the consumers alone drain messages sent before they start.
    func endToEnd(_ database: PostgresPool, messages: Int, consumers: Int, prefilled: Bool = false) async throws -> Double {
        let backend = PostgresQueue(pool: database, configuration: .init(scope: "bench-\(UUID().uuidString.prefix(8))"))
        defer { backend.close() }
        return try await QueueBenchmark.endToEnd(backend, messages: messages, consumers: consumers, prefilled: prefilled)
    }

    /// The best job table a user would write in plain SQL with the same batches and the same
    /// at-least-once contract as ours: the producer inserts 100 rows per statement (`unnest`);
    /// each consumer leases up to 100 due rows with one `UPDATE ... WHERE id = ANY(ARRAY(SELECT ...
    /// LIMIT 100 FOR UPDATE SKIP LOCKED)) RETURNING`, then deletes them with one `DELETE ... = ANY($1)`,
    /// polling every millisecond when nothing is due. Same server, same pool, every statement
    /// committed (`synchronous_commit` on).
    func peerEndToEnd(_ database: PostgresPool, messages: Int, consumers: Int, prefilled: Bool = false) async throws -> Double {
        let table = try await createJobTable(database)
        if prefilled { try await insertJobs(database, table: table, messages: messages) }
        let start = seconds()
        let producer = Task { if !prefilled { try await insertJobs(database, table: table, messages: messages) } }
        final class Done: Sendable { let count = Atomic<Int>(0) }
        let done = Done()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<consumers {
                group.addTask {
                    while done.count.load(ordering: .relaxed) < messages {
                        let rows = try await Self.sql(
                            database,
                            """
                            UPDATE \(unescaped: table) SET visible_at = now() + interval '30 seconds'
                            WHERE id = ANY(ARRAY(SELECT id FROM \(unescaped: table) WHERE visible_at <= now() ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED))
                            RETURNING id, payload
                            """)
                        var ids: [Int64] = []
                        for try await (id, payload) in rows.decode((Int64, ByteBuffer).self) {
                            ids.append(id)
                            _ = payload.readableBytes  // the handler
                        }
                        guard !ids.isEmpty else {
                            try await Task.sleep(for: .milliseconds(1))
                            continue
                        }
                        _ = try await Self.sql(database, "DELETE FROM \(unescaped: table) WHERE id = ANY(\(ids))")
                        done.count.add(ids.count, ordering: .relaxed)
                    }
                }
            }
            try await group.waitForAll()
        }
        try await producer.value
        let rate = Double(messages) / (seconds() - start)
        _ = try await Self.sql(database, PostgresQuery(unsafeSQL: "DROP TABLE \(table)"))
        return rate
    }

    // MARK: Vectors

    /// PgVectorIndex against the same table queried with hand-written SQL (`ORDER BY embedding <=>
    /// $1 LIMIT 10`, same `hnsw.ef_search`): build (upsert in batches of 1,000, then the HNSW
    /// index grows with them), queries/s and recall@10 against the dataset's ground truth.
    func vectors(_ database: PostgresPool) async throws {
        guard let directory = options.dataDirectory else {
            throw BenchError(message: "vectors needs --data DIR (make it with: python3 Benchmarks/scripts/ann_peers.py gen DIR)")
        }
        let base = Array(try VectorsBenchmark.readVectors("\(directory)/base.fvecs").prefix(options.limit ?? 20_000))
        let queries = Array(try VectorsBenchmark.readVectors("\(directory)/query.fvecs").prefix(200))
        let dimensions = base.first?.count ?? 0
        // Ground truth of the prefix, exact, computed here (the dataset's is for all vectors).
        let exact = try FlatIndex(configuration: VectorIndexConfiguration(dimensions: dimensions))
        let records = base.enumerated().map { VectorRecord(id: String($0), values: $1) }
        for start in stride(from: 0, to: records.count, by: 1000) { _ = try await exact.insert(Array(records[start..<min(start + 1000, records.count)])) }
        var truth: [[String]] = []
        for query in queries { truth.append(try await exact.query(query, options: VectorQueryOptions(topK: 10)).matches.map(\.id)) }

        let name = "bench-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
        let index = try PgVectorIndex(name: name, pool: database, configuration: VectorIndexConfiguration(dimensions: dimensions), efSearch: 40)
        var started = seconds()
        for start in stride(from: 0, to: records.count, by: 1000) { _ = try await index.upsert(Array(records[start..<min(start + 1000, records.count)])) }
        BenchLine(
            suite: "vectors", name: "postgres.build", value: seconds() - started, unit: "s",
            extra: ["n": "\(base.count)", "d": "\(dimensions)", "m": "16", "ef_construction": "64", "lower_is_better": "true"]
        ).print()

        var ours: [[String]] = []
        started = seconds()
        for query in queries { ours.append(try await index.query(query, options: VectorQueryOptions(topK: 10)).matches.map(\.id)) }
        let oursRate = Double(queries.count) / (seconds() - started)

        var peer: [[String]] = []
        started = seconds()
        for query in queries {
            let literal = "[" + query.map { "\($0)" }.joined(separator: ",") + "]"
            let ids = try await database.client.withTransaction(logger: database.logger) { connection -> [String] in
                try await connection.query("SET LOCAL hnsw.ef_search = 40", logger: database.logger)
                let rows = try await connection.query(
                    "SELECT id FROM \(unescaped: "\"vec_\(name)\"") ORDER BY embedding <=> \(literal)::vector LIMIT 10", logger: database.logger)
                var ids: [String] = []
                for try await id in rows.decode(String.self) { ids.append(id) }
                return ids
            }
            peer.append(ids)
        }
        let peerRate = Double(queries.count) / (seconds() - started)
        func recall(_ found: [[String]]) -> Double {
            Double(zip(found, truth).map { Set($0).intersection($1).count }.reduce(0, +)) / Double(truth.count * 10)
        }
        BenchLine(
            suite: "vectors", name: "postgres.query", value: oursRate, unit: "queries/s", peer: "pgvector-sql", peerValue: peerRate,
            extra: ["recall10": number(recall(ours)), "peer_recall10": number(recall(peer)), "ef_search": "40", "n": "\(base.count)"]
        ).print()
        _ = try await Self.sql(database, PostgresQuery(unsafeSQL: "DROP TABLE \"vec_\(name)\""))
        _ = try await Self.sql(database, "DELETE FROM edge_vector_indexes WHERE name = \(name)")
    }
}
