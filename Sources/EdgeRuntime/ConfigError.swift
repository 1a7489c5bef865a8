import EdgeCore

/// A problem with a config file or with the bindings an application asks for, reported at
/// startup: the file, the key (a JSON path such as `queues.consumers[0].max_batch_size`), what was
/// expected and what was found.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case unreadable, syntax, unknownKey, missingKey, wrongType, invalidValue, missingBinding, wrongBindingType, missingSecret
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The file cannot be read.
        public static let unreadable = Code(.unreadable)
        /// The file is not JSON (with comments).
        public static let syntax = Code(.syntax)
        /// A key the config format does not have (often a typo).
        public static let unknownKey = Code(.unknownKey)
        /// A required key is absent.
        public static let missingKey = Code(.missingKey)
        /// A value of the wrong JSON type.
        public static let wrongType = Code(.wrongType)
        /// A value of the right type that is not allowed (a bad cron expression, an unknown backend…).
        public static let invalidValue = Code(.invalidValue)
        /// The application asked for a binding the config does not declare.
        public static let missingBinding = Code(.missingBinding)
        /// The application asked for a binding as the wrong kind (a KV namespace as a queue…).
        public static let wrongBindingType = Code(.wrongBindingType)
        /// A declared secret has no value in the environment or the secrets file.
        public static let missingSecret = Code(.missingSecret)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var file: String
    public var key: String
    public var expected: String
    public var message: String

    public init(_ code: Code, file: String, key: String, expected: String, message: String) {
        self.code = code
        self.file = file
        self.key = key
        self.expected = expected
        self.message = message
    }

    /// `file: key: message`, with `(expected …)` added when the message does not already say it.
    public var description: String {
        message.contains("expected") ? "\(file): \(key): \(message)" : "\(file): \(key): \(message) (expected \(expected))"
    }
}
