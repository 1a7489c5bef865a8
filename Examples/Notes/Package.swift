// swift-tools-version: 6.1
//
// Notes: a small application built on swift-edge the way a user's would be. It depends on
// swift-edge by path here; an application elsewhere names the repository's URL instead:
//
//     .package(url: "https://github.com/OWNER/swift-edge", from: "0.1.0")
//
// NotesCore uses only EdgeKV (its tests only EdgeTesting): building them compiles no HTTP server
// and no PostgreSQL client. NotesWorker adds the runtime; its tests use EdgeRuntimeTesting.
import PackageDescription

let settings: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "notes",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-edge", path: "../..")
    ],
    targets: [
        .target(name: "NotesCore", dependencies: [.product(name: "EdgeKV", package: "swift-edge")], swiftSettings: settings),
        .target(
            name: "NotesWorker",
            dependencies: [
                "NotesCore",
                .product(name: "EdgeKV", package: "swift-edge"),
                .product(name: "EdgeRuntime", package: "swift-edge"),
            ],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "notes",
            dependencies: ["NotesWorker", .product(name: "EdgeRuntime", package: "swift-edge")],
            swiftSettings: settings
        ),
        .testTarget(
            name: "NotesCoreTests",
            dependencies: ["NotesCore", .product(name: "EdgeTesting", package: "swift-edge")],
            swiftSettings: settings
        ),
        .testTarget(
            name: "NotesWorkerTests",
            dependencies: ["NotesWorker", .product(name: "EdgeRuntimeTesting", package: "swift-edge")],
            swiftSettings: settings
        ),
    ]
)
