import Foundation

/// Builds guests with the compilers that ship with the Swift toolchain, and nothing else: C with
/// `clang --target=wasm32`, Embedded Swift with `swiftc -target wasm32-unknown-none-wasm`, linked
/// by `wasm-ld` (found on `PATH`).
public enum GuestToolchain {
    /// A compiler or the linker failed.
    public struct BuildError: Error, Sendable, CustomStringConvertible {
        /// The tool that failed (`clang`, `swiftc`, `wasm-ld`).
        public var tool: String
        /// What it wrote to standard error.
        public var output: String

        public var description: String { "\(tool) failed: \(output)" }
    }

    /// The guest SDK's directory: `edge.h` (the ABI for C), `EdgeGuest.swift` (the Embedded
    /// Swift SDK) and `alloc.c` (the allocator and stack-protector hooks Embedded Swift links).
    /// It is the package's `Guests/sdk`, found from this source file's path: SwiftPM builds
    /// swift-edge from its sources, which stay where they were checked out.
    public static let sdkDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Guests/sdk").path

    /// Builds the guest in `directory` as `edge build` does: its `.swift` files with Embedded
    /// Swift and the guest SDK when it has any, else its `.c` files with `edge.h` on the include path.
    ///
    /// - Throws: ``BuildError`` (tool `edge build`) when the directory has no sources; the
    ///   compilers' ``BuildError``s; file errors.
    public static func build(directory: String) throws -> [UInt8] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted().map { directory + "/" + $0 }
        let swift = files.filter { $0.hasSuffix(".swift") }
        let c = files.filter { $0.hasSuffix(".c") }
        if !swift.isEmpty { return try buildEmbeddedSwift(swift, support: c) }
        if !c.isEmpty { return try buildC(c) }
        throw BuildError(tool: "edge build", output: "\(directory) holds no .swift or .c sources")
    }

    /// Compiles and links C `sources` (no libc) into a module exporting what the sources mark
    /// with `export_name`; imports stay imports. The SDK's `edge.h` is on the include path, and
    /// so are `includes`. `-fno-builtin`: without a libc, clang must not turn a loop into a
    /// call to `strlen` or `memcpy` that nothing defines.
    ///
    /// - Throws: ``BuildError`` when clang or wasm-ld fails; file errors reading the result.
    public static func buildC(_ sources: [String], includes: [String] = [], optimization: String = "-O2") throws -> [UInt8] {
        try inScratch { base in
            try run(
                ["clang", "--target=wasm32", "-nostdlib", "-fno-builtin", optimization, "-Wl,--no-entry", "-Wl,--export-dynamic", "-o", base + ".wasm"]
                    + ([sdkDirectory] + includes).map { "-I" + $0 } + sources)
            return base + ".wasm"
        }
    }

    /// Compiles the Embedded Swift `sources` as one module (whole module, size-optimised) with
    /// the guest SDK (`EdgeGuest.swift`, unless `sdk` is false: a guest declaring the imports
    /// itself), and links them with the SDK's `alloc.c` and the C `support` sources.
    ///
    /// - Throws: ``BuildError`` when swiftc, clang or wasm-ld fails; file errors reading the result.
    public static func buildEmbeddedSwift(_ sources: [String], support: [String] = [], sdk: Bool = true) throws -> [UInt8] {
        try inScratch { base in
            try run(
                [
                    "swiftc", "-target", "wasm32-unknown-none-wasm", "-enable-experimental-feature", "Embedded", "-enable-experimental-feature",
                    "Extern", "-wmo", "-Osize", "-parse-as-library", "-module-name", "Guest", "-c", "-o", base + ".o",
                ] + (sdk ? [sdkDirectory + "/EdgeGuest.swift"] : []) + sources)
            var objects = [base + ".o"]
            for (index, file) in ([sdkDirectory + "/alloc.c"] + support).enumerated() {
                try run(["clang", "--target=wasm32", "-O2", "-I" + sdkDirectory, "-c", "-o", base + "-\(index).o", file])
                objects.append(base + "-\(index).o")
            }
            try run(["wasm-ld", "--no-entry", "--export-dynamic", "--allow-undefined", "-o", base + ".wasm"] + objects)
            return base + ".wasm"
        }
    }

    /// Runs `body` with a fresh scratch directory's path prefix; returns the bytes of the file it names.
    private static func inScratch(_ body: (String) throws -> String) throws -> [UInt8] {
        let directory = NSTemporaryDirectory() + "edge-guest-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return Array(try Data(contentsOf: URL(fileURLWithPath: try body(directory + "/guest"))))
    }

    private static func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BuildError(tool: arguments[0], output: String(decoding: output, as: UTF8.self)) }
    }
}
