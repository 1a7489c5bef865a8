import Foundation

/// The languages CodeSearch chunks along their declarations, by file extension.
public enum SourceLanguage: String, Sendable, CaseIterable {
    case swift, c, cpp, go, rust, typescript, javascript, python, java, kotlin, csharp

    /// The language of a file named `path`, or nil (chunked in line windows).
    public init?(path: String) {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return nil }
        switch path[path.index(after: dot)...].lowercased() {
        case "swift": self = .swift
        case "c", "h": self = .c
        case "cc", "cpp", "cxx", "hpp", "hh", "hxx": self = .cpp
        case "go": self = .go
        case "rs": self = .rust
        case "ts", "tsx", "mts", "cts": self = .typescript
        case "js", "jsx", "mjs", "cjs": self = .javascript
        case "py", "pyi": self = .python
        case "java": self = .java
        case "kt", "kts": self = .kotlin
        case "cs": self = .csharp
        default: return nil
        }
    }

    /// Declarations whose members become chunks of their own when the whole is too long.
    var containerKeywords: Set<String> {
        switch self {
        case .swift: ["class", "struct", "enum", "protocol", "extension", "actor"]
        case .c: ["struct", "union", "enum", "extern"]
        case .cpp: ["class", "struct", "union", "namespace", "enum", "extern"]
        case .go: []
        case .rust: ["impl", "trait", "mod", "struct", "enum"]
        case .typescript, .javascript: ["class", "interface", "namespace", "module", "enum"]
        case .python: ["class"]
        case .java, .kotlin, .csharp: ["class", "interface", "enum", "record", "object", "namespace", "struct"]
        }
    }

    /// Whether `'` opens a character or string literal (not a Rust lifetime).
    var quoteIsLiteral: Bool { self != .rust }

    /// Whether a backtick string may span lines (JavaScript templates, Go raw strings).
    var backtickStrings: Bool { self == .go || self == .typescript || self == .javascript }

    /// Whether a statement ends at the end of its line (unless something says it goes on), as
    /// in Go, Kotlin and JavaScript written without semicolons; else it ends at `;` or `{`.
    var newlineEndsStatements: Bool { self == .go || self == .kotlin || self == .typescript || self == .javascript }
}

/// Finds declarations in brace languages (C, C++, Go, Rust, TypeScript, JavaScript, Java,
/// Kotlin, C#) and in Python, without a parser: enough structure to cut chunks at declaration
/// boundaries.
///
/// Brace languages: a statement that starts at the top level (or directly inside a container
/// such as a class, an `impl` or a namespace) and opens a brace before it ends with `;` is a
/// declaration, from its first line to the line that closes that brace. Braces inside strings
/// and comments are ignored. Python: `def`, `async def` and `class` lines, each ending before the
/// next line indented no deeper, with a class's methods as its members.
struct DeclarationScanner {
    let language: SourceLanguage

    func scan(_ lines: [String]) -> [CodeChunker.Declaration] {
        language == .python ? scanPython(lines) : scanBraces(lines)
    }

    // MARK: Brace languages

    private struct Open {
        var start: Int
        var depthBefore: Int
        var isContainer: Bool
        var level: Int
    }

    func scanBraces(_ lines: [String]) -> [CodeChunker.Declaration] {
        var declarations: [CodeChunker.Declaration] = []
        var open: [Open] = []
        var depth = 0
        var inBlockComment = false
        var inBacktick = false
        // The statement being read at a level where declarations start: its first line and
        // whether its first line names a container.
        var statementStart: Int?
        var statementIsContainer = false
        var parens = 0

        for (number, line) in lines.enumerated() {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            // Where a declaration may start: the top level, or directly inside a container.
            let level = open.last.map { $0.isContainer && depth == $0.depthBefore + 1 ? $0.level + 1 : -1 } ?? (depth == 0 ? 0 : -1)
            let startsHere =
                statementStart == nil && level >= 0 && !inBlockComment && !inBacktick && !trimmed.isEmpty
                && !trimmed.hasPrefix("//") && !trimmed.hasPrefix("/*") && !trimmed.hasPrefix("*") && !trimmed.hasPrefix("#")
                && !trimmed.hasPrefix("}") && !trimmed.hasPrefix("@") && !trimmed.hasPrefix("import ") && !trimmed.hasPrefix("package ")
                && !trimmed.hasPrefix("use ") && !trimmed.hasPrefix("using ")
            if startsHere {
                statementStart = number
                statementIsContainer = isContainerLine(trimmed)
            }
            if statementStart == nil { parens = 0 }
            let characters = Array(line)
            var index = 0
            var quote: Character?
            while index < characters.count {
                let character = characters[index]
                let next: Character = index + 1 < characters.count ? characters[index + 1] : " "
                if inBlockComment {
                    if character == "*", next == "/" {
                        inBlockComment = false
                        index += 1
                    }
                } else if inBacktick {
                    if character == "\\" { index += 1 } else if character == "`" { inBacktick = false }
                } else if let open = quote {
                    if character == "\\" { index += 1 } else if character == open { quote = nil }
                } else if character == "/", next == "/" {
                    break
                } else if character == "/", next == "*" {
                    inBlockComment = true
                    index += 1
                } else if character == "\"" {
                    quote = "\""
                } else if character == "'" {
                    // A character literal closes within a few characters; a Rust lifetime does not.
                    if language.quoteIsLiteral || (index + 2 < characters.count && (characters[index + 2] == "'" || (characters[index + 1] == "\\"))) {
                        quote = "'"
                    }
                } else if character == "`", language.backtickStrings {
                    inBacktick = true
                } else if character == "(" || character == "[" {
                    parens += 1
                } else if character == ")" || character == "]" {
                    parens = max(0, parens - 1)
                } else if character == "{" {
                    if let start = statementStart, depth == (open.last.map { $0.isContainer ? $0.depthBefore + 1 : -1 } ?? 0) {
                        let level = open.last.map { $0.level + 1 } ?? 0
                        open.append(Open(start: start, depthBefore: depth, isContainer: statementIsContainer, level: level))
                        statementStart = nil
                    }
                    depth += 1
                } else if character == "}" {
                    // A statement left open inside the closing block (a field without `;`) ends with it.
                    statementStart = nil
                    depth = max(0, depth - 1)
                    while let last = open.last, depth <= last.depthBefore {
                        open.removeLast()
                        declarations.append(CodeChunker.Declaration(start: last.start, end: number, depth: last.level, isType: last.isContainer))
                    }
                } else if character == ";", statementStart != nil,
                    depth == (open.last.map { $0.isContainer ? $0.depthBefore + 1 : -1 } ?? 0)
                {
                    // A declaration without a body (a prototype, a field, an import): left to the windows.
                    statementStart = nil
                }
                index += 1
            }
            // A member that ends its line with a comma (a field, an enum case) ends there; commas
            // inside a line (generic arguments, `throws A, B`) do not end anything.
            if statementStart != nil, parens == 0, !inBlockComment, trimmed.trimmingCharacters(in: .whitespaces).hasSuffix(","), depth > 0 {
                statementStart = nil
            }
            // A statement that opened no brace by the end of its line may end there.
            if let start = statementStart, parens == 0, language.newlineEndsStatements, number >= start {
                let end = trimmed.trimmingCharacters(in: .whitespaces)
                let goesOn = ["(", "[", ",", "=", "=>", "&&", "||", "+", "-", ".", ":", "?"].contains { end.hasSuffix($0) }
                let nextOpens =
                    lines[(number + 1)...].first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map {
                        let next = $0.trimmingCharacters(in: .whitespaces)
                        return next.hasPrefix("{") || next.hasPrefix(".") || next.hasPrefix("=>") || next.hasPrefix("where") || next.hasPrefix(":")
                    } ?? false
                if !goesOn, !nextOpens { statementStart = nil }
            }
        }
        return declarations.sorted { $0.start < $1.start }
    }

    private func isContainerLine(_ line: Substring) -> Bool {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "<" || $0 == "(" || $0 == ":" || $0 == "{" || $0 == "\t" }).prefix(6)
        return words.contains { language.containerKeywords.contains(String($0)) } && !line.contains("=")
    }

    // MARK: Python

    func scanPython(_ lines: [String]) -> [CodeChunker.Declaration] {
        var declarations: [CodeChunker.Declaration] = []
        var open: [(start: Int, indent: Int, isClass: Bool, level: Int)] = []
        var lastCode = -1
        var inString: String?
        func indentation(_ line: String) -> Int {
            var width = 0
            for character in line {
                if character == " " { width += 1 } else if character == "\t" { width += 8 - width % 8 } else { break }
            }
            return width
        }
        func close(below indent: Int) {
            while let last = open.last, last.indent >= indent {
                open.removeLast()
                declarations.append(CodeChunker.Declaration(start: last.start, end: max(last.start, lastCode), depth: last.level, isType: last.isClass))
            }
        }
        for (number, line) in lines.enumerated() {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if let delimiter = inString {
                if line.components(separatedBy: delimiter).count % 2 == 0 { inString = nil }
                lastCode = number
                continue
            }
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            let indent = indentation(line)
            close(below: indent + (trimmed.hasPrefix(")") || trimmed.hasPrefix("]") || trimmed.hasPrefix("}") ? 1 : 0))
            let words = trimmed.split(separator: " ", maxSplits: 2)
            let keyword = words.first == "async" ? words.dropFirst().first : words.first
            let isDefinition = keyword.map { $0 == "def" || $0 == "class" || $0.hasPrefix("def(") } == true
            if isDefinition {
                let parentIsClass = open.last?.isClass ?? true
                if open.isEmpty || parentIsClass {
                    open.append((number, indent, keyword == "class", open.count))
                }
            }
            // A triple-quoted string that does not close on its line.
            for delimiter in ["\"\"\"", "'''"] where line.components(separatedBy: delimiter).count % 2 == 0 {
                inString = delimiter
            }
            lastCode = number
        }
        close(below: 0)
        return declarations.sorted { $0.start < $1.start }
    }
}
