/// How ``SQLiteQueue`` stores messages: a row of its `batches` table holds the messages one send
/// wrote together (those sharing a delay), so a claim and an acknowledgement of a whole batch
/// touch one row, not a hundred. The row's `payload` is the messages back to back, in id order,
/// each encoded as
///
///     id            8 bytes, little-endian (the message's id for its whole life)
///     content type  1 byte (0 json, 1 text, 2 bytes)
///     trace length  2 bytes, little-endian (0xFFFF: no trace context)
///     trace parent  trace-length bytes of UTF-8
///     body length   4 bytes, little-endian
///     body          body-length bytes
///
/// A message keeps its id when a row is split or its messages move (a retry, a dead letter), so
/// leases and `peek` name it the same way throughout.
enum StoredBatch {
    /// One message of a payload: its id and where its encoding lies.
    struct Entry {
        var id: Int64
        var range: Range<Int>
    }

    static func append(id: Int64, contentType: QueueContentType, traceParent: String?, body: [UInt8], to payload: inout [UInt8]) {
        withUnsafeBytes(of: UInt64(bitPattern: id).littleEndian) { payload.append(contentsOf: $0) }
        payload.append(code(of: contentType))
        if let traceParent {
            let trace = Array(traceParent.utf8.prefix(0xFFFE))
            withUnsafeBytes(of: UInt16(trace.count).littleEndian) { payload.append(contentsOf: $0) }
            payload.append(contentsOf: trace)
        } else {
            withUnsafeBytes(of: UInt16(0xFFFF).littleEndian) { payload.append(contentsOf: $0) }
        }
        withUnsafeBytes(of: UInt32(body.count).littleEndian) { payload.append(contentsOf: $0) }
        payload.append(contentsOf: body)
    }

    /// The messages of `payload`, in order.
    ///
    /// - Throws: ``QueueError`` `.storageFailure` when the payload is not a valid encoding.
    static func entries(_ payload: [UInt8]) throws -> [Entry] {
        var entries: [Entry] = []
        var offset = 0
        while offset < payload.count {
            let start = offset
            guard offset + 11 <= payload.count else { throw corrupt(payload.count) }
            let id = Int64(bitPattern: read(payload, at: offset, as: UInt64.self))
            let traceLength = Int(read(payload, at: offset + 9, as: UInt16.self))
            offset += 11 + (traceLength == 0xFFFF ? 0 : traceLength)
            guard offset + 4 <= payload.count else { throw corrupt(payload.count) }
            offset += 4 + Int(read(payload, at: offset, as: UInt32.self))
            guard offset <= payload.count else { throw corrupt(payload.count) }
            entries.append(Entry(id: id, range: start..<offset))
        }
        return entries
    }

    /// The content type, trace context and body of the message `entry` locates in `payload`.
    static func message(_ entry: Entry, in payload: [UInt8]) -> (contentType: QueueContentType, traceParent: String?, body: [UInt8]) {
        let start = entry.range.lowerBound
        let contentType = contentType(code: payload[start + 8])
        let traceLength = Int(read(payload, at: start + 9, as: UInt16.self))
        var offset = start + 11
        var traceParent: String?
        if traceLength != 0xFFFF {
            traceParent = String(decoding: payload[offset..<(offset + traceLength)], as: UTF8.self)
            offset += traceLength
        }
        return (contentType, traceParent, Array(payload[(offset + 4)..<entry.range.upperBound]))
    }

    /// The payload holding the messages `entries` locate in `payload`, in that order.
    static func subset(_ entries: some Sequence<Entry>, of payload: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        for entry in entries { result.append(contentsOf: payload[entry.range]) }
        return result
    }

    private static func read<T: FixedWidthInteger>(_ payload: [UInt8], at offset: Int, as: T.Type) -> T {
        payload.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }

    private static func code(of contentType: QueueContentType) -> UInt8 {
        switch contentType {
        case .json: 0
        case .text: 1
        case .bytes: 2
        }
    }

    private static func contentType(code: UInt8) -> QueueContentType {
        switch code {
        case 0: .json
        case 1: .text
        default: .bytes
        }
    }

    private static func corrupt(_ size: Int) -> QueueError {
        QueueError(.storageFailure, message: "a stored batch of messages (\(size) bytes) is not a valid encoding")
    }
}
