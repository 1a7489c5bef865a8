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

/// A (distance, node) pair; lower distance is closer.
struct Candidate {
    var distance: Float
    var node: Int32
}

/// A binary heap of candidates: the closest on top (`closestFirst`) or the farthest.
struct CandidateHeap {
    var items: [Candidate] = []
    let closestFirst: Bool

    init(closestFirst: Bool, capacity: Int = 0) {
        self.closestFirst = closestFirst
        items.reserveCapacity(capacity)
    }

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }
    var top: Candidate? { items.first }

    @inline(__always) private func before(_ a: Candidate, _ b: Candidate) -> Bool {
        closestFirst ? a.distance < b.distance : a.distance > b.distance
    }

    mutating func push(_ candidate: Candidate) {
        items.append(candidate)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard before(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    mutating func pop() -> Candidate? {
        guard !items.isEmpty else { return nil }
        let first = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            let count = items.count
            while true {
                let left = 2 * parent + 1, right = left + 1
                var best = parent
                if left < count, before(items[left], items[best]) { best = left }
                if right < count, before(items[right], items[best]) { best = right }
                if best == parent { break }
                items.swapAt(parent, best)
                parent = best
            }
        }
        return first
    }
}

/// The HNSW graph over the slots of a ``VectorStorage``. Not thread-safe for writes; reads may
/// run concurrently with each other (each search takes its own visited list).
final class HNSWGraph: @unchecked Sendable {
    let parameters: HNSWParameters
    let maxBottomLinks: Int
    let levelMultiplier: Double
    /// Bottom-layer links: per node, a count then `maxBottomLinks` slots.
    private(set) var bottom: [Int32] = []
    /// Upper-layer links: per node, for levels 1...level, a count then `m` slots each.
    private(set) var upper: [[Int32]] = []
    private(set) var levels: [Int32] = []
    private(set) var entryPoint: Int32 = -1
    private(set) var maxLevel = -1
    private var random: SplitMix64
    private let visitedPool = VisitedPool()

    init(parameters: HNSWParameters) {
        self.parameters = parameters
        maxBottomLinks = 2 * parameters.m
        levelMultiplier = 1 / log(Double(max(2, parameters.m)))
        random = SplitMix64(seed: parameters.seed)
    }

    var nodeCount: Int { levels.count }

    // MARK: Search

    /// Greedy descent through the upper layers, then a best-first search of `ef` candidates on
    /// the bottom layer. `accept` decides which nodes may be results (tombstones and filters);
    /// every node is still traversed. Returns up to `ef` accepted nodes, closest first.
    func search(_ distance: (Int32) -> Float, ef: Int, accept: ((Int32) -> Bool)?) -> [Candidate] {
        guard entryPoint >= 0 else { return [] }
        var current = entryPoint
        var currentDistance = distance(current)
        if maxLevel > 0 {
            for level in stride(from: maxLevel, through: 1, by: -1) {
                (current, currentDistance) = greedy(from: current, distance: currentDistance, level: level, distance)
            }
        }
        var found = searchBottom(from: current, entryDistance: currentDistance, ef: ef, accept: accept, distance)
        found.sort { $0.distance < $1.distance }
        return found
    }

    private func greedy(from start: Int32, distance startDistance: Float, level: Int, _ distance: (Int32) -> Float) -> (Int32, Float) {
        var current = start, best = startDistance
        var changed = true
        while changed {
            changed = false
            let links = upper[Int(current)]
            let base = (level - 1) * (parameters.m + 1)
            let count = Int(links[base])
            for index in 0..<count {
                let neighbor = links[base + 1 + index]
                let d = distance(neighbor)
                if d < best {
                    best = d
                    current = neighbor
                    changed = true
                }
            }
        }
        return (current, best)
    }

    /// The bottom-layer best-first search (hnswlib's `searchBaseLayerST`).
    private func searchBottom(from entry: Int32, entryDistance: Float, ef: Int, accept: ((Int32) -> Bool)?, _ distance: (Int32) -> Float) -> [Candidate] {
        let visited = visitedPool.take(count: nodeCount)
        defer { visitedPool.give(visited) }
        let stride = maxBottomLinks + 1
        var candidates = CandidateHeap(closestFirst: true, capacity: ef * 2)
        var results = CandidateHeap(closestFirst: false, capacity: ef + 1)
        var bound = Float.infinity
        visited.mark(entry)
        candidates.push(Candidate(distance: entryDistance, node: entry))
        if accept?(entry) ?? true {
            results.push(Candidate(distance: entryDistance, node: entry))
            bound = entryDistance
        }
        bottom.withUnsafeBufferPointer { links in
            while let closest = candidates.pop() {
                if closest.distance > bound, results.count >= ef { break }
                let base = Int(closest.node) * stride
                let count = Int(links[base])
                for index in 0..<count {
                    let neighbor = links[base + 1 + index]
                    if visited.isMarked(neighbor) { continue }
                    visited.mark(neighbor)
                    let d = distance(neighbor)
                    if results.count < ef || d < bound {
                        candidates.push(Candidate(distance: d, node: neighbor))
                        if accept?(neighbor) ?? true {
                            results.push(Candidate(distance: d, node: neighbor))
                            if results.count > ef { results.pop() }
                            bound = results.top?.distance ?? .infinity
                        }
                    }
                }
            }
        }
        return results.items
    }

    /// A best-first search on one layer for inserting (no acceptance filter).
    private func searchLayer(from entries: [Candidate], ef: Int, level: Int, _ distance: (Int32) -> Float) -> [Candidate] {
        if level == 0 {
            var best: [Candidate] = []
            // Seed with every entry: start from the closest, marking the others visited inside.
            let sorted = entries.sorted { $0.distance < $1.distance }
            guard let first = sorted.first else { return [] }
            best = searchBottom(from: first.node, entryDistance: first.distance, ef: ef, accept: nil, distance)
            return best
        }
        let visited = visitedPool.take(count: nodeCount)
        defer { visitedPool.give(visited) }
        var candidates = CandidateHeap(closestFirst: true)
        var results = CandidateHeap(closestFirst: false)
        for entry in entries {
            visited.mark(entry.node)
            candidates.push(entry)
            results.push(entry)
        }
        while results.count > ef { results.pop() }
        while let closest = candidates.pop() {
            if let farthest = results.top, closest.distance > farthest.distance, results.count >= ef { break }
            let links = upper[Int(closest.node)]
            let base = (level - 1) * (parameters.m + 1)
            for index in 0..<Int(links[base]) {
                let neighbor = links[base + 1 + index]
                if visited.isMarked(neighbor) { continue }
                visited.mark(neighbor)
                let d = distance(neighbor)
                if results.count < ef || d < (results.top?.distance ?? .infinity) {
                    candidates.push(Candidate(distance: d, node: neighbor))
                    results.push(Candidate(distance: d, node: neighbor))
                    if results.count > ef { results.pop() }
                }
            }
        }
        return results.items
    }

    // MARK: Insert

    /// Adds node `node` (the next slot) to the graph. `distance(a, b)` compares two stored nodes.
    func insert(_ node: Int32, distance: @escaping (Int32, Int32) -> Float) {
        precondition(Int(node) == nodeCount, "nodes are added in slot order")
        let level = Int(-log(max(random.nextUnit(), 1e-12)) * levelMultiplier)
        levels.append(Int32(level))
        bottom.append(contentsOf: repeatElement(0, count: maxBottomLinks + 1))
        upper.append(level > 0 ? [Int32](repeating: 0, count: level * (parameters.m + 1)) : [])
        guard entryPoint >= 0 else {
            entryPoint = node
            maxLevel = level
            return
        }
        let toNode: (Int32) -> Float = { distance(node, $0) }
        var current = entryPoint
        var currentDistance = toNode(current)
        if maxLevel > level {
            for layer in stride(from: maxLevel, to: level, by: -1) {
                (current, currentDistance) = greedy(from: current, distance: currentDistance, level: layer, toNode)
            }
        }
        var entries = [Candidate(distance: currentDistance, node: current)]
        for layer in stride(from: min(level, maxLevel), through: 0, by: -1) {
            let found = searchLayer(from: entries, ef: parameters.efConstruction, level: layer, toNode)
            let chosen = selectNeighbors(found, count: parameters.m, distance: distance)
            setLinks(of: node, level: layer, to: chosen.map(\.node))
            let capacity = layer == 0 ? maxBottomLinks : parameters.m
            for neighbor in chosen {
                var links = self.links(of: neighbor.node, level: layer)
                if links.count < capacity {
                    links.append(node)
                } else {
                    // Keep the best `capacity` of the old links plus the new node, by the heuristic.
                    let pool = (links + [node]).map { Candidate(distance: distance(neighbor.node, $0), node: $0) }
                    links = selectNeighbors(pool, count: capacity, distance: distance).map(\.node)
                }
                setLinks(of: neighbor.node, level: layer, to: links)
            }
            entries = found
        }
        if level > maxLevel {
            maxLevel = level
            entryPoint = node
        }
    }

    /// hnswlib's heuristic: closest first, keeping a candidate only if it is closer to the new
    /// node than to every neighbor already kept (spreads links across directions).
    private func selectNeighbors(_ candidates: [Candidate], count: Int, distance: (Int32, Int32) -> Float) -> [Candidate] {
        let sorted = candidates.sorted { $0.distance < $1.distance }
        if sorted.count <= count { return sorted }
        var kept: [Candidate] = []
        kept.reserveCapacity(count)
        for candidate in sorted {
            if kept.count >= count { break }
            var good = true
            for other in kept where distance(candidate.node, other.node) < candidate.distance {
                good = false
                break
            }
            if good { kept.append(candidate) }
        }
        return kept
    }

    func links(of node: Int32, level: Int) -> [Int32] {
        if level == 0 {
            let base = Int(node) * (maxBottomLinks + 1)
            return Array(bottom[(base + 1)..<(base + 1 + Int(bottom[base]))])
        }
        let base = (level - 1) * (parameters.m + 1)
        let links = upper[Int(node)]
        return Array(links[(base + 1)..<(base + 1 + Int(links[base]))])
    }

    private func setLinks(of node: Int32, level: Int, to links: [Int32]) {
        if level == 0 {
            let base = Int(node) * (maxBottomLinks + 1)
            bottom[base] = Int32(links.count)
            for (index, link) in links.enumerated() { bottom[base + 1 + index] = link }
        } else {
            let base = (level - 1) * (parameters.m + 1)
            upper[Int(node)][base] = Int32(links.count)
            for (index, link) in links.enumerated() { upper[Int(node)][base + 1 + index] = link }
        }
    }

    // MARK: Snapshots

    /// The graph as bytes (levels, links, entry point, random state) for the index snapshot.
    func serialized() -> [UInt8] {
        var writer = ByteWriter()
        writer.int64(Int64(nodeCount))
        writer.int64(Int64(entryPoint))
        writer.int64(Int64(maxLevel))
        writer.uint64(random.state)
        writer.int32s(levels)
        writer.int32s(bottom)
        for links in upper { writer.int32s(links) }
        return writer.bytes
    }

    /// Restores a graph written by ``serialized()``.
    static func deserialize(_ reader: inout ByteReader, parameters: HNSWParameters) throws -> HNSWGraph {
        let graph = HNSWGraph(parameters: parameters)
        let count = Int(try reader.int64())
        graph.entryPoint = Int32(try reader.int64())
        graph.maxLevel = Int(try reader.int64())
        graph.random = SplitMix64(state: try reader.uint64())
        graph.levels = try reader.int32s()
        graph.bottom = try reader.int32s()
        guard graph.levels.count == count, graph.bottom.count == count * (graph.maxBottomLinks + 1) else {
            throw VectorError(.storage, message: "the index snapshot's graph does not match its node count")
        }
        graph.upper = try (0..<count).map { _ in try reader.int32s() }
        return graph
    }
}

/// Visited marks by generation: clearing is a counter increment, not a memset.
final class VisitedList: @unchecked Sendable {
    private(set) var tags: [UInt32] = []
    private var generation: UInt32 = 0

    func reset(count: Int) {
        if tags.count < count { tags.append(contentsOf: repeatElement(0, count: count - tags.count)) }
        generation &+= 1
        if generation == 0 {
            for index in tags.indices { tags[index] = 0 }
            generation = 1
        }
    }

    @inline(__always) func mark(_ node: Int32) { tags[Int(node)] = generation }
    @inline(__always) func isMarked(_ node: Int32) -> Bool { tags[Int(node)] == generation }
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

/// A small, seedable PRNG (SplitMix64), so graphs are reproducible.
struct SplitMix64 {
    private(set) var state: UInt64

    init(seed: UInt64) { state = seed }
    init(state: UInt64) { self.state = state }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    mutating func nextUnit() -> Double { Double((next() >> 11) + 1) / Double(1 << 53) }
}
