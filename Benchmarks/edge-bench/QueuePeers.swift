import Foundation
import GRDBSQLite
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Messages handled so far, shared by a run's threads.
final class Handled: Sendable {
    let count = Atomic<Int>(0)
}

/// Runs role 0 (the producer) and roles 1...consumers (the consumers) each on a thread of its own
/// until all return; messages/s from the start to the last. A failing role stops the others.
func timeRoles(consumers: Int, messages: Int, handled: Handled, _ role: @escaping @Sendable (Int) throws -> Void) throws -> Double {
    let failures = Mutex<[String]>([])
    let finished = DispatchGroup()
    let start = seconds()
    for index in 0...consumers {
        finished.enter()
        Thread.detachNewThread {
            do {
                try role(index)
            } catch {
                failures.withLock { $0.append("\(error)") }
                handled.count.store(messages, ordering: .relaxed)
            }
            finished.leave()
        }
    }
    finished.wait()
    let elapsed = seconds() - start
    if let failure = failures.withLock({ $0.first }) { throw BenchError(message: failure) }
    return Double(messages) / elapsed
}

/// The best SQLite job table plain SQL gives: what a user who knows SQLite would write instead of
/// a queue library. The same file settings as SQLiteQueue (WAL, `synchronous = FULL`), the same
/// batches (100 per insert, claim and delete), the same shape of run (one producer sending while
/// the consumers drain), each on a thread of its own with its own connection; a consumer finding
/// nothing polls again after 1 ms.
enum JobTableQueue {
    static func open(_ path: String) throws -> OpaquePointer {
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let db else {
            throw BenchError(message: "cannot open \(path)")
        }
        sqlite3_busy_timeout(db, 10_000)
        sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;", nil, nil, nil)
        return db
    }

    static func prepare(_ db: OpaquePointer, _ sql: String) throws -> OpaquePointer {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw BenchError(message: "\(String(cString: sqlite3_errmsg(db))): \(sql)")
        }
        return statement
    }

    /// Inserts batches of 100: one multi-row INSERT (one transaction, one fsync) per batch.
    static func produce(_ path: String, messages: Int) throws {
        let db = try open(path)
        defer { sqlite3_close_v2(db) }
        let insert = try prepare(db, "INSERT INTO jobs (body) VALUES " + Array(repeating: "(?)", count: 100).joined(separator: ", "))
        defer { sqlite3_finalize(insert) }
        for base in stride(from: 0, to: messages, by: 100) {
            for offset in 0..<100 {
                var body = UInt64(base + offset)
                _ = withUnsafeBytes(of: &body) { sqlite3_bind_blob(insert, Int32(offset + 1), $0.baseAddress, 8, nil) }
            }
            guard sqlite3_step(insert) == SQLITE_DONE else { throw BenchError(message: String(cString: sqlite3_errmsg(db))) }
            sqlite3_reset(insert)
        }
    }

    /// Claims up to 100 due jobs with one UPDATE ... RETURNING (a lease of 60 s), handles them,
    /// deletes them with one DELETE; until `handled` reaches `messages`.
    static func consume(_ path: String, messages: Int, handled: Handled) throws {
        let db = try open(path)
        defer { sqlite3_close_v2(db) }
        let claim = try prepare(
            db,
            "UPDATE jobs SET lease_until = ?1 + 60000 WHERE id IN (SELECT id FROM jobs WHERE lease_until <= ?1 ORDER BY id LIMIT 100) RETURNING id, body")
        defer { sqlite3_finalize(claim) }
        var deletes: [Int: OpaquePointer] = [:]
        defer { for statement in deletes.values { sqlite3_finalize(statement) } }
        var ids: [Int64] = []
        var checksum: UInt64 = 0
        while handled.count.load(ordering: .relaxed) < messages {
            ids.removeAll(keepingCapacity: true)
            sqlite3_bind_int64(claim, 1, Int64(Date().timeIntervalSince1970 * 1000))
            while true {
                let step = sqlite3_step(claim)
                if step == SQLITE_DONE { break }
                guard step == SQLITE_ROW else { throw BenchError(message: String(cString: sqlite3_errmsg(db))) }
                ids.append(sqlite3_column_int64(claim, 0))
                if let bytes = sqlite3_column_blob(claim, 1) { checksum &+= bytes.load(as: UInt64.self) }
            }
            sqlite3_reset(claim)
            if ids.isEmpty {
                usleep(1000)
                continue
            }
            let delete: OpaquePointer
            if let prepared = deletes[ids.count] {
                delete = prepared
            } else {
                delete = try prepare(db, "DELETE FROM jobs WHERE id IN (" + Array(repeating: "?", count: ids.count).joined(separator: ", ") + ")")
                deletes[ids.count] = delete
            }
            for (index, id) in ids.enumerated() { sqlite3_bind_int64(delete, Int32(index + 1), id) }
            guard sqlite3_step(delete) == SQLITE_DONE else { throw BenchError(message: String(cString: sqlite3_errmsg(db))) }
            sqlite3_reset(delete)
            handled.count.add(ids.count, ordering: .relaxed)
        }
        if checksum == UInt64.max { print("") }  // keeps the reads
    }

    /// Messages/s from the first insert to the last delete.
    static func endToEnd(path: String, messages: Int, consumers: Int) throws -> Double {
        let setup = try open(path)
        sqlite3_exec(setup, "CREATE TABLE jobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL, lease_until INTEGER NOT NULL DEFAULT 0)", nil, nil, nil)
        sqlite3_close_v2(setup)
        let handled = Handled()
        return try timeRoles(consumers: consumers, messages: messages, handled: handled) { role in
            if role == 0 { try produce(path, messages: messages) } else { try consume(path, messages: messages, handled: handled) }
        }
    }
}

/// Redis Streams, as a user would run them durably: `redis-server` (Debian's) with `appendonly yes`
/// and `appendfsync always`; the producer pipelines 100 XADDs per batch, each consumer (one
/// connection, a thread of its own) reads 100 with XREADGROUP and acknowledges them with one XACK.
/// The client is a minimal RESP client written here (blocking sockets), so no language runtime's
/// overhead is on the peer's side.
enum RedisStreamsQueue {
    /// Starts a durable redis-server on a free port in `directory`; nil when it is not installed.
    static func start(directory: String) throws -> (process: Process, port: Int)? {
        let candidates = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        let port = Int.random(in: 40_000...50_000)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--port", "\(port)", "--bind", "127.0.0.1", "--dir", directory, "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--daemonize", "no", "--protected-mode", "no",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let connection = try? RESPConnection(port: port) {
                if (try? connection.command(["PING"])) != nil { return (process, port) }
            }
            usleep(20_000)
        }
        stop(process)
        throw BenchError(message: "redis-server did not answer on port \(port)")
    }

    /// Kills the server and waits for it. Not SIGTERM: the server inherits this process's blocked
    /// signals, SIGTERM among them, so it never received it and every run left one running.
    static func stop(_ process: Process) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Messages/s from the first XADD to the last XACK.
    static func endToEnd(port: Int, stream: String, messages: Int, consumers: Int) throws -> Double {
        let setup = try RESPConnection(port: port)
        _ = try setup.command(["XGROUP", "CREATE", stream, "g", "$", "MKSTREAM"])
        let handled = Handled()
        return try timeRoles(consumers: consumers, messages: messages, handled: handled) { role in
            let connection = try RESPConnection(port: port)
            if role == 0 {
                for base in stride(from: 0, to: messages, by: 100) {
                    let replies = try connection.pipeline((base..<base + 100).map { ["XADD", stream, "*", "b", "\($0)"] })
                    guard replies.count == 100 else { throw BenchError(message: "XADD answered \(replies.count) replies") }
                }
            } else {
                while handled.count.load(ordering: .relaxed) < messages {
                    let reply = try connection.command(["XREADGROUP", "GROUP", "g", "c\(role)", "COUNT", "100", "BLOCK", "1", "STREAMS", stream, ">"])
                    // [[stream, [[id, [field, value]], ...]]] or nil when nothing came.
                    guard case .array(let streams?) = reply, case .array(let parts?) = streams.first, parts.count == 2,
                        case .array(let entries?) = parts[1], !entries.isEmpty
                    else { continue }
                    let ids = entries.compactMap { entry -> String? in
                        guard case .array(let fields?) = entry, case .bulk(let id?) = fields.first else { return nil }
                        return String(decoding: id, as: UTF8.self)
                    }
                    _ = try connection.command(["XACK", stream, "g"] + ids)
                    handled.count.add(ids.count, ordering: .relaxed)
                }
            }
        }
    }
}

/// A RESP2 reply.
indirect enum RESPValue {
    case simple(String)
    case error(String)
    case integer(Int)
    case bulk([UInt8]?)
    case array([RESPValue]?)
}

/// One blocking connection to a Redis server on 127.0.0.1.
final class RESPConnection {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var position = 0

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError(message: "socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw BenchError(message: "cannot connect to redis on port \(port)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    func command(_ arguments: [String]) throws -> RESPValue {
        try pipeline([arguments])[0]
    }

    /// Sends every command in one write, then reads one reply per command.
    func pipeline(_ commands: [[String]]) throws -> [RESPValue] {
        var out: [UInt8] = []
        for arguments in commands {
            out += Array("*\(arguments.count)\r\n".utf8)
            for argument in arguments {
                let bytes = Array(argument.utf8)
                out += Array("$\(bytes.count)\r\n".utf8) + bytes + [13, 10]
            }
        }
        var sent = 0
        while sent < out.count {
            let written = out.withUnsafeBytes { write(fd, $0.baseAddress! + sent, out.count - sent) }
            guard written > 0 else { throw BenchError(message: "redis write failed") }
            sent += written
        }
        return try commands.map { _ in
            let reply = try read()
            if case .error(let message) = reply { throw BenchError(message: "redis: \(message)") }
            return reply
        }
    }

    private func fill() throws {
        if position > 0 && position == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            position = 0
        }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let got = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard got > 0 else { throw BenchError(message: "redis closed the connection") }
        buffer += chunk[0..<got]
    }

    private func line() throws -> String {
        while true {
            if let end = buffer[position...].firstIndex(of: 13), end + 1 < buffer.count {
                let text = String(decoding: buffer[position..<end], as: UTF8.self)
                position = end + 2
                return text
            }
            try fill()
        }
    }

    private func read() throws -> RESPValue {
        let header = try line()
        guard let kind = header.first else { throw BenchError(message: "empty redis reply") }
        let rest = String(header.dropFirst())
        switch kind {
        case "+": return .simple(rest)
        case "-": return .error(rest)
        case ":": return .integer(Int(rest) ?? 0)
        case "$":
            let length = Int(rest) ?? -1
            guard length >= 0 else { return .bulk(nil) }
            while buffer.count - position < length + 2 { try fill() }
            let bytes = Array(buffer[position..<position + length])
            position += length + 2
            return .bulk(bytes)
        case "*":
            let count = Int(rest) ?? -1
            guard count >= 0 else { return .array(nil) }
            return .array(try (0..<count).map { _ in try read() })
        default: throw BenchError(message: "unexpected redis reply \(header)")
        }
    }
}
