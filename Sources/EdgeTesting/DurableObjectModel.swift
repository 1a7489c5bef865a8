import EdgeCoordinator
import Foundation

/// Model-based checking of durable-object storage: random sequences of puts, deletes,
/// transactions (committed and rolled back), `deleteAll`, alarms, list ranges and restarts (a new
/// namespace on the same storage) run against a backend and against a plain dictionary. After
/// every operation each key and the alarm read the same from both, from a call on the object.
/// Operations are three small integers each (see ``KVModel``).
public enum DurableObjectModel {
    public static let keys = ["a", "b/0", "b/1", "b/2", "c", "é", "z"]

    public enum Operation: Sendable, CustomStringConvertible {
        case put(key: Int, value: Int)
        case putMany(first: Int, value: Int)
        case delete(key: Int)
        case deleteMany(first: Int)
        case transaction(first: Int, value: Int, commit: Bool)
        case deleteAll
        case list(start: Int?, startAfter: Int?, end: Int?, prefix: String?, reverse: Bool, limit: Int?)
        case setAlarm(inSeconds: Int)
        case deleteAlarm
        case restart

        /// Decodes (kind, key, parameter) codes: kind 0...10, key any, parameter 0...120.
        public init(_ code: (Int, Int, Int)) {
            let (kind, key, parameter) = code
            let index = abs(key) % DurableObjectModel.keys.count
            let count = DurableObjectModel.keys.count
            switch abs(kind) % 11 {
            case 0: self = .put(key: index, value: parameter)
            case 1: self = .putMany(first: index, value: parameter)
            case 2: self = .delete(key: index)
            case 3: self = .deleteMany(first: index)
            case 4: self = .transaction(first: index, value: parameter, commit: parameter % 3 != 0)
            case 5: self = parameter % 4 == 0 ? .deleteAll : .put(key: index, value: parameter)
            case 6:
                self = .list(
                    start: parameter % 5 == 1 ? index : nil, startAfter: parameter % 5 == 2 ? index : nil,
                    end: parameter % 7 < 3 ? (index + 1 + parameter % 3) % count : nil, prefix: parameter % 11 == 0 ? "b/" : nil,
                    reverse: parameter % 2 == 1, limit: parameter % 3 == 0 ? nil : 1 + parameter % 4)
            case 7: self = .setAlarm(inSeconds: parameter)
            case 8: self = .deleteAlarm
            case 9: self = .restart
            default: self = .put(key: index, value: -parameter)
            }
        }

        public var description: String {
            let k = DurableObjectModel.keys
            switch self {
            case .put(let key, let value): return "put(\(k[key]), \(value))"
            case .putMany(let first, let value): return "putMany(\(k[first]), \(k[(first + 1) % k.count]), \(value))"
            case .delete(let key): return "delete(\(k[key]))"
            case .deleteMany(let first): return "deleteMany(\(k[first]), \(k[(first + 1) % k.count]))"
            case .transaction(let first, let value, let commit):
                return "transaction(\(k[first]), \(k[(first + 1) % k.count]), \(value), \(commit ? "commit" : "roll back"))"
            case .deleteAll: return "deleteAll"
            case .list(let start, let startAfter, let end, let prefix, let reverse, let limit):
                return
                    "list(start \(start.map { k[$0] } ?? "-"), startAfter \(startAfter.map { k[$0] } ?? "-"), end \(end.map { k[$0] } ?? "-"), prefix \(prefix ?? "-"), \(reverse ? "reverse" : "forward"), limit \(limit.map(String.init) ?? "-"))"
            case .setAlarm(let seconds): return "setAlarm(+\(seconds) s)"
            case .deleteAlarm: return "deleteAlarm"
            case .restart: return "restart"
            }
        }
    }

    static func byteOrder(_ a: String, _ b: String) -> Bool { Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) }

    /// Runs `operations` on one object of a fresh namespace of `harness` and on the model.
    ///
    /// - Throws: ``ConformanceFailure`` at the first operation after which they differ (naming
    ///   the sequence so far), or what the backend threw.
    public static func check(_ operations: [Operation], on harness: CoordinatorConformance.Harness) async throws {
        struct Abort: Error {}
        let clock = TestClock()
        let name = "model-" + UUID().uuidString.prefix(8).lowercased()
        var namespace = try harness.open(name, clock, .init(), .init(clock: clock))
        let id = namespace.idFromName("model")
        var model: [String: Int] = [:]
        var alarm: Date?
        var done: [Operation] = []
        for operation in operations {
            done.append(operation)
            let context = "after \(done.map(\.description).joined(separator: "; "))"
            let stub = namespace.get(id)
            switch operation {
            case .put(let key, let value):
                try await stub.call { object in try await object.run { try $0.put(keys[key], value) } }
                model[keys[key]] = value
            case .putMany(let first, let value):
                let names = [keys[first], keys[(first + 1) % keys.count]]
                try await stub.call { object in try await object.run { storage in try storage.put(Dictionary(uniqueKeysWithValues: names.map { ($0, value) })) }
                }
                for name in names { model[name] = value }
            case .delete(let key):
                let existed = try await stub.call { object in try await object.run { try $0.delete(keys[key]) } }
                try Check.equal(existed, model[keys[key]] != nil, "delete(\(keys[key])) said whether it existed \(context)")
                model[keys[key]] = nil
            case .deleteMany(let first):
                let names = [keys[first], keys[(first + 1) % keys.count]]
                let deleted = try await stub.call { object in try await object.run { try $0.delete(names) } }
                try Check.equal(deleted, Set(names).filter { model[$0] != nil }.count, "deleteMany counted what existed \(context)")
                for name in names { model[name] = nil }
            case .transaction(let first, let value, let commit):
                let names = [keys[first], keys[(first + 1) % keys.count]]
                try await stub.call { object in
                    try await object.run { storage in
                        do {
                            try storage.transaction {
                                try storage.put(names[0], value)
                                _ = try storage.delete(names[1])
                                if !commit { throw Abort() }
                            }
                        } catch is Abort {}
                    }
                }
                if commit {
                    model[names[0]] = value
                    model[names[1]] = nil
                }
            case .deleteAll:
                try await stub.call { object in try await object.run { try $0.deleteAll() } }
                model = [:]
            case .list(let start, let startAfter, let end, let prefix, let reverse, let limit):
                let options = DurableObjectListOptions(
                    start: start.map { keys[$0] }, startAfter: startAfter.map { keys[$0] }, end: end.map { keys[$0] }, prefix: prefix,
                    reverse: reverse, limit: limit)
                let listed = try await stub.call { object in
                    try await object.run { storage in try storage.list(options, as: Int.self).map { [$0.key: $0.value] } }
                }
                var expected = model.keys.filter { key in
                    (options.start.map { !byteOrder(key, $0) } ?? true) && (options.startAfter.map { byteOrder($0, key) } ?? true)
                        && (options.end.map { byteOrder(key, $0) } ?? true) && (prefix.map(key.hasPrefix) ?? true)
                }.sorted(by: byteOrder)
                if reverse { expected.reverse() }
                if let limit { expected = Array(expected.prefix(limit)) }
                try Check.equal(listed, expected.map { [$0: model[$0]!] }, "\(operation) \(context)")
            case .setAlarm(let seconds):
                let time = clock.now.addingTimeInterval(Double(seconds))
                try await stub.call { object in try await object.schedule(time) }
                alarm = time
            case .deleteAlarm:
                try await stub.call { object in try await object.cancel() }
                alarm = nil
            case .restart:
                // Another process (or this one restarted) opens the same storage.
                namespace = try harness.open(name, clock, .init(), .init(clock: clock))
            }
            // Every key and the alarm read as the model says, from the object.
            let read = try await namespace.get(id).call { object in try await object.run { storage in try storage.get(keys, as: Int.self) } }
            try Check.equal(read, model, "the stored keys \(context)")
            let time = try await namespace.get(id).call { object in try await object.alarmTime() }
            try Check.equal(time, alarm, "the alarm \(context)")
        }
    }
}
