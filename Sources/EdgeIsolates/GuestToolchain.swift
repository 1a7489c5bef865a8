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

    /// Compiles and links C `sources` (no libc) into a module exporting what the sources mark
    /// with `export_name`; imports stay imports. `includes` are header directories (the ABI's
    /// `edge.h` is in the repository's `Guests/include`).
    ///
    /// - Throws: ``BuildError`` when clang or wasm-ld fails; file errors reading the result.
    public static func buildC(_ sources: [String], includes: [String] = [], optimization: String = "-O2") throws -> [UInt8] {
        try inScratch { base in
            try run(
                ["clang", "--target=wasm32", "-nostdlib", optimization, "-Wl,--no-entry", "-Wl,--export-dynamic", "-o", base + ".wasm"]
                    + includes.map { "-I" + $0 } + sources)
            return base + ".wasm"
        }
    }

    /// Compiles the Embedded Swift `source` (whole module, size-optimised) and links it with the C
    /// `support` sources (the runtime's `posix_memalign` and `free`, say).
    ///
    /// - Throws: ``BuildError`` when swiftc, clang or wasm-ld fails; file errors reading the result.
    public static func buildEmbeddedSwift(_ source: String, support: [String] = []) throws -> [UInt8] {
        try inScratch { base in
            try run([
                "swiftc", "-target", "wasm32-unknown-none-wasm", "-enable-experimental-feature", "Embedded", "-enable-experimental-feature", "Extern",
                "-wmo", "-Osize", "-parse-as-library", "-c", "-o", base + ".o", source,
            ])
            var objects = [base + ".o"]
            for (index, file) in support.enumerated() {
                try run(["clang", "--target=wasm32", "-O2", "-c", "-o", base + "-\(index).o", file])
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
