import Foundation

/// BERT's tokenizer: basic tokenization (cleaning, lower-casing, accent stripping, punctuation and
/// CJK splitting) followed by greedy longest-match-first WordPiece over a `vocab.txt`.
///
/// Matches Hugging Face's `BertTokenizer` / `tokenizers` `BertNormalizer` + `BertPreTokenizer` +
/// `WordPiece` for uncased models such as all-MiniLM-L6-v2: the ids of every text in
/// `minilm-reference.jsonl` are equal.
public struct WordPieceTokenizer: Sendable {
    /// Token → id.
    public let vocabulary: [String: Int32]
    public let lowercase: Bool
    public let stripAccents: Bool
    public let splitChineseCharacters: Bool
    /// A word longer than this many characters becomes `[UNK]` (Hugging Face's default, 100).
    public let maxCharactersPerWord: Int
    public let unknownID: Int32
    public let classifierID: Int32
    public let separatorID: Int32
    public let paddingID: Int32

    /// Reads a `vocab.txt` (one token per line, the line number is the id) and, when present, the
    /// normalizer settings of the `tokenizer.json` next to it.
    ///
    /// - Throws: ``EmbeddingError`` `.modelFilesMissing` when the vocabulary cannot be read,
    ///   `.invalidModel` when it lacks `[UNK]`, `[CLS]`, `[SEP]` or `[PAD]`.
    public init(vocabularyFile: String, tokenizerJSON: String? = nil) throws {
        guard let text = try? String(contentsOfFile: vocabularyFile, encoding: .utf8) else {
            throw EmbeddingError(.modelFilesMissing, message: "cannot read the vocabulary \(vocabularyFile)")
        }
        var vocabulary: [String: Int32] = [:]
        var id: Int32 = 0
        text.enumerateLines { line, _ in
            if vocabulary[line] == nil { vocabulary[line] = id }
            id += 1
        }
        var lowercase = true, stripAccents: Bool?, chinese = true
        if let tokenizerJSON, let data = FileManager.default.contents(atPath: tokenizerJSON),
            let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let normalizer = root["normalizer"] as? [String: Any], normalizer["type"] as? String == "BertNormalizer"
        {
            lowercase = normalizer["lowercase"] as? Bool ?? true
            stripAccents = normalizer["strip_accents"] as? Bool
            chinese = normalizer["handle_chinese_chars"] as? Bool ?? true
        }
        try self.init(vocabulary: vocabulary, lowercase: lowercase, stripAccents: stripAccents ?? lowercase, splitChineseCharacters: chinese)
    }

    /// - Throws: ``EmbeddingError`` `.invalidModel` when a special token is missing.
    public init(
        vocabulary: [String: Int32], lowercase: Bool = true, stripAccents: Bool = true, splitChineseCharacters: Bool = true,
        maxCharactersPerWord: Int = 100
    ) throws {
        func special(_ token: String) throws -> Int32 {
            guard let id = vocabulary[token] else {
                throw EmbeddingError(.invalidModel, message: "the vocabulary has no \(token) token")
            }
            return id
        }
        self.vocabulary = vocabulary
        self.lowercase = lowercase
        self.stripAccents = stripAccents
        self.splitChineseCharacters = splitChineseCharacters
        self.maxCharactersPerWord = maxCharactersPerWord
        unknownID = try special("[UNK]")
        classifierID = try special("[CLS]")
        separatorID = try special("[SEP]")
        paddingID = try special("[PAD]")
    }

    /// `[CLS]` + the WordPiece ids of `text` + `[SEP]`, truncated to `maxTokens` (keeping `[SEP]`
    /// last, as sentence-transformers does).
    public func encode(_ text: String, maxTokens: Int = 256) -> [Int32] {
        var ids: [Int32] = [classifierID]
        let limit = max(2, maxTokens) - 1
        for word in basicTokens(text) {
            appendWordPieces(of: word, to: &ids)
            if ids.count >= limit { break }
        }
        if ids.count > limit { ids.removeSubrange(limit...) }
        ids.append(separatorID)
        return ids
    }

    /// How many tokens `text` has (with `[CLS]` and `[SEP]`), before truncation.
    public func tokenCount(_ text: String) -> Int {
        var ids: [Int32] = []
        for word in basicTokens(text) { appendWordPieces(of: word, to: &ids) }
        return ids.count + 2
    }

    // MARK: Basic tokenization

    /// Cleans, normalises and splits `text` into words and single punctuation / CJK characters.
    func basicTokens(_ text: String) -> [[Unicode.Scalar]] {
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        func flush() {
            if !current.isEmpty {
                words.append(current)
                current.removeAll(keepingCapacity: true)
            }
        }
        for scalar in text.unicodeScalars {
            let value = scalar.value
            if value == 0 || value == 0xFFFD || Self.isControl(scalar) { continue }
            if Self.isWhitespace(scalar) {
                flush()
                continue
            }
            if splitChineseCharacters, Self.isCJK(value) {
                flush()
                words.append([scalar])
                continue
            }
            for normalised in normalise(scalar) {
                if Self.isPunctuation(normalised) {
                    flush()
                    words.append([normalised])
                } else {
                    current.append(normalised)
                }
            }
        }
        flush()
        return words
    }

    /// Lower-cases and strips accents (NFD, then drops non-spacing marks) as BertNormalizer does.
    private func normalise(_ scalar: Unicode.Scalar) -> [Unicode.Scalar] {
        if scalar.isASCII {
            if lowercase, (65...90).contains(scalar.value) { return [Unicode.Scalar(scalar.value + 32)!] }
            return [scalar]
        }
        var text = String(scalar)
        if lowercase { text = text.lowercased() }
        guard stripAccents else { return Array(text.unicodeScalars) }
        return text.decomposedStringWithCanonicalMapping.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark }
    }

    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case " ", "\t", "\n", "\r": return true
        default: return scalar.properties.generalCategory == .spaceSeparator
        }
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "\t", "\n", "\r": return false
        default:
            switch scalar.properties.generalCategory {
            case .control, .format, .privateUse, .surrogate, .unassigned: return true
            default: return false
            }
        }
    }

    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if (33...47).contains(value) || (58...64).contains(value) || (91...96).contains(value) || (123...126).contains(value) { return true }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    static func isCJK(_ value: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(value) || (0x3400...0x4DBF).contains(value) || (0x20000...0x2A6DF).contains(value)
            || (0x2A700...0x2B73F).contains(value) || (0x2B740...0x2B81F).contains(value) || (0x2B820...0x2CEAF).contains(value)
            || (0xF900...0xFAFF).contains(value) || (0x2F800...0x2FA1F).contains(value)
    }

    // MARK: WordPiece

    /// Greedy longest-match-first: the longest vocabulary prefix, then `##`-prefixed continuations;
    /// a word with an unmatchable piece, or longer than `maxCharactersPerWord`, is one `[UNK]`.
    private func appendWordPieces(of word: [Unicode.Scalar], to ids: inout [Int32]) {
        if word.count > maxCharactersPerWord {
            ids.append(unknownID)
            return
        }
        let mark = ids.count
        var start = 0
        var candidate = String.UnicodeScalarView()
        while start < word.count {
            var end = word.count
            var found: Int32?
            while start < end {
                candidate.removeAll(keepingCapacity: true)
                if start > 0 { candidate.append(contentsOf: "##".unicodeScalars) }
                candidate.append(contentsOf: word[start..<end])
                if let id = vocabulary[String(candidate)] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let found else {
                ids.removeSubrange(mark...)
                ids.append(unknownID)
                return
            }
            ids.append(found)
            start = end
        }
    }
}
