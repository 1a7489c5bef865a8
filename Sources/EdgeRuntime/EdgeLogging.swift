import Foundation
import Glibc
public import Logging
import Synchronization

/// How a host writes its logs (config `log_format`): swift-log's usual text lines, or one JSON
/// object per line for a log collector.
public enum EdgeLogFormat: String, Sendable, Hashable, CaseIterable {
    case text
    case json
}

/// The log handler of hosts built from a config (``EdgeHost/run(_:configPath:providers:port:logFormat:)``,
/// `edge dev`): lines on standard error in ``EdgeLogFormat``, with the value of every secret the
/// config declares replaced by `[redacted]` wherever it would appear (a message, a metadata value,
/// an error's description).
///
/// A JSON line holds `time` (ISO 8601 with milliseconds, UTC), `level`, `label`, `message`, and
/// each metadata key: `request_id` on every line logged while handling a request (through
/// `ctx.logger`, and the runtime's own request line).
public enum EdgeLogging {
    private static let bootstrapped = Mutex<EdgeLogFormat?>(nil)
    private static let secrets = Mutex<[String]>([])

    /// Makes ``handler(label:format:)`` swift-log's handler. swift-log allows one bootstrap per
    /// process: the first call wins, later ones (and an application's own bootstrap afterwards)
    /// are ignored.
    ///
    /// - Returns: the format in effect.
    @discardableResult
    public static func bootstrap(format: EdgeLogFormat) -> EdgeLogFormat {
        bootstrapped.withLock { state in
            if let state { return state }
            LoggingSystem.bootstrap { label in handler(label: label, format: format) }
            state = format
            return format
        }
    }

    /// A handler writing `format` lines to standard error.
    public static func handler(label: String, format: EdgeLogFormat) -> some LogHandler {
        EdgeLogHandler(label: label, format: format)
    }

    /// Adds values never to be written to a log (``EdgeBindings`` adds the config's secrets).
    /// Values shorter than 4 bytes are ignored: redacting them would mangle ordinary words.
    public static func redact(_ values: some Sequence<String>) {
        let added = values.filter { $0.utf8.count >= 4 }
        guard !added.isEmpty else { return }
        secrets.withLock { secrets in
            for value in added where !secrets.contains(value) { secrets.append(value) }
            // Longest first, so a secret containing another is replaced whole.
            secrets.sort { $0.utf8.count > $1.utf8.count }
        }
    }

    /// `text` with every registered secret replaced by `[redacted]`.
    static func redacting(_ text: String) -> String {
        let values = secrets.withLock { $0 }
        var text = text
        for value in values where text.contains(value) { text = text.replacingOccurrences(of: value, with: "[redacted]") }
        return text
    }

    /// One lock for every handler, so lines of concurrent requests never interleave.
    static let output = Mutex<Void>(())

    static func write(_ line: String) {
        var line = line
        line.append("\n")
        output.withLock { _ in
            var bytes = Array(line.utf8)[...]
            while !bytes.isEmpty {
                let written = bytes.withUnsafeBytes { Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
                if written < 0, errno == EINTR { continue }
                if written <= 0 { return }
                bytes = bytes.dropFirst(written)
            }
        }
    }
}

struct EdgeLogHandler: LogHandler {
    let label: String
    let format: EdgeLogFormat
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .info

    init(label: String, format: EdgeLogFormat) {
        self.label = label
        self.format = format
        metadataProvider = LoggingSystem.metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        if let error = event.error, merged["error"] == nil { merged["error"] = "\(error)" }
        let time = Self.timestamp()
        let line: String
        switch format {
        case .text:
            let fields = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            line = "\(time) \(event.level) \(label) :\(fields) [\(event.source)] \(event.message)"
        case .json:
            var object = "{\"time\":\(Self.quoted(time)),\"level\":\(Self.quoted(event.level.rawValue)),\"label\":\(Self.quoted(label))"
            object += ",\"message\":\(Self.quoted(event.message.description))"
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) where !["time", "level", "label", "message"].contains(key) {
                object += ",\(Self.quoted(key)):\(Self.json(value))"
            }
            line = object + "}"
        }
        EdgeLogging.write(EdgeLogging.redacting(line))
    }

    static func timestamp() -> String {
        Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): return quoted(text)
        case .stringConvertible(let convertible): return quoted(convertible.description)
        case .array(let values): return "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let values): return "{" + values.sorted { $0.key < $1.key }.map { quoted($0.key) + ":" + json($0.value) }.joined(separator: ",") + "}"
        }
    }

    /// `text` as a JSON string.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
