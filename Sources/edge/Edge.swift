// `edge`: run workers locally and inspect their state, the way wrangler does.
//
//   edge dev --config edge.jsonc [--port 8787]
//   edge kv get|put|list|delete --config edge.jsonc --binding CACHE ...
//   edge blob put|get|head|ls|rm --config edge.jsonc --binding ARTIFACTS ...
//   edge queue send|stats|dlq|redrive --config edge.jsonc QUEUE ...
import ArgumentParser
import EdgeIsolates
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
        subcommands: [Dev.self, Build.self, KV.self, Blob.self, Queue.self, Objects.self, Vectors.self, AI.self]
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
            if !config.routes.isEmpty {
                // Several WebAssembly workers, routed by host and path (Docs/isolates.md). Logging
                // first: the workers' loggers keep the handler they are made with.
                _ = EdgeLogging.bootstrap(format: json ? .json : config.logFormat)
                let router = try WasmRouter(config: config, providers: providers, reloadEvery: .milliseconds(250))
                try await EdgeHost.run(router, configPath: options.config, providers: providers, port: port, logFormat: json ? .json : nil)
                return
            }
            switch config.main ?? "hello" {
            case "hello":
                try await EdgeHost.run(HelloWorker(), configPath: options.config, providers: providers, port: port, logFormat: json ? .json : nil)
            case let path where path.hasSuffix(".wasm"):
                // A WebAssembly worker (Docs/isolates.md), its path relative to the config file,
                // reloaded when the file changes.
                let file = path.hasPrefix("/") ? path : URL(fileURLWithPath: options.config).deletingLastPathComponent().appendingPathComponent(path).path
                let worker: WasmWorker
                do {
                    worker = try WasmWorker(contentsOf: file, name: config.name, limits: IsolateLimits(config.limits.isolate), reloadEvery: .milliseconds(250))
                } catch {
                    throw CLIError("\(options.config): main: cannot load \(file): \(error)", code: 78)
                }
                try await EdgeHost.run(worker, configPath: options.config, providers: providers, port: port, logFormat: json ? .json : nil)
            case let other:
                throw CLIError(
                    "\(options.config): main: no worker named \"\(other)\" is built into edge (available: hello, or a path ending in .wasm); run your own executable with EdgeHost.run",
                    code: 78)
            }
        }
    }
}

// MARK: build

struct Build: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile a worker to WebAssembly: Embedded Swift with the guest SDK, or C with edge.h (Docs/isolates.md).")

    @Argument(help: "The directory of the worker's sources (.swift files, else .c files).")
    var directory: String
    @Option(name: .shortAndLong, help: "The module to write (default: the directory's name with .wasm).")
    var output: String?
    @Flag(help: "Print what was written as JSON ({\"path\":…,\"bytes\":…}).") var json = false

    func run() async throws {
        try await EdgeCLI.run {
            let bytes: [UInt8]
            do {
                bytes = try GuestToolchain.build(directory: directory)
                try IsolateModule(bytes: bytes).checkWorker()
            } catch let error as GuestToolchain.BuildError {
                throw CLIError(error.description, code: 1)
            } catch let error as IsolateError {
                throw CLIError("the module does not follow the isolate ABI: \(error)", code: 1)
            }
            let path = output ?? URL(fileURLWithPath: directory).standardized.lastPathComponent + ".wasm"
            // Atomically: `edge dev` may be watching the file.
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
            if json {
                try printJSON(BuildResult(path: path, bytes: bytes.count))
            } else {
                print("wrote \(path) (\(bytes.count) bytes)")
            }
        }
    }
}

/// What `edge build --json` prints.
struct BuildResult: Encodable {
    var path: String
    var bytes: Int
}

enum EdgeCLI {
    static func run(_ body: () async throws -> Void) async throws { try await edge.run(body) }
}
