/// How CodeSearch reads code and queries as words: identifiers are kept whole and also split
/// into their pieces (`parseHTTPRequest` → `parse`, `http`, `request`; `max_batch_size` → `max`,
/// `batch`, `size`), so a query in plain words meets code that spells them as identifiers.
public enum CodeTokenizer {
    /// Runs of letters, digits and `_`: identifiers stay whole.
    public static func words(_ text: some StringProtocol) -> [Substring] {
        Substring(text).split { !($0.isLetter || $0.isNumber || $0 == "_") }
    }

    /// The pieces of one identifier, lower-cased: split at `_` and `-`, at a lower-to-upper
    /// change (`parseHTTP` → `parse`, `http`), before the last capital of a run of capitals that
    /// starts a word (`HTTPRequest` → `http`, `request`), and between letters and digits.
    public static func identifierPieces(_ word: some StringProtocol) -> [String] {
        func kind(_ character: Character) -> CharacterKind {
            character.isNumber ? .digit : character.isUppercase ? .upper : character.isLetter ? .lower : .other
        }
        let characters = Array(word)
        var pieces: [String] = []
        var start = 0
        func cut(at end: Int) {
            if end > start { pieces.append(String(characters[start..<end]).lowercased()) }
            start = end
        }
        for index in characters.indices {
            let here = kind(characters[index])
            if characters[index] == "_" || characters[index] == "-" {
                cut(at: index)
                start = index + 1
                continue
            }
            guard index > start else { continue }
            let before = kind(characters[index - 1])
            let after = index + 1 < characters.count ? kind(characters[index + 1]) : .other
            switch (before, here) {
            case (.lower, .upper), (.lower, .digit), (.upper, .digit), (.digit, .lower), (.digit, .upper):
                cut(at: index)
            case (.upper, .upper) where after == .lower:
                cut(at: index)
            default:
                break
            }
        }
        cut(at: characters.count)
        return pieces
    }

    private enum CharacterKind { case lower, upper, digit, other }

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
