import Dispatch
import EdgeCore
import EdgeKernels
import Foundation

/// HNSW parameters (Malkov & Yashunin): `m` links per node on upper layers and `2m` on the bottom
/// layer, `efConstruction` candidates while inserting, `efSearch` while querying.
public struct HNSWParameters: Sendable, Hashable, Codable {
    public var m: Int
    public var efConstruction: Int
    public var efSearch: Int
    /// Seeds the level draws, so the same inserts build the same graph.
    public var seed: UInt64

    public init(m: Int = 16, efConstruction: Int = 200, efSearch: Int = 64, seed: UInt64 = 42) {
        self.m = m
        self.efConstruction = efConstruction
        self.efSearch = efSearch
        self.seed = seed
    }
}

/// The vectors a graph links, seen from the graph: where slot i's floats are and how two are
/// compared (lower is closer). Rebuilt by the index whenever its buffer may have moved.
struct VectorSpace: @unchecked Sendable {
    let base: UnsafePointer<Float>
    let dimensions: Int
    let metric: VectorMetric
    /// How much of a vector a search prefetches ahead: the first four lines; the hardware
    /// prefetcher streams the rest once the computation starts. Prefetching whole vectors for
    /// every neighbour floods the line-fill buffers and costs more than it saves (measured with
    /// `edge-bench vectors`: 64, 256, 512 and 1536 bytes; 256 was best).
    var prefetchBytes: Int { 256 }

    @inline(__always) func row(_ node: Int32) -> UnsafePointer<Float> { base + Int(node) * dimensions }

    @inline(__always) func distance(_ query: UnsafePointer<Float>, _ node: Int32) -> Float {
        let other = row(node)
        switch metric {
        case .cosine: return 1 - edge_dot(query, other, Int32(dimensions))
        case .dotProduct: return -edge_dot(query, other, Int32(dimensions))
        case .euclidean: return edge_l2sq(query, other, Int32(dimensions))
        }
    }

    @inline(__always) func prefetch(_ node: Int32) { edge_prefetch(row(node), Int32(min(dimensions * 4, prefetchBytes))) }
}

/// A (distance, node) pair; lower distance is closer.
struct Candidate {
    var distance: Float
    var node: Int32
}

/// A binary heap of candidates in raw memory: the closest on top (`closestFirst`) or the
/// farthest. The owner calls ``release()``; no bounds or uniqueness checks in the search loop.
struct CandidateHeap {
    private(set) var base: UnsafeMutablePointer<Candidate>
    private(set) var count = 0
    private var capacity: Int
    let closestFirst: Bool

    init(closestFirst: Bool, capacity: Int = 16) {
        self.closestFirst = closestFirst
        self.capacity = max(16, capacity)
        base = .allocate(capacity: self.capacity)
    }

    func release() { base.deallocate() }

    var isEmpty: Bool { count == 0 }
    var top: Candidate? { count > 0 ? base[0] : nil }
    /// The top's distance, or infinity when empty.
    var topDistance: Float { count > 0 ? base[0].distance : .infinity }
    var items: [Candidate] { Array(UnsafeBufferPointer(start: base, count: count)) }

    @inline(__always) private func before(_ a: Candidate, _ b: Candidate) -> Bool {
        closestFirst ? a.distance < b.distance : a.distance > b.distance
    }

    mutating func push(_ candidate: Candidate) {
        if count == capacity {
            let grown = UnsafeMutablePointer<Candidate>.allocate(capacity: capacity * 2)
            grown.moveInitialize(from: base, count: count)
            base.deallocate()
            base = grown
            capacity *= 2
        }
        var child = count
        count += 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard before(candidate, base[parent]) else { break }
            base[child] = base[parent]
            child = parent
        }
        base[child] = candidate
    }

    @discardableResult
    mutating func pop() -> Candidate? {
        guard count > 0 else { return nil }
        let first = base[0]
        count -= 1
        guard count > 0 else { return first }
        let last = base[count]
        var parent = 0
        while true {
            let left = 2 * parent + 1
            if left >= count { break }
            let right = left + 1
            let best = right < count && before(base[right], base[left]) ? right : left
            guard before(base[best], last) else { break }
            base[parent] = base[best]
            parent = best
        }
        base[parent] = last
        return first
    }
}

/// The HNSW graph over the slots of an index's vector buffer.
///
/// Storage is raw memory (links of every node in one bottom-layer buffer, upper layers per node,
/// one spin lock per node) so that a batch of nodes can be connected by several threads at once,
/// as hnswlib does: each thread locks a node only while it reads or rewrites that node's links,
/// and the entry point changes under a global lock. Queries run under the index's read lock, never
/// during a build, and read links without locking.
final class HNSWGraph: @unchecked Sendable {
    let parameters: HNSWParameters
    let maxBottomLinks: Int
    let levelMultiplier: Double
    private var capacity = 0
    private(set) var nodeCount = 0
    private var levelsBuffer = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private var bottomBuffer = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private var upperBuffer = UnsafeMutablePointer<UnsafeMutablePointer<Int32>?>.allocate(capacity: 1)
    private var locks = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private(set) var entryPoint: Int32 = -1
    private(set) var maxLevel = -1
    private let global = NSLock()
    private var random: SplitMix64
    private let visitedPool = VisitedPool()

    init(parameters: HNSWParameters) {
        self.parameters = parameters
        maxBottomLinks = 2 * parameters.m
        levelMultiplier = 1 / log(Double(max(2, parameters.m)))
        random = SplitMix64(seed: parameters.seed)
    }

    deinit {
        for node in 0..<nodeCount { upperBuffer[node]?.deallocate() }
        levelsBuffer.deallocate()
        bottomBuffer.deallocate()
        upperBuffer.deallocate()
        locks.deallocate()
    }

    private var bottomStride: Int { maxBottomLinks + 1 }
    private var upperStride: Int { parameters.m + 1 }

    var levels: [Int32] { Array(UnsafeBufferPointer(start: levelsBuffer, count: nodeCount)) }

    /// Bytes of link storage, for memory accounting.
    var linkBytes: Int {
        var bytes = nodeCount * (bottomStride * 4 + 4 + 8 + 4)
        for node in 0..<nodeCount where levelsBuffer[node] > 0 { bytes += Int(levelsBuffer[node]) * upperStride * 4 }
        return bytes
    }

    private func reserve(_ needed: Int) {
        guard needed > capacity else { return }
        let grown = max(needed, max(1024, capacity * 2))
        func grow<T>(_ old: UnsafeMutablePointer<T>, _ perNode: Int, _ zero: T) -> UnsafeMutablePointer<T> {
            let bigger = UnsafeMutablePointer<T>.allocate(capacity: grown * perNode)
            bigger.moveInitialize(from: old, count: capacity * perNode)
            (bigger + capacity * perNode).initialize(repeating: zero, count: (grown - capacity) * perNode)
            old.deallocate()
            return bigger
        }
        levelsBuffer = grow(levelsBuffer, 1, 0)
        bottomBuffer = grow(bottomBuffer, bottomStride, 0)
        upperBuffer = grow(upperBuffer, 1, nil)
        locks = grow(locks, 1, 0)
        capacity = grown
    }

    /// Makes room for `count` new nodes with drawn levels (in order, from the seeded generator).
    private func addNodes(_ count: Int) -> Range<Int> {
        reserve(nodeCount + count)
        let first = nodeCount
        for node in first..<(first + count) {
            let level = Int(-log(max(random.nextUnit(), 1e-12)) * levelMultiplier)
            levelsBuffer[node] = Int32(level)
            bottomBuffer[node * bottomStride] = 0
            if level > 0 {
                let links = UnsafeMutablePointer<Int32>.allocate(capacity: level * upperStride)
                links.initialize(repeating: 0, count: level * upperStride)
                upperBuffer[node] = links
            }
        }
        nodeCount += count
        return first..<(first + count)
    }

    @inline(__always) private func linkList(_ node: Int32, _ level: Int) -> UnsafeMutablePointer<Int32> {
        level == 0 ? bottomBuffer + Int(node) * bottomStride : upperBuffer[Int(node)]! + (level - 1) * upperStride
    }

    // MARK: Search

    /// Greedy descent through the upper layers, then a best-first search of `ef` candidates on
    /// the bottom layer. `accept` decides which nodes may be results (tombstones and filters);
    /// every node is still traversed. Returns up to `ef` accepted nodes, closest first.
    func search(_ query: UnsafePointer<Float>, space: VectorSpace, ef: Int, accept: ((Int32) -> Bool)?) -> [Candidate] {
        guard entryPoint >= 0 else { return [] }
        var current = entryPoint
        var currentDistance = space.distance(query, current)
        if maxLevel > 0 {
            for level in stride(from: maxLevel, through: 1, by: -1) {
                (current, currentDistance) = greedy(from: current, distance: currentDistance, level: level, locking: false, query, space)
            }
        }
        var found = searchLayer(from: current, entryDistance: currentDistance, ef: ef, level: 0, accept: accept, locking: false, query, space)
        found.sort { $0.distance < $1.distance }
        return found
    }

    private func greedy(
        from start: Int32, distance startDistance: Float, level: Int, locking: Bool,
        _ query: UnsafePointer<Float>, _ space: VectorSpace
    ) -> (Int32, Float) {
        var current = start, best = startDistance
        let buffer = UnsafeMutablePointer<Int32>.allocate(capacity: upperStride)
        defer { buffer.deallocate() }
        var changed = true
        while changed {
            changed = false
            let count = copyLinks(of: current, level: level, into: buffer, locking: locking)
            for index in 0..<count { space.prefetch(buffer[index]) }
            for index in 0..<count {
                let neighbor = buffer[index]
                let d = space.distance(query, neighbor)
                if d < best {
                    best = d
                    current = neighbor
                    changed = true
                }
            }
        }
        return (current, best)
    }

    /// Copies a node's links (under its lock when building in parallel); returns how many.
    @inline(__always) private func copyLinks(of node: Int32, level: Int, into buffer: UnsafeMutablePointer<Int32>, locking: Bool) -> Int {
        if locking { edge_spin_lock(locks + Int(node)) }
        let list = linkList(node, level)
        let count = Int(list[0])
        buffer.update(from: list + 1, count: count)
        if locking { edge_spin_unlock(locks + Int(node)) }
        return count
    }

    /// Best-first search on one layer (hnswlib's `searchBaseLayer`): unvisited neighbours are
    /// gathered and their vectors prefetched before the distances are computed.
    private func searchLayer(
        from entry: Int32, entryDistance: Float, ef: Int, level: Int, accept: ((Int32) -> Bool)?, locking: Bool,
        _ query: UnsafePointer<Float>, _ space: VectorSpace
    ) -> [Candidate] {
        let visited = visitedPool.take(count: nodeCount)
        defer { visitedPool.give(visited) }
        let (tags, generation) = visited.raw
        var candidates = CandidateHeap(closestFirst: true, capacity: ef * 2)
        var results = CandidateHeap(closestFirst: false, capacity: ef + 1)
        defer {
            candidates.release()
            results.release()
        }
        var bound = Float.infinity
        tags[Int(entry)] = generation
        candidates.push(Candidate(distance: entryDistance, node: entry))
        if accept?(entry) ?? true {
            results.push(Candidate(distance: entryDistance, node: entry))
            bound = entryDistance
        }
        let links = UnsafeMutablePointer<Int32>.allocate(capacity: 2 * bottomStride)
        defer { links.deallocate() }
        let fresh = links + bottomStride
        while let closest = candidates.pop() {
            if closest.distance > bound, results.count >= ef { break }
            let count = copyLinks(of: closest.node, level: level, into: links, locking: locking)
            var freshCount = 0
            for index in 0..<count {
                let neighbor = links[index]
                if tags[Int(neighbor)] == generation { continue }
                tags[Int(neighbor)] = generation
                space.prefetch(neighbor)
                fresh[freshCount] = neighbor
                freshCount += 1
            }
            for index in 0..<freshCount {
                let neighbor = fresh[index]
                let d = space.distance(query, neighbor)
                if results.count < ef || d < bound {
                    candidates.push(Candidate(distance: d, node: neighbor))
                    if accept?(neighbor) ?? true {
                        results.push(Candidate(distance: d, node: neighbor))
                        if results.count > ef { results.pop() }
                        bound = results.topDistance
                    }
                }
            }
        }
        return results.items
    }

    // MARK: Insert

    /// Adds `count` nodes (the next slots of `space`) and links them; with `threads` > 1 the
    /// nodes are connected in parallel.
    func insert(count: Int, threads: Int = 1, space: VectorSpace) {
        guard count > 0 else { return }
        let nodes = addNodes(count)
        var next = nodes.lowerBound
        if entryPoint < 0 {
            entryPoint = Int32(next)
            maxLevel = Int(levelsBuffer[next])
            next += 1
        }
        let remaining = next..<nodes.upperBound
        if threads <= 1 || remaining.count < 64 {
            for node in remaining { connect(Int32(node), locking: false, space: space) }
            return
        }
        let counter = AtomicCounter(start: remaining.lowerBound)
        let end = remaining.upperBound
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            while true {
                let node = counter.next()
                if node >= end { break }
                self.connect(Int32(node), locking: true, space: space)
            }
        }
    }

    /// Links one node into the graph (hnswlib's `addPoint` after allocation).
    ///
    /// In a parallel build the node holds its own lock for the whole insert, as hnswlib does: a
    /// thread that reaches it through an upper layer before its lower layers are linked waits
    /// instead of reading empty lists (and so can neither mislink nor have its back-link
    /// overwritten). This cannot deadlock: a thread only waits on a node that is already linked
    /// on the layer it is working on, whose own insert has moved on to strictly lower layers.
    private func connect(_ node: Int32, locking: Bool, space: VectorSpace) {
        if locking { edge_spin_lock(locks + Int(node)) }
        defer { if locking { edge_spin_unlock(locks + Int(node)) } }
        let level = Int(levelsBuffer[Int(node)])
        // A node above the current top holds the global lock for its whole insert.
        if locking { global.lock() }
        var entry = entryPoint
        let top = maxLevel
        let holdsGlobal = locking && level > top
        if locking && !holdsGlobal { global.unlock() }
        defer { if holdsGlobal { global.unlock() } }

        let query = space.row(node)
        var entryDistance = space.distance(query, entry)
        if top > level {
            for layer in stride(from: top, to: level, by: -1) {
                (entry, entryDistance) = greedy(from: entry, distance: entryDistance, level: layer, locking: locking, query, space)
            }
        }
        for layer in stride(from: min(level, top), through: 0, by: -1) {
            let found = searchLayer(
                from: entry, entryDistance: entryDistance, ef: parameters.efConstruction, level: layer, accept: nil,
                locking: locking, query, space)
            let chosen = selectNeighbors(found, count: parameters.m, space: space)
            // The new node's own links (its lock is held for the whole insert).
            let own = linkList(node, layer)
            own[0] = Int32(chosen.count)
            for (index, neighbor) in chosen.enumerated() { own[1 + index] = neighbor.node }
            let capacity = layer == 0 ? maxBottomLinks : parameters.m
            for neighbor in chosen {
                if locking { edge_spin_lock(locks + Int(neighbor.node)) }
                let list = linkList(neighbor.node, layer)
                let count = Int(list[0])
                if count < capacity {
                    list[1 + count] = node
                    list[0] = Int32(count + 1)
                } else {
                    // Keep the best `capacity` of the old links plus the new node, by the heuristic.
                    var pool = [Candidate(distance: neighbor.distance, node: node)]
                    pool.reserveCapacity(count + 1)
                    let from = space.row(neighbor.node)
                    for index in 0..<count { space.prefetch(list[1 + index]) }
                    for index in 0..<count {
                        let link = list[1 + index]
                        pool.append(Candidate(distance: space.distance(from, link), node: link))
                    }
                    let kept = selectNeighbors(pool, count: capacity, space: space)
                    list[0] = Int32(kept.count)
                    for (index, candidate) in kept.enumerated() { list[1 + index] = candidate.node }
                }
                if locking { edge_spin_unlock(locks + Int(neighbor.node)) }
            }
            if let closest = found.min(by: { $0.distance < $1.distance }) {
                entry = closest.node
                entryDistance = closest.distance
            }
        }
        if level > top, !locking || holdsGlobal, level > maxLevel {
            maxLevel = level
            entryPoint = node
        }
    }

    /// hnswlib's heuristic: closest first, keeping a candidate only if it is closer to the new
    /// node than to every neighbor already kept (spreads links across directions).
    private func selectNeighbors(_ candidates: [Candidate], count: Int, space: VectorSpace) -> [Candidate] {
        let sorted = candidates.sorted { $0.distance < $1.distance }
        if sorted.count <= count { return sorted }
        var kept: [Candidate] = []
        kept.reserveCapacity(count)
        for candidate in sorted {
            if kept.count >= count { break }
            let row = space.row(candidate.node)
            var good = true
            for other in kept where space.distance(row, other.node) < candidate.distance {
                good = false
                break
            }
            if good { kept.append(candidate) }
        }
        return kept
    }

    func links(of node: Int32, level: Int) -> [Int32] {
        let list = linkList(node, level)
        return Array(UnsafeBufferPointer(start: list + 1, count: Int(list[0])))
    }

    // MARK: Snapshots

    /// The graph as bytes (levels, links, entry point, random state) for the index snapshot.
    func serialized() -> [UInt8] {
        var writer = ByteWriter()
        writer.int64(Int64(nodeCount))
        writer.int64(Int64(entryPoint))
        writer.int64(Int64(maxLevel))
        writer.uint64(random.state)
        writer.int32s(Array(UnsafeBufferPointer(start: levelsBuffer, count: nodeCount)))
        writer.int32s(Array(UnsafeBufferPointer(start: bottomBuffer, count: nodeCount * bottomStride)))
        for node in 0..<nodeCount {
            let level = Int(levelsBuffer[node])
            writer.int32s(level > 0 ? Array(UnsafeBufferPointer(start: upperBuffer[node]!, count: level * upperStride)) : [])
        }
        return writer.bytes
    }

    /// Restores a graph written by ``serialized()``.
    static func deserialize(_ reader: inout ByteReader, parameters: HNSWParameters) throws -> HNSWGraph {
        let graph = HNSWGraph(parameters: parameters)
        let count = Int(try reader.int64())
        guard let entryPoint = Int32(exactly: try reader.int64()), let maxLevel = Int32(exactly: try reader.int64()).map(Int.init),
            count >= 0, entryPoint >= -1, entryPoint < count, maxLevel >= -1, maxLevel < 64
        else {
            throw VectorError(.storage, message: "the index snapshot's graph header is corrupt")
        }
        let randomState = try reader.uint64()
        let levels = try reader.int32s()
        let bottom = try reader.int32s()
        guard levels.count == count, bottom.count == count * graph.bottomStride else {
            throw VectorError(.storage, message: "the index snapshot's graph does not match its node count")
        }
        graph.reserve(count)
        graph.nodeCount = count
        levels.withUnsafeBufferPointer { graph.levelsBuffer.update(from: $0.baseAddress!, count: count) }
        bottom.withUnsafeBufferPointer { graph.bottomBuffer.update(from: $0.baseAddress!, count: bottom.count) }
        for node in 0..<count {
            let upper = try reader.int32s()
            let level = Int(levels[node])
            guard level >= 0, level < 64, upper.count == level * graph.upperStride else {
                throw VectorError(.storage, message: "the index snapshot's graph is inconsistent")
            }
            if level > 0 {
                let links = UnsafeMutablePointer<Int32>.allocate(capacity: upper.count)
                upper.withUnsafeBufferPointer { links.initialize(from: $0.baseAddress!, count: upper.count) }
                graph.upperBuffer[node] = links
            }
        }
        // Every link must name a node, every level fit: a corrupt file is refused, never followed.
        for node in 0..<count {
            let level = Int(graph.levelsBuffer[node])
            guard level >= 0, level <= maxLevel || count == 0 else { throw VectorError(.storage, message: "the index snapshot's graph is corrupt") }
            for layer in 0...level {
                let list = graph.linkList(Int32(node), layer)
                let links = Int(list[0])
                // A link on a layer must name a node that exists on that layer (found by the
                // vector-snapshot fuzz harness: a search followed one into a missing upper list).
                guard links >= 0, links <= (layer == 0 ? graph.maxBottomLinks : parameters.m),
                    (0..<links).allSatisfy({ list[1 + $0] >= 0 && Int(list[1 + $0]) < count && Int(levels[Int(list[1 + $0])]) >= layer })
                else {
                    throw VectorError(.storage, message: "the index snapshot's graph is corrupt")
                }
            }
        }
        // The search descends from the entry point's top layer: it must reach maxLevel.
        if entryPoint >= 0, Int(levels[Int(entryPoint)]) < maxLevel {
            throw VectorError(.storage, message: "the index snapshot's graph is corrupt")
        }
        graph.entryPoint = entryPoint
        graph.maxLevel = maxLevel
        graph.random = SplitMix64(state: randomState)
        return graph
    }
}

/// Hands out increasing integers to worker threads.
final class AtomicCounter: @unchecked Sendable {
    private var value: Int
    private let lock = NSLock()

    init(start: Int) { value = start }

    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value - 1
    }
}

/// Visited marks by generation: clearing is a counter increment, not a memset. Raw memory, so
/// marking costs no bounds or exclusivity checks in the search loop.
final class VisitedList: @unchecked Sendable {
    private var tags = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    private var capacity = 0
    private var generation: UInt32 = 0

    deinit { tags.deallocate() }

    func reset(count: Int) {
        if capacity < count {
            let grown = max(count, capacity * 2)
            tags.deallocate()
            tags = .allocate(capacity: grown)
            tags.initialize(repeating: 0, count: grown)
            capacity = grown
            generation = 0
        }
        generation &+= 1
        if generation == 0 {
            tags.update(repeating: 0, count: capacity)
            generation = 1
        }
    }

    @inline(__always) func mark(_ node: Int32) { tags[Int(node)] = generation }
    @inline(__always) func isMarked(_ node: Int32) -> Bool { tags[Int(node)] == generation }

    /// The raw tags and the current generation, for a search loop to use as locals.
    var raw: (tags: UnsafeMutablePointer<UInt32>, generation: UInt32) { (tags, generation) }
}

/// Reusable visited lists for concurrent searches.
final class VisitedPool: @unchecked Sendable {
    private var free: [VisitedList] = []
    private let lock = NSLock()

    func take(count: Int) -> VisitedList {
        lock.lock()
        let list = free.popLast() ?? VisitedList()
        lock.unlock()
        list.reset(count: count)
        return list
    }

    func give(_ list: VisitedList) {
        lock.lock()
        free.append(list)
        lock.unlock()
    }
}
