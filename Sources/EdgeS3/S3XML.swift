/// The XML of S3 documents: a writer for responses and a small reader for the request bodies
/// S3 takes (CompleteMultipartUpload, Delete), with entities, comments and CDATA; no DTDs.
package struct XMLWriter {
    package init() {}

    package private(set) var text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

    package mutating func open(_ name: String, namespace: Bool = false) {
        text += namespace ? "<\(name) xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">" : "<\(name)>"
    }

    package mutating func close(_ name: String) { text += "</\(name)>" }

    package mutating func element(_ name: String, _ value: String) { text += "<\(name)>\(xmlEscape(value))</\(name)>" }

    package mutating func element(_ name: String, _ value: Int) { element(name, String(value)) }

    package mutating func element(_ name: String, _ value: Bool) { element(name, value ? "true" : "false") }

    package mutating func element(_ name: String, _ body: (inout XMLWriter) -> Void) {
        open(name)
        body(&self)
        close(name)
    }
}

package func xmlEscape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        case "\r": out += "&#13;"
        default:
            if scalar.value < 0x20, scalar != "\n", scalar != "\t" {
                out += "&#\(scalar.value);"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out
}

/// An element read from a request body: its name (without prefix), children and text.
package struct XMLNode: Sendable {
    package var name: String
    package var children: [XMLNode] = []
    package var text = ""

    package func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    package func all(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }
    package func value(_ name: String) -> String? { child(name)?.text }

    /// Parses a document; throws ``S3Error`` `.malformedXML` naming what is wrong.
    package static func parse(_ bytes: [UInt8]) throws -> XMLNode {
        var reader = XMLReader(bytes: bytes)
        return try reader.document()
    }
}

private struct XMLReader {
    let bytes: [UInt8]
    var index = 0

    func failure(_ what: String) -> S3Error {
        S3Error(.malformedXML, message: "the XML you provided was not well-formed: \(what) at byte \(index)")
    }

    mutating func document() throws -> XMLNode {
        skipMisc()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "<") else { throw failure("expected the root element") }
        let root = try element()
        skipMisc()
        guard index == bytes.count else { throw failure("content after the root element") }
        return root
    }

    /// Skips whitespace, the XML declaration, processing instructions and comments.
    mutating func skipMisc() {
        while index < bytes.count {
            if isSpace(bytes[index]) {
                index += 1
            } else if starts("<?") {
                guard let end = find("?>") else { return }
                index = end + 2
            } else if starts("<!--") {
                guard let end = find("-->") else { return }
                index = end + 3
            } else {
                return
            }
        }
    }

    func starts(_ text: String) -> Bool {
        let pattern = Array(text.utf8)
        return index + pattern.count <= bytes.count && Array(bytes[index..<index + pattern.count]) == pattern
    }

    func find(_ text: String) -> Int? {
        let pattern = Array(text.utf8)
        var at = index
        while at + pattern.count <= bytes.count {
            if bytes[at] == pattern[0], Array(bytes[at..<at + pattern.count]) == pattern { return at }
            at += 1
        }
        return nil
    }

    func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }

    mutating func name() throws -> String {
        let start = index
        while index < bytes.count, !isSpace(bytes[index]), ![UInt8(ascii: ">"), UInt8(ascii: "/"), UInt8(ascii: "=")].contains(bytes[index]) {
            index += 1
        }
        guard index > start else { throw failure("expected a name") }
        let full = String(decoding: bytes[start..<index], as: UTF8.self)
        return full.split(separator: ":").last.map(String.init) ?? full
    }

    mutating func element() throws -> XMLNode {
        index += 1  // <
        var node = XMLNode(name: try name())
        // Attributes (xmlns and the like) are skipped.
        while true {
            while index < bytes.count, isSpace(bytes[index]) { index += 1 }
            guard index < bytes.count else { throw failure("unterminated start tag <\(node.name)>") }
            if starts("/>") {
                index += 2
                return node
            }
            if bytes[index] == UInt8(ascii: ">") {
                index += 1
                break
            }
            _ = try name()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "=") else { throw failure("expected = in an attribute") }
            index += 1
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "'") else {
                throw failure("expected a quoted attribute value")
            }
            let quote = bytes[index]
            index += 1
            while index < bytes.count, bytes[index] != quote { index += 1 }
            guard index < bytes.count else { throw failure("unterminated attribute value") }
            index += 1
        }
        var text: [UInt8] = []
        while true {
            guard index < bytes.count else { throw failure("<\(node.name)> is never closed") }
            if starts("</") {
                index += 2
                let closing = try name()
                guard closing == node.name else { throw failure("</\(closing)> closes <\(node.name)>") }
                while index < bytes.count, isSpace(bytes[index]) { index += 1 }
                guard index < bytes.count, bytes[index] == UInt8(ascii: ">") else { throw failure("unterminated end tag") }
                index += 1
                node.text = try decodeEntities(text)
                return node
            } else if starts("<!--") {
                guard let end = find("-->") else { throw failure("unterminated comment") }
                index = end + 3
            } else if starts("<![CDATA[") {
                index += 9
                guard let end = find("]]>") else { throw failure("unterminated CDATA") }
                text += Array("\u{0}CDATA".utf8)  // marker, never in decoded text
                text += bytes[index..<end]
                text += Array("\u{0}END".utf8)
                index = end + 3
            } else if bytes[index] == UInt8(ascii: "<") {
                node.children.append(try element())
            } else {
                text.append(bytes[index])
                index += 1
            }
        }
    }

    func decodeEntities(_ raw: [UInt8]) throws -> String {
        var out: [UInt8] = []
        var at = 0
        var inCDATA = false
        let cdataOpen = Array("\u{0}CDATA".utf8)
        let cdataClose = Array("\u{0}END".utf8)
        while at < raw.count {
            if raw[at] == 0 {
                if at + cdataOpen.count <= raw.count, Array(raw[at..<at + cdataOpen.count]) == cdataOpen {
                    inCDATA = true
                    at += cdataOpen.count
                    continue
                }
                if at + cdataClose.count <= raw.count, Array(raw[at..<at + cdataClose.count]) == cdataClose {
                    inCDATA = false
                    at += cdataClose.count
                    continue
                }
            }
            guard !inCDATA, raw[at] == UInt8(ascii: "&") else {
                out.append(raw[at])
                at += 1
                continue
            }
            guard let end = raw[at...].firstIndex(of: UInt8(ascii: ";")), end - at <= 10 else { throw failure("an unterminated entity") }
            let entity = String(decoding: raw[(at + 1)..<end], as: UTF8.self)
            switch entity {
            case "amp": out.append(UInt8(ascii: "&"))
            case "lt": out.append(UInt8(ascii: "<"))
            case "gt": out.append(UInt8(ascii: ">"))
            case "quot": out.append(UInt8(ascii: "\""))
            case "apos": out.append(UInt8(ascii: "'"))
            default:
                let number: UInt32?
                if entity.hasPrefix("#x") {
                    number = UInt32(entity.dropFirst(2), radix: 16)
                } else if entity.hasPrefix("#") {
                    number = UInt32(entity.dropFirst())
                } else {
                    number = nil
                }
                guard let number, number != 0, let scalar = Unicode.Scalar(number) else { throw failure("the entity &\(entity);") }
                out += Array(String(Character(scalar)).utf8)
            }
            at = end + 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
