import EdgeIsolates
import Foundation
import Synchronization
import Testing

/// Builds `Guests/<name>.c` with the toolchain's clang for wasm32, into a temporary file.
func buildGuest(_ name: String) throws -> [UInt8] {
    let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Guests/\(name).c").path
    let output = NSTemporaryDirectory() + "edge-isolate-\(name)-\(UUID().uuidString).wasm"
    defer { try? FileManager.default.removeItem(atPath: output) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["clang", "--target=wasm32", "-nostdlib", "-O1", "-Wl,--no-entry", "-Wl,--export-dynamic", "-o", output, source]
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw IsolateError(.invalidModule, "clang failed on \(source)") }
    return Array(try Data(contentsOf: URL(fileURLWithPath: output)))
}

/// Builds `Guests/<name>.swift` with Embedded Swift for wasm32 and links it with wasm-ld and
/// the guest allocator (`Guests/alloc.c`).
func buildSwiftGuest(_ name: String) throws -> [UInt8] {
    let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Guests/\(name).swift").path
    let base = NSTemporaryDirectory() + "edge-isolate-\(name)-\(UUID().uuidString)"
    let allocator = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Guests/alloc.c").path
    defer {
        for suffix in [".o", "-alloc.o", ".wasm"] { try? FileManager.default.removeItem(atPath: base + suffix) }
    }
    for arguments in [
        [
            "swiftc", "-target", "wasm32-unknown-none-wasm", "-enable-experimental-feature", "Embedded", "-enable-experimental-feature", "Extern",
            "-wmo", "-Osize", "-parse-as-library", "-c", "-o", base + ".o", source,
        ],
        ["clang", "--target=wasm32", "-O2", "-c", "-o", base + "-alloc.o", allocator],
        ["wasm-ld", "--no-entry", "--export-dynamic", "--allow-undefined", "-o", base + ".wasm", base + ".o", base + "-alloc.o"],
    ] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw IsolateError(.invalidModule, "\(arguments[0]) failed on \(source)") }
    }
    return Array(try Data(contentsOf: URL(fileURLWithPath: base + ".wasm")))
}

@Suite("Isolates")
struct IsolateTests {
    @Test("a guest's exports run and its host calls reach the host")
    func runs() throws {
        let module = try IsolateModule(bytes: buildGuest("hostile"))
        let lines = Mutex<[String]>([])
        let isolate = try module.instantiate { line in lines.withLock { $0.append(line) } }
        #expect(try isolate.call("add_one", [41]) == [42])
        #expect(try isolate.call("hello") == [0])
        #expect(lines.withLock { $0 } == ["hello from C"])
    }

    @Test("an Embedded Swift guest, built by the toolchain alone, runs through the same ABI")
    func embeddedSwift() throws {
        let module = try IsolateModule(bytes: buildSwiftGuest("hello"))
        let lines = Mutex<[String]>([])
        let isolate = try module.instantiate { line in lines.withLock { $0.append(line) } }
        var state: UInt32 = 1
        for _ in 0..<10 { state = state &* 1_103_515_245 &+ 12_345 }
        #expect(try isolate.call("fetch", [10]) == [Int32(bitPattern: state >> 1)])
        #expect(lines.withLock { $0 } == ["hello from Embedded Swift"])
        // A request that would loop for long runs out of fuel instead.
        let tight = try module.instantiate(limits: IsolateLimits(fuel: 10_000))
        #expect(throws: IsolateError(.cpuLimit, "the invocation spent its 10000 units of fuel")) { try tight.call("fetch", [Int32.max]) }
    }

    @Test("hostile guests end with their error and the isolate keeps answering")
    func hostile() throws {
        let module = try IsolateModule(bytes: buildGuest("hostile"))
        let isolate = try module.instantiate(limits: IsolateLimits(fuel: 1_000_000, memoryBytes: 4 << 20, hostCalls: 100))
        func code(_ name: String, _ arguments: [Int32] = []) -> IsolateError.Code? {
            do {
                _ = try isolate.call(name, arguments)
                return nil
            } catch let error as IsolateError {
                return error.code
            } catch {
                return nil
            }
        }
        #expect(code("spin") == .cpuLimit)
        #expect(code("recurse", [0]) == .trap)
        #expect(code("bad_pointer") == .badPointer)
        #expect(code("negative_length") == .badPointer)
        #expect(code("chatty") == .hostCallLimit)
        #expect(code("out_of_bounds") == .trap)
        #expect(code("no_such_export") == .invalidModule)
        // Memory grows up to the limit and no further: 4 MiB is 64 pages, minus what it started with.
        let pages = try isolate.call("memory_bomb")[0]
        #expect(pages > 0 && pages < 64)
        #expect(try isolate.call("add_one", [1]) == [2])
        // With the default 128 MiB, growing a page at a time is stopped by the copy budget (each
        // growth copies the memory) long before the limit, instead of copying ~137 GB.
        let roomy = try module.instantiate()
        let grown = try roomy.call("memory_bomb")[0]
        #expect(grown > 16 && grown < 1_024)
    }

    @Test("bytes that are not WebAssembly, or imports the host lacks, are refused at load")
    func invalidModules() throws {
        #expect(throws: IsolateError.self) { try IsolateModule(bytes: Array("not wasm".utf8)) }
        // (module (import "edge" "secrets" (func)))
        let importsUnknown: [UInt8] = [
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x02, 0x10, 0x01, 0x04, 0x65, 0x64, 0x67, 0x65, 0x07,
            0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x73, 0x00, 0x00,
        ]
        #expect(throws: IsolateError(.invalidModule, "imports edge.secrets, which the host does not provide")) { try IsolateModule(bytes: importsUnknown) }
        // (module (import "edge" "log" (func (param i32)))): the right name, the wrong type.
        let wrongType: [UInt8] = [
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x01, 0x7f, 0x00, 0x02, 0x0c, 0x01, 0x04, 0x65, 0x64, 0x67, 0x65,
            0x03, 0x6c, 0x6f, 0x67, 0x00, 0x00,
        ]
        let module = try IsolateModule(bytes: wrongType)
        #expect {
            _ = try module.instantiate()
        } throws: { error in
            (error as? IsolateError)?.code == .invalidModule
        }
    }
}
