import Foundation

/// Durability and connection settings shared by every SQLite-backed binding.
///
/// The defaults give the durability the bindings promise: WAL journal, `synchronous = FULL`, so a
/// call that returned has been fsynced to the write-ahead log and survives a process crash and a
/// power loss.
public struct SQLiteSettings: Sendable, Hashable {
    /// SQLite's `PRAGMA synchronous` levels that are meaningful in WAL mode.
    public enum Synchronous: String, Sendable, Hashable {
        /// fsync the WAL on every commit: committed data survives process crashes and power loss.
        case full = "FULL"
        /// fsync only at checkpoints: committed data survives process crashes; the last commits may
        /// be lost on power loss. Faster writes; not the default.
        case normal = "NORMAL"
    }

    /// `PRAGMA synchronous`. Default `.full`.
    public var synchronous: Synchronous
    /// How long a connection waits for a lock held by another connection or process before failing
    /// with `SQLITE_BUSY`. Default 5 seconds.
    public var busyTimeout: Duration
    /// How many idle read connections are kept open for reuse. Default 4.
    public var maximumIdleReaders: Int

    public init(synchronous: Synchronous = .full, busyTimeout: Duration = .seconds(5), maximumIdleReaders: Int = 4) {
        self.synchronous = synchronous
        self.busyTimeout = busyTimeout
        self.maximumIdleReaders = maximumIdleReaders
    }

    /// ``busyTimeout`` in whole milliseconds, as SQLite takes it.
    package var busyTimeoutMilliseconds: Int32 {
        let (seconds, attoseconds) = busyTimeout.components
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
