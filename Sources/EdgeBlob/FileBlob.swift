import EdgeCore
import EdgeSQLite
import EdgeSystem
public import Foundation
import GRDB
public import Logging
import Synchronization

/// The durable ``BlobBucket``: object bodies in files, metadata in SQLite, under
/// `<state>/blob/<bucket>/`.
///
/// - Body files are named by random ids (`objects/<version>`, `parts/<id>`), never by keys, so any
///   key — `../x`, `a/../b`, NUL bytes, 1024 bytes long — is only a row in SQLite.
/// - A put streams the body into `tmp/`, fsyncs it, renames it into `objects/`, fsyncs that
///   directory, and only then commits the metadata row. Readers see the old object or the new one,
///   never a mix: body files are never modified, and a reader keeps the file it opened even when
///   it is replaced meanwhile. Overwritten and deleted bodies are unlinked after the commit.
/// - Opening a bucket that no other process has open removes what a crash can leave behind: files
///   in `tmp/`, and bodies no metadata row refers to.
/// - File I/O runs on the calling task's thread (like the SQLite calls it is paired with).
public final class FileBlob: BlobBucket {
    public struct Configuration: Sendable {
        public var limits: BlobLimits
        /// The clock `uploaded` dates and upload ages are read from.
        public var clock: any EdgeClock
        /// SQLite settings of the metadata database.
        public var sqlite: SQLiteSettings
        /// Incomplete multipart uploads older than this are removed when the bucket opens, when an
        /// upload is created, and by ``cleanUpIncompleteUploads()``. Default 7 days.
        public var maxUploadAge: TimeInterval
        /// Size of the chunks a body stream yields. Default 1 MiB.
        public var readChunkSize: Int
        public var logger: Logger

        public init(
            limits: BlobLimits = .r2, clock: any EdgeClock = SystemClock(), sqlite: SQLiteSettings = SQLiteSettings(),
            maxUploadAge: TimeInterval = 7 * 86_400, readChunkSize: Int = 1 << 20, logger: Logger = Logger(label: "swift-edge.blob")
        ) {
            self.limits = limits
            self.clock = clock
            self.sqlite = sqlite
            self.maxUploadAge = maxUploadAge
            self.readChunkSize = readChunkSize
            self.logger = logger
        }
    }

    /// The bucket's directory.
    public let directory: String
    public let configuration: Configuration
    private let objectsPath: String
    private let partsPath: String
    private let tmpPath: String
    private let objectsDirectory: Int32
    private let partsDirectory: Int32
    private let lockDescriptor: Int32
    private let writer: SQLiteWriter
    private let readers: SQLiteReaderPool

    /// Opens (creating if needed) the bucket stored in `directory`.
    ///
    /// - Throws: ``BlobError`` `.storageFailure` when the directory or its database cannot be opened.
    public init(directory: String, configuration: Configuration = Configuration()) throws {
        self.directory = directory
        self.configuration = configuration
        objectsPath = directory + "/objects"
        partsPath = directory + "/parts"
        tmpPath = directory + "/tmp"
        let database = directory + "/meta.sqlite"
        do {
            for path in [objectsPath, partsPath, tmpPath] {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            }
            let setup = try SQLiteDatabase.openQueue(path: database, settings: configuration.sqlite, label: "FileBlob", migrator: Self.migrator)
            // Crash leftovers are removed only when no other process has the bucket open.
            lockDescriptor = open(directory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            if lockDescriptor < 0 { throw FileIO.failure("opening", directory + "/lock") }
            if flock(lockDescriptor, LOCK_EX | LOCK_NB) == 0 {
                try Self.removeLeftovers(
                    setup: setup, objects: objectsPath, parts: partsPath, tmp: tmpPath,
                    cutoff: configuration.clock.now.addingTimeInterval(-configuration.maxUploadAge), logger: configuration.logger)
            }
            flock(lockDescriptor, LOCK_SH)
            try setup.close()
            objectsDirectory = try FileIO.openDirectory(objectsPath)
            partsDirectory = try FileIO.openDirectory(partsPath)
            writer = try SQLiteWriter(path: database, settings: configuration.sqlite)
        } catch {
            throw BlobError(.storageFailure, message: "cannot open blob bucket at \(directory): \(error)")
        }
        readers = SQLiteReaderPool(path: database, settings: configuration.sqlite)
    }

    /// Opens the bucket `name` under a state directory: `<stateDirectory>/blob/<name>/`.
    ///
    /// - Throws: ``BlobError`` `.invalidBucketName` unless `name` is 1...63 letters, digits, `-`,
    ///   `_` or `.` (not starting with `.`), or `.storageFailure`.
    public convenience init(bucket name: String, stateDirectory: String, configuration: Configuration = Configuration()) throws {
        guard ByteKeys.isSafeResourceName(name, maxLength: 63) else {
            throw BlobError(
                .invalidBucketName, limit: 63, actual: name.utf8.count,
                message: "bucket name \"\(name)\" must be 1...63 letters, digits, '-', '_' or '.', not starting with '.'")
        }
        try self.init(
            directory: URL(fileURLWithPath: stateDirectory).appendingPathComponent("blob").appendingPathComponent(name).path, configuration: configuration)
    }

    deinit {
        FileIO.closeDescriptor(objectsDirectory)
        FileIO.closeDescriptor(partsDirectory)
        FileIO.closeDescriptor(lockDescriptor)
    }

    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE objects (
                        key TEXT NOT NULL PRIMARY KEY,
                        version TEXT NOT NULL,
                        file TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        etag TEXT NOT NULL,
                        uploaded INTEGER NOT NULL,
                        md5 BLOB,
                        sha256 BLOB,
                        http_metadata TEXT NOT NULL,
                        custom_metadata TEXT NOT NULL
                    );
                    CREATE TABLE uploads (
                        upload_id TEXT NOT NULL PRIMARY KEY,
                        key TEXT NOT NULL,
                        created INTEGER NOT NULL,
                        http_metadata TEXT NOT NULL,
                        custom_metadata TEXT NOT NULL
                    );
                    CREATE TABLE parts (
                        upload_id TEXT NOT NULL,
                        part_number INTEGER NOT NULL,
                        file TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        md5 BLOB NOT NULL,
                        PRIMARY KEY (upload_id, part_number)
                    );
                    """)
        }
        return migrator
    }()

    private static func removeLeftovers(setup: DatabaseQueue, objects: String, parts: String, tmp: String, cutoff: Date, logger: Logger) throws {
        let (objectFiles, partFiles) = try setup.write { db -> (Set<String>, Set<String>) in
            let stale = try String.fetchAll(db, sql: "SELECT upload_id FROM uploads WHERE created <= ?", arguments: [cutoff.millisecondsSince1970])
            for id in stale {
                try db.execute(sql: "DELETE FROM parts WHERE upload_id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM uploads WHERE upload_id = ?", arguments: [id])
            }
            var objectFiles = Set<String>()
            var partFiles = Set(try String.fetchAll(db, sql: "SELECT file FROM parts"))
            for column in try String.fetchAll(db, sql: "SELECT file FROM objects") {
                switch BodyFiles(column: column) {
                case .single(let name): objectFiles.insert(name)
                case .parts(let parts): partFiles.formUnion(parts.map(\.name))
                }
            }
            return (objectFiles, partFiles)
        }
        var removed = 0
        for (path, keep) in [(objects, objectFiles), (parts, partFiles), (tmp, Set<String>())] {
            for name in try FileManager.default.contentsOfDirectory(atPath: path) where !keep.contains(name) {
                FileIO.remove(path + "/" + name)
                removed += 1
            }
        }
        if removed > 0 { logger.info("removed files left by an interrupted write", metadata: ["count": "\(removed)"]) }
    }

    public var limits: BlobLimits { configuration.limits }

    // MARK: Writing bodies

    /// Chunks at least this large are hashed while they are written.
    static let overlapChunkBytes = 256 * 1024

    /// Writeback to disk is started every this many bytes of a body.
    static let writebackBytes = 2 << 20

    /// Streams `body` into a new file in `tmp/`, fsynced, and returns its path and digests.
    private func spool(_ body: BlobBody, key: String, part: Bool, checksum: BlobChecksum?) async throws -> (path: String, checksums: BlobChecksums, size: Int) {
        let path = tmpPath + "/" + newIdentifier()
        let fd = try FileIO.createExclusive(path)
        var digests = BodyDigests(sha256: checksum?.wantsSHA256 ?? false)
        var descriptorOpen = true
        var writebackStarted = 0
        do {
            try await body.forEachChunk(key: key) { chunk in
                let size = digests.size + chunk.count
                if part { try limits.checkPartSize(size, key: key) } else { try limits.checkPutSize(size, key: key) }
                if chunk.count >= Self.overlapChunkBytes {
                    // A large chunk is written by a child task while this one hashes it: the
                    // MD5 (R2's etag) and the write overlap instead of adding up.
                    async let written: Void = FileIO.writeAll(fd, chunk, path: path)
                    digests.update(chunk)
                    try await written
                } else {
                    digests.update(chunk)
                    try FileIO.writeAll(fd, chunk, path: path)
                }
                // Start writing what is written back to disk now, so the fsync at the end
                // waits for the last few mebibytes instead of the whole body.
                if digests.size - writebackStarted >= Self.writebackBytes {
                    _ = edge_start_writeback(fd, Int64(writebackStarted), Int64(digests.size - writebackStarted))
                    writebackStarted = digests.size
                }
            }
            try FileIO.sync(fd, path: path)
            FileIO.closeDescriptor(fd)
            descriptorOpen = false
            let checksums = digests.finish()
            try checksum?.verify(checksums, key: key)
            return (path, checksums, digests.size)
        } catch {
            if descriptorOpen { FileIO.closeDescriptor(fd) }
            FileIO.remove(path)
            throw error
        }
    }

    /// Moves a spooled file into `directory` under a new name, durably. On failure the spooled
    /// file is removed.
    private func install(_ spooled: String, into directory: String, directoryDescriptor: Int32, name: String, key: String) throws -> String {
        let destination = directory + "/" + name
        do {
            try FileIO.move(spooled, to: destination)
            try FileIO.sync(directoryDescriptor, path: directory)
            return destination
        } catch {
            FileIO.remove(spooled)
            FileIO.remove(destination)
            throw BlobError.storage(error, key: key)
        }
    }

    private struct ConditionFailed: Error {}

    public func put(_ key: String, body: BlobBody, options: BlobPutOptions) async throws -> BlobObject? {
        try limits.validatePut(key: key, options: options)
        if let condition = options.onlyIf, !condition.holds(for: try await head(key)) { return nil }
        let spooled = try await spool(body, key: key, part: false, checksum: options.checksum)
        let version = newIdentifier()
        let object = BlobObject(
            key: key, version: version, size: spooled.size, etag: hex(spooled.checksums.md5 ?? []),
            uploaded: configuration.clock.now.wholeMilliseconds, checksums: spooled.checksums,
            httpMetadata: options.httpMetadata, customMetadata: options.customMetadata)
        let installed = try install(spooled.path, into: objectsPath, directoryDescriptor: objectsDirectory, name: version, key: key)
        let row = try ObjectRow(object, file: version)
        do {
            let replaced = try await writer.write { connection -> String? in
                let current = try Self.objectRow(key, on: connection)
                if let condition = options.onlyIf, !condition.holds(for: current?.object) { throw ConditionFailed() }
                try row.upsert(on: connection)
                return current?.file
            }
            if let replaced { removeBody(replaced) }
            return object
        } catch is ConditionFailed {
            FileIO.remove(installed)
            return nil
        } catch {
            FileIO.remove(installed)
            throw BlobError.storage(error, key: key)
        }
    }

    // MARK: Reading

    public func head(_ key: String) async throws -> BlobObject? {
        try limits.validateKey(key)
        do {
            return try readers.read { connection in try Self.objectRow(key, on: connection)?.object }
        } catch {
            throw BlobError.storage(error, key: key)
        }
    }

    public func get(_ key: String, options: BlobGetOptions) async throws -> BlobGetResult? {
        try limits.validateKey(key)
        // A concurrent overwrite may unlink the file between the metadata read and the open: read again.
        for _ in 0..<5 {
            let row: ObjectRow?
            do {
                row = try readers.read { connection in try Self.objectRow(key, on: connection) }
            } catch {
                throw BlobError.storage(error, key: key)
            }
            guard let row else { return nil }
            var object = row.object
            if let condition = options.onlyIf, !condition.holds(for: object) { return BlobGetResult(object: object, body: nil) }
            let range = try options.range.map { try $0.resolve(size: object.size, key: key) }
            object.range = range
            let served = range ?? ResolvedRange(offset: 0, length: object.size)
            guard let reader = try openBody(row.file, size: object.size, served: served, key: key) else { continue }
            return BlobGetResult(object: object, body: BlobStream(source: .file(reader), chunkSize: configuration.readChunkSize))
        }
        throw BlobError(.storageFailure, key: key, message: "the body of key \(ByteKeys.describe(key)) kept changing while it was opened")
    }

    // MARK: Deleting and listing

    public func delete(_ keys: [String]) async throws {
        if keys.count > limits.maxDeleteKeys {
            throw BlobError(
                .tooManyKeys, limit: limits.maxDeleteKeys, actual: keys.count, message: "delete names \(keys.count) keys; the limit is \(limits.maxDeleteKeys)")
        }
        for key in keys { try limits.validateKey(key) }
        do {
            let files = try await writer.write { connection -> [String] in
                var files: [String] = []
                for key in keys {
                    if let row = try Self.objectRow(key, on: connection) {
                        files.append(row.file)
                        let statement = try connection.statement("DELETE FROM objects WHERE key = ?")
                        statement.bind(1, key)
                        try statement.run()
                    }
                }
                return files
            }
            for file in files { removeBody(file) }
        } catch {
            throw BlobError.storage(error)
        }
    }

    public func list(_ options: BlobListOptions) async throws -> BlobListResult {
        let plan = try limits.planList(options)
        do {
            return try readers.readSnapshot { connection in
                try runList(plan) { lower, upper, count in
                    let statement =
                        try upper == nil
                        ? connection.statement("SELECT \(ObjectRow.columns) FROM objects WHERE key >= ?1 ORDER BY key LIMIT ?2")
                        : connection.statement("SELECT \(ObjectRow.columns) FROM objects WHERE key >= ?1 AND key < ?3 ORDER BY key LIMIT ?2")
                    defer { statement.reset() }
                    statement.bindTextBytes(1, lower)
                    statement.bind(2, Int64(count))
                    if let upper { statement.bindTextBytes(3, upper) }
                    var rows: [ListedRow] = []
                    while try statement.step() {
                        let row = try ObjectRow(statement)
                        rows.append(ListedRow(key: Array(row.object.key.utf8), object: row.object))
                    }
                    return rows
                }
            }
        } catch {
            throw BlobError.storage(error)
        }
    }

    // MARK: Multipart

    public func createMultipartUpload(_ key: String, options: BlobMultipartOptions) async throws -> BlobMultipartUpload {
        try limits.validateKey(key)
        try limits.validateMetadata(options.customMetadata, key: key)
        try await cleanUpIncompleteUploads()
        let id = newIdentifier()
        let created = configuration.clock.now.millisecondsSince1970
        let http = try encodeJSON(options.httpMetadata)
        let custom = try encodeJSON(options.customMetadata)
        do {
            try await writer.write { connection in
                let statement = try connection.statement("INSERT INTO uploads (upload_id, key, created, http_metadata, custom_metadata) VALUES (?, ?, ?, ?, ?)")
                statement.bind(1, id)
                statement.bind(2, key)
                statement.bind(3, created)
                statement.bind(4, http)
                statement.bind(5, custom)
                try statement.run()
            }
        } catch {
            throw BlobError.storage(error, key: key)
        }
        return BlobMultipartUpload(bucket: self, key: key, uploadId: id)
    }

    private func noSuchUpload(_ uploadId: String, key: String) -> BlobError {
        BlobError(
            .noSuchUpload, key: key,
            message: "there is no multipart upload \(uploadId) of key \(ByteKeys.describe(key)) (never created, completed, aborted or expired)")
    }

    private static func uploadExists(_ uploadId: String, key: String, on connection: RawSQLiteConnection) throws -> Bool {
        let statement = try connection.statement("SELECT 1 FROM uploads WHERE upload_id = ? AND key = ?")
        defer { statement.reset() }
        statement.bind(1, uploadId)
        statement.bind(2, key)
        return try statement.step()
    }

    /// The parts of an upload; each part's `uploaded` is the upload's start.
    public func listParts(key: String, uploadId: String) async throws -> [BlobPartInfo] {
        let missing = noSuchUpload(uploadId, key: key)
        do {
            return try readers.readSnapshot { connection in
                let upload = try connection.statement("SELECT created FROM uploads WHERE upload_id = ? AND key = ?")
                defer { upload.reset() }
                upload.bind(1, uploadId)
                upload.bind(2, key)
                guard try upload.step() else { throw missing }
                let created = Date(timeIntervalSince1970: Double(upload.int64(0)) / 1000)
                let statement = try connection.statement("SELECT part_number, size, md5 FROM parts WHERE upload_id = ? ORDER BY part_number")
                defer { statement.reset() }
                statement.bind(1, uploadId)
                var parts: [BlobPartInfo] = []
                while try statement.step() {
                    parts.append(
                        BlobPartInfo(partNumber: Int(statement.int64(0)), etag: hex(statement.bytes(2)), size: Int(statement.int64(1)), uploaded: created))
                }
                return parts
            }
        } catch {
            throw BlobError.storage(error, key: key)
        }
    }

    public func listMultipartUploads(prefix: String?) async throws -> [BlobPendingUpload] {
        do {
            let all = try readers.read { connection in
                let statement = try connection.statement("SELECT key, upload_id, created FROM uploads")
                defer { statement.reset() }
                var uploads: [BlobPendingUpload] = []
                while try statement.step() {
                    uploads.append(
                        BlobPendingUpload(
                            key: statement.string(0), uploadId: statement.string(1), initiated: Date(timeIntervalSince1970: Double(statement.int64(2)) / 1000)))
                }
                return uploads
            }
            return all.filter { prefix == nil || $0.key.utf8.starts(with: prefix!.utf8) }
                .sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) || ($0.key == $1.key && $0.initiated < $1.initiated) }
        } catch {
            throw BlobError.storage(error)
        }
    }

    public func uploadPart(key: String, uploadId: String, partNumber: Int, body: BlobBody) async throws -> BlobUploadedPart {
        try limits.validatePartNumber(partNumber, key: key)
        guard try readers.read({ try Self.uploadExists(uploadId, key: key, on: $0) }) else { throw noSuchUpload(uploadId, key: key) }
        let spooled = try await spool(body, key: key, part: true, checksum: nil)
        let name = newIdentifier()
        let installed = try install(spooled.path, into: partsPath, directoryDescriptor: partsDirectory, name: name, key: key)
        let md5 = spooled.checksums.md5 ?? []
        let size = spooled.size
        let missing = noSuchUpload(uploadId, key: key)
        do {
            let replaced = try await writer.write { connection -> String? in
                guard try Self.uploadExists(uploadId, key: key, on: connection) else { throw missing }
                let old = try connection.statement("SELECT file FROM parts WHERE upload_id = ? AND part_number = ?")
                old.bind(1, uploadId)
                old.bind(2, Int64(partNumber))
                let replaced = try old.step() ? old.string(0) : nil
                old.reset()
                let statement = try connection.statement("INSERT OR REPLACE INTO parts (upload_id, part_number, file, size, md5) VALUES (?, ?, ?, ?, ?)")
                statement.bind(1, uploadId)
                statement.bind(2, Int64(partNumber))
                statement.bind(3, name)
                statement.bind(4, Int64(size))
                statement.bindBlob(5, md5)
                try statement.run()
                return replaced
            }
            if let replaced { FileIO.remove(partsPath + "/" + replaced) }
        } catch {
            FileIO.remove(installed)
            throw BlobError.storage(error, key: key)
        }
        return BlobUploadedPart(partNumber: partNumber, etag: hex(md5))
    }

    private struct StoredPart {
        var file: String
        var size: Int
        var md5: [UInt8]
    }

    public func completeMultipartUpload(key: String, uploadId: String, parts: [BlobUploadedPart]) async throws -> BlobObject {
        let missing = noSuchUpload(uploadId, key: key)
        let (options, stored): (BlobMultipartOptions, [Int: StoredPart])
        do {
            (options, stored) = try readers.readSnapshot { connection in
                let upload = try connection.statement("SELECT http_metadata, custom_metadata FROM uploads WHERE upload_id = ? AND key = ?")
                defer { upload.reset() }
                upload.bind(1, uploadId)
                upload.bind(2, key)
                guard try upload.step() else { throw missing }
                let options = BlobMultipartOptions(httpMetadata: try decodeJSON(upload.string(0)), customMetadata: try decodeJSON(upload.string(1)))
                let statement = try connection.statement("SELECT part_number, file, size, md5 FROM parts WHERE upload_id = ?")
                defer { statement.reset() }
                statement.bind(1, uploadId)
                var stored: [Int: StoredPart] = [:]
                while try statement.step() {
                    stored[Int(statement.int64(0))] = StoredPart(file: statement.string(1), size: Int(statement.int64(2)), md5: statement.bytes(3))
                }
                return (options, stored)
            }
        } catch {
            throw BlobError.storage(error, key: key)
        }
        let chosen = try limits.validateCompletion(key: key, parts: parts, uploaded: stored, etag: { hex($0.md5) }, size: \.size)

        // The object is its part files, in order: each was fsynced when it was uploaded, so
        // completing is one transaction and no byte is copied.
        let version = newIdentifier()
        let object = BlobObject(
            key: key, version: version, size: chosen.reduce(0) { $0 + $1.size }, etag: multipartETag(partMD5s: chosen.map(\.md5)),
            uploaded: configuration.clock.now.wholeMilliseconds, checksums: BlobChecksums(),
            httpMetadata: options.httpMetadata, customMetadata: options.customMetadata)
        let body = BodyFiles.parts(chosen.map { BodyFiles.Part(name: $0.file, size: $0.size) })
        let row = try ObjectRow(object, file: body.column)
        do {
            let (replaced, partFiles) = try await writer.write { connection -> (String?, [String]) in
                guard try Self.uploadExists(uploadId, key: key, on: connection) else { throw missing }
                // A part uploaded again since the check above has another file: the parts read
                // then must still be the upload's, or the object would name a removed file.
                let check = try connection.statement("SELECT file FROM parts WHERE upload_id = ? AND part_number = ?")
                defer { check.reset() }
                for (part, stored) in zip(parts, chosen) {
                    check.reset()
                    check.bind(1, uploadId)
                    check.bind(2, Int64(part.partNumber))
                    guard try check.step(), check.string(0) == stored.file else {
                        throw BlobError(
                            .invalidPart, key: key, actual: part.partNumber,
                            message: "part \(part.partNumber) of key \(ByteKeys.describe(key)) was uploaded again while the upload was being completed")
                    }
                }
                let current = try Self.objectRow(key, on: connection)
                try row.upsert(on: connection)
                let files = try Self.dropUpload(uploadId, on: connection)
                return (current?.file, files)
            }
            if let replaced { removeBody(replaced) }
            let kept = Set(chosen.map(\.file))
            for file in partFiles where !kept.contains(file) { FileIO.remove(partsPath + "/" + file) }
            return object
        } catch let error as BlobError {
            throw error
        } catch {
            throw BlobError.storage(error, key: key)
        }
    }

    /// Removes the files of a body that no row references any more.
    private func removeBody(_ column: String) {
        switch BodyFiles(column: column) {
        case .single(let name): FileIO.remove(objectsPath + "/" + name)
        case .parts(let parts): for part in parts { FileIO.remove(partsPath + "/" + part.name) }
        }
    }

    /// Opens the files of a body that `served` reads (only the parts it overlaps); `nil` when
    /// one was removed meanwhile (an overwrite or a delete won the race: read the row again).
    /// The reader keeps them open, so it reads this version whatever happens to the key.
    private func openBody(_ column: String, size: Int, served: ResolvedRange, key: String) throws -> BlobFileReader? {
        let files: [(path: String, size: Int)] =
            switch BodyFiles(column: column) {
            case .single(let name): [(objectsPath + "/" + name, size)]
            case .parts(let parts): parts.map { (partsPath + "/" + $0.name, $0.size) }
            }
        var segments: [BlobFileReader.Segment] = []
        var fileStart = 0
        do {
            for file in files {
                defer { fileStart += file.size }
                let from = max(served.offset, fileStart)
                let to = min(served.offset + served.length, fileStart + file.size)
                guard from < to else { continue }
                let fd = open(file.path, O_RDONLY | O_CLOEXEC)
                if fd < 0 {
                    if errno == ENOENT {
                        for segment in segments { FileIO.closeDescriptor(segment.descriptor) }
                        return nil
                    }
                    throw FileIO.failure("opening the body of key \(ByteKeys.describe(key)) at", file.path, key: key)
                }
                segments.append(BlobFileReader.Segment(descriptor: fd, start: from - fileStart, length: to - from))
                var info = stat()
                guard fstat(fd, &info) == 0, Int(info.st_size) == file.size else {
                    throw BlobError(
                        .storageFailure, key: key, limit: file.size, actual: Int(info.st_size),
                        message: "the body file \(file.path) of key \(ByteKeys.describe(key)) is \(info.st_size) bytes; its metadata says \(file.size)")
                }
            }
        } catch {
            for segment in segments { FileIO.closeDescriptor(segment.descriptor) }
            throw error
        }
        return BlobFileReader(segments: segments, key: key)
    }

    /// Deletes an upload's rows; returns its part files.
    private static func dropUpload(_ uploadId: String, on connection: RawSQLiteConnection) throws -> [String] {
        let select = try connection.statement("SELECT file FROM parts WHERE upload_id = ?")
        select.bind(1, uploadId)
        var files: [String] = []
        while try select.step() { files.append(select.string(0)) }
        select.reset()
        for sql in ["DELETE FROM parts WHERE upload_id = ?", "DELETE FROM uploads WHERE upload_id = ?"] {
            let statement = try connection.statement(sql)
            statement.bind(1, uploadId)
            try statement.run()
        }
        return files
    }

    public func abortMultipartUpload(key: String, uploadId: String) async throws {
        do {
            let files = try await writer.write { connection -> [String] in
                guard try Self.uploadExists(uploadId, key: key, on: connection) else { return [] }
                return try Self.dropUpload(uploadId, on: connection)
            }
            for file in files { FileIO.remove(partsPath + "/" + file) }
        } catch {
            throw BlobError.storage(error, key: key)
        }
    }

    @discardableResult
    public func cleanUpIncompleteUploads() async throws -> Int {
        let cutoff = configuration.clock.now.addingTimeInterval(-configuration.maxUploadAge).millisecondsSince1970
        do {
            let (count, files) = try await writer.write { connection -> (Int, [String]) in
                let select = try connection.statement("SELECT upload_id FROM uploads WHERE created <= ?")
                select.bind(1, cutoff)
                var ids: [String] = []
                while try select.step() { ids.append(select.string(0)) }
                select.reset()
                var files: [String] = []
                for id in ids { files += try Self.dropUpload(id, on: connection) }
                return (ids.count, files)
            }
            for file in files { FileIO.remove(partsPath + "/" + file) }
            return count
        } catch {
            throw BlobError.storage(error)
        }
    }

    /// How many multipart uploads are in progress.
    ///
    /// - Throws: ``BlobError`` `.storageFailure`.
    public func incompleteUploadCount() throws -> Int {
        do {
            return try readers.read { connection in
                let statement = try connection.statement("SELECT count(*) FROM uploads")
                defer { statement.reset() }
                _ = try statement.step()
                return Int(statement.int64(0))
            }
        } catch {
            throw BlobError.storage(error)
        }
    }

    /// Closes the bucket's database connections; later calls throw ``BlobError`` `.storageFailure`.
    public func close() {
        readers.close()
        writer.close()
    }

    // MARK: Rows

    private static func objectRow(_ key: String, on connection: RawSQLiteConnection) throws -> ObjectRow? {
        let statement = try connection.statement("SELECT \(ObjectRow.columns) FROM objects WHERE key = ?")
        defer { statement.reset() }
        statement.bind(1, key)
        return try statement.step() ? ObjectRow(statement) : nil
    }
}

/// An `objects` row.
private struct ObjectRow: Sendable {
    static let columns = "key, version, file, size, etag, uploaded, md5, sha256, http_metadata, custom_metadata"

    var object: BlobObject
    var file: String
    var httpJSON: String
    var customJSON: String

    init(_ object: BlobObject, file: String) throws {
        self.object = object
        self.file = file
        httpJSON = try encodeJSON(object.httpMetadata)
        customJSON = try encodeJSON(object.customMetadata)
    }

    init(_ statement: RawSQLiteStatement) throws {
        httpJSON = statement.string(8)
        customJSON = statement.string(9)
        file = statement.string(2)
        object = BlobObject(
            key: statement.string(0), version: statement.string(1), size: Int(statement.int64(3)), etag: statement.string(4),
            uploaded: Date(timeIntervalSince1970: Double(statement.int64(5)) / 1000),
            checksums: BlobChecksums(md5: statement.isNull(6) ? nil : statement.bytes(6), sha256: statement.isNull(7) ? nil : statement.bytes(7)),
            httpMetadata: try decodeJSON(httpJSON), customMetadata: try decodeJSON(customJSON))
    }

    func upsert(on connection: RawSQLiteConnection) throws {
        let statement = try connection.statement(
            """
            INSERT OR REPLACE INTO objects (key, version, file, size, etag, uploaded, md5, sha256, http_metadata, custom_metadata)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        statement.bind(1, object.key)
        statement.bind(2, object.version)
        statement.bind(3, file)
        statement.bind(4, Int64(object.size))
        statement.bind(5, object.etag)
        statement.bind(6, object.uploaded.millisecondsSince1970)
        if let md5 = object.checksums.md5 { statement.bindBlob(7, md5) } else { statement.bindNull(7) }
        if let sha256 = object.checksums.sha256 { statement.bindBlob(8, sha256) } else { statement.bindNull(8) }
        statement.bind(9, httpJSON)
        statement.bind(10, customJSON)
        try statement.run()
    }
}

private func encodeJSON(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    encoder.dateEncodingStrategy = .millisecondsSince1970
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

private func decodeJSON<T: Decodable>(_ text: String) throws -> T {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .millisecondsSince1970
    return try decoder.decode(T.self, from: Data(text.utf8))
}

/// Where an object's body is, as the `file` column says: one file in `objects/`, or, for a
/// completed multipart upload, its part files in `parts/` in order, with their sizes
/// (`*NAME:SIZE,NAME:SIZE,...`).
enum BodyFiles {
    struct Part {
        var name: String
        var size: Int
    }

    case single(String)
    case parts([Part])

    init(column: String) {
        if column.hasPrefix("*") {
            self = .parts(
                column.dropFirst().split(separator: ",").map { entry in
                    let fields = entry.split(separator: ":")
                    return Part(name: String(fields[0]), size: fields.count > 1 ? Int(fields[1]) ?? 0 : 0)
                })
        } else {
            self = .single(column)
        }
    }

    var column: String {
        switch self {
        case .single(let name): name
        case .parts(let parts): "*" + parts.map { "\($0.name):\($0.size)" }.joined(separator: ",")
        }
    }
}
