// Embeddings: the EmbeddingModel binding, all-MiniLM-L6-v2 in pure Swift (with C SIMD kernels),
// HTTP providers and a KV-backed embedding cache.
import EdgeCore

/// A text-embedding model: the Workers AI / Voyage binding.
///
/// `embed` returns one L2-normalised vector of ``dimensions`` floats per input, in input order.
public protocol EmbeddingModel: Sendable {
    /// A stable identifier, part of cache keys (`"all-MiniLM-L6-v2"`).
    var modelID: String { get }
    var dimensions: Int { get }
    /// Longer inputs are truncated to this many tokens.
    var maxInputTokens: Int { get }
    /// The most texts one `embed` call accepts.
    var maxBatchSize: Int { get }
    /// Whether an empty (or whitespace-only) text is embedded rather than refused. Local models
    /// embed it as sentence-transformers does (`[CLS] [SEP]`); HTTP APIs refuse it, so their
    /// providers do too. Default: false.
    var acceptsEmptyInput: Bool { get }

    /// Embeds `texts`.
    ///
    /// - Throws: ``EmbeddingError``: `.emptyBatch`, `.tooManyInputs` (more than ``maxBatchSize``),
    ///   `.emptyInput` (a text that is empty or only whitespace, unless ``acceptsEmptyInput``),
    ///   or a provider's `.provider*` and `.malformedResponse` errors.
    func embed(_ texts: [String]) async throws -> [[Float]]

    /// Embeds `texts` as ``embed(_:)`` does, and says how many of them were served from a cache
    /// (always 0 for a model without one; `CachedEmbeddingModel` counts its hits).
    ///
    /// - Throws: as ``embed(_:)``.
    func embedReportingCache(_ texts: [String]) async throws -> (embeddings: [[Float]], cacheHits: Int)
}

extension EmbeddingModel {
    public var acceptsEmptyInput: Bool { false }

    public func embedReportingCache(_ texts: [String]) async throws -> (embeddings: [[Float]], cacheHits: Int) {
        (try await embed(texts), 0)
    }

    /// Embeds one text.
    ///
    /// - Throws: ``EmbeddingError``.
    public func embed(_ text: String) async throws -> [Float] {
        try await embed([text])[0]
    }

    /// The checks every model makes before embedding: a non-empty batch of at most
    /// ``maxBatchSize`` texts, none of them empty or only whitespace unless the model
    /// ``acceptsEmptyInput``.
    ///
    /// - Throws: ``EmbeddingError`` `.emptyBatch`, `.tooManyInputs`, `.emptyInput`.
    public func validate(_ texts: [String]) throws {
        guard !texts.isEmpty else { throw EmbeddingError(.emptyBatch, message: "embed needs at least one text") }
        guard texts.count <= maxBatchSize else {
            throw EmbeddingError(
                .tooManyInputs, limit: maxBatchSize, actual: texts.count,
                message: "\(texts.count) texts in one batch; \(modelID) accepts at most \(maxBatchSize)")
        }
        for (index, text) in texts.enumerated() where !acceptsEmptyInput && text.allSatisfy(\.isWhitespace) {
            throw EmbeddingError(.emptyInput, index: index, message: "text \(index) of the batch is empty or only whitespace")
        }
    }
}

/// Why embedding failed.
public struct EmbeddingError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case emptyBatch, tooManyInputs, emptyInput
        /// The model's files are not where they were looked for; the message says how to install them.
        case modelFilesMissing
        /// The model's files are there but malformed (bad safetensors header, missing tensor, wrong shape).
        case invalidModel
        /// The provider refused the request (4xx other than 429): bad key, bad model, bad input.
        case providerRejected
        /// The provider kept failing (429 / 5xx / network) after every retry.
        case providerUnavailable
        /// The provider did not answer in time.
        case providerTimeout
        /// The provider answered with something that is not the expected embeddings.
        case malformedResponse
    }

    public var code: Code
    /// The index of the offending text in the batch, when one text is at fault.
    public var index: Int?
    public var limit: Int?
    public var actual: Int?
    public var message: String

    public init(_ code: Code, index: Int? = nil, limit: Int? = nil, actual: Int? = nil, message: String) {
        self.code = code
        self.index = index
        self.limit = limit
        self.actual = actual
        self.message = message
    }

    public var description: String { message }
}

/// Cosine similarity of two vectors of equal length.
public func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "vectors of different lengths")
    var dot: Float = 0, na: Float = 0, nb: Float = 0
    for index in a.indices {
        dot += a[index] * b[index]
        na += a[index] * a[index]
        nb += b[index] * b[index]
    }
    return na == 0 || nb == 0 ? 0 : dot / (na.squareRoot() * nb.squareRoot())
}
