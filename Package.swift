// swift-tools-version: 6.1
//
// swift-edge: edge-platform primitives (KV, blobs, queues, durable objects, a worker runtime,
// embeddings and vector search) as a Swift library. See README.md and Docs/.

import PackageDescription

/// Every target of ours builds in the Swift 6 language mode (complete strict concurrency), with
/// imports internal unless marked `public` and members visible only from modules a file imports.
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "swift-edge",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "EdgeKV", targets: ["EdgeKV"]),
        .library(name: "EdgeBlob", targets: ["EdgeBlob"]),
        .library(name: "EdgeS3", targets: ["EdgeS3"]),
        .library(name: "EdgeS3Blob", targets: ["EdgeS3Blob"]),
        .library(name: "EdgeQueue", targets: ["EdgeQueue"]),
        .library(name: "EdgeCoordinator", targets: ["EdgeCoordinator"]),
        .library(name: "EdgeRuntime", targets: ["EdgeRuntime"]),
        .library(name: "Embeddings", targets: ["Embeddings"]),
        .library(name: "VectorSearch", targets: ["VectorSearch"]),
        .library(name: "EdgeTesting", targets: ["EdgeTesting"]),
        .library(name: "EdgeRuntimeTesting", targets: ["EdgeRuntimeTesting"]),
        .library(name: "EdgePostgres", targets: ["EdgePostgres"]),
        .library(name: "EdgeIsolates", targets: ["EdgeIsolates"]),
        .executable(name: "edge", targets: ["edge"]),
        .executable(name: "edge-bench", targets: ["edge-bench"]),
        .executable(name: "code-search", targets: ["code-search"]),
        .executable(name: "recordings", targets: ["recordings"]),
        .executable(name: "chat", targets: ["chat"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // Spans across fetch, queues, durable objects and bindings, exported over OTLP/HTTP (no gRPC).
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
        // Model-based tests: random operation sequences, shrunk to a minimal failing one.
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        // The isolate runtime's WebAssembly engine (no WASI, no file system: guests reach the
        // world only through the host's imports). Pinned to 0.4.x: EdgeIsolates uses its
        // resource limiter (SPI) and its trap messages.
        .package(url: "https://github.com/swiftwasm/WasmKit", .upToNextMinor(from: "0.4.2"), traits: ["MultiThread"]),
        // `swift package generate-documentation`: the DocC catalogs of the library products.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // Shared vocabulary: errors, clocks, JSON values, HTTP request and response, settings.
        .target(
            name: "EdgeCore",
            dependencies: [
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strict
        ),
        // SQLite helpers the SQLite-backed bindings share (not a product): WAL databases through
        // GRDB, raw prepared statements, a group-committing writer.
        .target(
            name: "EdgeSQLite",
            dependencies: [
                "EdgeCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "EdgeKV",
            dependencies: [
                "EdgeCore", "EdgeSQLite",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "EdgeBlob",
            dependencies: [
                "EdgeCore", "EdgeSystem", "EdgeSQLite",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The S3 API over buckets (SigV4, aws-chunked, S3's XML) and the signer S3 clients use.
        .target(
            name: "EdgeS3",
            dependencies: [
                "EdgeCore", "EdgeBlob",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "EdgeQueue",
            dependencies: [
                "EdgeCore", "EdgeSQLite",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "EdgeCoordinator",
            dependencies: [
                "EdgeCore", "EdgeSQLite",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Float32 SIMD kernels (matrix multiply, LayerNorm, GELU, softmax, distances) in C: on
        // x86-64 each is compiled for AVX-512, AVX2+FMA and baseline and picked at load time, with
        // no unsafe flags, so the package stays usable as a dependency.
        .target(name: "EdgeKernels"),
        // System calls Glibc does not expose to Swift (sync_file_range), for EdgeBlob.
        .target(name: "EdgeSystem"),
        .target(
            name: "Embeddings",
            dependencies: [
                "EdgeCore", "EdgeKV", "EdgeKernels",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "VectorSearch",
            dependencies: [
                "EdgeCore", "EdgeSQLite", "EdgeKernels", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "EdgeRuntime",
            dependencies: [
                "EdgeCore", "EdgeKV", "EdgeBlob", "EdgeS3", "EdgeQueue", "EdgeCoordinator", "Embeddings", "VectorSearch",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // S3Blob: buckets on any S3-compatible store (AWS S3, R2, MinIO, moto, our own S3 API),
        // registered with a host as the "s3" backend provider.
        .target(
            name: "EdgeS3Blob",
            dependencies: [
                "EdgeCore", "EdgeBlob", "EdgeS3", "EdgeRuntime",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // PostgreSQL backends for KV, queues, durable objects and vectors (pgvector), registered
        // with a host as a provider: several processes on several machines share one database.
        .target(
            name: "EdgePostgres",
            dependencies: [
                "EdgeCore", "EdgeKV", "EdgeQueue", "EdgeCoordinator", "VectorSearch", "EdgeRuntime",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The test kit for the primitives: TestClock, TestBindings, conformance suites, kill
        // tests. No runtime, no HTTP server: a KV unit test builds only what KV needs.
        .target(
            name: "EdgeTesting",
            dependencies: [
                "EdgeCore", "EdgeKV", "EdgeBlob", "EdgeQueue", "EdgeCoordinator", "VectorSearch",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // The test kit for workers: WorkerTestClient drives a worker in-process or over a socket.
        .target(
            name: "EdgeRuntimeTesting",
            dependencies: [
                "EdgeRuntime", "EdgeTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // The CodeSearch sample app: webhook -> queues -> coordinator -> chunks -> embeddings -> index.
        .target(
            name: "CodeSearch",
            dependencies: [
                "EdgeRuntime", "EdgeSQLite", "EdgePostgres", .product(name: "Crypto", package: "swift-crypto"), .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Examples/CodeSearch/Sources/CodeSearch",
            swiftSettings: strict
        ),

        .executableTarget(
            name: "code-search",
            dependencies: ["CodeSearch", "EdgePostgres", "EdgeS3Blob", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/CodeSearch/Sources/code-search",
            swiftSettings: strict
        ),

        // The recordings example: screen recordings streamed through a worker into a bucket.
        .target(
            name: "Recordings",
            dependencies: ["EdgeRuntime", "EdgeBlob", .product(name: "HTTPTypes", package: "swift-http-types")],
            path: "Examples/Recordings/Sources/Recordings",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "recordings",
            dependencies: ["Recordings", "EdgeRuntime"],
            path: "Examples/Recordings/Sources/recordings",
            swiftSettings: strict
        ),

        // The chat example: one durable object per room, holding its members' WebSockets.
        .target(
            name: "Chat",
            dependencies: ["EdgeRuntime", "EdgeCoordinator"],
            path: "Examples/Chat/Sources/Chat",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "chat",
            dependencies: ["Chat", "EdgeRuntime", "EdgePostgres"],
            path: "Examples/Chat/Sources/chat",
            swiftSettings: strict
        ),

        // `edge`: the command-line tool (dev server, kv, blob, queue, ai).
        .executableTarget(
            name: "edge",
            dependencies: [
                "EdgeRuntime", "EdgePostgres", "EdgeS3Blob", "Embeddings", "VectorSearch", "EdgeCoordinator", "EdgeIsolates",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        // `edge-bench`: JSON-lines benchmarks, each peer measured in the same run.
        .executableTarget(
            name: "edge-bench",
            dependencies: [
                "EdgeCore", "EdgeSQLite", "EdgeKV", "EdgeBlob", "EdgeQueue", "EdgeCoordinator", "EdgeRuntime", "Embeddings", "EdgeKernels", "VectorSearch",
                "CodeSearch", "EdgePostgres", "Recordings", "EdgeIsolates",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Benchmarks/edge-bench",
            swiftSettings: strict
        ),

        // The fuzz harnesses, one per parser of outside input (Fuzz/README.md). FuzzReplayTests
        // replays their seeds and crashers; Fuzz/run drives them with libFuzzer.
        .target(
            name: "EdgeFuzzing",
            dependencies: [
                "CodeSearch", "EdgeBlob", "EdgeCore", "EdgeQueue", "EdgeRuntime", "EdgeS3", "Embeddings", "Recordings", "VectorSearch",
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strict
        ),

        // A child process for the crash tests: it writes, reports each acknowledged write on stdout,
        // and is killed with SIGKILL by the test that spawned it.
        .executableTarget(
            name: "edge-crash-harness",
            dependencies: [
                "EdgeCore", "EdgeKV", "EdgeBlob", "EdgeQueue", "EdgeCoordinator", "VectorSearch", "EdgePostgres",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/CrashHarness",
            swiftSettings: strict
        ),

        .testTarget(name: "EdgeCoreTests", dependencies: ["EdgeCore", "EdgeSQLite", "EdgeTesting"], swiftSettings: strict),
        .testTarget(
            name: "EdgeKVTests", dependencies: ["EdgeKV", "EdgeSQLite", "EdgeTesting", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict),
        .testTarget(
            name: "EdgeS3Tests",
            dependencies: [
                "EdgeS3", "EdgeBlob", "EdgeCore", "EdgeTesting", .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["Clients", "Fixtures"], swiftSettings: strict),
        .testTarget(
            name: "EdgeS3BlobTests",
            dependencies: [
                "EdgeS3Blob", "EdgeS3", "EdgeBlob", "EdgeCore", "EdgeRuntime", "EdgeTesting", .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            exclude: ["Scripts"], swiftSettings: strict),
        .testTarget(name: "EdgeRuntimeTests", dependencies: ["EdgeRuntime", "EdgeRuntimeTesting"], exclude: ["Browser"], swiftSettings: strict),
        .testTarget(
            name: "EdgeCoordinatorTests", dependencies: ["EdgeCoordinator", "EdgeTesting", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict),
        .testTarget(
            name: "EdgeQueueTests",
            dependencies: [
                "EdgeQueue", "EdgeSQLite", "EdgeTesting", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CodeSearchTests",
            dependencies: [
                "CodeSearch", "EdgeRuntimeTesting", "EdgePostgres", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            exclude: ["Fixtures", "Browser"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RecordingsTests",
            dependencies: [
                "Recordings", "EdgeRuntimeTesting", .product(name: "Crypto", package: "swift-crypto"), .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "ChatTests", dependencies: ["Chat", "EdgeRuntimeTesting", "EdgeTesting"], exclude: ["Clients"], swiftSettings: strict),
        .target(
            name: "EdgeIsolates",
            dependencies: [
                "EdgeCore", "EdgeKV", "EdgeQueue", "EdgeBlob", "Embeddings", "VectorSearch", "EdgeRuntime", .product(name: "WasmKit", package: "WasmKit"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EdgeIsolatesTests",
            dependencies: [
                "EdgeIsolates", "EdgeRuntime", "EdgeRuntimeTesting", "EdgeTesting", "EdgeKV", "EdgeQueue", "EdgeBlob", "Embeddings", "VectorSearch",
                .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["Guests"], swiftSettings: strict),
        .testTarget(name: "VectorSearchTests", dependencies: ["VectorSearch", "EdgeTesting"], swiftSettings: strict),
        .testTarget(
            name: "EdgePostgresTests",
            dependencies: ["EdgePostgres", "EdgeRuntime", "EdgeRuntimeTesting", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict),
        .testTarget(
            name: "EmbeddingsTests",
            dependencies: ["Embeddings", "EdgeTesting", .product(name: "Hummingbird", package: "hummingbird")],
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FuzzReplayTests",
            dependencies: ["EdgeFuzzing", "VectorSearch"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EdgeBlobTests",
            dependencies: [
                "EdgeBlob", "EdgeTesting", .product(name: "Crypto", package: "swift-crypto"), .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict
        ),
    ]
)

// Fuzz/run builds the libFuzzer driver with EDGE_FUZZ=1 and -sanitize=fuzzer,address: a module
// without a main of its own (libFuzzer brings one), so it exists only in that build.
if Context.environment["EDGE_FUZZ"] != nil {
    package.targets.append(
        .executableTarget(
            name: "edge-fuzz", dependencies: ["EdgeFuzzing", "VectorSearch"], path: "Fuzz/edge-fuzz",
            swiftSettings: strict + [.unsafeFlags(["-parse-as-library"])]))
}
