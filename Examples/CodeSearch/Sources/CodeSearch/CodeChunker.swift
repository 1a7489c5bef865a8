import Foundation

/// A piece of a source file that is embedded and searched on its own.
public struct CodeChunk: Codable, Sendable, Hashable {
    /// The file's path relative to the indexed root.
    public var path: String
    /// 1-based, inclusive (0 for a file's card, ``isCard``).
    public var startLine: Int
    public var endLine: Int
    public var text: String

    /// A stable id: path and line range.
    public var id: String { "\(path)#\(startLine)-\(endLine)" }

    /// Whether this is a file's card (``ChunkGloss/card(path:chunks:)``), which starts at line 0.
    public var isCard: Bool { startLine == 0 }

    public init(path: String, startLine: Int, endLine: Int, text: String) {
        self.path = path
        self.startLine = startLine
        self.endLine = endLine
        self.text = text
    }
}

/// Which files are indexed: text source files, not binaries, vendored trees or oversized files.
public struct FileFilter: Sendable {
    /// Larger files are skipped (generated code, data dumps). Default 512 KiB.
    public var maxBytes = 512 * 1024
    /// Directories never entered.
    public var skippedDirectories: Set<String> = [
        ".git", ".build", "node_modules", "vendor", "Vendor", "Pods", "Carthage", "third_party",
        "dist", "build", "DerivedData", ".swiftpm", ".edge",
    ]

    public init() {}

    public enum Verdict: Equatable, Sendable {
        case index
        case skipVendored, skipTooLarge(Int), skipBinary
    }

    /// Whether a file at `path` (relative) with `bytes` is indexed.
    public func verdict(path: String, bytes: [UInt8]) -> Verdict {
        let components = path.split(separator: "/").map(String.init)
        if components.dropLast().contains(where: { skippedDirectories.contains($0) }) { return .skipVendored }
        if bytes.count > maxBytes { return .skipTooLarge(bytes.count) }
        // Binary: a NUL byte in the first 8 KiB, or not UTF-8.
        if bytes.prefix(8192).contains(0) || String(validating: bytes, as: UTF8.self) == nil { return .skipBinary }
        return .index
    }
}

/// Splits source files into chunks: Swift, C, C++, Go, Rust, TypeScript, JavaScript, Python,
/// Java, Kotlin and C# (``SourceLanguage``) at declaration boundaries (each top-level function,
/// type, extension or member of a type that fits a chunk), everything else — and declarations
/// too long for one chunk — in overlapping line windows.
public struct CodeChunker: Sendable {
    /// The most lines one chunk holds. Default 60.
    public var maxLines = 60
    /// Lines shared by consecutive windows. Default 10.
    public var overlap = 10

    public init(maxLines: Int = 60, overlap: Int = 10) {
        precondition(maxLines > 0 && overlap >= 0 && overlap < maxLines, "CodeChunker needs maxLines > overlap >= 0")
        self.maxLines = maxLines
        self.overlap = overlap
    }

    public func chunks(path: String, text: String) -> [CodeChunk] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.contains(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else { return [] }
        switch SourceLanguage(path: path) {
        case .swift?: return declarationChunks(path: path, lines: lines, declarations: scanSwift(lines))
        case let language?: return declarationChunks(path: path, lines: lines, declarations: DeclarationScanner(language: language).scan(lines))
        case nil: return windows(path: path, lines: lines, from: 0, to: lines.count)
        }
    }

    /// What the index stores for a file: its ``chunks(path:text:)`` and, when it has one, its
    /// card (``ChunkGloss/card(path:chunks:)``).
    public func indexedChunks(path: String, text: String) -> [CodeChunk] {
        let chunks = chunks(path: path, text: text)
        guard let card = ChunkGloss.card(path: path, chunks: chunks) else { return chunks }
        return chunks + [card]
    }

    /// Overlapping windows over lines[from..<to] (0-based), skipping windows of blank lines:
    /// how a file without declarations is chunked.
    public func windows(path: String, lines: [String], from: Int, to: Int) -> [CodeChunk] {
        var chunks: [CodeChunk] = []
        var start = from
        while start < to {
            let end = min(to, start + maxLines)
            let slice = lines[start..<end]
            if slice.contains(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) {
                chunks.append(CodeChunk(path: path, startLine: start + 1, endLine: end, text: slice.joined(separator: "\n")))
            }
            if end == to { break }
            start = end - overlap
        }
        return chunks
    }

    /// A declaration found by the scanner: its lines (0-based, inclusive) and nesting depth.
    struct Declaration {
        var start: Int
        var end: Int
        var depth: Int
        var isType: Bool
    }

    static let declarationKeywords: Set<String> = [
        "func", "init", "deinit", "subscript", "var", "let", "class", "struct", "enum", "protocol",
        "extension", "actor", "typealias", "case", "macro",
    ]
    static let typeKeywords: Set<String> = ["class", "struct", "enum", "protocol", "extension", "actor"]
    static let modifiers: Set<String> = [
        "public", "private", "fileprivate", "internal", "package", "open", "static", "final", "override",
        "mutating", "nonmutating", "convenience", "required", "indirect", "lazy", "weak", "unowned",
        "nonisolated", "isolated", "dynamic", "async", "consuming", "borrowing", "distributed",
    ]

    /// Chunks along `declarations` (found by ``scanSwift(_:)`` or a ``DeclarationScanner``):
    /// each top-level declaration and each member of a type becomes a chunk (with its doc
    /// comment and attributes); a type too long for one chunk is split into its members; a
    /// member too long is split into windows; the code between declarations is windowed.
    func declarationChunks(path: String, lines: [String], declarations: [Declaration]) -> [CodeChunk] {
        var chunks: [CodeChunk] = []
        var covered = [Bool](repeating: false, count: lines.count)
        func emit(_ start: Int, _ end: Int) {
            if end - start + 1 <= maxLines {
                chunks.append(CodeChunk(path: path, startLine: start + 1, endLine: end + 1, text: lines[start...end].joined(separator: "\n")))
            } else {
                chunks += windows(path: path, lines: lines, from: start, to: end + 1)
            }
            for line in start...end { covered[line] = true }
        }
        // Top-level declarations, and members of types that are too long to be one chunk.
        func place(_ declaration: Declaration, members: [Declaration]) {
            let start = leadingCommentStart(lines, declaration.start)
            if declaration.end - start + 1 <= maxLines || !declaration.isType || members.isEmpty {
                emit(start, declaration.end)
                return
            }
            // The type's header up to its first member, then each member.
            let firstMember = leadingCommentStart(lines, members[0].start)
            if firstMember > start { emit(start, firstMember - 1) }
            for member in members {
                let nested = declarations.filter { $0.depth == member.depth + 1 && $0.start > member.start && $0.end <= member.end }
                place(member, members: member.isType ? nested : [])
            }
        }
        for top in declarations where top.depth == 0 {
            let members = declarations.filter { $0.depth == 1 && $0.start > top.start && $0.end <= top.end }
            place(top, members: members)
        }
        // Whatever no declaration covered (imports, free statements): windows over the gaps.
        var line = 0
        while line < lines.count {
            guard !covered[line] else {
                line += 1
                continue
            }
            var end = line
            while end < lines.count, !covered[end] { end += 1 }
            chunks += windows(path: path, lines: lines, from: line, to: end)
            line = end
        }
        return chunks.sorted { ($0.startLine, $0.endLine) < ($1.startLine, $1.endLine) }
    }

    /// The first line of the doc comments and attributes directly above `line`.
    func leadingCommentStart(_ lines: [String], _ line: Int) -> Int {
        var start = line
        while start > 0 {
            let previous = lines[start - 1].trimmingCharacters(in: .whitespaces)
            guard
                previous.hasPrefix("///") || previous.hasPrefix("//") || previous.hasPrefix("@") || previous.hasPrefix("*")
                    || previous.hasPrefix("/*") || previous.hasPrefix("#[") || previous.hasPrefix("# ") || previous == "#"
            else { break }
            start -= 1
        }
        return start
    }

    /// Finds declarations by keyword at the start of a line, tracking brace depth (outside
    /// strings and comments) to find where each one ends.
    func scanSwift(_ lines: [String]) -> [Declaration] {
        var declarations: [Declaration] = []
        var open: [(start: Int, depthBefore: Int, isType: Bool)] = []
        var depth = 0
        var inBlockComment = false
        var inMultilineString = false
        for (number, line) in lines.enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            let words = trimmed.split(whereSeparator: { $0 == " " || $0 == "(" || $0 == "<" || $0 == ":" || $0 == "{" }).map(String.init)
            let keyword = words.first { !Self.modifiers.contains($0) && !$0.hasPrefix("@") && !$0.hasPrefix("private(") && !$0.hasPrefix("public(") }
            let startsDeclaration =
                !inBlockComment && !inMultilineString && keyword.map { Self.declarationKeywords.contains($0) } == true
                && (depth == 0 || open.last?.isType == true && depth == (open.last?.depthBefore ?? 0) + 1)
            let depthBefore = depth
            // Count braces outside strings and comments.
            var characters = Array(line)
            var index = 0
            var inString = false
            var lineOpened = false
            while index < characters.count {
                let character = characters[index]
                let next = index + 1 < characters.count ? characters[index + 1] : " "
                if inBlockComment {
                    if character == "*", next == "/" {
                        inBlockComment = false
                        index += 1
                    }
                } else if inMultilineString {
                    if character == "\"", next == "\"", index + 2 < characters.count, characters[index + 2] == "\"" {
                        inMultilineString = false
                        index += 2
                    }
                } else if inString {
                    if character == "\\" { index += 1 } else if character == "\"" { inString = false }
                } else if character == "/", next == "/" {
                    break
                } else if character == "/", next == "*" {
                    inBlockComment = true
                    index += 1
                } else if character == "\"" {
                    if next == "\"", index + 2 < characters.count, characters[index + 2] == "\"" {
                        inMultilineString = true
                        index += 2
                    } else {
                        inString = true
                    }
                } else if character == "{" {
                    depth += 1
                    lineOpened = true
                } else if character == "}" {
                    depth -= 1
                    while let last = open.last, depth <= last.depthBefore {
                        open.removeLast()
                        declarations.append(Declaration(start: last.start, end: number, depth: depthOfOpen(last.depthBefore, open), isType: last.isType))
                    }
                }
                index += 1
            }
            characters.removeAll()
            if startsDeclaration, let keyword {
                if lineOpened || depth > depthBefore {
                    if depth > depthBefore {
                        open.append((number, depthBefore, Self.typeKeywords.contains(keyword)))
                    } else {
                        // Opened and closed on this line: a one-line declaration.
                        declarations.append(Declaration(start: number, end: number, depth: open.count, isType: Self.typeKeywords.contains(keyword)))
                    }
                } else if depth == depthBefore {
                    // A declaration without a body on this line (a property, a case, a requirement);
                    // a body may open on a following line, which this scanner leaves to the windows.
                    declarations.append(Declaration(start: number, end: number, depth: open.count, isType: false))
                }
            }
            depth = max(0, depth)
        }
        return declarations.sorted { $0.start < $1.start }
    }

    /// The nesting depth (in declarations) of a declaration whose body opened at `depthBefore`.
    private func depthOfOpen(_ depthBefore: Int, _ open: [(start: Int, depthBefore: Int, isType: Bool)]) -> Int {
        open.filter { $0.depthBefore < depthBefore }.count
    }
}
