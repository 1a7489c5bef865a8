import EdgeCore
import Foundation
public import VectorSearch

/// The conformance suite every `VectorIndex` passes: each metric against a brute-force oracle
/// (exactly, or above a recall floor for approximate indexes), every filter operator, namespaces,
/// insert versus upsert, deletes, returned values and metadata, limits, and — for persistent
/// indexes — a reopen that answers as before.
///
/// ```swift
/// @Test(arguments: VectorConformance.cases)
/// func flat(_ check: VectorConformance.Case) async throws {
///     try await check.run(VectorConformance.Harness(exact: true) { try FlatIndex(configuration: $0) })
/// }
/// ```
public enum VectorConformance {
    public struct Harness: Sendable {
        public typealias Make = @Sendable (VectorIndexConfiguration) async throws -> any VectorIndex
        public typealias Reopen = @Sendable (any VectorIndex, VectorIndexConfiguration) async throws -> any VectorIndex

        /// Makes a fresh, empty index.
        public var make: Make
        /// Closes an index and opens it again from its storage (persistent indexes only).
        public var reopen: Reopen?
        /// Whether results must equal the oracle's; otherwise recall@10 must reach `recallFloor`.
        public var exact: Bool
        public var recallFloor: Double

        public init(exact: Bool, recallFloor: Double = 0.9, reopen: Reopen? = nil, make: @escaping Make) {
            self.make = make
            self.reopen = reopen
            self.exact = exact
            self.recallFloor = recallFloor
        }
    }

    public struct Case: Sendable, CustomStringConvertible {
        public let name: String
        let body: @Sendable (Harness) async throws -> Void
        public var description: String { name }

        /// - Throws: ``ConformanceFailure`` for the first expectation that did not hold.
        public func run(_ harness: Harness) async throws { try await body(harness) }
    }

    public static let cases: [Case] = [metrics, filters, namespaces, insertVersusUpsert, deletes, returnedFields, limits]
    public static let durableCases: [Case] = [reopen]

    // MARK: Data

    /// Deterministic pseudo-random vectors in clusters (like text embeddings).
    static func vectors(count: Int, dimensions: Int, seed: UInt64) -> [[Float]] {
        var state = seed
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001) / 1_000_000 - 1
        }
        let centers = (0..<8).map { _ in (0..<dimensions).map { _ in next() } }
        return (0..<count).map { index in centers[index % 8].map { $0 + 0.6 * next() } }
    }

    /// The oracle: Vectorize scores and order for `metric`.
    static func oracle(_ query: [Float], _ records: [VectorRecord], metric: VectorMetric, topK: Int) -> [(id: String, score: Float)] {
        func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        let scored = records.map { record -> (id: String, score: Float) in
            switch metric {
            case .cosine: return (record.id, dot(query, record.values) / (dot(query, query).squareRoot() * dot(record.values, record.values).squareRoot()))
            case .dotProduct: return (record.id, dot(query, record.values))
            case .euclidean: return (record.id, zip(query, record.values).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot())
            }
        }
        let sorted = scored.sorted { metric == .euclidean ? $0.score < $1.score : $0.score > $1.score }
        return Array(sorted.prefix(topK))
    }

    static func insertAll(_ index: any VectorIndex, _ records: [VectorRecord]) async throws {
        for start in stride(from: 0, to: records.count, by: 500) {
            _ = try await index.insert(Array(records[start..<min(start + 500, records.count)]))
        }
    }

    // MARK: Cases

    static let metrics = Case(name: "each metric against a brute-force oracle") { harness in
        for metric in [VectorMetric.cosine, .euclidean, .dotProduct] {
            let index = try await harness.make(VectorIndexConfiguration(dimensions: 24, metric: metric))
            // Queries come from the same distribution as the data, as real queries do.
            let all = vectors(count: 2040, dimensions: 24, seed: 7)
            let records = all.prefix(2000).enumerated().map { VectorRecord(id: "v\($0)", values: $1) }
            try await insertAll(index, records)
            try Check.equal(try await index.describe().vectorCount, 2000, "\(metric): count")
            var hits = 0, total = 0
            for query in all.suffix(40) {
                let expected = oracle(query, records, metric: metric, topK: 10)
                let result = try await index.query(query, options: VectorQueryOptions(topK: 10))
                try Check.equal(result.count, 10, "\(metric): topK results")
                let scores = Dictionary(uniqueKeysWithValues: oracle(query, records, metric: metric, topK: 2000).map { ($0.id, $0.score) })
                for match in result.matches {
                    try Check.that(
                        abs(match.score - scores[match.id]!) <= 1e-3 * max(1, abs(scores[match.id]!)),
                        "\(metric): score of \(match.id) is \(match.score), the oracle says \(scores[match.id]!)")
                }
                let ordered = zip(result.matches, result.matches.dropFirst()).allSatisfy {
                    metric == .euclidean ? $0.score <= $1.score + 1e-6 : $0.score >= $1.score - 1e-6
                }
                try Check.that(ordered, "\(metric): matches are closest first")
                if harness.exact {
                    try Check.equal(result.matches.map(\.id), expected.map(\.id), "\(metric): exact top 10")
                }
                hits += Set(result.matches.map(\.id)).intersection(expected.map(\.id)).count
                total += 10
            }
            let recall = Double(hits) / Double(total)
            try Check.that(recall >= (harness.exact ? 1 : harness.recallFloor), "\(metric): recall@10 \(recall) under \(harness.recallFloor)")
        }
    }

    static let filters = Case(name: "every filter operator, implicit $eq, dotted paths, combined ranges") { harness in
        let index = try await harness.make(VectorIndexConfiguration(dimensions: 8))
        let base = vectors(count: 200, dimensions: 8, seed: 3)
        let genres = ["drama", "comedy", "horror", "news"]
        let records = base.enumerated().map { number, values -> VectorRecord in
            var fields: [String: JSONValue] = [:]
            fields["genre"] = .string(genres[number % 4])
            fields["year"] = .int(Int64(1990 + number % 30))
            fields["rating"] = .double(Double(number % 10) / 2)
            fields["flags"] = .object(["kids": .bool(number % 5 == 0)])
            fields["author"] = .object(["name": .string("a\(number % 3)")])
            if number % 7 != 0 { fields["optional"] = .string("x") }
            return VectorRecord(id: "m\(number)", values: values, metadata: .object(fields))
        }
        try await insertAll(index, records)
        func check(_ filter: JSONValue, _ predicate: (Int) -> Bool, _ what: String) async throws {
            let expected = Set((0..<200).filter(predicate).map { "m\($0)" })
            let result = try await index.query(base[0], options: VectorQueryOptions(topK: 100, filter: filter))
            let ids = Set(result.matches.map(\.id))
            try Check.that(ids.isSubset(of: expected), "\(what): returned a vector the filter excludes: \(ids.subtracting(expected).sorted().prefix(3))")
            try Check.equal(ids.count, min(100, expected.count), "\(what): matching results")
        }
        try await check(["genre": "drama"], { $0 % 4 == 0 }, "implicit $eq")
        try await check(["genre": ["$eq": "comedy"]], { $0 % 4 == 1 }, "$eq")
        try await check(["genre": ["$ne": "comedy"]], { $0 % 4 != 1 }, "$ne")
        try await check(["genre": ["$in": ["drama", "horror"]]], { $0 % 2 == 0 }, "$in")
        try await check(["genre": ["$nin": ["drama", "horror"]]], { $0 % 2 == 1 }, "$nin")
        try await check(["year": ["$lt": 1995]], { 1990 + $0 % 30 < 1995 }, "$lt")
        try await check(["year": ["$lte": 1995]], { 1990 + $0 % 30 <= 1995 }, "$lte")
        try await check(["year": ["$gt": 2015]], { 1990 + $0 % 30 > 2015 }, "$gt")
        try await check(["year": ["$gte": 2015]], { 1990 + $0 % 30 >= 2015 }, "$gte")
        try await check(["year": ["$gte": 2000, "$lt": 2005]], { (2000..<2005).contains(1990 + $0 % 30) }, "combined range")
        try await check(["rating": ["$gte": 2.5], "genre": "news"], { Double($0 % 10) / 2 >= 2.5 && $0 % 4 == 3 }, "AND across keys")
        try await check(["flags.kids": true], { $0 % 5 == 0 }, "dotted path to a boolean")
        try await check(["author.name": ["$in": ["a1"]]], { $0 % 3 == 1 }, "dotted path with $in")
        try await check(["optional": ["$ne": "x"]], { $0 % 7 == 0 }, "$ne holds on a missing field")
        try await check(["optional": "x"], { $0 % 7 != 0 }, "$eq fails on a missing field")
        try await check(["genre": ["$gt": "drama"]], { genres[$0 % 4] > "drama" }, "string range")
        for bad: JSONValue in [["genre": ["$regex": "d.*"]], ["$or": [["genre": "drama"]]], ["genre": ["$in": "drama"]], ["year": ["$gt": true]], "drama"] {
            try await Check.throwsError(VectorError.self, "invalid filter \(bad)", matching: { $0.code == .invalidFilter }) {
                _ = try await index.query(base[0], options: VectorQueryOptions(filter: bad))
            }
        }
    }

    static let namespaces = Case(name: "namespaces are applied before the filter") { harness in
        let index = try await harness.make(VectorIndexConfiguration(dimensions: 8))
        let base = vectors(count: 300, dimensions: 8, seed: 5)
        try await insertAll(
            index,
            base.enumerated().map { number, values in
                VectorRecord(
                    id: "n\(number)", values: values, namespace: number % 3 == 0 ? "alpha" : (number % 3 == 1 ? "beta" : nil),
                    metadata: ["even": .bool(number % 2 == 0)])
            })
        let alpha = try await index.query(base[1], options: VectorQueryOptions(topK: 100, namespace: "alpha"))
        try Check.equal(alpha.count, 100, "alpha results")
        try Check.that(alpha.matches.allSatisfy { $0.namespace == "alpha" }, "only the alpha namespace")
        let filtered = try await index.query(base[1], options: VectorQueryOptions(topK: 100, namespace: "beta", filter: ["even": true]))
        try Check.that(filtered.matches.allSatisfy { $0.namespace == "beta" && Int($0.id.dropFirst())! % 2 == 0 }, "beta and even")
        try Check.equal(filtered.count, 50, "beta and even results")
        let none = try await index.query(base[1], options: VectorQueryOptions(namespace: "gamma"))
        try Check.equal(none.count, 0, "an unknown namespace has no results")
    }

    static let insertVersusUpsert = Case(name: "insert skips existing ids; upsert replaces them") { harness in
        let index = try await harness.make(VectorIndexConfiguration(dimensions: 4, metric: .euclidean))
        let first = try await index.insert([VectorRecord(id: "a", values: [1, 0, 0, 0], metadata: ["v": 1]), VectorRecord(id: "b", values: [0, 1, 0, 0])])
        try Check.equal(first.ids, ["a", "b"], "inserted ids")
        let again = try await index.insert([VectorRecord(id: "a", values: [9, 9, 9, 9], metadata: ["v": 2]), VectorRecord(id: "c", values: [0, 0, 1, 0])])
        try Check.equal(again.ids, ["c"], "insert skips the existing id")
        try Check.equal(try await index.getByIds(["a"]).first?.values, [1, 0, 0, 0], "insert did not replace a")
        let upserted = try await index.upsert([VectorRecord(id: "a", values: [0, 0, 0, 1], metadata: ["v": 3])])
        try Check.equal(upserted.ids, ["a"], "upserted ids")
        let a = try await index.getByIds(["a"]).first
        try Check.equal(a?.values, [0, 0, 0, 1], "upsert replaced the values")
        try Check.equal(a?.metadata, ["v": 3], "upsert replaced the metadata")
        try Check.equal(try await index.describe().vectorCount, 3, "count after upsert")
        let nearest = try await index.query([0, 0, 0, 1], options: VectorQueryOptions(topK: 1))
        try Check.equal(nearest.matches.first?.id, "a", "the query sees the upserted vector")
        try Check.equal(nearest.matches.first?.score, 0, "euclidean distance to itself")
    }

    static let deletes = Case(name: "deleted vectors are never returned") { harness in
        let index = try await harness.make(VectorIndexConfiguration(dimensions: 16))
        let base = vectors(count: 1000, dimensions: 16, seed: 11)
        try await insertAll(index, base.enumerated().map { VectorRecord(id: "d\($0)", values: $1) })
        let doomed = (0..<1000).filter { $0 % 3 == 0 }.map { "d\($0)" }
        var deleted: [String] = []
        for start in stride(from: 0, to: doomed.count, by: 100) {
            deleted += try await index.deleteByIds(Array(doomed[start..<min(start + 100, doomed.count)]) + ["missing"]).ids
        }
        try Check.equal(deleted.count, doomed.count, "deleteByIds returns the ids that existed")
        try Check.equal(try await index.describe().vectorCount, 1000 - doomed.count, "count after deletes")
        try Check.equal(try await index.getByIds(["d0", "d1"]).map(\.id), ["d1"], "getByIds omits deleted ids")
        let doomedSet = Set(doomed)
        for query in base.prefix(30) {
            let result = try await index.query(query, options: VectorQueryOptions(topK: 20))
            try Check.that(result.matches.allSatisfy { !doomedSet.contains($0.id) }, "a deleted vector was returned")
            try Check.equal(result.count, 20, "topK after deletes")
        }
        try await Check.throwsError(VectorError.self, "queryById of a deleted id", matching: { $0.code == .notFound }) {
            _ = try await index.queryById("d0", options: VectorQueryOptions())
        }
        let byID = try await index.queryById("d1", options: VectorQueryOptions(topK: 1))
        try Check.equal(byID.matches.first?.id, "d1", "queryById finds the vector itself first")
    }

    static let returnedFields = Case(name: "returnValues and returnMetadata none, indexed and all") { harness in
        let index = try await harness.make(VectorIndexConfiguration(dimensions: 3, metric: .dotProduct, indexedMetadataFields: ["genre"]))
        _ = try await index.upsert([VectorRecord(id: "x", values: [1, 2, 3], namespace: "ns", metadata: ["genre": "drama", "secret": 1])])
        let plain = try await index.query([1, 0, 0], options: VectorQueryOptions(topK: 1, namespace: "ns"))
        try Check.that(plain.matches.first?.values == nil && plain.matches.first?.metadata == nil, "nothing extra by default")
        try Check.equal(plain.matches.first?.score, 1, "dot-product score")
        let indexed = try await index.query([1, 0, 0], options: VectorQueryOptions(topK: 1, returnMetadata: .indexed))
        try Check.equal(indexed.matches.first?.metadata, ["genre": "drama"], "indexed metadata only")
        let all = try await index.query([1, 0, 0], options: VectorQueryOptions(topK: 1, returnValues: true, returnMetadata: .all))
        try Check.equal(all.matches.first?.values, [1, 2, 3], "values")
        try Check.equal(all.matches.first?.metadata, ["genre": "drama", "secret": 1], "all metadata")
    }

    static let limits = Case(name: "limits and bad input are typed errors that write nothing") { harness in
        let index = try await harness.make(VectorIndexConfiguration(dimensions: 4))
        func refuses(_ code: VectorError.Code, _ what: String, _ body: @escaping () async throws -> Void) async throws {
            try await Check.throwsError(VectorError.self, what, matching: { $0.code == code }, body)
        }
        try await refuses(.wrongDimensions, "3 values in a 4-dimension index") { _ = try await index.insert([VectorRecord(id: "a", values: [1, 2, 3])]) }
        try await refuses(.idTooLong, "a 65-byte id") {
            _ = try await index.insert([VectorRecord(id: String(repeating: "i", count: 65), values: [1, 2, 3, 4])])
        }
        try await refuses(.invalidID, "an empty id") { _ = try await index.insert([VectorRecord(id: "", values: [1, 2, 3, 4])]) }
        try await refuses(.metadataTooLarge, "11 KiB of metadata") {
            _ = try await index.insert([VectorRecord(id: "m", values: [1, 2, 3, 4], metadata: ["text": .string(String(repeating: "x", count: 11 * 1024))])])
        }
        try await refuses(.invalidValues, "NaN") { _ = try await index.insert([VectorRecord(id: "n", values: [1, .nan, 3, 4])]) }
        try await refuses(.invalidValues, "a zero vector under cosine") { _ = try await index.insert([VectorRecord(id: "z", values: [0, 0, 0, 0])]) }
        try await refuses(.batchTooLarge, "1001 vectors") {
            _ = try await index.insert((0...1000).map { VectorRecord(id: "b\($0)", values: [1, 2, 3, 4]) })
        }
        try await refuses(.wrongDimensions, "a bad record in a batch") {
            _ = try await index.upsert([VectorRecord(id: "ok", values: [1, 2, 3, 4]), VectorRecord(id: "bad", values: [1])])
        }
        try Check.equal(try await index.describe().vectorCount, 0, "nothing was written by refused calls")
        _ = try await index.insert([VectorRecord(id: "ok", values: [1, 2, 3, 4])])
        try await refuses(.topKOutOfRange, "topK 101") { _ = try await index.query([1, 2, 3, 4], options: VectorQueryOptions(topK: 101)) }
        try await refuses(.topKOutOfRange, "topK 21 with values") {
            _ = try await index.query([1, 2, 3, 4], options: VectorQueryOptions(topK: 21, returnValues: true))
        }
        try await refuses(.topKOutOfRange, "topK 0") { _ = try await index.query([1, 2, 3, 4], options: VectorQueryOptions(topK: 0)) }
        try await refuses(.wrongDimensions, "a 5-dimension query") { _ = try await index.query([1, 2, 3, 4, 5], options: VectorQueryOptions()) }
        try await refuses(.notFound, "queryById of an unknown id") { _ = try await index.queryById("nope", options: VectorQueryOptions()) }
        let ok = try await index.query([1, 2, 3, 4], options: VectorQueryOptions(topK: 100))
        try Check.equal(ok.count, 1, "topK 100 is allowed without values")
    }

    static let reopen = Case(name: "a reopened index answers exactly as before") { harness in
        guard let reopen = harness.reopen else { throw ConformanceFailure(message: "needs a harness with reopen", location: "VectorConformance") }
        let configuration = VectorIndexConfiguration(dimensions: 16, metric: .cosine)
        let index = try await harness.make(configuration)
        let base = vectors(count: 2000, dimensions: 16, seed: 21)
        try await insertAll(
            index, base.enumerated().map { VectorRecord(id: "p\($0)", values: $1, namespace: $0 % 2 == 0 ? "even" : nil, metadata: ["n": .int(Int64($0))]) })
        _ = try await index.deleteByIds((0..<100).map { "p\($0 * 7)" })
        _ = try await index.upsert([VectorRecord(id: "p1", values: base[2], metadata: ["n": -1])])
        let queries = Array(vectors(count: 2020, dimensions: 16, seed: 21).suffix(20))
        var before: [VectorQueryResult] = []
        for query in queries { before.append(try await index.query(query, options: VectorQueryOptions(topK: 10, returnMetadata: .all))) }
        let filtered = try await index.query(queries[0], options: VectorQueryOptions(topK: 10, namespace: "even", filter: ["n": ["$lt": 500]]))
        let reopened = try await reopen(index, configuration)
        try Check.equal(try await reopened.describe().vectorCount, 1900, "count after reopen")
        for (query, expected) in zip(queries, before) {
            let after = try await reopened.query(query, options: VectorQueryOptions(topK: 10, returnMetadata: .all))
            try Check.equal(after.matches.map(\.id), expected.matches.map(\.id), "ids after reopen")
            try Check.equal(after.matches.map(\.metadata), expected.matches.map(\.metadata), "metadata after reopen")
        }
        try Check.equal(
            try await reopened.query(queries[0], options: VectorQueryOptions(topK: 10, namespace: "even", filter: ["n": ["$lt": 500]])).matches.map(\.id),
            filtered.matches.map(\.id), "filtered query after reopen")
        try Check.equal(try await reopened.getByIds(["p1"]).first?.metadata, ["n": -1], "the upsert survived")
        try Check.equal(try await reopened.getByIds(["p0"]).count, 0, "the delete survived")
    }
}
