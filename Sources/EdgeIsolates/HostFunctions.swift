import WasmKit

/// The host's imports (module `edge`). Every pointer and length a guest passes is checked
/// against its memory before it is read: a bad one is ``IsolateError`` `.badPointer`, never a
/// read outside the guest.
enum HostFunctions {
    static let names: Set<String> = ["log"]

    static func make(store: Store, meter: HostCallMeter, log: @escaping @Sendable (String) -> Void) -> [(String, Function)] {
        [
            (
                "log",
                Function(store: store, parameters: [.i32, .i32]) { caller, arguments in
                    try meter.charge()
                    let text = try readString(caller, arguments[0], arguments[1], limit: 4096)
                    log(text)
                    return []
                }
            )
        ]
    }

    /// The guest's bytes at (`pointer`, `length`), as UTF-8 text (invalid sequences replaced).
    static func readString(_ caller: borrowing Caller, _ pointer: Value, _ length: Value, limit: Int) throws -> String {
        guard case .i32(let offset) = pointer, case .i32(let count) = length else { throw IsolateError(.badPointer, "pointer and length must be i32") }
        guard let memory = caller.instance?.exports[memory: "memory"] else { throw IsolateError(.invalidModule, "the module exports no memory") }
        guard count <= limit else { throw IsolateError(.badPointer, "a length of \(count) bytes is over the limit of \(limit)") }
        guard UInt64(offset) + UInt64(count) <= UInt64(memory.byteCount) else {
            throw IsolateError(.badPointer, "bytes \(offset)..<\(UInt64(offset) + UInt64(count)) are outside the guest's \(memory.byteCount) bytes of memory")
        }
        return memory.withUnsafeBufferPointer(offset: UInt(offset), count: Int(count)) { String(decoding: $0, as: UTF8.self) }
    }
}
