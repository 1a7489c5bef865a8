// `edge`: run workers locally and inspect their state, the way wrangler does.
//
//   edge dev --config edge.jsonc [--port 8787]
//   edge kv get|put|list|delete --config edge.jsonc --binding CACHE ...
//   edge blob put|get|head|ls|rm --config edge.jsonc --binding ARTIFACTS ...
//   edge queue send|stats|dlq|redrive --config edge.jsonc QUEUE ...
import ArgumentParser
import EdgePostgres
import EdgeRuntime
import EdgeS3Blob
import Foundation

/// The backends `edge` includes: the built-in ones, PostgreSQL and S3-compatible storage.
let providers = BackendProviders.builtIn.adding(PostgresProvider()).adding(S3Provider())

@main
struct Edge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge",
        abstract: "Run swift-edge workers locally and inspect their state.",
        subcommands: [Dev.self, KV.self, Blob.self, Queue.self, Objects.self, Vectors.self, AI.self]
    )
}

struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "The config file (JSON with comments).")
    var config = "edge.jsonc"

    func load() throws -> EdgeConfig {
        do {
            return try EdgeConfig.load(config, providers: providers)
        } catch let error as ConfigError {
            throw CLIError(error.description, code: 78)
        }
    }

    func bindings() throws -> EdgeBindings {
        do {
            return try EdgeBindings(config: try load(), providers: providers)
        } catch let error as ConfigError {
            throw CLIError(error.description, code: 78)
        }
    }
}

/// A failure with a message for people and an exit code for scripts.
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var code: Int32
    init(_ message: String, code: Int32 = 1) {
        self.message = message
        self.code = code
    }
    var description: String { message }
}

/// Runs `body`, turning errors into a message on stderr and an exit code (1 failure, 3 not found,
/// 78 configuration error).
func run(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as CLIError {
        FileHandle.standardError.write(Data("edge: \(error.message)\n".utf8))
        throw ExitCode(error.code)
    } catch let error as ConfigError {
        FileHandle.standardError.write(Data("edge: \(error.description)\n".utf8))
        throw ExitCode(78)
    } catch let error as ExitCode {
        throw error
    } catch {
        FileHandle.standardError.write(Data("edge: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

// MARK: dev

struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the config's worker on HTTP with its queues, crons and alarms.")

    @OptionGroup var options: ConfigOptions
    @Option(help: "Port to listen on (default: dev.port, else 8787; 0 picks a free one).")
    var port: Int?
    @Flag(help: "Write logs as JSON lines (as `log_format: json` does).") var json = false

    func run() async throws {
        try await EdgeCLI.run {
            let config = try options.load()
            switch config.main ?? "hello" {
            case "hello":
                try await EdgeHost.run(HelloWorker(), configPath: options.config, providers: providers, port: port, logFormat: json ? .json : nil)
            case let other:
                throw CLIError(
                    "\(options.config): main: no worker named \"\(other)\" is built into edge (available: hello); run your own executable with EdgeHost.run",
                    code: 78)
            }
        }
    }
}

enum EdgeCLI {
    static func run(_ body: () async throws -> Void) async throws { try await edge.run(body) }
}
