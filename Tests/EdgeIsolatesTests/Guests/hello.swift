// An Embedded Swift guest for the isolate tests, built with the toolchain alone:
// swiftc -target wasm32-unknown-none-wasm -enable-experimental-feature Embedded
//   -enable-experimental-feature Extern -wmo -parse-as-library -c, then wasm-ld --no-entry.

@_extern(wasm, module: "edge", name: "log")
@_extern(c)
func edgeLog(_ pointer: UnsafePointer<UInt8>?, _ count: Int32)

func log(_ text: StaticString) {
    edgeLog(text.utf8Start, Int32(text.utf8CodeUnitCount))
}

@_expose(wasm, "fetch")
@_cdecl("fetch")
func fetch(_ request: Int32) -> Int32 {
    log("hello from Embedded Swift")
    // `request` steps of a linear congruential generator: work the optimizer cannot fold away.
    var state: UInt32 = 1
    var step: Int32 = 0
    while step < request {
        state = state &* 1_103_515_245 &+ 12_345
        step &+= 1
    }
    return Int32(bitPattern: state >> 1)
}
