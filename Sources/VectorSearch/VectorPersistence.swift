import EdgeCore
import EdgeSQLite
import Foundation
import GRDB

/// Where a persistent index lives: `<state>/vectorize/<name>.sqlite` holds every live vector (id,
/// namespace, metadata, float32 values), committed (WAL, `synchronous = FULL`) before a write
/// returns; `<name>.snapshot` holds the slot layout, vectors and HNSW graph, written atomically on
/// `checkpoint()` and automatically as the index grows (after as many writes as it holds vectors,
/// at least 10,000), so the cost is amortised.
///
/// Opening loads the snapshot when it matches the database's write generation — the index then
/// answers exactly as before — and otherwise rebuilds from the database in write order.
package final class VectorPersistence: @unchecked Sendable {
    struct Row {
        var id: String
        var namespace: String?
        var metadata: JSONValue?
        var values: [Float]
    }

    package struct Snapshot {
        var ids: [String?]
        var vectors: [Float]
        var dimensions: Int
        var graph: HNSWGraph?

        func vector(_ slot: Int) -> ArraySlice<Float> { vectors[(slot * dimensions)..<((slot + 1) * dimensions)] }

        /// How many vectors it holds.
        package var count: Int { ids.count }

        /// The slots nearest `query` (the graph's search when it has one, else every vector): what
        /// an index loaded from this snapshot would answer first. For the fuzz harness.
        package func nearest(_ query: [Float], metric: VectorMetric, ef: Int) -> [Int] {
            guard query.count == dimensions, count > 0 else { return [] }
            return vectors.withUnsafeBufferPointer { base in
                query.withUnsafeBufferPointer { query in
                    let space = VectorSpace(base: base.baseAddress!, dimensions: dimensions, metric: metric)
                    if let graph {
                        return graph.search(query.baseAddress!, space: space, ef: ef, accept: nil).map { Int($0.node) }
                    }
                    return (0..<count).sorted { space.distance(query.baseAddress!, Int32($0)) < space.distance(query.baseAddress!, Int32($1)) }
                        .prefix(ef).map { $0 }
                }
            }
        }
    }

    let databasePath: String
    let snapshotPath: String
    private let queue: DatabaseQueue
    private var generation: Int64 = 0
    /// A random id made with the database; snapshots carry it, so a snapshot is never matched with
    /// another (or a recreated) database whose write count happens to be equal.
    private var databaseID = ""
    private var snapshotGeneration: Int64 = -1
    private var writesSinceSnapshot = 0

    /// The index's name (its files' base name).
    let name: String

    init(name: String, stateDirectory: String, settings: SQLiteSettings) throws {
        guard ByteKeys.isSafeResourceName(name, maxLength: 63) else {
            throw VectorError(.invalidConfiguration, message: "index name \"\(name)\" must be 1...63 letters, digits, '-', '_' or '.'")
        }
        self.name = name
        let directory = URL(fileURLWithPath: stateDirectory).appendingPathComponent("vectorize")
        databasePath = directory.appendingPathComponent("\(name).sqlite").path
        snapshotPath = directory.appendingPathComponent("\(name).snapshot").path
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE vectors (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        namespace TEXT,
                        metadata TEXT,
                        vector BLOB NOT NULL
                    );
                    CREATE TABLE info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    """)
        }
        do {
            queue = try SQLiteDatabase.openQueue(path: databasePath, settings: settings, label: "vectorize.\(name)", migrator: migrator)
        } catch {
            throw VectorError(.storage, message: "cannot open the vector index \(databasePath): \(error)")
        }
    }

    /// Every live row in write order, and the snapshot when it is current.
    func load(configuration: VectorIndexConfiguration, hnsw: HNSWParameters?) throws -> ([Row], Snapshot?) {
        let shape = "\(configuration.dimensions) \(configuration.metric.rawValue) \(hnsw.map { "hnsw m=\($0.m) efc=\($0.efConstruction)" } ?? "flat")"
        let (rows, storedGeneration) = try storage {
            try queue.write { db -> ([Row], Int64) in
                if let existing = try String.fetchOne(db, sql: "SELECT value FROM info WHERE key = 'shape'") {
                    guard existing == shape else {
                        throw VectorError(.invalidConfiguration, message: "the index at \(databasePath) was created as \(existing), not \(shape)")
                    }
                } else {
                    try db.execute(sql: "INSERT INTO info (key, value) VALUES ('shape', ?), ('generation', '0')", arguments: [shape])
                }
                if try String.fetchOne(db, sql: "SELECT value FROM info WHERE key = 'database_id'") == nil {
                    try db.execute(sql: "INSERT INTO info (key, value) VALUES ('database_id', ?)", arguments: [UUID().uuidString])
                }
                databaseID = try String.fetchOne(db, sql: "SELECT value FROM info WHERE key = 'database_id'") ?? ""
                let generation = Int64(try String.fetchOne(db, sql: "SELECT value FROM info WHERE key = 'generation'") ?? "0") ?? 0
                let rows = try GRDB.Row.fetchAll(db, sql: "SELECT id, namespace, metadata, vector FROM vectors ORDER BY seq").map { row -> Row in
                    let metadata: JSONValue? = (row["metadata"] as String?).flatMap { try? JSONValue(parsing: Data($0.utf8)) }
                    let blob: Data = row["vector"]
                    return Row(id: row["id"], namespace: row["namespace"], metadata: metadata, values: Self.floats(blob))
                }
                return (rows, generation)
            }
        }
        generation = storedGeneration
        for row in rows where row.values.count != configuration.dimensions {
            throw VectorError(.storage, message: "vector \"\(row.id)\" in \(databasePath) has \(row.values.count) dimensions, not \(configuration.dimensions)")
        }
        let snapshot = (try? readSnapshot(dimensions: configuration.dimensions, hnsw: hnsw)) ?? nil
        if snapshot != nil { snapshotGeneration = generation }
        return (rows, snapshot)
    }

    /// Commits upserted rows and deletes in one transaction.
    func write(_ rows: [Row], deletes: [String]) throws {
        guard !rows.isEmpty || !deletes.isEmpty else { return }
        try storage {
            try queue.write { db in
                for id in deletes { try db.execute(sql: "DELETE FROM vectors WHERE id = ?", arguments: [id]) }
                for row in rows {
                    let metadata = try row.metadata.map { String(decoding: try $0.serialized(), as: UTF8.self) }
                    try db.execute(sql: "DELETE FROM vectors WHERE id = ?", arguments: [row.id])
                    try db.execute(
                        sql: "INSERT INTO vectors (id, namespace, metadata, vector) VALUES (?, ?, ?, ?)",
                        arguments: [row.id, row.namespace, metadata, Self.blob(row.values)])
                }
                try db.execute(sql: "UPDATE info SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'generation'")
                self.generation = Int64(try String.fetchOne(db, sql: "SELECT value FROM info WHERE key = 'generation'") ?? "0") ?? 0
            }
        }
        writesSinceSnapshot += rows.count + deletes.count
    }

    /// Writes the snapshot when enough has changed since the last one. Called after a write has
    /// committed, so a failure is not the write's: it is reported on stderr and retried later
    /// (the database alone is enough to reopen).
    func checkpointIfDue(_ engine: IndexEngine) throws {
        guard writesSinceSnapshot >= max(10_000, engine.liveCount) else { return }
        do {
            try writeSnapshot(engine)
        } catch {
            writesSinceSnapshot = 0
            FileHandle.standardError.write(Data("swift-edge: could not write the vector index snapshot \(snapshotPath): \(error)\n".utf8))
        }
    }

    /// Writes the snapshot atomically (temporary file, fsync, rename).
    func writeSnapshot(_ engine: IndexEngine) throws {
        guard snapshotGeneration != generation || writesSinceSnapshot > 0 else { return }
        var writer = ByteWriter()
        writer.bytes.append(contentsOf: Array("EDGEVEC2".utf8))
        writer.string(databaseID)
        writer.int64(generation)
        writer.int64(Int64(engine.dimensions))
        writer.int64(Int64(engine.ids.count))
        for (slot, id) in engine.ids.enumerated() { writer.string(engine.alive[slot] ? id : nil) }
        writer.floats(UnsafeBufferPointer(start: engine.vectors, count: engine.ids.count * engine.dimensions))
        if let graph = engine.graph {
            writer.int64(1)
            writer.bytes.append(contentsOf: graph.serialized())
        } else {
            writer.int64(0)
        }
        let temporary = snapshotPath + ".tmp"
        try storage {
            guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
                throw VectorError(.storage, message: "cannot create \(temporary)")
            }
            var renamed = false
            defer { if !renamed { try? FileManager.default.removeItem(atPath: temporary) } }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
            do {
                try handle.write(contentsOf: writer.bytes)
                try handle.synchronize()
            } catch {
                try? handle.close()
                throw error
            }
            try handle.close()
            renamed = rename(temporary, snapshotPath) == 0
            if !renamed {
                throw VectorError(.storage, message: "cannot rename \(temporary) to \(snapshotPath): errno \(errno)")
            }
        }
        snapshotGeneration = generation
        writesSinceSnapshot = 0
    }

    /// The snapshot, or nil when there is none or it is stale, truncated or of another shape.
    private func readSnapshot(dimensions: Int, hnsw: HNSWParameters?) throws -> Snapshot? {
        guard let data = FileManager.default.contents(atPath: snapshotPath) else { return nil }
        return try Self.decodeSnapshot(Array(data), databaseID: databaseID, generation: generation, dimensions: dimensions, hnsw: hnsw)
    }

    /// Decodes a snapshot file: nil when it belongs to another database or generation or has
    /// another shape.
    ///
    /// - Throws: ``VectorError`` `.storage` when it is truncated or its graph is corrupt.
    package static func decodeSnapshot(_ bytes: [UInt8], databaseID: String, generation: Int64, dimensions: Int, hnsw: HNSWParameters?) throws -> Snapshot? {
        var reader = ByteReader(bytes)
        guard Array(try reader.take(8)) == Array("EDGEVEC2".utf8), try reader.string() == databaseID, try reader.int64() == generation,
            try reader.int64() == Int64(dimensions)
        else { return nil }
        let count = Int(try reader.int64())
        guard count >= 0, count <= reader.remaining / 8 else { return nil }
        let ids = try (0..<count).map { _ in try reader.string() }
        let vectors = try reader.floats()
        guard vectors.count == count * dimensions else { return nil }
        let hasGraph = try reader.int64() == 1
        guard hasGraph == (hnsw != nil) else { return nil }
        let graph = try hnsw.map { try HNSWGraph.deserialize(&reader, parameters: $0) }
        if let graph, graph.nodeCount != count { return nil }
        return Snapshot(ids: ids, vectors: vectors, dimensions: dimensions, graph: graph)
    }

    private func storage<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as VectorError {
            throw error
        } catch {
            throw VectorError(.storage, message: "vector index \(databasePath): \(error)")
        }
    }

    static func blob(_ values: [Float]) -> Data {
        values.withUnsafeBufferPointer { Data(buffer: $0) }
    }

    static func floats(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }
}

/// Little-endian binary writing for snapshots.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func int64(_ value: Int64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func uint64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }

    mutating func int32s(_ values: [Int32]) {
        int64(Int64(values.count))
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    mutating func floats(_ values: UnsafeBufferPointer<Float>) {
        int64(Int64(values.count))
        bytes.append(contentsOf: UnsafeRawBufferPointer(values))
    }

    mutating func string(_ value: String?) {
        guard let value else {
            int64(-1)
            return
        }
        int64(Int64(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }
}

/// Reads what ``ByteWriter`` wrote; a truncated input throws.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, offset + count <= bytes.count else { throw VectorError(.storage, message: "the index snapshot is truncated") }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    mutating func int64() throws -> Int64 {
        Int64(littleEndian: try take(8).withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })
    }

    mutating func uint64() throws -> UInt64 {
        UInt64(littleEndian: try take(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    }

    mutating func int32s() throws -> [Int32] {
        let count = Int(try int64())
        guard count >= 0, count <= remaining / 4 else { throw VectorError(.storage, message: "the index snapshot is corrupt") }
        let raw = try take(count * 4)
        return raw.withUnsafeBytes { buffer in (0..<count).map { Int32(littleEndian: buffer.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) } }
    }

    mutating func floats() throws -> [Float] {
        let count = Int(try int64())
        guard count >= 0, count <= remaining / 4 else { throw VectorError(.storage, message: "the index snapshot is corrupt") }
        let raw = try take(count * 4)
        return raw.withUnsafeBytes { buffer in
            (0..<count).map { Float(bitPattern: UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    mutating func string() throws -> String? {
        let count = Int(try int64())
        if count == -1 { return nil }
        guard count >= 0, count <= remaining else { throw VectorError(.storage, message: "the index snapshot is corrupt") }
        return String(decoding: try take(count), as: UTF8.self)
    }
}
