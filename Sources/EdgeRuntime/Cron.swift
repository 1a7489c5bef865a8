public import Foundation

/// A cron schedule of five fields — minute, hour, day of month, month, day of week — evaluated in
/// UTC, as Cloudflare's cron triggers are. Fields take `*`, numbers, ranges `a-b`, steps `*/n` and
/// `a-b/n`, lists `a,b`, and names (`JAN`…`DEC`, `SUN`…`SAT`; day of week 0 or 7 is Sunday).
/// When both day fields are restricted, a day matches if either matches (classic cron).
public struct CronSchedule: Sendable, Hashable, CustomStringConvertible {
    public struct ParseError: Error, Sendable {
        public var message: String
    }

    public let expression: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    public var description: String { expression }

    /// - Throws: ``ParseError`` saying which field is wrong and why.
    public init(_ expression: String) throws {
        let fields = expression.split(whereSeparator: \.isWhitespace).map(String.init)
        guard fields.count == 5 else {
            throw ParseError(message: "\"\(expression)\" has \(fields.count) fields; a cron expression has 5 (minute hour day-of-month month day-of-week)")
        }
        self.expression = expression
        minutes = try Self.field(fields[0], name: "minute", range: 0...59)
        hours = try Self.field(fields[1], name: "hour", range: 0...23)
        daysOfMonth = try Self.field(fields[2], name: "day-of-month", range: 1...31)
        months = try Self.field(
            fields[3], name: "month", range: 1...12,
            names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], firstName: 1)
        var weekdays = try Self.field(fields[4], name: "day-of-week", range: 0...7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], firstName: 0)
        if weekdays.remove(7) != nil { weekdays.insert(0) }
        daysOfWeek = weekdays
        dayOfMonthRestricted = fields[2] != "*"
        dayOfWeekRestricted = fields[4] != "*"
    }

    private static func field(_ text: String, name: String, range: ClosedRange<Int>, names: [String] = [], firstName: Int = 0) throws -> Set<Int> {
        func value(_ token: Substring) throws -> Int {
            if let number = Int(token) {
                guard range.contains(number) else { throw ParseError(message: "\(name) \(number) is outside \(range.lowerBound)-\(range.upperBound)") }
                return number
            }
            if let index = names.firstIndex(of: token.uppercased()) { return index + firstName }
            throw ParseError(message: "\"\(token)\" is not a valid \(name)")
        }
        var result: Set<Int> = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw ParseError(message: "empty item in the \(name) field \"\(text)\"") }
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw ParseError(message: "\"\(part)\" has more than one '/' in the \(name) field") }
            var step = 1
            if pieces.count == 2 {
                guard let parsed = Int(pieces[1]), parsed > 0 else {
                    throw ParseError(message: "step \"\(pieces[1])\" in the \(name) field must be a positive integer")
                }
                step = parsed
            }
            let base = pieces[0]
            var low: Int, high: Int
            if base == "*" {
                (low, high) = (range.lowerBound, range.upperBound)
            } else if let dash = base.firstIndex(of: "-") {
                low = try value(base[..<dash])
                high = try value(base[base.index(after: dash)...])
                guard low <= high else { throw ParseError(message: "range \(base) in the \(name) field runs backwards") }
            } else {
                low = try value(base)
                high = pieces.count == 2 ? range.upperBound : low
            }
            result.formUnion(stride(from: low, through: high, by: step))
        }
        return result
    }

    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// Whether the schedule fires in the minute containing `date`.
    public func matches(_ date: Date) -> Bool {
        let parts = Self.utc.dateComponents([.minute, .hour, .day, .month, .weekday], from: date)
        guard let minute = parts.minute, let hour = parts.hour, let day = parts.day, let month = parts.month, let weekday = parts.weekday else { return false }
        guard minutes.contains(minute), hours.contains(hour), months.contains(month) else { return false }
        let dayOfMonth = daysOfMonth.contains(day)
        let dayOfWeek = daysOfWeek.contains(weekday - 1)
        if dayOfMonthRestricted && dayOfWeekRestricted { return dayOfMonth || dayOfWeek }
        return dayOfMonth && dayOfWeek
    }

    /// The first minute strictly after `date` at which the schedule fires (within 5 years), or `nil`.
    public func nextFire(after date: Date) -> Date? {
        var candidate = Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60)
        let limit = date.addingTimeInterval(5 * 366 * 86_400)
        while candidate < limit {
            let parts = Self.utc.dateComponents([.minute, .hour, .month], from: candidate)
            if !months.contains(parts.month ?? 0) {
                // Jump to the first minute of the next month.
                var next = Self.utc.dateComponents([.year, .month], from: candidate)
                next.month! += 1
                candidate = Self.utc.date(from: next)!
                continue
            }
            if matches(candidate) { return candidate }
            if !hours.contains(parts.hour ?? 0) {
                candidate = Date(timeIntervalSince1970: (candidate.timeIntervalSince1970 / 3600).rounded(.down) * 3600 + 3600)
            } else {
                candidate = candidate.addingTimeInterval(60)
            }
        }
        return nil
    }
}
