import EdgeKV
import EdgeRuntime
import Foundation
import NotesCore

/// What the `note-events` queue carries: a note was saved.
public struct NoteSaved: Codable, Sendable, Hashable {
    public var id: String
    public var words: Int

    public init(id: String, words: Int) {
        self.id = id
        self.words = words
    }
}

/// The Notes worker: `PUT /notes/ID` saves a note (JSON body) and queues a `NoteSaved`;
/// `GET /notes/ID` reads it back; `GET /notes` lists titles; `GET /stats` answers the word count
/// the queue handler keeps.
public struct NotesWorker: Worker {
    public struct Env: Sendable {
        public var notes: NoteStore
        public var stats: any KVNamespace
        public var events: QueueProducer<NoteSaved>
    }

    public static let noteEvents = QueueName<NoteSaved>("note-events")

    public init() {}

    public static func makeEnv(_ bindings: EdgeBindings) throws -> Env {
        Env(notes: NoteStore(kv: try bindings.kv("NOTES")), stats: try bindings.kv("STATS"), events: try bindings.queue("EVENTS", for: noteEvents))
    }

    public func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        let path = request.url.path.split(separator: "/").map(String.init)
        switch (request.method, path.count, path.first) {
        case (.put, 2, "notes"):
            let decoded: Note
            do {
                decoded = try await request.body.json(as: Note.self)
            } catch {
                return try .json(["error": "the body is not a note: \(error)"], status: 400)
            }
            var note = decoded
            note.id = path[1]
            do {
                try await env.notes.save(note)
            } catch let error as NoteError {
                return try .json(["error": error.message], status: 400)
            }
            try await env.events.send(NoteSaved(id: note.id, words: note.body.split(whereSeparator: \.isWhitespace).count))
            return try .json(["saved": note.id], status: 201)
        case (.get, 2, "notes"):
            guard let note = try await env.notes.note(path[1]) else { return try .json(["error": "no note \(path[1])"], status: 404) }
            return try .json(note)
        case (.get, 1, "notes"):
            return try .json(try await env.notes.titles().map { ["id": $0.id, "title": $0.title] })
        case (.get, 1, "stats"):
            return try .json(["words": Int(try await env.stats.get("words") ?? "0") ?? 0])
        default:
            return try .json(["error": "no route \(request.method) \(request.url.path)"], status: 404)
        }
    }

    /// Counts the words of every saved note.
    public static let queues: [QueueHandler<NotesWorker>] = [
        .consume(noteEvents) { _, batch, env, _ in
            let words = batch.messages.reduce(0) { $0 + $1.body.words }
            let total = (Int(try await env.stats.get("words") ?? "0") ?? 0) + words
            try await env.stats.put("words", String(total))
        }
    ]
}
