import EdgeCoordinator
import Foundation
import GRDBSQLite
import Synchronization

/// `edge-bench coordinator`: calls per second to durable objects, against a plain Swift actor doing
/// the same work without durability (the ceiling), and against an actor that writes each call to
/// SQLite in its own transaction (the durable peer: WAL, `synchronous = FULL`, as ours), in the same
/// run.
struct CoordinatorBenchmark {
    let options: BenchOptions

    actor BenchObject: DurableObject {
        let state: DurableObjectState
        var calls = 0
        init(state: DurableObjectState, env: Void) { self.state = state }

        func bump() -> Int {
            calls += 1
            return calls
        }

        func bumpAndStore() throws -> Int {
            calls += 1
            try state.storage.put("calls", calls)
            return calls
        }
    }

    /// The peer: the same work on a plain actor, nothing durable.
    actor PlainObject {
        var calls = 0
        var stored: [String: Int] = [:]
        func bump() -> Int {
            calls += 1
            return calls
        }
        func bumpAndStore() -> Int {
            calls += 1
            stored["calls"] = calls
            return calls
        }
    }

    /// The durable peer: an actor that makes each call's write durable before it returns, one
    /// SQLite transaction per call (a prepared upsert, WAL, `synchronous = FULL`), which is what an
    /// application without swift-edge would write.
    actor DurableActor {
        let db: OpaquePointer
        let upsert: OpaquePointer
        var calls = 0

        init(path: String) throws {
            var db: OpaquePointer?
            guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let db else {
                throw BenchError(message: "cannot open \(path)")
            }
            sqlite3_exec(
                db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value INTEGER)", nil, nil, nil)
            var statement: OpaquePointer?
            guard
                sqlite3_prepare_v2(
                    db, "INSERT INTO kv (key, value) VALUES ('calls', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", -1, &statement, nil)
                    == SQLITE_OK,
                let statement
            else { throw BenchError(message: String(cString: sqlite3_errmsg(db))) }
            self.db = db
            upsert = statement
        }

        func bumpAndStore() throws -> Int {
            calls += 1
            sqlite3_bind_int64(upsert, 1, Int64(calls))
            defer { sqlite3_reset(upsert) }
            guard sqlite3_step(upsert) == SQLITE_DONE else { throw BenchError(message: String(cString: sqlite3_errmsg(db))) }
            return calls
        }

        func close() {
            sqlite3_finalize(upsert)
            sqlite3_close_v2(db)
        }
    }

    /// Runs `calls` calls of `body` from `concurrency` tasks; returns calls/s and per-call latencies (ms).
    func drive(calls: Int, concurrency: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws -> (rate: Double, latencies: [Double]) {
        let perTask = calls / concurrency
        let start = seconds()
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for task in 0..<concurrency {
                group.addTask {
                    var samples: [Double] = []
                    samples.reserveCapacity(perTask)
                    for index in 0..<perTask {
                        let begin = seconds()
                        try await body(task * perTask + index)
                        samples.append((seconds() - begin) * 1000)
                    }
                    return samples
                }
            }
            return try await group.reduce(into: [Double]()) { $0 += $1 }
        }
        return (Double(perTask * concurrency) / (seconds() - start), latencies)
    }

    func run() async throws {
        let directory = try options.scratchDirectory("coordinator")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let namespace = try DurableObjectNamespace<BenchObject>(name: "bench", path: directory + "/do.sqlite", env: ())
        let one = namespace.get(namespace.idFromName("one"))
        let plain = PlainObject()
        let concurrency = 64
        let durable = try DurableActor(path: directory + "/peer.sqlite")
        var best = (calls: 0.0, plainCalls: 0.0, writes: 0.0, plainWrites: 0.0, durableWrites: 0.0, many: 0.0)
        var p99 = Double.infinity
        for _ in 0..<options.rounds {
            best.calls = max(best.calls, try await drive(calls: 200_000, concurrency: concurrency) { _ in _ = try await one.call { await $0.bump() } }.rate)
            best.plainCalls = max(best.plainCalls, try await drive(calls: 200_000, concurrency: concurrency) { _ in _ = await plain.bump() }.rate)
            let writes = try await drive(calls: 60_000, concurrency: concurrency) { _ in _ = try await one.call { try await $0.bumpAndStore() } }
            best.writes = max(best.writes, writes.rate)
            let sorted = writes.latencies.sorted()
            p99 = min(p99, sorted[Int(Double(sorted.count) * 0.99)])
            best.plainWrites = max(best.plainWrites, try await drive(calls: 200_000, concurrency: concurrency) { _ in _ = await plain.bumpAndStore() }.rate)
            best.durableWrites = max(
                best.durableWrites, try await drive(calls: 6_000, concurrency: concurrency) { _ in _ = try await durable.bumpAndStore() }.rate)
            let ids = (0..<1000).map { namespace.idFromName("object-\($0)") }
            best.many = max(
                best.many,
                try await drive(calls: 200_000, concurrency: concurrency) { index in
                    _ = try await namespace.get(ids[index % 1000]).call { await $0.bump() }
                }.rate)
        }
        BenchLine(
            suite: "coordinator", name: "one_object.calls", value: best.calls, unit: "calls/s", peer: "plain-actor", peerValue: best.plainCalls,
            extra: ["target": "100000", "concurrency": "\(concurrency)"]
        ).print()
        BenchLine(
            suite: "coordinator", name: "one_object.calls_with_write", value: best.writes, unit: "calls/s", peer: "plain-actor", peerValue: best.plainWrites,
            extra: ["target": "20000", "concurrency": "\(concurrency)"]
        ).print()
        BenchLine(
            suite: "coordinator", name: "one_object.calls_with_write_vs_durable_actor", value: best.writes, unit: "calls/s", peer: "actor-sqlite-txn-per-call",
            peerValue: best.durableWrites, extra: ["target_ratio": "1.0", "concurrency": "\(concurrency)"]
        ).print()
        BenchLine(
            suite: "coordinator", name: "many_objects.calls", value: best.many, unit: "calls/s", extra: ["objects": "1000", "concurrency": "\(concurrency)"]
        ).print()
        BenchLine(
            suite: "coordinator", name: "one_object.p99", value: p99, unit: "ms", extra: ["of": quote("calls_with_write"), "concurrency": "\(concurrency)"]
        ).print()
        namespace.close()
        await durable.close()
    }
}
