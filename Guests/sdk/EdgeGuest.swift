// The swift-edge guest SDK for Embedded Swift (Docs/isolates.md). `edge build` compiles it with a
// worker's sources into one WebAssembly module; the worker defines
//
//     func fetch(_ request: Request) -> Response
//
// and, to consume queues or run on cron triggers, exports `queue` / `scheduled` itself:
//
//     @_expose(wasm, "queue") @_cdecl("queue") func queue() -> Int32 { ... Batch() ... }
//     @_expose(wasm, "scheduled") @_cdecl("scheduled") func scheduled() -> Int32 { ... Trigger() ... }
//
// Text is handled as UTF-8 bytes ([UInt8]) and StaticString: Embedded Swift's String comparison
// needs Unicode tables a guest does not link.

@_extern(wasm, module: "edge", name: "log") @_extern(c)
func _edgeLog(_ pointer: UnsafeRawPointer?, _ length: Int32)
@_extern(wasm, module: "edge", name: "request_method") @_extern(c)
func _edgeRequestMethod(_ buffer: UnsafeMutableRawPointer?, _ capacity: Int32) -> Int32
@_extern(wasm, module: "edge", name: "request_target") @_extern(c)
func _edgeRequestTarget(_ buffer: UnsafeMutableRawPointer?, _ capacity: Int32) -> Int32
@_extern(wasm, module: "edge", name: "request_header") @_extern(c)
func _edgeRequestHeader(_ name: UnsafeRawPointer?, _ nameLength: Int32, _ buffer: UnsafeMutableRawPointer?, _ capacity: Int32) -> Int32
@_extern(wasm, module: "edge", name: "request_body_read") @_extern(c)
func _edgeRequestBodyRead(_ buffer: UnsafeMutableRawPointer?, _ capacity: Int32) -> Int32
@_extern(wasm, module: "edge", name: "response_status") @_extern(c)
func _edgeResponseStatus(_ status: Int32)
@_extern(wasm, module: "edge", name: "response_header") @_extern(c)
func _edgeResponseHeader(_ name: UnsafeRawPointer?, _ nameLength: Int32, _ value: UnsafeRawPointer?, _ valueLength: Int32)
@_extern(wasm, module: "edge", name: "response_write") @_extern(c)
func _edgeResponseWrite(_ bytes: UnsafeRawPointer?, _ length: Int32)
@_extern(wasm, module: "edge", name: "kv_get") @_extern(c)
func _edgeKVGet(_ binding: UnsafeRawPointer?, _ bindingLength: Int32, _ key: UnsafeRawPointer?, _ keyLength: Int32) -> Int32
@_extern(wasm, module: "edge", name: "kv_put") @_extern(c)
func _edgeKVPut(
    _ binding: UnsafeRawPointer?, _ bindingLength: Int32, _ key: UnsafeRawPointer?, _ keyLength: Int32, _ value: UnsafeRawPointer?, _ valueLength: Int32
) -> Int32
@_extern(wasm, module: "edge", name: "result_read") @_extern(c)
func _edgeResultRead(_ buffer: UnsafeMutableRawPointer?, _ capacity: Int32) -> Int32
@_extern(wasm, module: "edge", name: "queue_send") @_extern(c)
func _edgeQueueSend(_ binding: UnsafeRawPointer?, _ bindingLength: Int32, _ body: UnsafeRawPointer?, _ bodyLength: Int32, _ delaySeconds: Int32) -> Int32
@_extern(wasm, module: "edge", name: "blob_get") @_extern(c)
func _edgeBlobGet(_ binding: UnsafeRawPointer?, _ bindingLength: Int32, _ key: UnsafeRawPointer?, _ keyLength: Int32) -> Int32
@_extern(wasm, module: "edge", name: "blob_put") @_extern(c)
func _edgeBlobPut(
    _ binding: UnsafeRawPointer?, _ bindingLength: Int32, _ key: UnsafeRawPointer?, _ keyLength: Int32, _ body: UnsafeRawPointer?, _ bodyLength: Int32
) -> Int32
@_extern(wasm, module: "edge", name: "blob_writer_open") @_extern(c)
func _edgeBlobWriterOpen(_ binding: UnsafeRawPointer?, _ bindingLength: Int32, _ key: UnsafeRawPointer?, _ keyLength: Int32) -> Int32
@_extern(wasm, module: "edge", name: "blob_writer_write") @_extern(c)
func _edgeBlobWriterWrite(_ writer: Int32, _ bytes: UnsafeRawPointer?, _ length: Int32) -> Int32
@_extern(wasm, module: "edge", name: "blob_writer_close") @_extern(c)
func _edgeBlobWriterClose(_ writer: Int32) -> Int32
@_extern(wasm, module: "edge", name: "object_fetch") @_extern(c)
func _edgeObjectFetch(
    _ binding: UnsafeRawPointer?, _ bindingLength: Int32, _ name: UnsafeRawPointer?, _ nameLength: Int32, _ method: UnsafeRawPointer?,
    _ methodLength: Int32, _ path: UnsafeRawPointer?, _ pathLength: Int32, _ body: UnsafeRawPointer?, _ bodyLength: Int32
) -> Int32
@_extern(wasm, module: "edge", name: "ai_embed") @_extern(c)
func _edgeAIEmbed(_ binding: UnsafeRawPointer?, _ bindingLength: Int32, _ text: UnsafeRawPointer?, _ textLength: Int32) -> Int32
@_extern(wasm, module: "edge", name: "vector_query") @_extern(c)
func _edgeVectorQuery(_ binding: UnsafeRawPointer?, _ bindingLength: Int32, _ vector: UnsafeRawPointer?, _ dimensions: Int32, _ topK: Int32) -> Int32
@_extern(wasm, module: "edge", name: "batch_queue") @_extern(c)
func _edgeBatchQueue(_ buffer: UnsafeMutableRawPointer?, _ capacity: Int32) -> Int32
@_extern(wasm, module: "edge", name: "batch_size") @_extern(c)
func _edgeBatchSize() -> Int32
@_extern(wasm, module: "edge", name: "message_id") @_extern(c)
func _edgeMessageID(_ index: Int32, _ buffer: UnsafeMutableRawPointer?, _ capacity: Int32) -> Int32
@_extern(wasm, module: "edge", name: "message_body") @_extern(c)
func _edgeMessageBody(_ index: Int32, _ buffer: UnsafeMutableRawPointer?, _ capacity: Int32) -> Int32
@_extern(wasm, module: "edge", name: "message_attempts") @_extern(c)
func _edgeMessageAttempts(_ index: Int32) -> Int32
@_extern(wasm, module: "edge", name: "message_ack") @_extern(c)
func _edgeMessageAck(_ index: Int32)
@_extern(wasm, module: "edge", name: "message_retry") @_extern(c)
func _edgeMessageRetry(_ index: Int32, _ delaySeconds: Int32)
@_extern(wasm, module: "edge", name: "scheduled_cron") @_extern(c)
func _edgeScheduledCron(_ buffer: UnsafeMutableRawPointer?, _ capacity: Int32) -> Int32
@_extern(wasm, module: "edge", name: "scheduled_time") @_extern(c)
func _edgeScheduledTime(_ milliseconds: UnsafeMutableRawPointer?)

/// Calls a host import that copies a value whole when it fits and answers its length either way.
func _edgeCopy(_ call: (UnsafeMutableRawPointer?, Int32) -> Int32) -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: 256)
    let length = buffer.withUnsafeMutableBytes { call($0.baseAddress, Int32($0.count)) }
    if length < 0 { return nil }
    if Int(length) <= buffer.count { return Array(buffer[0..<Int(length)]) }
    buffer = [UInt8](repeating: 0, count: Int(length))
    _ = buffer.withUnsafeMutableBytes { call($0.baseAddress, Int32($0.count)) }
    return buffer
}

/// Reads a stream the host hands out in chunks (a request body, a KV value) to its end.
/// A `(binding, key)` import answering a length (read with `result_read`), -1 or -2: the value, or nil.
func _edgeKeyedRead(
    _ call: (UnsafeRawPointer?, Int32, UnsafeRawPointer?, Int32) -> Int32, _ binding: StaticString, _ key: [UInt8]
) -> [UInt8]? {
    let length = key.withUnsafeBytes { key in call(binding.utf8Start, Int32(binding.utf8CodeUnitCount), key.baseAddress, Int32(key.count)) }
    guard length >= 0 else { return nil }
    return _edgeReadAll(_edgeResultRead)
}

/// A `(binding, key, value)` import answering 0 or -2: whether it was stored.
func _edgeKeyedWrite(
    _ call: (UnsafeRawPointer?, Int32, UnsafeRawPointer?, Int32, UnsafeRawPointer?, Int32) -> Int32, _ binding: StaticString, _ key: [UInt8],
    _ value: [UInt8]
) -> Bool {
    key.withUnsafeBytes { key in
        value.withUnsafeBytes { value in
            call(binding.utf8Start, Int32(binding.utf8CodeUnitCount), key.baseAddress, Int32(key.count), value.baseAddress, Int32(value.count))
        }
    } == 0
}

func _edgeReadAll(_ read: (UnsafeMutableRawPointer?, Int32) -> Int32) -> [UInt8] {
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16 << 10)
    while true {
        let count = chunk.withUnsafeMutableBytes { read($0.baseAddress, Int32($0.count)) }
        if count <= 0 { return out }
        out.append(contentsOf: chunk[0..<Int(count)])
    }
}

extension StaticString {
    /// The string's UTF-8 bytes.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: utf8Start, count: utf8CodeUnitCount)) }
}

extension Array where Element == UInt8 {
    /// Whether the bytes start with `prefix`'s.
    public func hasPrefix(_ prefix: StaticString) -> Bool {
        count >= prefix.utf8CodeUnitCount && self[0..<prefix.utf8CodeUnitCount].elementsEqual(prefix.bytes)
    }

    public static func == (bytes: [UInt8], text: StaticString) -> Bool { bytes.elementsEqual(text.bytes) }
}

/// Log lines, on the worker's log.
public enum Log {
    public static func info(_ text: StaticString) { _edgeLog(text.utf8Start, Int32(text.utf8CodeUnitCount)) }
    public static func info(_ bytes: [UInt8]) { bytes.withUnsafeBytes { _edgeLog($0.baseAddress, Int32($0.count)) } }
}

/// The request being served.
public struct Request {
    /// `GET`, `PUT`, ...
    public let method: [UInt8]
    /// The path and query.
    public let target: [UInt8]

    init() {
        method = _edgeCopy(_edgeRequestMethod) ?? []
        target = _edgeCopy(_edgeRequestTarget) ?? []
    }

    /// The path, without the query.
    public var path: [UInt8] { Array(target.prefix { $0 != UInt8(ascii: "?") }) }

    /// The value of the header `name` (any case), or nil.
    public func header(_ name: StaticString) -> [UInt8]? {
        _edgeCopy { buffer, capacity in _edgeRequestHeader(name.utf8Start, Int32(name.utf8CodeUnitCount), buffer, capacity) }
    }

    /// The rest of the body.
    public func body() -> [UInt8] { _edgeReadAll(_edgeRequestBodyRead) }
}

/// The response a worker returns.
public struct Response {
    public var status: Int32
    public var headers: [(name: [UInt8], value: [UInt8])]
    public var body: [UInt8]

    public init(status: Int32 = 200, headers: [(name: [UInt8], value: [UInt8])] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A `text/plain` response.
    public static func text(_ text: StaticString, status: Int32 = 200) -> Response {
        .bytes(text.bytes, contentType: "text/plain; charset=utf-8", status: status)
    }

    /// A response of `body` with its `Content-Type`.
    public static func bytes(_ body: [UInt8], contentType: StaticString, status: Int32 = 200) -> Response {
        var response = Response(status: status, body: body)
        response.setHeader("content-type", contentType)
        return response
    }

    /// Adds a header.
    public mutating func setHeader(_ name: StaticString, _ value: StaticString) { headers.append((name: name.bytes, value: value.bytes)) }
}

/// A KV namespace, named by its binding in the worker's config (`KV("CACHE")`). Naming a binding
/// the config does not grant ends the request with 500.
public struct KV {
    let binding: StaticString

    public init(_ binding: StaticString) { self.binding = binding }

    /// The value under `key`; nil when absent or when the namespace refused the key (logged).
    public func get(_ key: [UInt8]) -> [UInt8]? { _edgeKeyedRead(_edgeKVGet, binding, key) }

    /// Stores `value` under `key`; false when the namespace refused them (logged).
    public func put(_ key: [UInt8], _ value: [UInt8]) -> Bool { _edgeKeyedWrite(_edgeKVPut, binding, key, value) }
}

/// A bucket, named by its binding in the worker's config (`Bucket("FILES")`, `r2_buckets`).
/// Naming a binding the config does not grant ends the invocation.
public struct Bucket {
    let binding: StaticString

    public init(_ binding: StaticString) { self.binding = binding }

    /// The object under `key`, read in chunks; nil when absent or refused (larger than the
    /// guest's memory limit, a bad key; logged).
    public func get(_ key: [UInt8]) -> [UInt8]? { _edgeKeyedRead(_edgeBlobGet, binding, key) }

    /// Stores `body` as the object `key`; false when refused (logged).
    public func put(_ key: [UInt8], _ body: [UInt8]) -> Bool { _edgeKeyedWrite(_edgeBlobPut, binding, key, body) }

    /// Starts writing the object `key` in chunks (an object larger than the guest's memory);
    /// nil when refused (a bad key, four writers already open). Nothing is stored until
    /// ``ObjectWriter/close()``; a writer never closed is abandoned when the invocation ends.
    public func writer(_ key: [UInt8]) -> ObjectWriter? {
        let handle = key.withUnsafeBytes { key in
            _edgeBlobWriterOpen(binding.utf8Start, Int32(binding.utf8CodeUnitCount), key.baseAddress, Int32(key.count))
        }
        return handle >= 0 ? ObjectWriter(handle: handle) : nil
    }
}

/// A durable-object namespace, named by its binding in the worker's config
/// (`DurableObjectNamespace("COUNTER")`, `durable_objects.bindings`), of a class the host gave
/// the worker. Naming any other ends the invocation.
public struct DurableObjectNamespace {
    let binding: StaticString

    public init(_ binding: StaticString) { self.binding = binding }

    /// Sends a request (`path` starts with `/`) to the object named `name`: its status and body;
    /// nil when refused (the object failed, or its body is over the memory limit; logged).
    public func fetch(_ name: [UInt8], method: StaticString = "GET", path: [UInt8], body: [UInt8] = []) -> (status: Int32, body: [UInt8])? {
        let status = name.withUnsafeBytes { name in
            path.withUnsafeBytes { path in
                body.withUnsafeBytes { body in
                    _edgeObjectFetch(
                        binding.utf8Start, Int32(binding.utf8CodeUnitCount), name.baseAddress, Int32(name.count), method.utf8Start,
                        Int32(method.utf8CodeUnitCount), path.baseAddress, Int32(path.count), body.baseAddress, Int32(body.count))
                }
            }
        }
        guard status >= 0 else { return nil }
        return (status, _edgeReadAll(_edgeResultRead))
    }
}

/// The AI binding, named as in the worker's config (`AI("AI")`, `ai`).
public struct AI {
    let binding: StaticString

    public init(_ binding: StaticString) { self.binding = binding }

    /// The embedding of UTF-8 `text`; nil when refused (logged).
    public func embed(_ text: [UInt8]) -> [Float]? {
        let dimensions = text.withUnsafeBytes { _edgeAIEmbed(binding.utf8Start, Int32(binding.utf8CodeUnitCount), $0.baseAddress, Int32($0.count)) }
        guard dimensions >= 0 else { return nil }
        let bytes = _edgeReadAll(_edgeResultRead)
        var vector: [Float] = []
        var offset = 0
        while offset + 4 <= bytes.count {
            let bits = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
            vector.append(Float(bitPattern: bits))
            offset += 4
        }
        return vector
    }
}

/// A vector index, named by its binding in the worker's config (`VectorIndex("VECS")`, `vectorize`).
public struct VectorIndex {
    let binding: StaticString

    public init(_ binding: StaticString) { self.binding = binding }

    /// The `topK` (1...100) nearest vectors to `vector`, as JSON
    /// (`{"matches":[{"id":...,"score":...}]}`); nil when refused (logged).
    public func query(_ vector: [Float], topK: Int32) -> [UInt8]? {
        let length = vector.withUnsafeBytes { _edgeVectorQuery(binding.utf8Start, Int32(binding.utf8CodeUnitCount), $0.baseAddress, Int32(vector.count), topK) }
        guard length >= 0 else { return nil }
        return _edgeReadAll(_edgeResultRead)
    }
}

/// An object being written in chunks (``Bucket/writer(_:)``).
public struct ObjectWriter {
    let handle: Int32

    /// Appends `bytes`; false when the bucket refused a part (the write is then abandoned).
    public func write(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { _edgeBlobWriterWrite(handle, $0.baseAddress, Int32($0.count)) } == 0
    }

    /// Stores the object; false when the bucket refused it (nothing stored).
    public func close() -> Bool { _edgeBlobWriterClose(handle) == 0 }
}

/// A queue producer, named by its binding in the worker's config (`Queue("JOBS")`). Naming a
/// binding the config does not grant ends the invocation.
public struct Queue {
    let binding: StaticString

    public init(_ binding: StaticString) { self.binding = binding }

    /// Sends `json` (JSON text), delivered after `delaySeconds` (0...43200); false when the queue
    /// refused it (not JSON, too large; logged).
    public func send(_ json: [UInt8], delaySeconds: Int32 = 0) -> Bool {
        json.withUnsafeBytes { body in
            _edgeQueueSend(binding.utf8Start, Int32(binding.utf8CodeUnitCount), body.baseAddress, Int32(body.count), delaySeconds)
        } == 0
    }
}

/// The batch a `queue` export is handling (make one inside it). A message neither acknowledged
/// nor retried follows the batch: acknowledged when `queue` returns 0, retried otherwise.
public struct Batch {
    /// The queue the batch came from.
    public let queue: [UInt8]
    /// How many messages it holds; they are numbered from 0.
    public let count: Int32

    public init() {
        queue = _edgeCopy(_edgeBatchQueue) ?? []
        count = _edgeBatchSize()
    }

    /// Message `index`'s body, its JSON text.
    public func body(_ index: Int32) -> [UInt8] { _edgeCopy { _edgeMessageBody(index, $0, $1) } ?? [] }
    /// Message `index`'s id.
    public func id(_ index: Int32) -> [UInt8] { _edgeCopy { _edgeMessageID(index, $0, $1) } ?? [] }
    /// How many times message `index` has been delivered (1 the first time).
    public func attempts(_ index: Int32) -> Int32 { _edgeMessageAttempts(index) }
    /// Acknowledges message `index`.
    public func ack(_ index: Int32) { _edgeMessageAck(index) }
    /// Has message `index` delivered again after `delaySeconds` (0...43200).
    public func retry(_ index: Int32, delaySeconds: Int32 = 0) { _edgeMessageRetry(index, delaySeconds) }
}

/// The cron trigger a `scheduled` export is running for (make one inside it).
public struct Trigger {
    /// The cron expression, as written in the config.
    public let cron: [UInt8]
    /// The time it fired for, in milliseconds since 1970.
    public let milliseconds: Int64

    public init() {
        cron = _edgeCopy(_edgeScheduledCron) ?? []
        var time: Int64 = 0
        withUnsafeMutableBytes(of: &time) { _edgeScheduledTime($0.baseAddress) }
        milliseconds = time
    }
}

@_expose(wasm, "fetch")
@_cdecl("fetch")
func _edgeFetch() -> Int32 {
    let response = fetch(Request())
    _edgeResponseStatus(response.status)
    for (name, value) in response.headers {
        name.withUnsafeBytes { name in value.withUnsafeBytes { value in _edgeResponseHeader(name.baseAddress, Int32(name.count), value.baseAddress, Int32(value.count)) } }
    }
    response.body.withUnsafeBytes { _edgeResponseWrite($0.baseAddress, Int32($0.count)) }
    return 0
}
