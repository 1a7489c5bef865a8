import Foundation

/// What a chunk says about itself in prose: the words of its path, its first declaration line and
/// the text of its documentation comments (or, in a chunk without any, of its other comments),
/// without comment markers, the code examples comments often hold, or the tags that describe a
/// signature (parameters, return values, errors). Embedded as a second vector of the chunk, it lets a question in
/// plain words meet the documentation of the code it asks about even where the code around it
/// would drown the prose in an embedding of the whole chunk.
///
/// Language-neutral: comments are recognised by their markers (`///`, `//`, `/* … */`, `*`,
/// `#`, `--`, and Python's `"""` docstrings); `///`, `//!`, `/** … */`, `/*! … */`, docstrings
/// and the comment a chunk opens with (its declaration's, which the chunker keeps with it) are
/// documentation. Documentation says what the code is for, the question's own terms; comments
/// inside a body say how it works, and in a chunk that has both they only dilute the vector. Nil
/// when a chunk has too little prose to say anything (fewer than ``minimumWords`` words of
/// comment).
public enum ChunkGloss {
    /// Comments shorter than this (in words) make no gloss.
    public static let minimumWords = 6
    /// At most this many characters: the embedding model reads about 256 tokens.
    public static let maximumCharacters = 1200

    public static func gloss(of chunk: CodeChunk) -> String? {
        let (declaration, prose) = parts(of: chunk)
        let words = prose.reduce(0) { $0 + $1.split(separator: " ").count }
        guard words >= minimumWords else { return nil }
        var gloss = pathWords(chunk.path)
        if let declaration { gloss += "\n" + declaration }
        gloss += "\n" + prose.joined(separator: " ")
        return String(gloss.prefix(maximumCharacters))
    }

    /// Lines that open a comment's description of a signature — parameters, return value,
    /// errors (Swift's DocC, Doxygen, JSDoc, Python's Sphinx and Google styles, Rust's sections),
    /// lowercased. The rest of that comment is left out of the prose.
    static let signatureTags = [
        "- parameter", "- returns", "- throws", "@param", "@return", "@throws", "\\param", "\\return", ":param", ":return", ":raises",
        "args:", "returns:", "raises:", "# arguments", "# returns", "# errors", "# panics",
    ]

    /// A chunk's first declaration line and its comments' lines of prose: those of its
    /// documentation comments when it has any, else those of its other comments.
    static func parts(of chunk: CodeChunk) -> (declaration: Substring?, prose: [Substring]) {
        var prose: [Substring] = []
        var documentation: [Substring] = []
        var declaration: Substring?
        // `"""` opens a docstring in Python only (elsewhere it is a multi-line string literal).
        let docstrings = SourceLanguage(path: chunk.path) == .python
        var inBlock = false
        var blockIsDocumentation = false
        var inDocstring = false
        var inFence = false
        // Past a signature tag, until the comment ends (a line of code).
        var inTags = false
        // Before the chunk's first line of code: the comment the chunker keeps with the
        // declaration it opens with, documentation whatever its marker (Go's and C's `//`).
        var seenCode = false
        for rawLine in chunk.text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.drop { $0 == " " || $0 == "\t" }
            var text: Substring?
            var isDocumentation = true
            if inDocstring {
                if let end = line.range(of: "\"\"\"") {
                    inDocstring = false
                    text = line[..<end.lowerBound]
                } else {
                    text = line
                }
            } else if inBlock {
                isDocumentation = blockIsDocumentation
                if let end = line.range(of: "*/") {
                    inBlock = false
                    text = stripStars(line[..<end.lowerBound])
                } else {
                    text = stripStars(line)
                }
            } else if let marker = ["///", "//!", "//", "--", "# ", "#\t"].first(where: { line.hasPrefix($0) }) {
                text = line.dropFirst(marker.count)
                isDocumentation = marker == "///" || marker == "//!" || !seenCode
            } else if line == "#" || line == "//" || line == "///" {
                text = ""
            } else if line.hasPrefix("/*") {
                isDocumentation = line.hasPrefix("/**") || line.hasPrefix("/*!") || !seenCode
                blockIsDocumentation = isDocumentation
                let body = line.dropFirst(line.hasPrefix("/**") ? 3 : 2)
                if let end = body.range(of: "*/") {
                    text = body[..<end.lowerBound]
                } else {
                    inBlock = true
                    text = body
                }
            } else if docstrings, line.hasPrefix("\"\"\"") || line.hasPrefix("r\"\"\"") {
                let body = line.drop { $0 != "\"" }.dropFirst(3)
                if let end = body.range(of: "\"\"\"") {
                    text = body[..<end.lowerBound]
                } else {
                    inDocstring = true
                    text = body
                }
            } else if declaration == nil, !line.isEmpty, !line.hasPrefix("@"), !line.hasPrefix("import "), !line.hasPrefix("#") {
                declaration = line
            }
            guard let text else {
                if !line.isEmpty { seenCode = true }
                inTags = false
                continue
            }
            let trimmed = text.drop { $0 == " " || $0 == "\t" }
            // Code examples inside comments (Markdown fences, and `>` quotes that hold them).
            let unquoted = trimmed.hasPrefix(">") ? trimmed.dropFirst().drop { $0 == " " } : trimmed
            if unquoted.hasPrefix("```") || unquoted.hasPrefix("~~~") {
                inFence.toggle()
                continue
            }
            if inFence || unquoted.isEmpty { continue }
            if !inTags {
                let lowercased = unquoted.lowercased()
                inTags = signatureTags.contains { lowercased.hasPrefix($0) }
            }
            if inTags { continue }
            if isDocumentation { documentation.append(unquoted) } else { prose.append(unquoted) }
        }
        return (declaration, documentation.isEmpty ? prose : documentation)
    }

    /// A file's card: its path in words, then, for each chunk with enough comment prose, its
    /// first declaration line and the first sentence of its comments — what the file is about,
    /// in one text that is indexed (lexically and as a vector) like a chunk of the file. Its
    /// lines are 0 to the file's last, which no other chunk starts at. Nil for a file of one
    /// chunk, or one with no documented declaration.
    public static func card(path: String, chunks: [CodeChunk]) -> CodeChunk? {
        guard chunks.count > 1 else { return nil }
        var lines = [pathWords(path)]
        for chunk in chunks {
            let (declaration, prose) = parts(of: chunk)
            guard prose.reduce(0, { $0 + $1.split(separator: " ").count }) >= minimumWords else { continue }
            let sentence = prose.joined(separator: " ").split(separator: ".", maxSplits: 1).first.map(String.init) ?? ""
            lines.append(((declaration.map { String($0.prefix(100)) } ?? "") + " " + sentence).trimmingCharacters(in: .whitespaces))
        }
        guard lines.count > 1 else { return nil }
        let last = chunks.map(\.endLine).max() ?? 0
        return CodeChunk(path: path, startLine: 0, endLine: last, text: String(lines.joined(separator: "\n").prefix(maximumCharacters)))
    }

    /// A path as words: `Sources/Core/DatabasePool.swift` → `Sources Core Database Pool`.
    static func pathWords(_ path: String) -> String {
        let withoutExtension = path.split(separator: "/").map { component -> Substring in
            guard let dot = component.lastIndex(of: "."), dot != component.startIndex else { return component }
            return component[..<dot]
        }
        return withoutExtension.flatMap { CodeTokenizer.words($0) }.flatMap { word -> [String] in
            let pieces = CodeTokenizer.identifierPieces(word)
            return pieces.isEmpty ? [String(word)] : pieces
        }.joined(separator: " ")
    }

    private static func stripStars(_ line: Substring) -> Substring {
        let trimmed = line.drop { $0 == " " || $0 == "\t" }
        return trimmed.hasPrefix("*") ? trimmed.dropFirst() : trimmed
    }
}
