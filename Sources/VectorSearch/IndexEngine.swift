import Dispatch
import EdgeCore
import EdgeKernels
import Foundation
import Metrics

/// The state shared by both index kinds: vectors in one contiguous float buffer (unit length for
/// cosine), ids, namespaces and metadata per slot, tombstones, and for HNSW the graph. All access
/// goes through ``IndexEngine``'s read-write lock.
final class IndexEngine: @unchecked Sendable {
    let configuration: VectorIndexConfiguration
    let limits: VectorLimits
    let hnsw: HNSWParameters?
    let rules: VectorRules
    private(set) var graph: HNSWGraph?
    private let persistence: VectorPersistence?
    private let lock = ReadWriteLock()
    private let metrics: VectorMetrics

    private(set) var vectors = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private var capacity = 0
    private(set) var ids: [String] = []
    private(set) var namespaces: [String?] = []
    private(set) var metadata: [JSONValue?] = []
    private(set) var alive: [Bool] = []
    private(set) var slotOf: [String: Int32] = [:]
    private(set) var tombstones = 0
    var dimensions: Int { configuration.dimensions }
    var liveCount: Int { slotOf.count }

    init(configuration: VectorIndexConfiguration, limits: VectorLimits, hnsw: HNSWParameters?, persistence: VectorPersistence?) throws {
        rules = try VectorRules(configuration: configuration, limits: limits)
        if let hnsw, hnsw.m < 2 || hnsw.m > 100 || hnsw.efConstruction < 1 || hnsw.efSearch < 1 {
            throw VectorError(
                .invalidConfiguration,
                message:
                    "HNSW needs m in 2...100 and efConstruction, efSearch >= 1 (got m \(hnsw.m), efConstruction \(hnsw.efConstruction), efSearch \(hnsw.efSearch))"
            )
        }
        self.configuration = configuration
        self.limits = limits
        self.hnsw = hnsw
        self.persistence = persistence
        metrics = VectorMetrics(index: persistence?.name ?? "memory")
        graph = hnsw.map(HNSWGraph.init(parameters:))
        if let persistence { try load(from: persistence) }
        metrics.vectors.record(liveCount)
    }

    deinit { vectors.deallocate() }

    /// The vectors as the graph sees them (rebuilt per call: the buffer moves when it grows).
    var space: VectorSpace { VectorSpace(base: UnsafePointer(vectors), dimensions: dimensions, metric: configuration.metric) }

    // MARK: Distances

    /// Lower is closer: 1 − cos for cosine (vectors are stored normalised), −dot, squared L2.
    @inline(__always) func distance(_ query: UnsafePointer<Float>, _ slot: Int32) -> Float {
        let row = vectors + Int(slot) * dimensions
        switch configuration.metric {
        case .cosine: return 1 - edge_dot(query, row, Int32(dimensions))
        case .dotProduct: return -edge_dot(query, row, Int32(dimensions))
        case .euclidean: return edge_l2sq(query, row, Int32(dimensions))
        }
    }

    func score(_ distance: Float) -> Float { rules.score(distance) }

    // MARK: Writes

    /// Inserts (skipping existing ids) or upserts (replacing them). All records are validated
    /// before anything is written; persistent indexes commit before memory changes.
    func write(_ records: [VectorRecord], replace: Bool) throws -> [String] {
        try rules.checkBatch(records.count, what: "vectors")
        let prepared = try records.map { try rules.validate($0) }
        return try lock.writing {
            // Upsert: the last record of an id in the batch wins. Insert: ids present before the
            // call are skipped, and within the batch the first record of an id wins.
            var chosen: [String: Int] = [:]
            var order: [String] = []
            for (index, record) in records.enumerated() {
                if !replace, slotOf[record.id] != nil { continue }
                if chosen[record.id] == nil { order.append(record.id) }
                chosen[record.id] = replace || chosen[record.id] == nil ? index : chosen[record.id]
            }
            let writes = order.map { (records[chosen[$0]!], prepared[chosen[$0]!]) }
            try persistence?.write(
                writes.map { VectorPersistence.Row(id: $0.0.id, namespace: $0.0.namespace, metadata: $0.0.metadata, values: $0.1) },
                deletes: [])
            for (record, values) in writes {
                if let old = slotOf[record.id] { kill(old) }
                append(record, values: values)
            }
            linkNewSlots()
            compactIfNeeded()
            metrics.vectors.record(liveCount)
            try persistence?.checkpointIfDue(self)
            return order
        }
    }

    func delete(_ ids: [String]) throws -> [String] {
        try rules.checkBatch(ids.count, what: "ids")
        return try lock.writing {
            var seen = Set<String>()
            let existing = ids.filter { slotOf[$0] != nil && seen.insert($0).inserted }
            try persistence?.write([], deletes: existing)
            for id in existing { kill(slotOf[id]!) }
            compactIfNeeded()
            metrics.vectors.record(liveCount)
            try persistence?.checkpointIfDue(self)
            return existing
        }
    }

    private func append(_ record: VectorRecord, values: [Float]) {
        appendRaw(id: record.id, namespace: record.namespace, metadata: record.metadata, values: values[...], alive: true)
    }

    /// Links every slot the graph does not have yet; both cores for batches of 64 and more.
    private func linkNewSlots() {
        guard let graph, graph.nodeCount < ids.count else { return }
        let threads = ids.count - graph.nodeCount >= 64 ? ProcessInfo.processInfo.activeProcessorCount : 1
        graph.insert(count: ids.count - graph.nodeCount, threads: threads, space: space)
    }

    private func kill(_ slot: Int32) {
        guard alive[Int(slot)] else { return }
        alive[Int(slot)] = false
        slotOf[ids[Int(slot)]] = nil
        metadata[Int(slot)] = nil
        tombstones += 1
    }

    /// Rebuilds without tombstones once they are over a quarter of the slots (and at least 64):
    /// live vectors are re-added in slot order, so the graph loses the dead nodes' links.
    private func compactIfNeeded() {
        guard tombstones >= 64, tombstones * 4 >= ids.count else { return }
        compact()
    }

    func compact() {
        let live = (0..<ids.count).filter { alive[$0] }
        let records = live.map { slot in
            (
                VectorRecord(id: ids[slot], values: [], namespace: namespaces[slot], metadata: metadata[slot]),
                Array(UnsafeBufferPointer(start: vectors + slot * dimensions, count: dimensions))
            )
        }
        ids = []
        namespaces = []
        metadata = []
        alive = []
        slotOf = [:]
        tombstones = 0
        graph = hnsw.map(HNSWGraph.init(parameters:))
        for (record, values) in records { append(record, values: values) }
        linkNewSlots()
    }

    func compactNow() {
        lock.writing { if tombstones > 0 { compact() } }
    }

    /// Vector floats, graph links and per-slot bookkeeping (id, namespace, metadata pointers), per live vector.
    var memoryPerVector: Double {
        lock.reading {
            guard liveCount > 0 else { return 0 }
            var bytes = ids.count * dimensions * 4
            if let graph {
                bytes += graph.linkBytes
            }
            bytes += ids.reduce(0) { $0 + max(16, $1.utf8.count) } + ids.count * (16 + 17 + 9 + 1) + slotOf.count * 40
            return Double(bytes) / Double(liveCount)
        }
    }

    // MARK: Reads

    func describe() -> VectorIndexInfo {
        lock.reading { VectorIndexInfo(dimensions: dimensions, metric: configuration.metric, vectorCount: liveCount) }
    }

    func get(_ ids: [String]) throws -> [VectorRecord] {
        try rules.checkBatch(ids.count, what: "ids")
        return lock.reading {
            ids.compactMap { id in slotOf[id].map { record(at: $0, values: true, metadata: .all) } }
        }
    }

    func storedValues(of id: String) -> [Float]? {
        lock.reading {
            slotOf[id].map { Array(UnsafeBufferPointer(start: vectors + Int($0) * dimensions, count: dimensions)) }
        }
    }

    func record(at slot: Int32, values: Bool, metadata returning: ReturnMetadata) -> VectorRecord {
        let index = Int(slot)
        let stored = rules.returned(metadata[index], returning)
        return VectorRecord(
            id: ids[index], values: values ? Array(UnsafeBufferPointer(start: vectors + index * dimensions, count: dimensions)) : [],
            namespace: namespaces[index], metadata: stored)
    }

    /// The query: exact (flat, or HNSW with a selective filter) or through the graph.
    func query(_ vector: [Float], options: VectorQueryOptions, efSearch: Int?) throws -> VectorQueryResult {
        let filter = try rules.checkQuery(options)
        let query = try rules.prepared(vector, what: "the query vector")
        let started = ContinuousClock.now
        defer { metrics.queryDuration.record(duration: ContinuousClock.now - started) }
        return lock.reading {
            query.withUnsafeBufferPointer { buffer -> VectorQueryResult in
                search(buffer.baseAddress!, options: options, filter: filter, efSearch: efSearch)
            }
        }
    }

    /// The search itself, under the read lock.
    private func search(_ q: UnsafePointer<Float>, options: VectorQueryOptions, filter: VectorFilter?, efSearch: Int?) -> VectorQueryResult {
        let namespace = options.namespace
        var accept: (@Sendable (Int32) -> Bool)?
        if namespace != nil || filter != nil || tombstones > 0 {
            accept = { [self] slot in
                let index = Int(slot)
                return alive[index] && (namespace == nil || namespaces[index] == namespace) && (filter?.matches(metadata[index]) ?? true)
            }
        }
        var found: [Candidate]
        if let graph, shouldUseGraph(options: options, filter: filter) {
            let ef = max(efSearch ?? hnsw!.efSearch, options.topK)
            found = Array(graph.search(q, space: space, ef: ef, accept: accept).prefix(options.topK))
            if found.count < min(options.topK, liveCount), accept != nil {
                found = exact(q, topK: options.topK, accept: accept)
            }
        } else {
            found = exact(q, topK: options.topK, accept: accept)
        }
        let matches = found.map { candidate -> VectorMatch in
            let record = self.record(at: candidate.node, values: options.returnValues, metadata: options.returnMetadata)
            return VectorMatch(
                id: record.id, score: score(candidate.distance), values: options.returnValues ? record.values : nil,
                namespace: record.namespace, metadata: options.returnMetadata == .none ? nil : record.metadata)
        }
        return VectorQueryResult(matches: matches)
    }

    /// A filtered query walks the graph only when the filter keeps at least ~5% of a sample;
    /// a more selective filter is answered exactly over the vectors it keeps.
    private func shouldUseGraph(options: VectorQueryOptions, filter: VectorFilter?) -> Bool {
        guard options.namespace != nil || filter != nil else { return true }
        let total = ids.count
        guard total > 2000 else { return false }
        var random = SplitMix64(seed: UInt64(total))
        var kept = 0
        let samples = 400
        for _ in 0..<samples {
            let slot = Int(random.next() % UInt64(total))
            if alive[slot], options.namespace == nil || namespaces[slot] == options.namespace, filter?.matches(metadata[slot]) ?? true { kept += 1 }
        }
        return kept * 20 >= samples
    }

    /// Exact top-K over every accepted slot, both cores for large scans.
    func exact(_ queryPointer: UnsafePointer<Float>, topK: Int, accept: (@Sendable (Int32) -> Bool)?) -> [Candidate] {
        let query = SharedPointer(queryPointer)
        let total = ids.count
        guard total > 0 else { return [] }
        let chunkCount = total >= 32_768 ? ProcessInfo.processInfo.activeProcessorCount * 4 : 1
        let chunkSize = (total + chunkCount - 1) / chunkCount
        let partial = PartialResults(count: chunkCount)
        let scan = { @Sendable (chunk: Int) in
            let start = chunk * chunkSize, end = min(total, start + chunkSize)
            guard start < end else { return }
            var scores = [Float](repeating: 0, count: end - start)
            let rows = self.vectors + start * self.dimensions
            switch self.configuration.metric {
            case .cosine, .dotProduct: edge_dot_many(query.pointer, rows, Int32(self.dimensions), end - start, &scores)
            case .euclidean: edge_l2sq_many(query.pointer, rows, Int32(self.dimensions), end - start, &scores)
            }
            var heap = CandidateHeap(closestFirst: false, capacity: topK + 1)
            defer { heap.release() }
            for offset in 0..<(end - start) {
                let slot = Int32(start + offset)
                let distance: Float
                switch self.configuration.metric {
                case .cosine: distance = 1 - scores[offset]
                case .dotProduct: distance = -scores[offset]
                case .euclidean: distance = scores[offset]
                }
                if heap.count >= topK, distance >= heap.topDistance { continue }
                if let accept, !accept(slot) { continue }
                heap.push(Candidate(distance: distance, node: slot))
                if heap.count > topK { heap.pop() }
            }
            partial.set(chunk, heap.items)
        }
        if chunkCount == 1 {
            scan(0)
        } else {
            DispatchQueue.concurrentPerform(iterations: chunkCount, execute: scan)
        }
        return Array(partial.all().sorted { $0.distance < $1.distance || ($0.distance == $1.distance && $0.node < $1.node) }.prefix(topK))
    }

    // MARK: Persistence

    private func load(from persistence: VectorPersistence) throws {
        let (rows, snapshot) = try persistence.load(configuration: configuration, hnsw: hnsw)
        if let snapshot {
            // The snapshot's slots and graph, with ids matched to the stored rows.
            let byID = Dictionary(uniqueKeysWithValues: rows.map { ($0.id, $0) })
            for (slot, id) in snapshot.ids.enumerated() {
                let row = id.flatMap { byID[$0] }
                appendRaw(id: id ?? "", namespace: row?.namespace, metadata: row?.metadata, values: snapshot.vector(slot), alive: row != nil)
            }
            graph = snapshot.graph
        } else {
            for row in rows { append(VectorRecord(id: row.id, values: [], namespace: row.namespace, metadata: row.metadata), values: row.values) }
            linkNewSlots()
        }
    }

    private func appendRaw(id: String, namespace: String?, metadata stored: JSONValue?, values: ArraySlice<Float>, alive isAlive: Bool) {
        let slot = Int32(ids.count)
        if ids.count == capacity {
            let grown = max(1024, capacity * 2)
            let bigger = UnsafeMutablePointer<Float>.allocate(capacity: grown * dimensions)
            bigger.update(from: vectors, count: capacity * dimensions)
            vectors.deallocate()
            vectors = bigger
            capacity = grown
        }
        values.withUnsafeBufferPointer { (vectors + Int(slot) * dimensions).update(from: $0.baseAddress!, count: dimensions) }
        ids.append(id)
        namespaces.append(namespace)
        metadata.append(isAlive ? stored : nil)
        alive.append(isAlive)
        if isAlive { slotOf[id] = slot } else { tombstones += 1 }
    }

    /// Writes the snapshot now (the graph and slot layout, so a reopen answers exactly as before).
    func checkpoint() throws {
        try lock.writing { try persistence?.writeSnapshot(self) }
    }
}

/// A read-only pointer handed to the threads of one scan.
struct SharedPointer: @unchecked Sendable {
    let pointer: UnsafePointer<Float>
    init(_ pointer: UnsafePointer<Float>) { self.pointer = pointer }
}

/// Per-chunk results of a parallel scan.
final class PartialResults: @unchecked Sendable {
    private var results: [[Candidate]]
    private let lock = NSLock()

    init(count: Int) { results = Array(repeating: [], count: count) }

    func set(_ index: Int, _ value: [Candidate]) {
        lock.lock()
        results[index] = value
        lock.unlock()
    }

    func all() -> [Candidate] { results.flatMap { $0 } }
}

/// A pthread read-write lock: many concurrent queries, one writer.
final class ReadWriteLock: @unchecked Sendable {
    private let handle = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)

    init() { pthread_rwlock_init(handle, nil) }

    deinit {
        pthread_rwlock_destroy(handle)
        handle.deallocate()
    }

    func reading<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_rdlock(handle)
        defer { pthread_rwlock_unlock(handle) }
        return try body()
    }

    func writing<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_wrlock(handle)
        defer { pthread_rwlock_unlock(handle) }
        return try body()
    }
}

/// An index's metrics (swift-metrics; served by EdgeRuntime's `/__edge/metrics`): live vectors,
/// and query latency from the prepared query to the results.
struct VectorMetrics: Sendable {
    let vectors: Gauge
    let queryDuration: Metrics.Timer

    init(index: String) {
        vectors = Gauge(label: "edge_vectors_count", dimensions: [("index", index)])
        queryDuration = Metrics.Timer(label: "edge_vectors_query_duration_seconds", dimensions: [("index", index)])
    }
}
