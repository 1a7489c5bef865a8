import EdgeFuzzing
import Foundation

/// The harness `EDGE_FUZZ_HARNESS` names, looked up once.
let harness: FuzzHarness = {
    let name = ProcessInfo.processInfo.environment["EDGE_FUZZ_HARNESS"] ?? ""
    guard let harness = FuzzHarness(rawValue: name) else {
        let names = FuzzHarness.allCases.map(\.rawValue).joined(separator: ", ")
        FileHandle.standardError.write(Data("edge-fuzz: set EDGE_FUZZ_HARNESS to one of: \(names)\n".utf8))
        exit(2)
    }
    return harness
}()

/// libFuzzer's entry point: one input, run to completion (async harnesses are waited for on
/// this thread, which is libFuzzer's, not one of the concurrency pool's).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    let done = DispatchSemaphore(value: 0)
    let harness = harness
    Task {
        await harness.run(data)
        done.signal()
    }
    done.wait()
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func llvmFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The process entry: SwiftPM links an executable's `main` to `<module>_main`, so this is it;
/// it hands over to libFuzzer's driver (the `main` libFuzzer would otherwise bring).
@_cdecl("edge_fuzz_main")
public func edgeFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return llvmFuzzerRunDriver(&count, &arguments) { fuzzOneInput($0, $1) }
}
