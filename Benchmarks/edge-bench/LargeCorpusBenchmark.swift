import CodeSearch
import EdgeBlob
import EdgeKV
import Embeddings
import Foundation
import VectorSearch

/// `edge-bench codesearch --corpus large`: the seed's scale — every source file of the package
/// mirrors under `/opt/swift-packages` at the fixed tags below (tests included; one copy of a
/// repository mirrored under two spellings), indexed in one run with the default configuration.
///
/// Lines: `large.files`, `large.chunks`, `large.tokens` (the WordPiece tokens MiniLM reads for
/// the chunks' texts, whichever model ran), `large.index` (s, from the first file read to searchable:
/// chunked, embedded, lexical and vector indexes built; target 300), `large.rss` (MiB, the
/// process's peak resident memory), `large.search_p50` / `large.search_p99` (ms, warm, the dev
/// sets' queries over the whole corpus; target p99 < 50). `--limit N` indexes only the first
/// packages of the list, up to N files, for a quick look (the lines then say so). `--model
/// hashing` embeds with `HashingEmbedder`: the pipeline without the neural model. `--keep DIR`
/// builds the index in DIR and keeps it; run again with the same DIR, only the searches are measured.
struct LargeCorpusBenchmark {
    let options: BenchOptions

    /// Mirrored repositories and the tags the corpus takes them at, largest first.
    static let packages: [(repository: String, tag: String)] = [
        ("apple/swift-protobuf", "1.39.0"),
        ("apple/swift-syntax", "603.0.1"),
        ("apple/swift-collections", "1.6.0"),
        ("apple/swift-crypto", "4.5.2"),
        ("apple/swift-nio", "2.101.3"),
        ("apple/swift-nio-ssl", "2.37.6"),
        ("groue/GRDB.swift", "7.10.0"),
        ("swiftwasm/WasmKit", "0.4.2"),
        ("mattpolzin/OpenAPIKit", "6.4.0"),
        ("vapor/vapor", "4.122.3"),
        ("apple/swift-openapi-generator", "1.14.3"),
        ("OpenCombine/OpenCombine", "0.14.0"),
        ("grpc/grpc-swift-2", "2.4.3"),
        ("vapor/postgres-nio", "1.33.2"),
        ("slashmo/swift-otel", "1.6.0"),
        ("hummingbird-project/hummingbird", "2.28.1"),
        ("slashmo/swift-otel-semantic-conventions", "1.44.0"),
        ("apple/swift-argument-parser", "1.8.2"),
        ("grpc/grpc-swift-nio-transport", "2.9.2"),
        ("vapor/fluent-kit", "1.57.0"),
        ("GraphQLSwift/GraphQL", "4.3.0"),
        ("apple/swift-nio-extras", "1.35.2"),
        ("apple/swift-nio-http2", "1.46.0"),
        ("pointfreeco/swift-parsing", "0.15.2"),
        ("apple/swift-certificates", "1.21.1"),
        ("swhitty/FlyingFox", "0.27.1"),
        ("swift-server/async-http-client", "1.37.0"),
        ("CoreOffice/XMLCoder", "0.18.2"),
        ("apple/swift-async-algorithms", "1.1.4"),
        ("Quick/Nimble", "14.0.0"),
        ("Quick/Quick", "7.6.2"),
        ("vapor/sql-kit", "3.36.0"),
        ("apple/swift-docc-plugin", "1.5.0"),
        ("apple/swift-openapi-runtime", "1.13.4"),
        ("apple/swift-configuration", "1.4.0"),
        ("vapor/jwt-kit", "5.8.0"),
        ("apple/swift-nio-ssh", "0.15.1"),
        ("ordo-one/package-benchmark", "1.38.1"),
        ("ordo-one/benchmark", "1.38.1"),
        ("modelcontextprotocol/swift-sdk", "0.12.1"),
        ("JohnSundell/Plot", "0.14.0"),
        ("GraphQLSwift/Graphiti", "3.1.0"),
        ("apple/swift-system", "1.8.1"),
        ("vapor/console-kit", "4.16.2"),
        ("pointfreeco/swift-dependencies", "1.17.1"),
        ("pointfreeco/swift-macro-testing", "0.7.0"),
        ("apple/swift-atomics", "1.3.0"),
        ("apple/swift-docc-symbolkit", "1.0.0"),
        ("attaswift/BigInt", "6.0.1"),
        ("x-sheep/swift-property-based", "2.0.1"),
        ("davecom/SwiftGraph", "4.0.0"),
        ("pointfreeco/swift-snapshot-testing", "1.19.7"),
        ("jpsim/Yams", "6.2.2"),
        ("apple/swift-algorithms", "1.2.1"),
        ("JohnSundell/Ink", "0.6.0"),
        ("Swinject/Swinject", "2.10.0"),
        ("stencilproject/Stencil", "0.15.1"),
        ("drmohundro/SWXMLHash", "8.1.1"),
        ("weichsel/ZIPFoundation", "0.9.20"),
        ("pointfreeco/swift-custom-dump", "1.7.3"),
        ("apple/swift-distributed-tracing", "1.7.3"),
        ("grpc/grpc-swift-protobuf", "2.4.1"),
        ("apple/swift-nio-transport-services", "1.28.0"),
        ("apple/swift-subprocess", "1.0.2"),
        ("apple/swift-numerics", "1.1.1"),
        ("vapor/async-kit", "1.22.0"),
        ("kylef/Spectre", "0.10.1"),
        ("apple/swift-log", "1.16.2"),
        ("LebJe/TOMLKit", "0.6.0"),
        ("hummingbird-project/swift-websocket", "1.6.2"),
        ("vapor/leaf-kit", "1.14.3"),
        ("pointfreeco/swift-case-paths", "1.10.0"),
        ("google/swift-benchmark", "0.1.2"),
        ("hummingbird-project/hummingbird-auth", "2.5.0"),
        ("pointfreeco/xctest-dynamic-overlay", "1.13.1"),
        ("apple/swift-asn1", "1.7.4"),
        ("apple/swift-http-structured-headers", "1.7.0"),
        ("onevcat/Rainbow", "4.2.2"),
        ("hummingbird-project/swift-mustache", "2.1.1"),
        ("apple/swift-http-types", "1.8.0"),
        ("vapor/multipart-kit", "4.7.1"),
        ("pointfreeco/swift-identified-collections", "1.1.1"),
        ("vapor/sqlite-nio", "1.13.2"),
        ("vapor/fluent", "4.13.0"),
        ("ordo-one/TextTable", "0.0.2"),
        ("swift-server/swift-service-lifecycle", "2.13.0"),
        ("swiftcsv/SwiftCSV", "0.10.0"),
        ("pointfreeco/combine-schedulers", "1.2.2"),
        ("vapor/fluent-postgres-driver", "2.14.0"),
        ("vapor/jwt", "5.2.0"),
        ("swift-server/swift-prometheus", "2.4.1"),
        ("pointfreeco/swift-concurrency-extras", "1.4.3"),
        ("vapor/postgres-kit", "2.17.0"),
        ("yaslab/CSV.swift", "2.5.2"),
        ("apple/swift-metrics", "2.13.0"),
        ("apple/swift-openapi-urlsession", "1.4.0"),
        ("slashmo/swift-w3c-trace-context", "1.0.0"),
        ("hummingbird-project/hummingbird-websocket", "2.8.1"),
        ("pointfreeco/swift-clocks", "1.1.1"),
        ("adam-fowler/compress-nio", "1.5.0"),
        ("vapor/websocket-kit", "2.16.2"),
        ("swift-server/swift-openapi-vapor", "1.2.0"),
        ("vapor/sqlite-kit", "4.5.2"),
        ("ordo-one/malloc-interposer", "1.6.1"),
        ("mattt/EventSource", "1.1.1"),
        ("vapor/fluent-sqlite-driver", "4.9.0"),
        ("mattgallagher/CwlPreconditionTesting", "2.2.2"),
        ("vapor/leaf", "4.5.2"),
        ("pointfreeco/swift-tagged", "0.10.0"),
        ("swift-extras/swift-extras-base64", "1.2.0"),
        ("mxcl/Version", "2.2.1"),
        ("vapor/routing-kit", "4.9.3"),
        ("apple/swift-service-context", "1.5.1"),
        ("HdrHistogram/hdrhistogram-swift", "0.2.0"),
        ("kylef/PathKit", "1.0.1"),
        ("mattgallagher/CwlCatchException", "2.2.1"),
        ("JohnSundell/Files", "4.3.0"),
        ("swift-server/swift-openapi-async-http-client", "1.5.0"),
        ("hummingbird-project/swift-openapi-hummingbird", "2.1.0"),
    ]

    static let mirrors = "/opt/swift-packages"
    /// The source files the corpus takes (what CodeChunker splits along declarations).
    static let extensions = ["swift", "c", "h", "cc", "cpp", "py", "ts", "js", "go", "rs"]

    func run() async throws {
        let scratch: String
        if let kept = options.keepDirectory {
            scratch = kept
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        } else {
            scratch = try options.scratchDirectory("codesearch-large")
        }
        defer { if options.keepDirectory == nil { try? FileManager.default.removeItem(atPath: scratch) } }
        // A complete index kept by an earlier `--keep` run: only the searches are measured again.
        let marker = scratch + "/indexed.json"
        let reused = FileManager.default.fileExists(atPath: marker)
        if !reused, options.keepDirectory != nil, try !FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty {
            // An interrupted run's files would be resumed and the figures would count only the rest.
            throw BenchError(message: "\(scratch) holds files but no complete index (indexed.json): give --keep an empty or new directory")
        }
        let root = scratch + "/corpus"
        let (files, packages) = reused ? (0, 0) : try Self.build(root: root, limit: options.limit)
        if !reused {
            FileHandle.standardError.write(Data("edge-bench: corpus of \(files) source files from \(packages) packages in \(root)\n".utf8))
        }

        guard ["minilm", "hashing"].contains(options.model) else { throw BenchError(message: "--model takes minilm or hashing, not \(options.model)") }
        let minilm = try MiniLM(directory: MiniLM.locateOrInstallWeights { FileHandle.standardError.write(Data("edge-bench: \($0)\n".utf8)) })
        let model: any EmbeddingModel = options.model == "hashing" ? HashingEmbedder() : minilm
        let cache = try SQLiteKV(namespace: "EMBEDDING_CACHE", stateDirectory: scratch)
        let cached = try CachedEmbeddingModel(model, cache: cache, ttl: nil)
        let chunkStore = try SQLiteChunkStore(path: scratch + "/chunks.sqlite")
        let vectors = try HNSWIndex(
            name: "code", stateDirectory: scratch, configuration: VectorIndexConfiguration(dimensions: 384, indexedMetadataFields: ["repo", "key"]))
        let lexical = try SQLiteLexicalIndex(path: scratch + "/lexical.sqlite")
        let index = CodeIndex(
            model: cached, vectors: vectors, chunks: chunkStore,
            lexical: lexical, artifacts: try FileBlob(bucket: "artifacts", stateDirectory: scratch))
        if reused {
            let kept = try JSONDecoder().decode(KeptIndex.self, from: Data(contentsOf: URL(fileURLWithPath: marker)))
            guard kept.model == model.modelID else { throw BenchError(message: "\(scratch) holds an index embedded by \(kept.model), not \(model.modelID)") }
            guard kept.limit == options.limit else {
                throw BenchError(
                    message: "\(scratch) holds the index of \(kept.limit.map { "the first \($0) files" } ?? "the whole corpus"), not of what was asked")
            }
            FileHandle.standardError.write(Data("edge-bench: the index kept in \(scratch) (\(kept.files) files, \(kept.chunks) chunks); searches only\n".utf8))
            try await measureSearches(index, lexical: lexical, scope: ["corpus": quote("kept"), "model": quote(model.modelID)])
            return
        }
        let started = seconds()
        let report = try await index.index(source: .local(root), repo: "large")
        let elapsed = seconds() - started
        let scope: [String: String] = [
            "packages": "\(packages)", "corpus": options.limit == nil ? quote("whole") : quote("first \(files) files (--limit)"),
            "model": quote(model.modelID),
        ]
        BenchLine(suite: "codesearch", name: "large.files", value: Double(report.files), unit: "files", extra: scope).print()
        BenchLine(suite: "codesearch", name: "large.chunks", value: Double(report.chunks), unit: "chunks", extra: scope).print()
        // The work the neural model has to do, whichever model ran: every chunk's embedded text
        // (its path and text) in WordPiece tokens, truncated as MiniLM truncates.
        var tokens = 0
        let keys = try await chunkStore.keys(repo: "large")
        for start in stride(from: 0, to: keys.count, by: 2_000) {
            for stored in try await chunkStore.chunks(keys: Array(keys[start..<min(start + 2_000, keys.count)])).values {
                tokens += minilm.tokenizer.encode("\(stored.chunk.path)\n\(stored.chunk.text)", maxTokens: minilm.maxInputTokens).count
            }
        }
        BenchLine(
            suite: "codesearch", name: "large.tokens", value: Double(tokens), unit: "tokens",
            extra: scope.merging(["per_chunk": number(Double(tokens) / Double(max(1, keys.count))), "note": quote("chunk texts only; glosses add more")]) { $1 }
        ).print()
        BenchLine(
            suite: "codesearch", name: "large.index", value: elapsed, unit: "s",
            extra: scope.merging(
                [
                    "chunks_per_s": number(Double(report.chunks) / elapsed), "cache_hits": "\(report.cacheHits)", "target": "300",
                    "lower_is_better": "true",
                ]) { $1 }
        ).print()
        BenchLine(suite: "codesearch", name: "large.rss", value: Self.peakResidentMiB(), unit: "MiB", extra: scope.merging(["lower_is_better": "true"]) { $1 })
            .print()

        if options.keepDirectory != nil {
            try JSONEncoder().encode(KeptIndex(model: model.modelID, limit: options.limit, files: report.files, chunks: report.chunks)).write(
                to: URL(fileURLWithPath: marker))
        }
        try await measureSearches(index, lexical: lexical, scope: scope)
    }

    /// Search latency, warm: the lexical postings loaded into memory first (`large.lexical_load`,
    /// once per process), then the dev sets' queries over the whole corpus, several rounds; then
    /// the lexical and the semantic rankings alone (`large.lexical_*`, `large.semantic_*`), to
    /// show where the time goes, and the same lexical ranking computed by FTS5's `bm25()`
    /// (`large.lexical_fts5_*`), which the in-memory postings replace.
    private func measureSearches(_ index: CodeIndex, lexical: SQLiteLexicalIndex, scope: [String: String]) async throws {
        let peakBefore = Self.peakResidentMiB()
        let loadStarted = seconds()
        let loaded = try await lexical.warm()
        BenchLine(
            suite: "codesearch", name: "large.lexical_load", value: seconds() - loadStarted, unit: "s",
            extra: scope.merging(
                [
                    "chunks": "\(loaded)", "peak_rss_before_mib": number(peakBefore), "peak_rss_after_mib": number(Self.peakResidentMiB()),
                    "lower_is_better": "true",
                    "note": quote("the lexical postings read from FTS5 into memory, once per process"),
                ]) { $1 }
        ).print()
        let here = FileManager.default.currentDirectoryPath
        let bench = CodeSearchBenchmark(options: options)
        let queries =
            (try bench.loadQueries(here + "/Benchmarks/data/codesearch-dev.jsonl")
            + bench.loadQueries(here + "/Benchmarks/data/codesearch-dev-grdb.jsonl")).map(\.query)
        for query in queries.prefix(5) { _ = try await index.search(query, top: 10) }
        func measure(_ name: String, target: String? = nil, _ body: (String) async throws -> Void) async throws {
            var latencies: [Double] = []
            for _ in 0..<max(3, options.rounds) {
                for query in queries {
                    let start = seconds()
                    try await body(query)
                    latencies.append((seconds() - start) * 1000)
                }
            }
            latencies.sort()
            func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
            var extra = scope.merging(["searches": "\(latencies.count)", "lower_is_better": "true"]) { $1 }
            BenchLine(suite: "codesearch", name: "large.\(name)_p50", value: percentile(0.5), unit: "ms", extra: extra).print()
            if let target { extra["target"] = target }
            BenchLine(suite: "codesearch", name: "large.\(name)_p99", value: percentile(0.99), unit: "ms", extra: extra).print()
        }
        try await measure("search", target: "50") { _ = try await index.search($0, top: 10) }
        try await measure("lexical") { _ = try await lexical.search($0, limit: CodeIndex.candidates, repo: nil) }
        try await measure("semantic") { _ = try await index.vectorCandidates($0, repo: nil) }
        try await measure("lexical_fts5") { _ = try await lexical.searchFTS5($0, limit: CodeIndex.candidates, repo: nil) }
    }

    /// Writes the corpus under `root` (`OWNER/NAME/...` per package) with `git archive`, source
    /// files only; stops after the package that reaches `limit` files. Returns the files written
    /// and the packages they came from.
    static func build(root: String, limit: Int?) throws -> (files: Int, packages: Int) {
        var files = 0, used = 0
        for (repository, tag) in packages {
            if let limit, files >= limit { break }
            guard let gitDirectory = locate(repository) else {
                FileHandle.standardError.write(Data("edge-bench: no mirror of \(repository) under \(mirrors); left out\n".utf8))
                continue
            }
            let destination = root + "/" + repository
            try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
            try shell("git --git-dir='\(gitDirectory)' archive --format=tar '\(tag)' | tar -x -C '\(destination)'")
            try removeNonSource(destination)
            files += count(destination)
            used += 1
        }
        return (files, used)
    }

    /// The bare mirror of `repository` (owner and name matched without regard to case).
    static func locate(_ repository: String) -> String? {
        let exact = mirrors + "/" + repository + ".git"
        if FileManager.default.fileExists(atPath: exact) { return exact }
        let wanted = repository.lowercased() + ".git"
        guard let enumerator = FileManager.default.enumerator(atPath: mirrors) else { return nil }
        while let path = enumerator.nextObject() as? String {
            if path.lowercased() == wanted { return mirrors + "/" + path }
            if path.split(separator: "/").count >= 2 { enumerator.skipDescendants() }
        }
        return nil
    }

    /// Deletes every file under `directory` that is not a source file of ``extensions``.
    static func removeNonSource(_ directory: String) throws {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return }
        var doomed: [String] = []
        while let path = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let full = directory + "/" + path
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue,
                !extensions.contains((path as NSString).pathExtension)
            {
                doomed.append(full)
            }
        }
        for path in doomed { try FileManager.default.removeItem(atPath: path) }
    }

    static func count(_ directory: String) -> Int {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return 0 }
        var files = 0
        while let path = enumerator.nextObject() as? String {
            if extensions.contains((path as NSString).pathExtension) { files += 1 }
        }
        return files
    }

    static func shell(_ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchError(message: "corpus: `\(command)` failed") }
    }

    /// The peak resident set of this process (VmHWM), in MiB.
    static func peakResidentMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes / 1024
    }
}

/// What `--keep DIR` records of a complete index (`indexed.json`).
struct KeptIndex: Codable {
    var model: String
    /// `--limit`, if the corpus was cut.
    var limit: Int?
    var files: Int
    var chunks: Int
}
