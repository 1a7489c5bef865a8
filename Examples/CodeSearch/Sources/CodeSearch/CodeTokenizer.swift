/// How CodeSearch reads code and queries as words: identifiers are kept whole and also split
/// into their pieces (`parseHTTPRequest` → `parse`, `http`, `request`; `max_batch_size` → `max`,
/// `batch`, `size`), so a query in plain words meets code that spells them as identifiers.
public enum CodeTokenizer {
    /// Runs of letters, digits and `_` (letters and digits as `Character` classifies them):
    /// identifiers stay whole.
    ///
    /// Source text is nearly all ASCII, and classifying a `Character` looks up Unicode properties
    /// (a fifth of indexing time when it did so for every character): lines of ASCII are split by
    /// byte, the rare line with anything else by `Character`. Lines are independent because a
    /// grapheme cluster never spans a line feed.
    public static func words(_ text: some StringProtocol) -> [Substring] {
        let text = Substring(text)
        let utf8 = text.utf8
        var words: [Substring] = []
        var lineStart = utf8.startIndex
        while lineStart < utf8.endIndex {
            var ascii = true
            var lineEnd = lineStart
            while lineEnd < utf8.endIndex, utf8[lineEnd] != UInt8(ascii: "\n") {
                if utf8[lineEnd] >= 0x80 { ascii = false }
                utf8.formIndex(after: &lineEnd)
            }
            if ascii {
                var wordStart: Substring.UTF8View.Index?
                var index = lineStart
                while index < lineEnd {
                    if isASCIIWordByte(utf8[index]) {
                        if wordStart == nil { wordStart = index }
                    } else if let start = wordStart {
                        words.append(Substring(utf8[start..<index]))
                        wordStart = nil
                    }
                    utf8.formIndex(after: &index)
                }
                if let start = wordStart { words.append(Substring(utf8[start..<lineEnd])) }
            } else {
                words += wordsByCharacter(text[lineStart..<lineEnd])
            }
            lineStart = lineEnd < utf8.endIndex ? utf8.index(after: lineEnd) : lineEnd
        }
        return words
    }

    /// ``words(_:)`` classifying every `Character`.
    static func wordsByCharacter(_ text: Substring) -> [Substring] {
        text.split { !($0.isLetter || $0.isNumber || $0 == "_") }
    }

    private static func isASCIIWordByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"): true
        default: false
        }
    }

    /// The pieces of one identifier, lower-cased: split at `_` and `-`, at a lower-to-upper
    /// change (`parseHTTP` → `parse`, `http`), before the last capital of a run of capitals that
    /// starts a word (`HTTPRequest` → `http`, `request`), and between letters and digits.
    public static func identifierPieces(_ word: some StringProtocol) -> [String] {
        if word.utf8.allSatisfy({ $0 < 0x80 }) {
            // In ASCII, `Character`'s letters, digits and cases are the obvious ones: no Unicode
            // property lookups.
            let bytes = Array(word.utf8)
            return pieces(bytes.map(kind)).map { String(decoding: bytes[$0], as: UTF8.self).lowercased() }
        }
        return identifierPiecesByCharacter(word)
    }

    /// ``identifierPieces(_:)`` classifying every `Character`.
    static func identifierPiecesByCharacter(_ word: some StringProtocol) -> [String] {
        let characters = Array(word)
        return pieces(characters.map(kind)).map { String(characters[$0]).lowercased() }
    }

    private enum CharacterKind { case lower, upper, digit, separator, other }

    private static func kind(_ character: Character) -> CharacterKind {
        character == "_" || character == "-"
            ? .separator : character.isNumber ? .digit : character.isUppercase ? .upper : character.isLetter ? .lower : .other
    }

    private static func kind(_ byte: UInt8) -> CharacterKind {
        switch byte {
        case UInt8(ascii: "_"), UInt8(ascii: "-"): .separator
        case UInt8(ascii: "0")...UInt8(ascii: "9"): .digit
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): .upper
        case UInt8(ascii: "a")...UInt8(ascii: "z"): .lower
        default: .other
        }
    }

    /// Where an identifier whose characters are of `kinds` splits: the ranges of its pieces.
    private static func pieces(_ kinds: [CharacterKind]) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        var start = 0
        func cut(at end: Int) {
            if end > start { pieces.append(start..<end) }
            start = end
        }
        for index in kinds.indices {
            let here = kinds[index]
            if here == .separator {
                cut(at: index)
                start = index + 1
                continue
            }
            guard index > start else { continue }
            let before = kinds[index - 1]
            let after = index + 1 < kinds.count ? kinds[index + 1] : .other
            switch (before, here) {
            case (.lower, .upper), (.lower, .digit), (.upper, .digit), (.digit, .lower), (.digit, .upper):
                cut(at: index)
            case (.upper, .upper) where after == .lower:
                cut(at: index)
            default:
                break
            }
        }
        cut(at: kinds.count)
        return pieces
    }

    /// The search terms of a text: each word lower-cased, plus the pieces of a word that splits.
    public static func terms(_ text: some StringProtocol) -> [String] {
        words(text).flatMap { word -> [String] in
            let pieces = identifierPieces(word)
            return [word.lowercased()] + (pieces.count > 1 ? pieces : [])
        }
    }

    /// The text to index for `text`: the text itself, then the pieces of every identifier that
    /// splits, so either spelling matches.
    public static func indexable(_ text: String) -> String {
        var pieces: [String] = []
        for word in words(text) {
            let split = identifierPieces(word)
            if split.count > 1 { pieces += split }
        }
        return pieces.isEmpty ? text : text + "\n" + pieces.joined(separator: " ")
    }
}
