import ArgumentParser
import EdgeBlob
import EdgeKV
import EdgeRuntime
import Foundation

// MARK: kv

struct KV: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kv", abstract: "Read and write a KV namespace of the config.",
        subcommands: [Get.self, Put.self, List.self, Delete.self])

    struct Target: ParsableArguments {
        @OptionGroup var options: ConfigOptions
        @Option(help: "The binding name of the namespace (kv_namespaces[].binding).")
        var binding: String

        func namespace() throws -> any KVNamespace { try options.bindings().kv(binding) }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a value (exit code 3 when the key does not exist).")
        @OptionGroup var target: Target
        @Argument var key: String
        @Flag(help: "Print the value, metadata and expiration as JSON.") var json = false

        func run() async throws {
            try await EdgeCLI.run {
                guard let entry = try await target.namespace().getWithMetadata(key) else { throw CLIError("no key \"\(key)\"", code: 3) }
                if json {
                    try printJSON([
                        "value": JSONValue.string(entry.text), "metadata": entry.metadata ?? .null, "expiration": entry.expiration.map { .int($0) } ?? .null,
                    ])
                } else {
                    FileHandle.standardOutput.write(Data(entry.value))
                }
            }
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Store a value (from the argument, or stdin when omitted).")
        @OptionGroup var target: Target
        @Argument var key: String
        @Argument var value: String?
        @Option(help: "Expire after this many seconds (at least 60).") var ttl: Int64?
        @Option(help: "JSON metadata to store with the value.") var metadata: String?

        func run() async throws {
            try await EdgeCLI.run {
                let bytes = value.map { Array($0.utf8) } ?? Array(FileHandle.standardInput.readDataToEndOfFile())
                let parsed = try metadata.map { try JSONValue(parsing: Data($0.utf8)) }
                try await target.namespace().put(key, value: bytes, options: KVPutOptions(expirationTtl: ttl, metadata: parsed))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys, in UTF-8 byte order.")
        @OptionGroup var target: Target
        @Option(help: "Only keys with this prefix.") var prefix: String?
        @Flag(help: "Print the keys with expiration and metadata as JSON lines.") var json = false

        func run() async throws {
            try await EdgeCLI.run {
                for key in try await target.namespace().listAll(prefix: prefix) {
                    if json {
                        try printJSON([
                            "name": JSONValue.string(key.name), "expiration": key.expiration.map { .int($0) } ?? .null, "metadata": key.metadata ?? .null,
                        ])
                    } else {
                        print(key.name)
                    }
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete keys.")
        @OptionGroup var target: Target
        @Argument var keys: [String]

        func run() async throws {
            try await EdgeCLI.run { try await target.namespace().delete(keys) }
        }
    }
}

// MARK: blob

struct Blob: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blob", abstract: "Read and write a blob bucket of the config.",
        subcommands: [Put.self, Get.self, Head.self, Ls.self, Rm.self])

    struct Target: ParsableArguments {
        @OptionGroup var options: ConfigOptions
        @Option(help: "The binding name of the bucket (r2_buckets[].binding).")
        var binding: String

        func bucket() throws -> any BlobBucket { try options.bindings().bucket(binding) }
    }

    /// Prints a progress bar on stderr for transfers of more than 8 MiB.
    final class Progress: @unchecked Sendable {
        let total: Int
        var done = 0
        var lastPercent = -1
        init(total: Int) { self.total = total }
        func advance(_ count: Int) {
            done += count
            guard total > 8 << 20 else { return }
            let percent = done * 100 / max(total, 1)
            if percent != lastPercent {
                lastPercent = percent
                let bar = String(repeating: "#", count: percent / 4) + String(repeating: ".", count: 25 - percent / 4)
                FileHandle.standardError.write(Data("\r[\(bar)] \(percent)% \(done >> 20)/\(total >> 20) MiB".utf8))
                if done >= total { FileHandle.standardError.write(Data("\n".utf8)) }
            }
        }
    }

    struct FileChunks: AsyncSequence, Sendable {
        typealias Element = [UInt8]
        let path: String
        let progress: Progress

        struct AsyncIterator: AsyncIteratorProtocol {
            let handle: FileHandle
            let progress: Progress
            mutating func next() async throws -> [UInt8]? {
                let data = try handle.read(upToCount: 1 << 20) ?? Data()
                if data.isEmpty { return nil }
                progress.advance(data.count)
                return Array(data)
            }
        }

        func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(handle: FileHandle(forReadingAtPath: path)!, progress: progress)
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Upload a file, streamed (never whole in memory).")
        @OptionGroup var target: Target
        @Argument var key: String
        @Option(help: "The file to upload.") var file: String
        @Option(help: "Content-Type to store.") var contentType: String?
        @Flag(help: "Print the stored object as JSON.") var json = false

        func run() async throws {
            try await EdgeCLI.run {
                guard let attributes = try? FileManager.default.attributesOfItem(atPath: file), let size = attributes[.size] as? Int else {
                    throw CLIError("cannot read \(file)")
                }
                let object = try await target.bucket().put(
                    key, body: .stream(FileChunks(path: file, progress: Progress(total: size))),
                    options: BlobPutOptions(httpMetadata: BlobHTTPMetadata(contentType: contentType)))
                if json, let object { try printJSON(describe(object)) } else if let object { print("\(object.key) \(object.size) bytes etag \(object.etag)") }
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Download an object to a file or stdout (exit code 3 when missing).")
        @OptionGroup var target: Target
        @Argument var key: String
        @Option(help: "Write here instead of stdout.") var output: String?

        func run() async throws {
            try await EdgeCLI.run {
                guard let result = try await target.bucket().get(key), let body = result.body else { throw CLIError("no object \"\(key)\"", code: 3) }
                let handle: FileHandle
                if let output {
                    _ = FileManager.default.createFile(atPath: output, contents: nil)
                    guard let opened = FileHandle(forWritingAtPath: output) else { throw CLIError("cannot write \(output)") }
                    handle = opened
                } else {
                    handle = FileHandle.standardOutput
                }
                let progress = Progress(total: output == nil ? 0 : result.object.size)
                for try await chunk in body {
                    handle.write(Data(chunk))
                    progress.advance(chunk.count)
                }
            }
        }
    }

    struct Head: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print an object's metadata as JSON (exit code 3 when missing).")
        @OptionGroup var target: Target
        @Argument var key: String

        func run() async throws {
            try await EdgeCLI.run {
                guard let object = try await target.bucket().head(key) else { throw CLIError("no object \"\(key)\"", code: 3) }
                try printJSON(describe(object))
            }
        }
    }

    struct Ls: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List objects (with --delimiter, the prefixes they roll up into).")
        @OptionGroup var target: Target
        @Option var prefix: String?
        @Option var delimiter: String?
        @Flag(help: "JSON lines.") var json = false

        func run() async throws {
            try await EdgeCLI.run {
                let bucket = try target.bucket()
                var cursor: String?
                repeat {
                    let page = try await bucket.list(prefix: prefix, delimiter: delimiter, cursor: cursor, include: [.httpMetadata, .customMetadata])
                    for prefix in page.delimitedPrefixes { json ? try printJSON(["prefix": prefix]) : print(prefix) }
                    for object in page.objects { json ? try printJSON(describe(object)) : print("\(object.size)\t\(object.key)") }
                    cursor = page.truncated ? page.cursor : nil
                } while cursor != nil
            }
        }
    }

    struct Rm: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete objects.")
        @OptionGroup var target: Target
        @Argument var keys: [String]

        func run() async throws {
            try await EdgeCLI.run { try await target.bucket().delete(keys) }
        }
    }
}

func describe(_ object: BlobObject) -> [String: JSONValue] {
    var fields: [String: JSONValue] = [
        "key": .string(object.key), "size": .int(Int64(object.size)), "etag": .string(object.etag), "version": .string(object.version),
        "uploaded": .string(ISO8601DateFormatter().string(from: object.uploaded)),
        "customMetadata": .object(object.customMetadata.mapValues { .string($0) }),
    ]
    if let type = object.httpMetadata.contentType { fields["contentType"] = .string(type) }
    return fields
}

// MARK: queue

struct Queue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue", abstract: "Send to, inspect and redrive the config's queues.",
        subcommands: [Send.self, Stats.self, DLQ.self, Redrive.self])

    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send one message (JSON by default).")
        @OptionGroup var options: ConfigOptions
        @Argument var queue: String
        @Argument(help: "The body: JSON, or text with --text.") var body: String
        @Flag(help: "Send the body as text instead of JSON.") var text = false
        @Option(help: "Seconds before the message becomes visible.") var delay: Double = 0

        func run() async throws {
            try await EdgeCLI.run {
                let backend = try options.bindings().queueBackend
                if text {
                    try await QueueProducer<String>(queue: queue, backend: backend).send(body, contentType: .text, delaySeconds: delay)
                } else {
                    let parsed = try JSONValue(parsing: Data(body.utf8))
                    try await QueueProducer<JSONValue>(queue: queue, backend: backend).send(parsed, delaySeconds: delay)
                }
            }
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Backlog, in flight, delayed and oldest message age.")
        @OptionGroup var options: ConfigOptions
        @Argument var queue: String
        @Flag var json = false

        func run() async throws {
            try await EdgeCLI.run {
                let stats = try await options.bindings().queueBackend.stats(queue)
                if json {
                    try printJSON([
                        "backlog": stats.backlog, "inFlight": stats.inFlight, "delayed": stats.delayed, "oldestMessageAgeSeconds": Int(stats.oldestMessageAge),
                    ])
                } else {
                    print("backlog \(stats.backlog), in flight \(stats.inFlight), delayed \(stats.delayed), oldest \(Int(stats.oldestMessageAge)) s")
                }
            }
        }
    }

    struct DLQ: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "dlq", abstract: "List the messages of a dead-letter queue.")
        @OptionGroup var options: ConfigOptions
        @Argument var queue: String
        @Option var limit = 100

        func run() async throws {
            try await EdgeCLI.run {
                for message in try await options.bindings().queueBackend.peek(queue, limit: limit) {
                    try printJSON([
                        "id": JSONValue.string(message.id), "sourceQueue": message.sourceQueue.map { .string($0) } ?? .null,
                        "body": .string(String(decoding: message.body, as: UTF8.self)), "contentType": .string(message.contentType.rawValue),
                    ])
                }
            }
        }
    }

    struct Redrive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move a dead-letter queue's messages back to the queues they failed on.")
        @OptionGroup var options: ConfigOptions
        @Argument var queue: String
        @Option(help: "Send them here instead of their source queue.") var to: String?

        func run() async throws {
            try await EdgeCLI.run {
                print("redrove \(try await options.bindings().queueBackend.redrive(from: queue, to: to)) messages")
            }
        }
    }
}
