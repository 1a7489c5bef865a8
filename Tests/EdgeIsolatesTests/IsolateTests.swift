import EdgeIsolates
import Foundation
import Synchronization
import Testing

/// The path of `Guests/<file>`.
func guest(_ file: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Guests/\(file)").path
}

/// Runs `body` on a thread of its own. Compilers and child processes block their thread for
/// seconds, and the cooperative threads serve every suite running in parallel (on two cores,
/// there are two of them: a test blocking one stalls the others' tasks).
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// C guests built once per test run, by source path.
private let builtGuests = Mutex<[String: [UInt8]]>([:])

/// The module of the C guest at `path` (the SDK's `edge.h` on the include path), built once.
func builtC(_ path: String) async throws -> [UInt8] {
    if let bytes = builtGuests.withLock({ $0[path] }) { return bytes }
    let bytes = try await offPool { try GuestToolchain.buildC([path], optimization: "-O1") }
    builtGuests.withLock { $0[path] = bytes }
    return bytes
}

/// Builds `Guests/<name>.c`.
func buildGuest(_ name: String) async throws -> [UInt8] { try await builtC(guest(name + ".c")) }

/// Builds `Guests/<name>.swift` with Embedded Swift (declaring its imports itself, without the
/// guest SDK), linked with the SDK's allocator.
func buildSwiftGuest(_ name: String) async throws -> [UInt8] {
    try await offPool { try GuestToolchain.buildEmbeddedSwift([guest(name + ".swift")], sdk: false) }
}

@Suite("Isolates", .serialized)
struct IsolateTests {
    @Test("a guest's exports run and its host calls reach the host")
    func runs() async throws {
        let module = try IsolateModule(bytes: await buildGuest("hostile"))
        let lines = Mutex<[String]>([])
        let isolate = try module.instantiate { line in lines.withLock { $0.append(line) } }
        #expect(try isolate.call("add_one", [41]) == [42])
        #expect(try isolate.call("hello") == [0])
        #expect(lines.withLock { $0 } == ["hello from C"])
    }

    @Test("an Embedded Swift guest, built by the toolchain alone, runs through the same ABI")
    func embeddedSwift() async throws {
        let module = try IsolateModule(bytes: await buildSwiftGuest("hello"))
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
    func hostile() async throws {
        let module = try IsolateModule(bytes: await buildGuest("hostile"))
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

    @Test("a guest that does not compile is a build error carrying the compiler's message")
    func buildError() async throws {
        let source = NSTemporaryDirectory() + "edge-guest-broken-\(UUID().uuidString).c"
        try "int fetch(int x) { return x + ; }".write(toFile: source, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: source) }
        let outcome = try await offPool { Result { try GuestToolchain.buildC([source]) } }
        #expect {
            _ = try outcome.get()
        } throws: { error in
            guard let error = error as? GuestToolchain.BuildError else { return false }
            return error.tool == "clang" && error.output.contains("expected expression")
        }
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
