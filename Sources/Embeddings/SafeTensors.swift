public import Foundation

/// A reader for the safetensors format: an 8-byte little-endian header length, a JSON header
/// mapping tensor names to `{dtype, shape, data_offsets}`, then the raw little-endian data.
///
/// The file is memory-mapped; tensors are copied out as `[Float]` on request.
public struct SafeTensors: @unchecked Sendable {
    public struct TensorInfo: Sendable, Hashable {
        public var dtype: String
        public var shape: [Int]
        /// Byte range within the data section.
        public var range: Range<Int>
    }

    public let path: String
    public let tensors: [String: TensorInfo]
    /// The `__metadata__` entry, when present.
    public let metadata: [String: String]
    private let data: Data
    private let dataStart: Int

    /// Opens and validates the header of a safetensors file.
    ///
    /// - Throws: ``EmbeddingError`` `.modelFilesMissing` when the file cannot be read,
    ///   `.invalidModel` when the header is malformed or a tensor's bytes fall outside the file.
    public init(path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw EmbeddingError(.modelFilesMissing, message: "cannot read \(path): \(error.localizedDescription)")
        }
        try self.init(data: data, path: path)
    }

    /// Validates the header of safetensors bytes already in memory; `path` names them in errors.
    ///
    /// - Throws: ``EmbeddingError`` `.invalidModel` when the header is malformed or a tensor's
    ///   bytes fall outside the data.
    public init(data: Data, path: String = "(memory)") throws {
        self.path = path
        self.data = data
        func invalid(_ why: String) -> EmbeddingError { EmbeddingError(.invalidModel, message: "\(path) is not a valid safetensors file: \(why)") }
        guard data.count >= 8 else { throw invalid("shorter than its 8-byte header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= 100_000_000, 8 + Int(headerLength) <= data.count else { throw invalid("header length \(headerLength) exceeds the file") }
        dataStart = 8 + Int(headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: data.subdata(in: 8..<dataStart)) as? [String: Any] else {
            throw invalid("the header is not a JSON object")
        }
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        let dataLength = data.count - dataStart
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = value as? [String: String] ?? [:]
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else {
                throw invalid("tensor \(name) lacks dtype, shape or data_offsets")
            }
            guard offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataLength else {
                throw invalid("tensor \(name) spans bytes \(offsets[0])..<\(offsets[1]) of a \(dataLength)-byte data section")
            }
            // A shape from the file is checked before any arithmetic on it: dimensions are not
            // negative and their product does not overflow (found writing the safetensors fuzz harness).
            var elements = 1
            for dimension in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
                guard dimension >= 0, !overflow else { throw invalid("tensor \(name) has an impossible shape \(shape)") }
                elements = product
            }
            if let width = Self.byteWidth[dtype] {
                let (bytes, overflow) = elements.multipliedReportingOverflow(by: width)
                guard !overflow, bytes == offsets[1] - offsets[0] else {
                    throw invalid("tensor \(name) has shape \(shape) of \(dtype) but \(offsets[1] - offsets[0]) bytes")
                }
            }
            tensors[name] = TensorInfo(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    static let byteWidth = ["F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1]

    /// The tensor `name` as float32, checking its shape (F32, F16 and BF16 are accepted).
    ///
    /// - Throws: ``EmbeddingError`` `.invalidModel` when it is missing, has another shape or an
    ///   unsupported dtype.
    public func floats(_ name: String, shape expected: [Int]) throws -> [Float] {
        guard let info = tensors[name] else {
            throw EmbeddingError(.invalidModel, message: "\(path) has no tensor \(name)")
        }
        guard info.shape == expected else {
            throw EmbeddingError(.invalidModel, message: "tensor \(name) in \(path) has shape \(info.shape), expected \(expected)")
        }
        let count = expected.reduce(1, *)
        let start = dataStart + info.range.lowerBound
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [Float] in
            let bytes = UnsafeRawBufferPointer(rebasing: raw[start..<(start + info.range.count)])
            switch info.dtype {
            case "F32":
                #if _endian(little)
                    return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                        UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes)
                        initialized = count
                    }
                #else
                    return (0..<count).map { Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
                #endif
            case "F16":
                #if arch(x86_64) || arch(arm64)
                    return (0..<count).map { Float(Float16(bitPattern: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self)))) }
                #else
                    throw EmbeddingError(.invalidModel, message: "tensor \(name): F16 is not supported on this architecture")
                #endif
            case "BF16":
                return (0..<count).map { Float(bitPattern: UInt32(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self))) << 16) }
            default:
                throw EmbeddingError(.invalidModel, message: "tensor \(name) in \(path) is \(info.dtype); expected F32, F16 or BF16")
            }
        }
    }
}
