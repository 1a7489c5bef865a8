import Foundation

/// A deterministic, dependency-free embedding for tests and for indexing where no model is
/// installed: feature hashing of words, code-identifier pieces (camelCase, snake_case, digits)
/// and character trigrams into `dimensions` buckets with signed counts, then L2 normalisation.
///
/// Texts sharing words or identifier pieces get similar vectors, so search over it behaves
/// sensibly in tests, and every run (and every machine) produces the same numbers.
public struct HashingEmbedder: EmbeddingModel {
    public let modelID: String
    public let dimensions: Int
    public let maxInputTokens: Int
    public let maxBatchSize: Int
    /// An empty text gets a fixed unit vector of its own.
    public var acceptsEmptyInput: Bool { true }

    /// - Parameters:
    ///   - dimensions: 1...4096 (default 384, MiniLM's).
    ///   - maxInputTokens: words hashed at most per text (default 256).
    ///   - maxBatchSize: the most texts one call accepts (default 1024).
    public init(dimensions: Int = 384, maxInputTokens: Int = 256, maxBatchSize: Int = 1024) {
        precondition((1...4096).contains(dimensions), "HashingEmbedder dimensions must be in 1...4096")
        self.dimensions = dimensions
        self.maxInputTokens = maxInputTokens
        self.maxBatchSize = maxBatchSize
        modelID = "hashing-\(dimensions)"
    }

    /// - Throws: ``EmbeddingError`` `.emptyBatch`, `.tooManyInputs`, `.emptyInput`.
    public func embed(_ texts: [String]) async throws -> [[Float]] {
        try validate(texts)
        return texts.map(vector(for:))
    }

    /// The embedding of one text, synchronously.
    public func vector(for text: String) -> [Float] {
        var vector = [Float](repeating: 0, count: dimensions)
        func add(_ feature: String, weight: Float) {
            let hash = Self.fnv1a(feature)
            let bucket = Int(hash % UInt64(dimensions))
            vector[bucket] += (hash >> 63) == 0 ? weight : -weight
        }
        for original in Self.words(text).prefix(maxInputTokens) {
            let word = original.lowercased()
            add("w:" + word, weight: 1)
            let pieces = Self.identifierPieces(original)
            if pieces.count > 1 { for piece in pieces { add("w:" + piece, weight: 0.7) } }
            let characters = Array(word)
            if characters.count > 3 {
                for start in 0...(characters.count - 3) { add("t:" + String(characters[start..<(start + 3)]), weight: 0.2) }
            }
        }
        if vector.allSatisfy({ $0 == 0 }) { add("empty", weight: 1) }
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return vector.map { $0 / norm }
    }

    /// The words the embedding hashes: runs of letters, digits and `_`, keeping identifiers whole.
    public static func words(_ text: String) -> [String] {
        text.split { !($0.isLetter || $0.isNumber || $0 == "_") }.map { String($0) }
    }

    /// `parseHTTPRequest_v2` → `parse`, `http`, `request`, `v`, `2` (lower-cased).
    public static func identifierPieces(_ word: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        let characters = Array(word)
        for (index, character) in characters.enumerated() {
            if character == "_" || character == "-" {
                if !current.isEmpty { pieces.append(current) }
                current = ""
                continue
            }
            if !current.isEmpty, let last = current.last {
                let next = index + 1 < characters.count ? characters[index + 1] : nil
                let boundary =
                    (last.isLowercase && character.isUppercase)
                    || (last.isLetter && character.isNumber) || (last.isNumber && character.isLetter)
                    || (last.isUppercase && character.isUppercase && (next?.isLowercase ?? false))
                if boundary {
                    pieces.append(current)
                    current = ""
                }
            }
            current.append(character)
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces.map { $0.lowercased() }
    }

    /// 64-bit FNV-1a: stable across runs and platforms (unlike `Hasher`).
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}
