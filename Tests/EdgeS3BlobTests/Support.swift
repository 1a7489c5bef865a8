import EdgeBlob
import EdgeS3
import EdgeS3Blob
import EdgeTesting
import Foundation
import Testing

/// moto's S3 server, started by `.ci/moto start` (as `.ci/run` does) and named by EDGE_S3_MOTO_URL.
let motoURL = ProcessInfo.processInfo.environment["EDGE_S3_MOTO_URL"].flatMap(URL.init(string:))
let motoSkipReason: Comment = "EDGE_S3_MOTO_URL is not set: start moto's S3 server with `.ci/moto start` and export the URL it prints"

/// The test's S3 store, with its credentials as S3Blob takes them.
typealias OwnS3Server = S3StoreProcess

extension S3StoreProcess {
    var credentials: S3Credentials { S3Credentials(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey) }
}

/// Runs every case of a conformance suite in turn, recording each failure as its own issue.
func runAll<Binding: Sendable>(_ cases: [ConformanceCase<Binding>], _ harness: ConformanceHarness<Binding>, store: String) async {
    for check in cases {
        do {
            try await check.run(harness)
        } catch {
            Issue.record("\(store): \(check.name): \(error)")
        }
    }
}
