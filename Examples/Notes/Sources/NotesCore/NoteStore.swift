import EdgeKV
import Foundation

/// A note: a title, a body, and whether it is a draft (drafts expire).
public struct Note: Codable, Sendable, Hashable {
    public var id: String
    public var title: String
    public var body: String
    public var draft: Bool

    public init(id: String, title: String, body: String, draft: Bool = false) {
        self.id = id
        self.title = title
        self.body = body
        self.draft = draft
    }
}

/// Why a note was refused.
public struct NoteError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Notes kept in any KV namespace: `note:ID` holds the note as JSON, with its title as metadata
/// so listing needs no extra reads; drafts expire after ``draftLifetime`` seconds.
public struct NoteStore: Sendable {
    public let kv: any KVNamespace
    /// Seconds a draft is kept (KV's minimum TTL is 60).
    public var draftLifetime: Int64 = 86_400

    public init(kv: any KVNamespace) {
        self.kv = kv
    }

    /// Saves `note`, replacing one with its id.
    ///
    /// - Throws: ``NoteError`` for an empty title or id; `KVError` when the namespace refuses it
    ///   (a key or value over KV's limits).
    public func save(_ note: Note) async throws {
        guard !note.id.isEmpty, !note.title.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw NoteError(message: "a note needs an id and a title")
        }
        try await kv.put("note:" + note.id, json: note, expirationTtl: note.draft ? draftLifetime : nil, metadata: ["title": .string(note.title)])
    }

    /// The note `id`, if it exists (and, for a draft, has not expired).
    ///
    /// - Throws: `KVError`.
    public func note(_ id: String) async throws -> Note? {
        try await kv.get("note:" + id, as: Note.self)
    }

    /// The titles of every note, by id, in id order (following KV's list pages).
    ///
    /// - Throws: `KVError`.
    public func titles() async throws -> [(id: String, title: String)] {
        var titles: [(id: String, title: String)] = []
        var cursor: String?
        repeat {
            let page = try await kv.list(prefix: "note:", cursor: cursor)
            for key in page.keys {
                if case .string(let title)? = key.metadata?[path: "title"] { titles.append((String(key.name.dropFirst(5)), title)) }
            }
            cursor = page.listComplete ? nil : page.cursor
        } while cursor != nil
        return titles
    }
}
