import ArgumentParser
import EdgeBlob
import EdgeCoordinator
import EdgeKV
import EdgeRuntime
import Foundation
import VectorSearch

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
        @Flag(help: "Print what was stored as JSON.") var json = false

        func run() async throws {
            try await EdgeCLI.run {
                let bytes = value.map { Array($0.utf8) } ?? Array(FileHandle.standardInput.readDataToEndOfFile())
                let parsed = try metadata.map { try JSONValue(parsing: Data($0.utf8)) }
                try await target.namespace().put(key, value: bytes, options: KVPutOptions(expirationTtl: ttl, metadata: parsed))
                if json { try printJSON(["key": JSONValue.string(key), "bytes": .int(Int64(bytes.count)), "ttl": ttl.map { .int($0) } ?? .null]) }
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
        @Flag(help: "Print the deleted keys as JSON.") var json = false

        func run() async throws {
            try await EdgeCLI.run {
                try await target.namespace().delete(keys)
                if json { try printJSON(["deleted": JSONValue.array(keys.map { .string($0) })]) }
            }
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

    /// Prints a progress bar on stderr for transfers of more than 8 MiB, when stderr is a
    /// terminal (never into a file, a pipe or a CI log).
    final class Progress: @unchecked Sendable {
        let total: Int
        let shown: Bool
        var done = 0
        var lastPercent = -1
        init(total: Int) {
            self.total = total
            shown = total > 8 << 20 && isatty(STDERR_FILENO) == 1
        }
        func advance(_ count: Int) {
            done += count
            guard shown else { return }
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
        @Flag(help: "With --output: print the object's metadata as JSON once written.") var json = false

        func run() async throws {
            try await EdgeCLI.run {
                if json && output == nil { throw CLIError("--json needs --output (the body goes to stdout otherwise)", code: 64) }
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
                if json { try printJSON(describe(result.object)) }
            }
        }
    }

    struct Head: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print an object's metadata as JSON (exit code 3 when missing).")
        @OptionGroup var target: Target
        @Argument var key: String
        @Flag(help: "JSON (the only format; accepted like every command's --json).") var json = false

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
        @Flag(help: "Print the deleted keys as JSON.") var json = false

        func run() async throws {
            try await EdgeCLI.run {
                try await target.bucket().delete(keys)
                if json { try printJSON(["deleted": JSONValue.array(keys.map { .string($0) })]) }
            }
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
        subcommands: [Send.self, Stats.self, Peek.self, DLQ.self, Redrive.self])

    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send one message (JSON by default).")
        @OptionGroup var options: ConfigOptions
        @Argument var queue: String
        @Argument(help: "The body: JSON, or text with --text.") var body: String
        @Flag(help: "Send the body as text instead of JSON.") var text = false
        @Option(help: "Seconds before the message becomes visible.") var delay: Double = 0
        @Flag(help: "Print what was sent as JSON.") var json = false

        func run() async throws {
            try await EdgeCLI.run {
                let backend = try options.bindings().queueBackend
                if text {
                    try await QueueProducer<String>(queue: queue, backend: backend).send(body, contentType: .text, delaySeconds: delay)
                } else {
                    let parsed = try JSONValue(parsing: Data(body.utf8))
                    try await QueueProducer<JSONValue>(queue: queue, backend: backend).send(parsed, delaySeconds: delay)
                }
                if json {
                    try printJSON([
                        "queue": JSONValue.string(queue), "sent": .int(1), "contentType": .string(text ? "text" : "json"), "delaySeconds": .double(delay),
                    ])
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

    struct Peek: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a queue's messages, oldest first, without claiming them (in flight and delayed ones included).")
        @OptionGroup var options: ConfigOptions
        @Argument var queue: String
        @Option(help: "At most this many messages, 1...1000.") var limit = 20
        @Flag(help: "One JSON object per message.") var json = false

        func run() async throws {
            try await EdgeCLI.run {
                guard (1...1000).contains(limit) else { throw CLIError("--limit is \(limit); it must be in 1...1000") }
                let messages = try await options.bindings().queueBackend.peek(queue, limit: limit)
                for message in messages {
                    let body = String(decoding: message.body, as: UTF8.self)
                    if json {
                        try printJSON([
                            "id": JSONValue.string(message.id), "attempts": .int(Int64(message.attempts)),
                            "timestamp": .string(ISO8601DateFormatter().string(from: message.timestamp)), "contentType": .string(message.contentType.rawValue),
                            "body": .string(body), "sourceQueue": message.sourceQueue.map { .string($0) } ?? .null,
                        ])
                    } else {
                        print("\(message.id)  attempts \(message.attempts)  \(message.contentType.rawValue)  \(body)")
                    }
                }
            }
        }
    }

    struct DLQ: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "dlq", abstract: "List the messages of a dead-letter queue.")
        @OptionGroup var options: ConfigOptions
        @Argument var queue: String
        @Option var limit = 100
        @Flag(help: "JSON lines (the only format; accepted like every command's --json).") var json = false

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
        @Flag(help: "Print the count as JSON.") var json = false

        func run() async throws {
            try await EdgeCLI.run {
                let moved = try await options.bindings().queueBackend.redrive(from: queue, to: to)
                if json {
                    try printJSON(["from": JSONValue.string(queue), "to": to.map { .string($0) } ?? .null, "redriven": .int(Int64(moved))])
                } else {
                    print("redrove \(moved) messages")
                }
            }
        }
    }
}

// MARK: vectors

struct Vectors: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vectors", abstract: "Inspect and query the config's vector indexes.", subcommands: [Info.self, Query.self, Get.self])

    struct Target: ParsableArguments {
        @OptionGroup var options: ConfigOptions
        @Option(help: "The binding name of the index (vectorize[].binding).")
        var binding: String

        func index() throws -> any VectorIndex { try options.bindings().vectorize(binding) }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Dimensions, metric and vector count.")
        @OptionGroup var target: Target
        @Flag var json = false

        func run() async throws {
            try await EdgeCLI.run {
                let info = try await target.index().describe()
                if json {
                    try printJSON([
                        "dimensions": JSONValue.int(Int64(info.dimensions)), "metric": .string(info.metric.rawValue),
                        "vectorCount": .int(Int64(info.vectorCount)),
                    ])
                } else {
                    print("\(info.vectorCount) vectors of \(info.dimensions) dimensions, \(info.metric.rawValue)")
                }
            }
        }
    }

    struct Query: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The nearest vectors to a query vector (a JSON array) or to a stored vector (--id).")
        @OptionGroup var target: Target
        @Option(help: "The query vector as a JSON array of numbers.") var vector: String?
        @Option(help: "Query with the stored vector of this id instead.") var id: String?
        @Option(help: "How many matches (metadata is returned, so Vectorize allows up to 20).") var topK = 5
        @Option(help: "Only vectors of this namespace.") var namespace: String?
        @Flag(help: "One JSON object per match.") var json = false

        func run() async throws {
            try await EdgeCLI.run {
                let index = try target.index()
                let options = VectorQueryOptions(topK: topK, namespace: namespace, returnMetadata: .all)
                let result: VectorQueryResult
                switch (vector, id) {
                case (let text?, nil):
                    guard let values = try? JSONDecoder().decode([Float].self, from: Data(text.utf8)) else {
                        throw CLIError("--vector must be a JSON array of numbers, such as [0.1, 0.2]")
                    }
                    result = try await index.query(values, options: options)
                case (nil, let id?):
                    result = try await index.queryById(id, options: options)
                default:
                    throw CLIError("give either --vector or --id")
                }
                for match in result.matches {
                    if json {
                        try printJSON([
                            "id": JSONValue.string(match.id), "score": .double(Double(match.score)), "namespace": match.namespace.map { .string($0) } ?? .null,
                            "metadata": match.metadata ?? .null,
                        ])
                    } else {
                        print("\(match.id)  \(String(format: "%.4f", match.score))\(match.namespace.map { "  [\($0)]" } ?? "")")
                    }
                }
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stored vectors by id, as JSON (exit code 3 when none exists).")
        @OptionGroup var target: Target
        @Argument(help: "The ids.") var ids: [String]
        @Flag(help: "JSON (the only format; accepted like every command's --json).") var json = false

        func run() async throws {
            try await EdgeCLI.run {
                let records = try await target.index().getByIds(ids)
                if records.isEmpty { throw CLIError("no vector with id \(ids.joined(separator: ", "))", code: 3) }
                for record in records {
                    try printJSON([
                        "id": JSONValue.string(record.id), "values": .array(record.values.map { .double(Double($0)) }),
                        "namespace": record.namespace.map { .string($0) } ?? .null, "metadata": record.metadata ?? .null,
                    ])
                }
            }
        }
    }
}

// MARK: objects

struct Objects: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "objects", abstract: "Inspect the durable objects of the config (their storage and alarms).",
        subcommands: [List.self, Get.self, Storage.self, Alarms.self])

    struct Target: ParsableArguments {
        @OptionGroup var options: ConfigOptions
        @Option(help: "The binding name of the namespace (durable_objects.bindings[].name).")
        var binding: String

        /// The namespace's stored objects, read directly (objects are not built), on any backend.
        func store() throws -> any DurableObjectInspection {
            let bindings = try options.bindings()
            do { return try bindings.durableObjectInspection(binding) } catch let error as ConfigError { throw CLIError(error.description, code: 78) }
        }
    }

    /// Which object: by the name `idFromName` was given, or by id.
    struct Which: ParsableArguments {
        @Option(help: "The object's name (as passed to idFromName).") var name: String?
        @Option(help: "The object's id (64 hex digits).") var id: String?

        func objectID(in namespace: String) throws -> String {
            switch (name, id) {
            case (let name?, nil): return DurableObjectID.named(name, inNamespace: namespace).hex
            case (nil, let id?): return try DurableObjectID(parsing: id).hex
            default: throw CLIError("give either --name or --id")
            }
        }
    }

    /// A stored value as text when it is UTF-8 (values written with `put` are JSON), else base64.
    static func text(_ value: [UInt8]) -> String {
        String(validating: value, as: UTF8.self) ?? "base64:" + Data(value).base64EncodedString()
    }

    static func describe(_ alarm: ScheduledAlarm) -> String {
        ISO8601DateFormatter().string(from: alarm.time) + (alarm.retryCount > 0 ? " (retry \(alarm.retryCount))" : "")
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "Objects holding storage or an alarm, by id.")
        @OptionGroup var target: Target
        @Option(help: "At most this many, 1...10000.") var limit = 1000
        @Option(help: "Start after this id.") var after: String?
        @Flag var json = false

        func run() async throws {
            try await EdgeCLI.run {
                guard (1...10_000).contains(limit) else { throw CLIError("--limit is \(limit); it must be in 1...10000") }
                for object in try await target.store().objects(after: after, limit: limit) {
                    if json {
                        try printJSON([
                            "id": JSONValue.string(object.id), "keys": .int(Int64(object.keys)),
                            "alarm": object.alarm.map { .string(ISO8601DateFormatter().string(from: $0.time)) } ?? .null,
                        ])
                    } else {
                        print("\(object.id)  \(object.keys) keys\(object.alarm.map { "  alarm \(Objects.describe($0))" } ?? "")")
                    }
                }
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one key of an object's storage (exit code 3 when absent).")
        @OptionGroup var target: Target
        @OptionGroup var which: Which
        @Argument var key: String
        @Flag(help: "Print the key and value as JSON.") var json = false

        func run() async throws {
            try await EdgeCLI.run {
                guard let value = try await target.store().storedValue(try which.objectID(in: target.binding), key: key) else {
                    throw CLIError("no key \"\(key)\"", code: 3)
                }
                if json { try printJSON(["key": JSONValue.string(key), "value": .string(Objects.text(value))]) } else { print(Objects.text(value)) }
            }
        }
    }

    struct Storage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List an object's storage: keys in byte order with their values.")
        @OptionGroup var target: Target
        @OptionGroup var which: Which
        @Option(help: "Only keys starting with this.") var prefix: String?
        @Option(help: "At most this many keys, 1...10000.") var limit = 1000
        @Flag var json = false

        func run() async throws {
            try await EdgeCLI.run {
                guard (1...10_000).contains(limit) else { throw CLIError("--limit is \(limit); it must be in 1...10000") }
                let rows = try await target.store().storedEntries(try which.objectID(in: target.binding), prefix: prefix, limit: limit)
                for (key, value) in rows {
                    if json {
                        try printJSON(["key": JSONValue.string(key), "value": .string(Objects.text(value))])
                    } else {
                        print("\(key)  \(Objects.text(value))")
                    }
                }
            }
        }
    }

    struct Alarms: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Scheduled alarms, earliest first.")
        @OptionGroup var target: Target
        @Option(help: "At most this many, 1...10000.") var limit = 1000
        @Flag var json = false

        func run() async throws {
            try await EdgeCLI.run {
                guard (1...10_000).contains(limit) else { throw CLIError("--limit is \(limit); it must be in 1...10000") }
                for (objectID, alarm) in try await target.store().scheduledAlarms(limit: limit) {
                    if json {
                        try printJSON([
                            "id": JSONValue.string(objectID), "time": .string(ISO8601DateFormatter().string(from: alarm.time)),
                            "retryCount": .int(Int64(alarm.retryCount)),
                        ])
                    } else {
                        print("\(objectID)  \(Objects.describe(alarm))")
                    }
                }
            }
        }
    }
}
