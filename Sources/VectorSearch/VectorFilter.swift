import Foundation

/// A parsed Vectorize metadata filter.
///
/// `{"genre": "drama", "year": {"$gte": 2000, "$lt": 2010}, "author.name": {"$in": ["a", "b"]}}`:
/// every key must hold (AND); a plain value means `$eq`; a key with dots walks nested objects. On a
/// field the vector's metadata lacks, `$ne` and `$nin` hold and every other operator fails. Ranges
/// compare numbers with numbers and strings with strings (by UTF-8 bytes); a value of another
/// type does not match.
public struct VectorFilter: Sendable, Hashable {
    public enum Operator: String, Sendable, Hashable, CaseIterable {
        case eq = "$eq", ne = "$ne", `in` = "$in", nin = "$nin", lt = "$lt", lte = "$lte", gt = "$gt", gte = "$gte"
    }

    public struct Condition: Sendable, Hashable {
        public var path: String
        public var op: Operator
        public var value: JSONValue
    }

    public var conditions: [Condition]

    /// Parses a filter.
    ///
    /// - Throws: ``VectorError`` `.invalidFilter` naming the key and what is wrong (not an object,
    ///   an unknown `$` operator, `$in` without an array, a range bound that is not a number or a
    ///   string, an empty key).
    public init(_ filter: JSONValue) throws {
        guard case .object(let fields) = filter else {
            throw VectorError(.invalidFilter, message: "a filter is a JSON object of field: condition, not \(filter)")
        }
        var conditions: [Condition] = []
        for key in fields.keys.sorted() {
            guard !key.isEmpty, !key.hasPrefix("$"), !key.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) else {
                throw VectorError(
                    .invalidFilter,
                    message: "filter key \"\(key)\" is not a field path (top-level $ operators such as $and/$or are not supported; keys are ANDed)")
            }
            let value = fields[key]!
            if case .object(let operators) = value, let first = operators.keys.first, first.hasPrefix("$") {
                for (name, operand) in operators.sorted(by: { $0.key < $1.key }) {
                    guard let op = Operator(rawValue: name) else {
                        throw VectorError(
                            .invalidFilter,
                            message: "unknown operator \"\(name)\" on \"\(key)\"; use one of \(Operator.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    try Self.check(op, operand, key: key)
                    conditions.append(Condition(path: key, op: op, value: operand))
                }
            } else {
                try Self.check(.eq, value, key: key)
                conditions.append(Condition(path: key, op: .eq, value: value))
            }
        }
        self.conditions = conditions
    }

    private static func check(_ op: Operator, _ operand: JSONValue, key: String) throws {
        switch op {
        case .eq, .ne:
            switch operand {
            case .string, .int, .double, .bool, .null: return
            default: throw VectorError(.invalidFilter, message: "\(op.rawValue) on \"\(key)\" takes a string, number, boolean or null, not \(operand)")
            }
        case .in, .nin:
            guard case .array(let items) = operand else {
                throw VectorError(.invalidFilter, message: "\(op.rawValue) on \"\(key)\" takes an array, not \(operand)")
            }
            for item in items { try check(.eq, item, key: key) }
        case .lt, .lte, .gt, .gte:
            switch operand {
            case .string, .int, .double: return
            default: throw VectorError(.invalidFilter, message: "\(op.rawValue) on \"\(key)\" takes a number or a string, not \(operand)")
            }
        }
    }

    /// Whether `metadata` satisfies every condition.
    public func matches(_ metadata: JSONValue?) -> Bool {
        for condition in conditions {
            let field = metadata?[path: condition.path]
            if !Self.holds(condition.op, field, condition.value) { return false }
        }
        return true
    }

    static func holds(_ op: Operator, _ field: JSONValue?, _ operand: JSONValue) -> Bool {
        switch op {
        case .eq: return field.map { equal($0, operand) } ?? false
        case .ne: return field.map { !equal($0, operand) } ?? true
        case .in:
            guard let field, case .array(let items) = operand else { return false }
            return items.contains { equal(field, $0) }
        case .nin:
            guard let field, case .array(let items) = operand else { return true }
            return !items.contains { equal(field, $0) }
        case .lt, .lte, .gt, .gte:
            guard let field, let order = compare(field, operand) else { return false }
            switch op {
            case .lt: return order < 0
            case .lte: return order <= 0
            case .gt: return order > 0
            default: return order >= 0
            }
        }
    }

    /// Equality with numbers compared by value (1 equals 1.0).
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = number(a), let y = number(b) { return x == y }
        return a == b
    }

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let n): return Double(n)
        case .double(let n): return n
        default: return nil
        }
    }

    /// -1, 0 or 1 for two numbers or two strings; nil for anything else.
    static func compare(_ a: JSONValue, _ b: JSONValue) -> Int? {
        if let x = number(a), let y = number(b) { return x < y ? -1 : (x > y ? 1 : 0) }
        if case .string(let x) = a, case .string(let y) = b {
            return x.utf8.lexicographicallyPrecedes(y.utf8) ? -1 : (x == y ? 0 : 1)
        }
        return nil
    }
}
