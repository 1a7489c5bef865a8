package import EdgeCore
import Foundation
import GRDBSQLite
import Synchronization

/// The write side of a SQLite database: one read-write connection, and group commit.
///
/// Each ``write(_:)`` runs its work inside a committed transaction. Writes that arrive while a
/// commit is in progress wait (suspended, not blocking a thread) and are then committed together
/// in one transaction — one fsync for the whole group — each inside its own savepoint, so one
/// failing write does not take the others down. A write that finds the writer idle commits at once
/// on the caller's thread, with no thread hop: a lone write costs what the raw C API costs.
///
/// When `write` returns, the transaction holding the work is committed (and, with
/// `synchronous = FULL`, fsynced). The thread that leads a commit is blocked for its duration,
/// exactly as a direct `sqlite3_step` of `COMMIT` would block it.
package final class SQLiteWriter: Sendable {
    package typealias Work = @Sendable (RawSQLiteConnection) throws -> any Sendable

    private enum Outcome: Sendable {
        case done(Result<any Sendable, any Error>)
        /// The waiter is the new leader: it commits the queued writes, its own among them.
        case lead
    }

    private struct Entry {
        let work: Work
        /// `nil` for the leader's own entry.
        var continuation: CheckedContinuation<Outcome, Never>?
    }

    private struct State {
        var leading = false
        var queue: [Entry] = []
        var closed = false
    }

    private let connection: RawSQLiteConnection
    private let state = Mutex(State())
    /// Most writes committed in one transaction.
    private let maxGroupSize: Int

    /// Opens a read-write connection to an existing database that is already in WAL mode.
    package init(path: String, settings: SQLiteSettings, maxGroupSize: Int = 1000) throws {
        connection = try RawSQLiteConnection(path: path, readOnly: false, busyTimeoutMilliseconds: settings.busyTimeoutMilliseconds)
        try connection.execute("PRAGMA synchronous = \(settings.synchronous.rawValue)")
        self.maxGroupSize = maxGroupSize
    }

    /// Runs `work` in a committed transaction and returns its result.
    ///
    /// - Throws: what `work` throws (its changes are rolled back), or ``SQLiteError`` when the
    ///   transaction cannot begin or commit (nothing of `work` is kept).
    package func write<T: Sendable>(_ work: @escaping @Sendable (RawSQLiteConnection) throws -> T) async throws -> T {
        let erased: Work = { connection in try work(connection) }
        let leadNow = state.withLock { state -> Bool in
            guard !state.leading else { return false }
            state.leading = true
            return true
        }
        let result: Result<any Sendable, any Error>
        if leadNow {
            result = lead(own: Entry(work: erased, continuation: nil))
        } else {
            let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                let promoted = state.withLock { state -> Bool in
                    if state.leading {
                        state.queue.append(Entry(work: erased, continuation: continuation))
                        return false
                    }
                    // The leader finished in the meantime: lead with this write at the front.
                    state.leading = true
                    state.queue.insert(Entry(work: erased, continuation: nil), at: 0)
                    return true
                }
                if promoted { continuation.resume(returning: .lead) }
            }
            switch outcome {
            case .done(let done): result = done
            case .lead: result = lead(own: nil)
            }
        }
        return try result.get() as! T
    }

    /// Commits the leader's own entry (when given) and everything queued, in groups, then hands
    /// leadership to the next waiter or gives it up. Returns the leader's own result.
    private func lead(own: Entry?) -> Result<any Sendable, any Error> {
        var batch: [Entry] = own.map { [$0] } ?? []
        state.withLock { state in
            let take = min(state.queue.count, maxGroupSize - batch.count)
            batch += state.queue.prefix(take)
            state.queue.removeFirst(take)
        }
        let results = commit(batch)
        var ownResult: Result<any Sendable, any Error> = .failure(SQLiteError(code: SQLITE_MISUSE, message: "leader without its own write"))
        for (entry, result) in zip(batch, results) {
            if let continuation = entry.continuation {
                continuation.resume(returning: .done(result))
            } else {
                ownResult = result
            }
        }
        // Hand over to the first waiter (it commits the rest on its own thread), or stop leading.
        let next = state.withLock { state -> CheckedContinuation<Outcome, Never>? in
            guard !state.queue.isEmpty else {
                state.leading = false
                return nil
            }
            let continuation = state.queue[0].continuation
            state.queue[0].continuation = nil
            return continuation
        }
        next?.resume(returning: .lead)
        return ownResult
    }

    /// Runs `batch` in one transaction, each entry in its own savepoint when there are several.
    private func commit(_ batch: [Entry]) -> [Result<any Sendable, any Error>] {
        if state.withLock({ $0.closed }) {
            return batch.map { _ in .failure(SQLiteError(code: SQLITE_MISUSE, message: "the database is closed")) }
        }
        do {
            try connection.run("BEGIN IMMEDIATE")
        } catch {
            return batch.map { _ in .failure(error) }
        }
        var results: [Result<any Sendable, any Error>] = []
        results.reserveCapacity(batch.count)
        if batch.count == 1 {
            do {
                results.append(.success(try batch[0].work(connection)))
            } catch {
                try? connection.execute("ROLLBACK")
                return [.failure(error)]
            }
        } else {
            for entry in batch {
                do {
                    try connection.run("SAVEPOINT edge_write")
                    let value = try entry.work(connection)
                    try connection.run("RELEASE edge_write")
                    results.append(.success(value))
                } catch {
                    try? connection.execute("ROLLBACK TO edge_write; RELEASE edge_write")
                    results.append(.failure(error))
                }
            }
        }
        do {
            try connection.run("COMMIT")
            return results
        } catch {
            try? connection.execute("ROLLBACK")
            return batch.map { _ in .failure(error) }
        }
    }

    /// Refuses further writes. Writes already committing finish.
    package func close() {
        state.withLock { $0.closed = true }
    }
}
