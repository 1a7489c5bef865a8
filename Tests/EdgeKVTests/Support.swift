import EdgeKV
import EdgeTesting
import Foundation

/// A fresh directory under the system temporary directory, for one test.
func makeTemporaryDirectory(_ name: String = "kv") throws -> String {
    try TemporaryDirectory.make(name)
}

/// The harness that runs the conformance suite on SQLiteKV: a new file per case; reopening closes
/// the namespace and opens its file again.
let sqliteHarness = KVConformance.Harness { clock in
    let directory = try makeTemporaryDirectory()
    return try SQLiteKV(path: directory + "/conformance.sqlite", configuration: .init(clock: clock))
} reopen: { kv, clock in
    let sqlite = kv as! SQLiteKV
    try sqlite.close()
    return try SQLiteKV(path: sqlite.path, configuration: .init(clock: clock))
}
