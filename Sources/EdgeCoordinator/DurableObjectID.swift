import Crypto
import EdgeCore
import Foundation

/// A durable object's id: 64 hex digits, printable and stable. `idFromName` derives it from the
/// namespace and the name (SHA-256), so the same name always reaches the same object.
public struct DurableObjectID: Sendable, Hashable, CustomStringConvertible, Codable {
    public let hex: String
    /// The name it was derived from, for ids made by `idFromName`.
    public let name: String?

    init(hex: String, name: String?) {
        self.hex = hex
        self.name = name
    }

    public var description: String { hex }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.hex == rhs.hex }
    public func hash(into hasher: inout Hasher) { hasher.combine(hex) }

    /// The id `idFromName(name)` answers in the namespace named `namespace`, for tools that read
    /// a namespace's store without running its objects (`edge objects`).
    public static func named(_ name: String, inNamespace namespace: String) -> DurableObjectID { derived(namespace: namespace, name: name) }

    /// An id from its 64 hex digits (as `idFromString`).
    ///
    /// - Throws: ``CoordinatorError`` `.invalidID` unless `text` is 64 hex digits.
    public init(parsing text: String) throws { self = try Self.parse(text) }

    static func derived(namespace: String, name: String) -> DurableObjectID {
        let digest = SHA256.hash(data: Array("swift-edge/durable-object/\(namespace)/\(name)".utf8))
        return DurableObjectID(hex: Hex.encode(digest), name: name)
    }

    static func unique() -> DurableObjectID {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return DurableObjectID(hex: Hex.encode(bytes), name: nil)
    }

    /// - Throws: ``CoordinatorError`` `.invalidID` unless `text` is 64 hex digits.
    static func parse(_ text: String) throws -> DurableObjectID {
        let lower = text.lowercased()
        guard lower.utf8.count == 64, lower.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw CoordinatorError(
                .invalidID, limit: 64, actual: text.utf8.count,
                message: "\"\(text.prefix(80))\" is not a durable object id (64 hexadecimal digits)")
        }
        return DurableObjectID(hex: lower, name: nil)
    }
}
