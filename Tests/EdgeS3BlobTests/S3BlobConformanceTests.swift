import EdgeBlob
import EdgeS3
import EdgeS3Blob
import EdgeTesting
import Foundation
import PropertyBased
import Synchronization
import Testing

/// Hands out the next unused bucket name, so each case starts from an empty bucket.
final class BucketNames: Sendable {
    private let next = Mutex(0)
    let names: [String]

    init(_ names: [String]) { self.names = names }

    func take() -> String {
        next.withLock { index in
            defer { index += 1 }
            return names[index]
        }
    }
}

func s3Harness(endpoint: URL, credentials: S3Credentials, bucketName: @escaping @Sendable () -> String, create: Bool) -> BlobConformance.Harness {
    @Sendable func open(_ bucket: String, _ clock: TestClock) throws -> S3Blob {
        try S3Blob(
            configuration: .init(
                endpoint: endpoint, bucket: bucket, credentials: credentials, partSize: 5 << 20, clock: clock, createBucketIfMissing: create))
    }
    return BlobConformance.Harness(
        make: { clock in try open(bucketName(), clock) },
        reopen: { bucket, clock in try open((bucket as! S3Blob).configuration.bucket, clock) },
        clockIsRemote: true)
}

@Suite("S3Blob passes BlobConformance against real S3 servers")
struct S3BlobConformanceTests {
    static let cases = BlobConformance.cases + BlobConformance.durableCases

    @Test("against swift-edge's own S3 API (edge dev, file buckets) over loopback")
    func ownS3API() async throws {
        let names = BucketNames((0..<Self.cases.count).map { "conformance-\($0)" })
        let server = try await OwnS3Server(buckets: names.names, label: "s3blob-own")
        defer { server.stop() }
        await runAll(
            Self.cases, s3Harness(endpoint: server.endpoint, credentials: server.credentials, bucketName: { names.take() }, create: false),
            store: "own S3 API")
    }

    @Test("against moto's S3 server", .enabled(if: motoURL != nil, motoSkipReason))
    func moto() async throws {
        let run = UUID().uuidString.prefix(8).lowercased()
        let names = BucketNames((0..<Self.cases.count).map { "conformance-\(run)-\($0)" })
        var harness = s3Harness(
            endpoint: motoURL!, credentials: S3Credentials(accessKeyID: "AKIDMOTO", secretAccessKey: "moto-secret"), bucketName: { names.take() },
            create: true)
        // moto is looser than S3 in two ways S3Blob, a client, cannot make up for; the own S3 API
        // run makes both checks.
        harness.waived = [
            BlobConformance.waivableUploadKey: "moto accepts a part for an upload id created under another key",
            BlobConformance.waivableUploadAge: "moto reports every upload as initiated on 2010-11-10 (a fixed date in its responses)",
        ]
        await runAll(Self.cases, harness, store: "moto")
    }
}

@Suite("S3Blob against a reference model")
struct S3BlobModelTests {
    @Test("on moto's S3 server, 15 sequences", .enabled(if: motoURL != nil, motoSkipReason))
    func moto() async {
        let harness = s3Harness(
            endpoint: motoURL!, credentials: S3Credentials(accessKeyID: "AKIDMOTO", secretAccessKey: "moto-secret"),
            bucketName: { "model-" + UUID().uuidString.prefix(12).lowercased() }, create: true)
        await propertyCheck(count: 15, input: zip(Gen.int(in: 0...6), Gen.int(in: 0...5), Gen.int(in: 0...120)).array(of: 1...30)) { codes in
            await recordingFailure { try await BlobModel.check(codes.map(BlobModel.Operation.init), on: harness) }
        }
    }
}
