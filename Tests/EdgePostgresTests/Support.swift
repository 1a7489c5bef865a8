import EdgePostgres
import EdgeRuntime
import Foundation
import Testing

/// The server the tests use: `EDGE_POSTGRES_URL` (`.ci/run` starts one with `.ci/postgres start`).
/// Without it the PostgreSQL tests are skipped, saying why.
let postgresURL = ProcessInfo.processInfo.environment["EDGE_POSTGRES_URL"]
let postgresAvailable = postgresURL != nil
let skipReason: Comment = "EDGE_POSTGRES_URL is not set: start a server with `.ci/postgres start` and export the URL it prints"

/// The connect and query timeouts of the tests' pools: generous, because the whole suite runs in
/// one process on two cooperative threads, and CPU-heavy tests beside these can keep a finished
/// query's task from running for tens of seconds (49 s measured in CI). `PoolTimeoutTests` checks
/// each limit with short values; `PostgresFaultTests` runs its workload on the defaults.
let testOperationTimeout: Duration = .seconds(600)

/// Durable-object leases and handover waits of the tests that check something other than expiry:
/// a renewal (or a commit's own) starved past the default 10 s lets the lease lapse, and the
/// next commit is then fenced, as it must be. Expiry has its own tests (the lease and partition
/// tests), with short leases.
let testLeaseSeconds = Double(testOperationTimeout.components.seconds)

/// One pool for the whole test process.
let sharedDatabase: PostgresPool? = postgresURL.flatMap {
    try? PostgresPool(url: $0, maxConnections: 24, connectTimeout: testOperationTimeout, queryTimeout: testOperationTimeout)
}

func database() throws -> PostgresPool {
    try #require(sharedDatabase, "cannot open \(postgresURL ?? "no URL")")
}

/// A name no other test uses.
func uniqueName(_ prefix: String) -> String {
    prefix + "-" + UUID().uuidString.prefix(8).lowercased()
}

/// The backends of a host that includes PostgreSQL.
let postgresProviders = BackendProviders.builtIn.adding(PostgresProvider())

/// The suites that run several processes against PostgreSQL (edge dev pairs, the fault workload,
/// the partition hosts) run one after the other, so that their processes do not compete for the
/// machine's two cores at once.
@Suite("PostgreSQL, several processes", .serialized)
struct PostgresProcessTests {}
