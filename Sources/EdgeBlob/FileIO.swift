import EdgeCore
import Foundation

/// Small POSIX helpers for FileBlob: every failure becomes a ``BlobError`` naming the path.
enum FileIO {
    static func failure(_ what: String, _ path: String, key: String? = nil) -> BlobError {
        BlobError(.storageFailure, key: key, message: "\(what) \(path) failed: \(String(cString: strerror(errno)))")
    }

    static func createExclusive(_ path: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 { throw failure("creating", path) }
        return fd
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw failure("writing", path)
                }
                offset += written
            }
        }
    }

    static func sync(_ fd: Int32, path: String) throws {
        if fsync(fd) != 0 { throw failure("fsync of", path) }
    }

    static func openDirectory(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw failure("opening directory", path) }
        return fd
    }

    static func move(_ from: String, to: String) throws {
        if rename(from, to) != 0 { throw failure("renaming \(from) to", to) }
    }

    static func closeDescriptor(_ fd: Int32) {
        _ = close(fd)
    }

    static func remove(_ path: String) {
        unlink(path)
    }
}
