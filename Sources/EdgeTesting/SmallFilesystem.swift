import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A small file system of its own for disk-full tests: a `tmpfs` of a fixed size mounted on a new
/// directory (Linux, as root or with CAP_SYS_ADMIN), with a filler file that takes most of its
/// space, so a store under it runs out of space after a few writes, and gets it back when the
/// filler goes.
///
/// ```swift
/// let disk = try SmallFilesystem(megabytes: 16)
/// defer { disk.unmount() }
/// try disk.fill(leavingKilobytes: 512)
/// // ... write until ENOSPC, check the typed error and that nothing acknowledged is lost ...
/// try disk.freeFiller()
/// // ... writes succeed again ...
/// ```
public final class SmallFilesystem: Sendable {
    /// Where it is mounted; stores go in subdirectories.
    public let path: String

    /// Why a small file system could not be made here (not Linux, not privileged, no tmpfs);
    /// `nil` when it can. Tests skip with this reason.
    public static let unavailableReason: String? = {
        #if os(Linux)
            do {
                let probe = try SmallFilesystem(megabytes: 1)
                probe.unmount()
                return nil
            } catch {
                return "\(error)"
            }
        #else
            return "needs Linux tmpfs"
        #endif
    }()

    /// Mounts a `tmpfs` of `megabytes` MiB on a new directory under the temporary directory.
    ///
    /// - Throws: ``SmallFilesystemError`` when the mount is refused (not privileged).
    public init(megabytes: Int) throws {
        let directory = NSTemporaryDirectory() + "edge-small-fs-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard mount("tmpfs", directory, "tmpfs", 0, "size=\(megabytes)m,mode=0755") == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: directory)
            throw SmallFilesystemError(message: "cannot mount a \(megabytes) MiB tmpfs on \(directory): \(reason) (needs root or CAP_SYS_ADMIN)")
        }
        path = directory
    }

    private var filler: String { path + "/.filler" }

    /// Bytes free now.
    public var freeBytes: Int {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return 0 }
        return Int(stats.f_bavail) * Int(stats.f_frsize)
    }

    /// Writes a filler file that leaves about `leavingKilobytes` KiB free.
    ///
    /// - Throws: ``SmallFilesystemError`` when the filler cannot be written.
    public func fill(leavingKilobytes: Int) throws {
        let size = freeBytes - leavingKilobytes * 1024
        guard size > 0 else { return }
        let fd = open(filler, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { throw SmallFilesystemError(message: "cannot create \(filler)") }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x5A, count: 64 * 1024)
        var remaining = size
        while remaining > 0 {
            let count = min(remaining, chunk.count)
            let written = chunk.withUnsafeBytes { write(fd, $0.baseAddress, count) }
            guard written > 0 else { throw SmallFilesystemError(message: "filling \(path): \(String(cString: strerror(errno)))") }
            remaining -= written
        }
    }

    /// Removes the filler: the space it took is free again.
    ///
    /// - Throws: ``SmallFilesystemError`` when it cannot be removed.
    public func freeFiller() throws {
        guard unlink(filler) == 0 || errno == ENOENT else {
            throw SmallFilesystemError(message: "cannot remove \(filler): \(String(cString: strerror(errno)))")
        }
    }

    /// Unmounts it (lazily, so open files do not keep it busy) and removes the directory.
    public func unmount() {
        _ = umount2(path, Int32(MNT_DETACH))
        _ = rmdir(path)
    }
}

/// Calls `write` with 0, 1, 2, ... until it throws or `limit` calls returned: for filling a
/// ``SmallFilesystem``. Returns the indexes whose call returned (acknowledged writes) and the error
/// that stopped it (nil when all `limit` returned).
public func writeUntilFailure(limit: Int, _ write: (Int) async throws -> Void) async -> (written: [Int], failure: (any Error)?) {
    var written: [Int] = []
    for index in 0..<limit {
        do {
            try await write(index)
            written.append(index)
        } catch {
            return (written, error)
        }
    }
    return (written, nil)
}

/// A small file system could not be mounted.
public struct SmallFilesystemError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
