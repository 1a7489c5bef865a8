import Foundation

/// An in-memory copy of the FTS5 index's posting lists that scores queries exactly as FTS5's
/// `bm25()` does, without touching SQLite: a posting list held in memory scores a matching row in
/// nanoseconds, where `bm25()` spends microseconds reading the row's position lists. This is
/// what keeps a search over a quarter of a million chunks in milliseconds.
///
/// The formula is FTS5's (`fts5_aux.c`): for each phrase of the query, `idf x f (k1 + 1) /
/// (f + k1 (1 - b + b D / avgdl))`, summed over the phrases, with k1 = 1.2, b = 0.75, `f` the
/// phrase's occurrences in the row weighted by their column's weight, `D` the row's tokens in all
/// columns, `avgdl` the mean of `D` over all rows, and `idf = ln((N - n + 0.5) / (n + 0.5))`
/// (1e-6 when not positive) where `n` counts the rows holding the phrase. Only one-token phrases
/// are held here; the index asks FTS5 for the others (see ``SQLiteLexicalIndex``).
struct TermPostings {
    struct Posting {
        var document: UInt32
        /// Occurrences weighted by their column's weight.
        var frequency: Float
    }

    private static let k1 = 1.2
    private static let b = 0.75

    private var termIDs: [String: Int32] = [:]
    /// Every posting, term after term: term `t`'s are `base[ranges[t]]`, then `added[t]`. A
    /// term's range grows in place while it ends the array (as every term does in turn while
    /// the index is loaded); later postings go to `added`. Eight bytes a posting, and no array
    /// per term for the hundreds of thousands of terms a large corpus has.
    private var base: [Posting] = []
    private var ranges: [Range<Int>] = []
    private var added: [[Posting]] = []
    /// Per document (an index into these arrays): its FTS5 rowid (-1 once deleted), key,
    /// repository and length in tokens.
    private var rows: [Int64] = []
    private var keys: [String] = []
    private var repositories: [Int32] = []
    private var lengths: [Int32] = []
    private var repositoryIDs: [String: Int32] = [:]
    private var documentByRow: [Int64: UInt32] = [:]
    private(set) var liveDocuments = 0
    private var deadDocuments = 0
    private var totalTokens: Int64 = 0

    /// Postings held, dead ones included (for the benchmark's report).
    var postingCount: Int { base.count + added.reduce(0) { $0 + $1.count } }

    /// Terms held.
    var termCount: Int { ranges.count }

    /// Adds the row `row` (it must be new), with its tokens' weighted counts and its length.
    mutating func add(row: Int64, key: String, repository: String, frequencies: [String: Float], length: Int) {
        let document = appendDocument(row: row, key: key, repository: repository)
        for (term, frequency) in frequencies {
            append(term: termID(term), Posting(document: document, frequency: frequency))
        }
        setLength(document, length)
    }

    /// Appends a document without postings (the bulk load adds them term by term).
    mutating func appendDocument(row: Int64, key: String, repository: String) -> UInt32 {
        let document = UInt32(rows.count)
        let repositoryID = repositoryIDs[repository] ?? Int32(repositoryIDs.count)
        repositoryIDs[repository] = repositoryID
        rows.append(row)
        keys.append(key)
        repositories.append(repositoryID)
        lengths.append(0)
        documentByRow[row] = document
        liveDocuments += 1
        return document
    }

    func document(row: Int64) -> UInt32? { documentByRow[row] }

    mutating func setLength(_ document: UInt32, _ length: Int) {
        totalTokens += Int64(length) - Int64(lengths[Int(document)])
        lengths[Int(document)] = Int32(clamping: length)
    }

    mutating func termID(_ term: String) -> Int32 {
        if let id = termIDs[term] { return id }
        let id = Int32(ranges.count)
        termIDs[term] = id
        ranges.append(base.count..<base.count)
        added.append([])
        return id
    }

    /// Appends a posting to term `id`'s list (documents must come in increasing order per term).
    mutating func append(term id: Int32, _ posting: Posting) {
        let term = Int(id)
        if ranges[term].upperBound == base.count {
            ranges[term] = ranges[term].lowerBound..<(base.count + 1)
            base.append(posting)
        } else {
            added[term].append(posting)
        }
    }

    /// Removes row `row` (unknown rows are ignored). Its postings stay until enough are dead to
    /// be worth compacting.
    mutating func remove(row: Int64) {
        guard let document = documentByRow.removeValue(forKey: row) else { return }
        rows[Int(document)] = -1
        totalTokens -= Int64(lengths[Int(document)])
        liveDocuments -= 1
        deadDocuments += 1
        if deadDocuments > 1024, deadDocuments > liveDocuments { compact() }
    }

    /// Drops dead documents and their postings, renumbering the rest.
    private mutating func compact() {
        var renumbered = [UInt32](repeating: .max, count: rows.count)
        var next: UInt32 = 0
        for (document, row) in rows.enumerated() where row >= 0 {
            renumbered[document] = next
            next += 1
        }
        var compacted: [Posting] = []
        compacted.reserveCapacity(postingCount)
        for term in ranges.indices {
            let start = compacted.count
            for posting in base[ranges[term]] + added[term] {
                let document = renumbered[Int(posting.document)]
                if document != .max { compacted.append(Posting(document: document, frequency: posting.frequency)) }
            }
            ranges[term] = start..<compacted.count
            added[term] = []
        }
        base = compacted
        let live = rows.indices.filter { rows[$0] >= 0 }
        rows = live.map { rows[$0] }
        keys = live.map { keys[$0] }
        repositories = live.map { repositories[$0] }
        lengths = live.map { lengths[$0] }
        documentByRow = Dictionary(uniqueKeysWithValues: rows.enumerated().map { ($0.element, UInt32($0.offset)) })
        deadDocuments = 0
    }

    /// What a query phrase contributes: a one-token phrase scored from the posting lists, or the
    /// per-row contributions FTS5 computed for a longer phrase.
    enum Phrase {
        case token(String)
        case scored([(row: Int64, score: Double)])
    }

    /// The best `limit` rows for the sum of `phrases`' BM25 contributions (of `repository` only,
    /// if given), best first, ties by rowid; keys and scores.
    func search(_ phrases: [Phrase], limit: Int, repository: String?) -> [(id: String, score: Double)] {
        guard limit > 0, liveDocuments > 0 else { return [] }
        let wanted: Int32?
        if let repository {
            guard let id = repositoryIDs[repository] else { return [] }
            wanted = id
        } else {
            wanted = nil
        }
        let documents = Double(liveDocuments)
        let averageLength = Double(totalTokens) / documents
        var scores = [Double](repeating: 0, count: rows.count)
        var seen = [Bool](repeating: false, count: rows.count)
        var touched: [UInt32] = []
        for phrase in phrases {
            switch phrase {
            case .token(let term):
                guard let id = termIDs[term] else { continue }
                let lists = [base[ranges[Int(id)]], added[Int(id)][...]]
                let hits =
                    deadDocuments == 0
                    ? lists[0].count + lists[1].count
                    : lists.reduce(0) { total, list in list.reduce(total) { $0 + (rows[Int($1.document)] >= 0 ? 1 : 0) } }
                var idf = log((documents - Double(hits) + 0.5) / (Double(hits) + 0.5))
                if idf <= 0 { idf = 1e-6 }
                for list in lists {
                    for posting in list {
                        let document = Int(posting.document)
                        guard rows[document] >= 0 else { continue }
                        let frequency = Double(posting.frequency)
                        let norm = Self.k1 * (1 - Self.b + Self.b * Double(lengths[document]) / averageLength)
                        if !seen[document] {
                            seen[document] = true
                            touched.append(posting.document)
                        }
                        scores[document] += idf * (frequency * (Self.k1 + 1)) / (frequency + norm)
                    }
                }
            case .scored(let contributions):
                for (row, score) in contributions {
                    guard let document = documentByRow[row] else { continue }
                    if !seen[Int(document)] {
                        seen[Int(document)] = true
                        touched.append(document)
                    }
                    scores[Int(document)] += score
                }
            }
        }
        // The best `limit` by a bounded heap whose root is the worst kept.
        func worse(_ a: UInt32, _ b: UInt32) -> Bool {
            let (x, y) = (scores[Int(a)], scores[Int(b)])
            return x < y || (x == y && rows[Int(a)] > rows[Int(b)])
        }
        var heap: [UInt32] = []
        heap.reserveCapacity(limit)
        for document in touched {
            if let wanted, repositories[Int(document)] != wanted { continue }
            if heap.count < limit {
                heap.append(document)
                var child = heap.count - 1
                while child > 0 {
                    let parent = (child - 1) / 2
                    guard worse(heap[child], heap[parent]) else { break }
                    heap.swapAt(child, parent)
                    child = parent
                }
            } else if worse(heap[0], document) {
                heap[0] = document
                var parent = 0
                while true {
                    let left = 2 * parent + 1, right = left + 1
                    var smallest = parent
                    if left < heap.count, worse(heap[left], heap[smallest]) { smallest = left }
                    if right < heap.count, worse(heap[right], heap[smallest]) { smallest = right }
                    if smallest == parent { break }
                    heap.swapAt(parent, smallest)
                    parent = smallest
                }
            }
        }
        return heap.sorted { worse($1, $0) }.map { (id: keys[Int($0)], score: scores[Int($0)]) }
    }
}
