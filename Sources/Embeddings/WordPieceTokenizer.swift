import Foundation

/// BERT's tokenizer: basic tokenization (cleaning, lower-casing, accent stripping, punctuation and
/// CJK splitting) followed by greedy longest-match-first WordPiece over a `vocab.txt`.
///
/// Matches Hugging Face's `BertTokenizer` / `tokenizers` `BertNormalizer` + `BertPreTokenizer` +
/// `WordPiece` for uncased models such as all-MiniLM-L6-v2: the ids of every text in
/// `minilm-reference.jsonl` and `tokenizer-parity.jsonl` are equal.
///
/// Added tokens (`added_tokens` in `tokenizer.json`; without one, the special tokens `[PAD]`,
/// `[UNK]`, `[CLS]`, `[SEP]` and `[MASK]` of the vocabulary) are found in the text before anything
/// else, as `tokenizers` does: the literal text `[SEP]` is the separator token, not five
/// characters of punctuation and letters.
public struct WordPieceTokenizer: Sendable {
    /// A token matched in the raw text before normalisation and splitting.
    public struct AddedToken: Sendable, Equatable {
        public var content: String
        public var id: Int32
        /// Matched only when not inside a word (no word character on either side).
        public var singleWord: Bool
        /// The whitespace on its left (`leftStrip`) or right (`rightStrip`) belongs to it.
        public var leftStrip: Bool
        public var rightStrip: Bool
        /// Matched in the normalised text rather than the raw one (lower-cased, for this tokenizer).
        public var normalized: Bool

        public init(content: String, id: Int32, singleWord: Bool = false, leftStrip: Bool = false, rightStrip: Bool = false, normalized: Bool = false) {
            self.content = content
            self.id = id
            self.singleWord = singleWord
            self.leftStrip = leftStrip
            self.rightStrip = rightStrip
            self.normalized = normalized
        }
    }

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
    /// Tokens matched before splitting, longest first where two start at one place.
    public let addedTokens: [AddedToken]
    private let addedByFirstScalar: [Unicode.Scalar: [(scalars: [Unicode.Scalar], token: AddedToken)]]

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
        var added: [AddedToken]?
        if let tokenizerJSON, let data = FileManager.default.contents(atPath: tokenizerJSON),
            let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        {
            if let normalizer = root["normalizer"] as? [String: Any], normalizer["type"] as? String == "BertNormalizer" {
                lowercase = normalizer["lowercase"] as? Bool ?? true
                stripAccents = normalizer["strip_accents"] as? Bool
                chinese = normalizer["handle_chinese_chars"] as? Bool ?? true
            }
            if let tokens = root["added_tokens"] as? [[String: Any]] {
                added = tokens.compactMap { token in
                    guard let content = token["content"] as? String, !content.isEmpty, let id = (token["id"] as? NSNumber)?.int32Value else { return nil }
                    return AddedToken(
                        content: content, id: id, singleWord: token["single_word"] as? Bool ?? false, leftStrip: token["lstrip"] as? Bool ?? false,
                        rightStrip: token["rstrip"] as? Bool ?? false, normalized: token["normalized"] as? Bool ?? false)
                }
            }
        }
        try self.init(
            vocabulary: vocabulary, lowercase: lowercase, stripAccents: stripAccents ?? lowercase, splitChineseCharacters: chinese, addedTokens: added)
    }

    /// BERT's special tokens that `vocabulary` has, as added tokens (what `BertTokenizer` never splits).
    public static func defaultAddedTokens(_ vocabulary: [String: Int32]) -> [AddedToken] {
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].compactMap { content in vocabulary[content].map { AddedToken(content: content, id: $0) } }
    }

    /// - Throws: ``EmbeddingError`` `.invalidModel` when a special token is missing.
    ///
    /// `addedTokens` nil means ``defaultAddedTokens(_:)``; an empty list matches none.
    public init(
        vocabulary: [String: Int32], lowercase: Bool = true, stripAccents: Bool = true, splitChineseCharacters: Bool = true,
        maxCharactersPerWord: Int = 100, addedTokens: [AddedToken]? = nil
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
        let added = addedTokens ?? Self.defaultAddedTokens(vocabulary)
        self.addedTokens = added
        var byFirst: [Unicode.Scalar: [(scalars: [Unicode.Scalar], token: AddedToken)]] = [:]
        for token in added {
            var scalars = Array(token.content.unicodeScalars)
            if token.normalized, lowercase { scalars = Array(token.content.lowercased().unicodeScalars) }
            guard let first = scalars.first else { continue }
            byFirst[first, default: []].append((scalars, token))
            if token.normalized, lowercase, first.properties.isLowercase, let upper = String(first).uppercased().unicodeScalars.first, upper != first {
                byFirst[upper, default: []].append((scalars, token))
            }
        }
        for key in byFirst.keys { byFirst[key]?.sort { $0.scalars.count > $1.scalars.count } }
        addedByFirstScalar = byFirst
    }

    /// `[CLS]` + the WordPiece ids of `text` + `[SEP]`, truncated to `maxTokens` (keeping `[SEP]`
    /// last, as sentence-transformers does).
    public func encode(_ text: String, maxTokens: Int = 256) -> [Int32] {
        var ids: [Int32] = [classifierID]
        let limit = max(2, maxTokens) - 1
        for word in basicTokens(text) {
            switch word {
            case .added(let id): ids.append(id)
            case .word(let scalars): appendWordPieces(of: scalars, to: &ids)
            }
            if ids.count >= limit { break }
        }
        if ids.count > limit { ids.removeSubrange(limit...) }
        ids.append(separatorID)
        return ids
    }

    /// How many tokens `text` has (with `[CLS]` and `[SEP]`), before truncation.
    public func tokenCount(_ text: String) -> Int {
        var ids: [Int32] = []
        for word in basicTokens(text) {
            switch word {
            case .added(let id): ids.append(id)
            case .word(let scalars): appendWordPieces(of: scalars, to: &ids)
            }
        }
        return ids.count + 2
    }

    /// A piece of the text after basic tokenization.
    enum Piece: Equatable {
        /// An added token found in the text.
        case added(Int32)
        /// A word, a punctuation character or a CJK character, normalised, for WordPiece.
        case word([Unicode.Scalar])
    }

    // MARK: Added tokens

    /// The added token that starts at `index` of `scalars`, if any (the longest one), and the
    /// range it covers with the whitespace it strips.
    private func addedToken(in scalars: [Unicode.Scalar], at index: Int) -> (token: AddedToken, range: Range<Int>)? {
        guard let candidates = addedByFirstScalar[scalars[index]] else { return nil }
        for (pattern, token) in candidates where index + pattern.count <= scalars.count {
            var matches = true
            for offset in 0..<pattern.count {
                var scalar = scalars[index + offset]
                if token.normalized, lowercase, scalar != pattern[offset] {
                    scalar = String(scalar).lowercased().unicodeScalars.first ?? scalar
                }
                if scalar != pattern[offset] {
                    matches = false
                    break
                }
            }
            guard matches else { continue }
            var end = index + pattern.count
            if token.singleWord {
                let before = index > 0 ? scalars[index - 1] : nil, after = end < scalars.count ? scalars[end] : nil
                if let before, Self.isWordCharacter(before) { continue }
                if let after, Self.isWordCharacter(after) { continue }
            }
            var start = index
            if token.rightStrip { while end < scalars.count, scalars[end].properties.isWhitespace { end += 1 } }
            if token.leftStrip { while start > 0, scalars[start - 1].properties.isWhitespace { start -= 1 } }
            return (token, start..<end)
        }
        return nil
    }

    private static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "_" || scalar.properties.isAlphabetic || scalar.properties.numericType != nil
    }

    // MARK: Basic tokenization

    /// Finds the added tokens, then cleans, normalises and splits the text between them into
    /// words and single punctuation / CJK characters.
    func basicTokens(_ text: String) -> [Piece] {
        var words: [Piece] = []
        var current: [Unicode.Scalar] = []
        func flush() {
            if !current.isEmpty {
                words.append(.word(current))
                current.removeAll(keepingCapacity: true)
            }
        }
        func process(_ scalar: Unicode.Scalar) {
            let value = scalar.value
            if value == 0 || value == 0xFFFD || Self.isControl(scalar) { return }
            if Self.isWhitespace(scalar) {
                flush()
                return
            }
            if splitChineseCharacters, Self.isCJK(value) {
                flush()
                words.append(.word([scalar]))
                return
            }
            for normalised in normalise(scalar) {
                if Self.isPunctuation(normalised) {
                    flush()
                    words.append(.word([normalised]))
                } else {
                    current.append(normalised)
                }
            }
        }
        guard !addedByFirstScalar.isEmpty else {
            for scalar in text.unicodeScalars { process(scalar) }
            flush()
            return words
        }
        // Added tokens first; the text between them goes through `process`. A left-stripping
        // token takes back whitespace before it, which whitespace splitting drops anyway.
        let scalars = Array(text.unicodeScalars)
        var index = 0
        var pendingStart = 0
        while index < scalars.count {
            if let (token, range) = addedToken(in: scalars, at: index) {
                for scalar in scalars[pendingStart..<max(pendingStart, range.lowerBound)] { process(scalar) }
                flush()
                words.append(.added(token.id))
                index = range.upperBound
                pendingStart = index
            } else {
                index += 1
            }
        }
        for scalar in scalars[pendingStart...] { process(scalar) }
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
