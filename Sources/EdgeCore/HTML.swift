/// Text for HTML pages a worker renders on the server (the dashboard, CodeSearch's pages).
public enum HTML {
    /// `text` safe inside HTML text and attribute values: `&`, `<`, `>`, `"` and `'` escaped.
    public static func escape(_ text: some StringProtocol) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
