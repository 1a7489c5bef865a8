import EdgeCore
import HTTPTypes
import WasmKit

/// The host's imports (module `edge`; the ABI is in Docs/isolates.md). Every pointer and length
/// a guest passes is checked against its memory before it is read or written: a bad one is
/// ``IsolateError`` `.badPointer`, never an access outside the guest.
enum HostFunctions {
    typealias Body = @Sendable (borrowing Caller, [Value], HostState) throws -> [Value]

    /// Name, parameter count, result count (all i32), body.
    static let table: [(name: String, parameters: Int, results: Int, body: Body)] = [
        ("log", 2, 0, log),
        (
            "request_method", 2, 1,
            { caller, arguments, state in
                [.i32(try copyOut(caller, Array(try state.current().request("request_method").method.utf8), arguments[0], arguments[1]))]
            }
        ),
        (
            "request_target", 2, 1,
            { caller, arguments, state in
                [.i32(try copyOut(caller, Array(try state.current().request("request_target").target.utf8), arguments[0], arguments[1]))]
            }
        ),
        ("request_header", 4, 1, requestHeader),
        ("request_body_read", 2, 1, requestBodyRead),
        ("response_status", 1, 0, responseStatus),
        ("response_header", 4, 0, responseHeader),
        ("response_write", 2, 0, responseWrite),
        ("kv_get", 4, 1, kvGet),
        ("kv_put", 6, 1, kvPut),
        ("result_read", 2, 1, resultRead),
        ("queue_send", 5, 1, queueSend),
        ("blob_get", 4, 1, blobGet),
        ("blob_put", 6, 1, blobPut),
        ("blob_writer_open", 4, 1, blobWriterOpen),
        ("blob_writer_write", 3, 1, blobWriterWrite),
        ("blob_writer_close", 1, 1, blobWriterClose),
        ("object_fetch", 10, 1, objectFetch),
        ("ai_embed", 4, 1, aiEmbed),
        ("vector_query", 5, 1, vectorQuery),
        (
            "batch_queue", 2, 1,
            { caller, arguments, state in [.i32(try copyOut(caller, Array(try state.current().batch("batch_queue").queue.utf8), arguments[0], arguments[1]))] }
        ),
        ("batch_size", 0, 1, { _, _, state in [.i32(UInt32(try state.current().batch("batch_size").messages.count))] }),
        (
            "message_id", 3, 1,
            { caller, arguments, state in
                let message = try state.current().message("message_id", try i32(arguments[0]))
                return [.i32(try copyOut(caller, Array(message.id.utf8), arguments[1], arguments[2]))]
            }
        ),
        (
            "message_body", 3, 1,
            { caller, arguments, state in
                let message = try state.current().message("message_body", try i32(arguments[0]))
                return [.i32(try copyOut(caller, message.body, arguments[1], arguments[2]))]
            }
        ),
        (
            "message_attempts", 1, 1,
            { _, arguments, state in [.i32(UInt32(clamping: try state.current().message("message_attempts", try i32(arguments[0])).attempts))] }
        ),
        ("message_ack", 1, 0, messageAck),
        ("message_retry", 2, 0, messageRetry),
        (
            "scheduled_cron", 2, 1,
            { caller, arguments, state in
                [.i32(try copyOut(caller, Array(try state.current().scheduled("scheduled_cron").cron.utf8), arguments[0], arguments[1]))]
            }
        ),
        ("scheduled_time", 1, 0, scheduledTime),
    ]

    static let names = Set(table.map(\.name))

    static func make(store: Store, state: HostState) -> [(String, Function)] {
        table.map { entry in
            let function = Function(
                store: store, parameters: Array(repeating: .i32, count: entry.parameters), results: Array(repeating: .i32, count: entry.results)
            ) { caller, arguments in
                try state.charge()
                return try entry.body(caller, arguments, state)
            }
            return (entry.name, function)
        }
    }

    // MARK: The imports

    /// Logs the first ``IsolateABI/maxNameBytes`` bytes, control characters escaped (a guest
    /// cannot forge a line of its own in a text log).
    static func log(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let (memory, offset, count) = try checkBuffer(caller, arguments[0], arguments[1])
        let bytes = memory.withUnsafeBufferPointer(offset: UInt(offset), count: min(count, IsolateABI.maxNameBytes)) { Array($0) }
        var line = ""
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f {
                line += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                line.unicodeScalars.append(scalar)
            }
        }
        state.emit(line)
        return []
    }

    static func requestHeader(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let name = try text(caller, arguments[0], arguments[1], what: "a header name")
        guard let value = try state.current().request("request_header").headers.first(where: { $0.name.lowercased() == name.lowercased() })?.value else {
            try checkBuffer(caller, arguments[2], arguments[3])
            return [.i32(UInt32(bitPattern: IsolateABI.absent))]
        }
        return [.i32(try copyOut(caller, Array(value.utf8), arguments[2], arguments[3]))]
    }

    static func requestBodyRead(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let invocation = try state.current()
        let rest = try invocation.request("request_body_read").body[invocation.bodyOffset...]
        let count = try copyOut(caller, rest, arguments[0], arguments[1], partial: true)
        invocation.bodyOffset += Int(count)
        return [.i32(count)]
    }

    static func responseStatus(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let status = Int(Int32(bitPattern: try i32(arguments[0])))
        // No 1xx: an interim response would make the client read the body as the next response.
        guard (200...599).contains(status) else { throw IsolateError(.badArgument, "response_status(\(status)): a status must be 200...599") }
        let invocation = try state.current()
        try invocation.requireFetch("response_status")
        invocation.response.status = status
        return []
    }

    static func responseHeader(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let name = try text(caller, arguments[0], arguments[1], what: "a header name")
        let value = try text(caller, arguments[2], arguments[3], what: "a header value")
        guard !name.isEmpty, name.utf8.allSatisfy(isTokenByte) else { throw IsolateError(.badArgument, "response_header: \"\(name)\" is not a header name") }
        guard value.utf8.allSatisfy({ $0 == 9 || ($0 >= 32 && $0 != 127) }) else {
            throw IsolateError(.badArgument, "response_header: the value of \(name) holds a control character")
        }
        // The host frames the response: a guest's Content-Length or Transfer-Encoding could
        // desynchronise a connection shared with other tenants' responses.
        guard !framingHeaders.contains(name.lowercased()) else {
            throw IsolateError(.badArgument, "response_header: \(name) is set by the host, not the worker")
        }
        let invocation = try state.current()
        try invocation.requireFetch("response_header")
        guard invocation.response.headers.count < IsolateABI.maxResponseHeaders else {
            throw IsolateError(.badArgument, "response_header: more than \(IsolateABI.maxResponseHeaders) headers")
        }
        invocation.response.headers.append((name, value))
        return []
    }

    /// Headers that frame the message or the connection.
    static let framingHeaders: Set<String> = [
        "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer", "proxy-connection",
    ]

    static func responseWrite(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let invocation = try state.current()
        try invocation.requireFetch("response_write")
        let room = invocation.responseLimit - invocation.response.body.count
        let bytes = try read(caller, arguments[0], arguments[1], limit: room, what: "a response body (limit \(invocation.responseLimit) bytes in all)")
        invocation.response.body.append(contentsOf: bytes)
        return []
    }

    static func kvGet(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        try keyedRead("kv_get", caller, arguments, state) { invocation, binding, key in try invocation.bindings.kvGet(binding: binding, key: key) }
    }

    static func kvPut(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        try keyedWrite("kv_put", what: "a KV value", caller, arguments, state) { invocation, binding, key, value in
            try invocation.bindings.kvPut(binding: binding, key: key, value: value)
        }
    }

    /// Reads an object into the result (read with `result_read`): its length, -1 when absent.
    static func blobGet(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        try keyedRead("blob_get", caller, arguments, state) { invocation, binding, key in
            try invocation.bindings.blobGet(binding: binding, key: key, limit: invocation.responseLimit)
        }
    }

    static func blobPut(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        try keyedWrite("blob_put", what: "an object body", caller, arguments, state) { invocation, binding, key, body in
            try invocation.bindings.blobPut(binding: binding, key: key, body: body)
        }
    }

    /// An import `(binding, binding_len, key, key_len) -> len | -1 | -2` reading a value into the
    /// result (`result_read`).
    static func keyedRead(
        _ call: String, _ caller: borrowing Caller, _ arguments: [Value], _ state: HostState,
        _ get: (Invocation, String, String) throws -> [UInt8]?
    ) throws -> [Value] {
        let binding = try text(caller, arguments[0], arguments[1], what: "a binding name")
        let key = try text(caller, arguments[2], arguments[3], what: "a key")
        let invocation = try state.current()
        invocation.setPending([])
        return try bindingCall(state, "\(call)(\(binding), \(key))") {
            guard let value = try get(invocation, binding, key) else { return IsolateABI.absent }
            invocation.setPending(value)
            return Int32(value.count)
        }
    }

    /// An import `(binding, binding_len, key, key_len, value, value_len) -> 0 | -2` writing a value.
    static func keyedWrite(
        _ call: String, what: String, _ caller: borrowing Caller, _ arguments: [Value], _ state: HostState,
        _ put: (Invocation, String, String, [UInt8]) throws -> Void
    ) throws -> [Value] {
        let binding = try text(caller, arguments[0], arguments[1], what: "a binding name")
        let key = try text(caller, arguments[2], arguments[3], what: "a key")
        let invocation = try state.current()
        let value = try read(caller, arguments[4], arguments[5], limit: invocation.responseLimit, what: what)
        return try bindingCall(state, "\(call)(\(binding), \(key))") {
            try put(invocation, binding, key, value)
            return 0
        }
    }

    /// Starts a chunked write of an object: its handle, or -2 when refused (a bad key, too
    /// many writers open).
    static func blobWriterOpen(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let binding = try text(caller, arguments[0], arguments[1], what: "a binding name")
        let key = try text(caller, arguments[2], arguments[3], what: "a key")
        let invocation = try state.current()
        return try bindingCall(state, "blob_writer_open(\(binding), \(key))") {
            guard invocation.writers.count < IsolateABI.maxOpenWriters else { throw TooManyWriters() }
            let writer = try invocation.bindings.blobWriter(binding: binding, key: key)
            let handle = invocation.nextWriter
            invocation.nextWriter += 1
            invocation.writers[handle] = writer
            return handle
        }
    }

    /// More writers open than ``IsolateABI/maxOpenWriters`` (the guest is answered `refused`).
    struct TooManyWriters: Error, CustomStringConvertible {
        var description: String { "at most \(IsolateABI.maxOpenWriters) objects may be written at once" }
    }

    /// Appends bytes to an object being written: 0, or -2 when the bucket refused a part (the
    /// write is then abandoned and the handle closed).
    static func blobWriterWrite(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let (invocation, handle, writer) = try openWriter("blob_writer_write", arguments[0], state)
        let bytes = try read(caller, arguments[1], arguments[2], limit: invocation.responseLimit, what: "an object chunk")
        return try bindingCall(state, "blob_writer_write(\(handle))") {
            do {
                try writer.write(bytes)
            } catch {
                invocation.writers[handle] = nil
                writer.abort()
                throw error
            }
            return 0
        }
    }

    /// Stores an object written in chunks: 0, or -2 when the bucket refused it (nothing is
    /// stored). The handle is closed either way.
    static func blobWriterClose(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let (invocation, handle, writer) = try openWriter("blob_writer_close", arguments[0], state)
        invocation.writers[handle] = nil
        return try bindingCall(state, "blob_writer_close(\(handle))") {
            do {
                try writer.close()
            } catch {
                writer.abort()
                throw error
            }
            return 0
        }
    }

    /// The writer a handle names; a handle that is not open ends the invocation (`.badArgument`).
    static func openWriter(_ call: String, _ argument: Value, _ state: HostState) throws -> (Invocation, Int32, any IsolateObjectWriter) {
        let invocation = try state.current()
        let handle = Int32(bitPattern: try i32(argument))
        guard let writer = invocation.writers[handle] else { throw IsolateError(.badArgument, "\(call): \(handle) is not an open writer") }
        return (invocation, handle, writer)
    }

    /// Sends a request (method, path, body) to the durable object of that name in a namespace
    /// binding: the response's status (its body read with `result_read`), or -2 when refused
    /// (the object failed, or answered a body over the memory limit).
    static func objectFetch(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let binding = try text(caller, arguments[0], arguments[1], what: "a binding name")
        let name = try text(caller, arguments[2], arguments[3], what: "an object name")
        let method = try text(caller, arguments[4], arguments[5], what: "a method")
        let path = try text(caller, arguments[6], arguments[7], what: "a path")
        let invocation = try state.current()
        let body = try read(caller, arguments[8], arguments[9], limit: invocation.responseLimit, what: "a request body")
        guard let httpMethod = HTTPRequest.Method(method) else { throw IsolateError(.badArgument, "object_fetch: \"\(method)\" is not an HTTP method") }
        guard path.hasPrefix("/") else { throw IsolateError(.badArgument, "object_fetch: the path \"\(path)\" does not start with /") }
        invocation.setPending([])
        return try bindingCall(state, "object_fetch(\(binding), \(name))") {
            let request = EdgeRequest(method: httpMethod, path: path, body: .bytes(body))
            let response = try invocation.bindings.objectFetch(binding: binding, name: name, request: request, limit: invocation.responseLimit)
            invocation.setPending(response.body)
            return Int32(response.status)
        }
    }

    /// Sends a JSON body to the queue of a producer binding, after a delay in seconds.
    static func queueSend(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let binding = try text(caller, arguments[0], arguments[1], what: "a binding name")
        let invocation = try state.current()
        let body = try read(caller, arguments[2], arguments[3], limit: invocation.responseLimit, what: "a queue message")
        let delay = try delaySeconds(arguments[4], "queue_send")
        return try bindingCall(state, "queue_send(\(binding))") {
            try invocation.bindings.queueSend(binding: binding, body: body, delaySeconds: delay)
            return 0
        }
    }

    /// Embeds UTF-8 text; the result (read with `result_read`) is the vector as little-endian
    /// f32s; answers the number of dimensions.
    static func aiEmbed(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let binding = try text(caller, arguments[0], arguments[1], what: "a binding name")
        let invocation = try state.current()
        let bytes = try read(caller, arguments[2], arguments[3], limit: invocation.responseLimit, what: "a text to embed")
        guard let text = String(validating: bytes, as: UTF8.self) else { throw IsolateError(.badArgument, "ai_embed: the text is not UTF-8") }
        invocation.setPending([])
        return try bindingCall(state, "ai_embed(\(binding))") {
            let vector = try invocation.bindings.aiEmbed(binding: binding, text: text)
            invocation.setPending(vector.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } })
            return Int32(vector.count)
        }
    }

    /// Queries a vector index with `dims` little-endian f32s; the result (read with
    /// `result_read`) is JSON; answers its length.
    static func vectorQuery(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let binding = try text(caller, arguments[0], arguments[1], what: "a binding name")
        let dimensions = Int(Int32(bitPattern: try i32(arguments[3])))
        let topK = Int(Int32(bitPattern: try i32(arguments[4])))
        guard (1...IsolateABI.maxVectorDimensions).contains(dimensions) else {
            throw IsolateError(.badArgument, "vector_query: \(dimensions) dimensions is outside 1...\(IsolateABI.maxVectorDimensions)")
        }
        guard (1...IsolateABI.maxTopK).contains(topK) else {
            throw IsolateError(.badArgument, "vector_query: top_k \(topK) is outside 1...\(IsolateABI.maxTopK)")
        }
        let bytes = try read(caller, arguments[2], .i32(UInt32(dimensions * 4)), limit: dimensions * 4, what: "a vector")
        let vector = (0..<dimensions).map { index in
            Float(
                bitPattern: UInt32(bytes[4 * index]) | UInt32(bytes[4 * index + 1]) << 8 | UInt32(bytes[4 * index + 2]) << 16 | UInt32(bytes[4 * index + 3])
                    << 24)
        }
        let invocation = try state.current()
        invocation.setPending([])
        return try bindingCall(state, "vector_query(\(binding))") {
            let result = try invocation.bindings.vectorQuery(binding: binding, vector: vector, topK: topK)
            invocation.setPending(result)
            return Int32(result.count)
        }
    }

    static func messageAck(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let invocation = try state.current()
        let index = try i32(arguments[0])
        _ = try invocation.message("message_ack", index)
        invocation.decide(index, .ack)
        return []
    }

    static func messageRetry(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let invocation = try state.current()
        let index = try i32(arguments[0])
        _ = try invocation.message("message_retry", index)
        invocation.decide(index, .retry(delaySeconds: try delaySeconds(arguments[1], "message_retry")))
        return []
    }

    /// A delay in seconds, 0...``IsolateABI/maxRetryDelaySeconds``.
    static func delaySeconds(_ value: Value, _ call: String) throws -> Int {
        let seconds = Int(Int32(bitPattern: try i32(value)))
        guard (0...IsolateABI.maxRetryDelaySeconds).contains(seconds) else {
            throw IsolateError(.badArgument, "\(call): a delay of \(seconds) s is outside 0...\(IsolateABI.maxRetryDelaySeconds)")
        }
        return seconds
    }

    /// Writes the trigger's time (milliseconds since 1970, a little-endian i64) to 8 bytes at the pointer.
    static func scheduledTime(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let time = try state.current().scheduled("scheduled_time").scheduledTime
        let (memory, offset, _) = try checkBuffer(caller, arguments[0], .i32(8))
        memory.withUnsafeMutableBufferPointer(offset: UInt(offset), count: 8) { buffer in
            withUnsafeBytes(of: time.littleEndian) { buffer.copyMemory(from: $0) }
        }
        return []
    }

    /// Runs a binding call: an ``IsolateError`` (a binding not granted, the wall time) ends the
    /// invocation; any other error is the binding refusing the input, logged and answered
    /// ``IsolateABI/refused``.
    static func bindingCall(_ state: HostState, _ call: @autoclosure () -> String, _ body: () throws -> Int32) throws -> [Value] {
        state.bindingCalls += 1
        do {
            return [.i32(UInt32(bitPattern: try body()))]
        } catch let error as IsolateError {
            throw error
        } catch {
            state.emit("\(call()) refused: \(error)")
            return [.i32(UInt32(bitPattern: IsolateABI.refused))]
        }
    }

    static func resultRead(_ caller: borrowing Caller, _ arguments: [Value], _ state: HostState) throws -> [Value] {
        let invocation = try state.current()
        let count = try copyOut(caller, invocation.pending[invocation.pendingOffset...], arguments[0], arguments[1], partial: true)
        invocation.pendingOffset += Int(count)
        return [.i32(count)]
    }

    // MARK: Guest memory

    static func i32(_ value: Value) throws -> UInt32 {
        guard case .i32(let bits) = value else { throw IsolateError(.badArgument, "an argument must be i32") }
        return bits
    }

    static func memory(_ caller: borrowing Caller) throws -> Memory {
        guard let memory = caller.instance?.exports[memory: "memory"] else { throw IsolateError(.invalidModule, "the module exports no memory") }
        return memory
    }

    /// Checks that (`pointer`, `length`) lies inside the guest's memory; returns them.
    @discardableResult
    static func checkBuffer(_ caller: borrowing Caller, _ pointer: Value, _ length: Value, limit: Int = Int(Int32.max)) throws -> (Memory, UInt32, Int) {
        let (offset, count) = (try i32(pointer), try i32(length))
        let memory = try memory(caller)
        guard Int(count) <= limit else { throw IsolateError(.badPointer, "a length of \(count) bytes is over the limit of \(limit)") }
        guard UInt64(offset) + UInt64(count) <= UInt64(memory.byteCount) else {
            throw IsolateError(.badPointer, "bytes \(offset)..<\(UInt64(offset) + UInt64(count)) are outside the guest's \(memory.byteCount) bytes of memory")
        }
        return (memory, offset, Int(count))
    }

    /// The guest's bytes at (`pointer`, `length`): `.badPointer` outside its memory,
    /// `.badArgument` past `limit`.
    static func read(_ caller: borrowing Caller, _ pointer: Value, _ length: Value, limit: Int, what: String) throws -> [UInt8] {
        let (memory, offset, count) = try checkBuffer(caller, pointer, length)
        guard count <= limit else { throw IsolateError(.badArgument, "\(count) bytes for \(what) is over the limit of \(limit)") }
        return memory.withUnsafeBufferPointer(offset: UInt(offset), count: count) { Array($0) }
    }

    /// The guest's bytes at (`pointer`, `length`) as text, at most ``IsolateABI/maxNameBytes``:
    /// `.badArgument` when they are not UTF-8 (two different byte strings never name the same key).
    static func text(_ caller: borrowing Caller, _ pointer: Value, _ length: Value, what: String) throws -> String {
        let bytes = try read(caller, pointer, length, limit: IsolateABI.maxNameBytes, what: what)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw IsolateError(.badArgument, "\(what) is not UTF-8") }
        return text
    }

    /// Copies `bytes` to the guest's buffer (`pointer`, `capacity`). Whole (the default): copies
    /// only when they fit and answers their full length either way, so a guest with too small a
    /// buffer learns the size to ask with. Partial: copies what fits and answers how much.
    static func copyOut(
        _ caller: borrowing Caller, _ bytes: some Collection<UInt8>, _ pointer: Value, _ capacity: Value, partial: Bool = false
    ) throws -> UInt32 {
        let (memory, offset, room) = try checkBuffer(caller, pointer, capacity)
        let count = partial ? min(room, bytes.count) : (bytes.count <= room ? bytes.count : 0)
        if count > 0 {
            memory.withUnsafeMutableBufferPointer(offset: UInt(offset), count: count) { buffer in
                buffer.copyBytes(from: bytes.prefix(count))
            }
        }
        return UInt32(partial ? count : bytes.count)
    }

    /// RFC 9110 token characters.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}

/// An isolate's side of its imports: the call meter, the log, and the invocation in progress.
final class HostState {
    let meter: HostCallMeter
    let log: @Sendable (String) -> Void
    var invocation: Invocation?
    var wallTime: Duration = .seconds(30)
    /// The binding calls (each may wait) the current or last invocation made.
    var bindingCalls = 0

    init(meter: HostCallMeter, log: @escaping @Sendable (String) -> Void) {
        self.meter = meter
        self.log = log
    }

    /// Writes a line to the invocation's log, or the isolate's outside one.
    func emit(_ line: String) { (invocation?.log ?? log)(line) }

    /// The invocation in progress; the event and binding imports are an error outside one (in
    /// the module's start function).
    func current() throws -> Invocation {
        guard let invocation else {
            throw IsolateError(.badArgument, "no invocation is in progress (the request, batch, cron and binding imports belong to a handler)")
        }
        return invocation
    }

    /// Counts a host call; past the wall-time deadline the invocation ends.
    func charge() throws {
        try meter.charge()
        if let invocation, ContinuousClock.now > invocation.deadline {
            throw IsolateError(.wallTimeLimit, "the invocation ran past its wall-time limit of \(wallTime)")
        }
    }
}
