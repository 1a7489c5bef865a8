import EdgeKV
import EdgeTesting
import NotesCore
import Testing

@Suite("NoteStore over an in-memory namespace")
struct NoteStoreTests {
    @Test("notes round-trip; titles list across pages; drafts expire on the test clock")
    func notes() async throws {
        let bindings = TestBindings()
        var store = NoteStore(kv: bindings.kv("NOTES"))
        store.draftLifetime = 3600
        try await store.save(Note(id: "a", title: "Alpha", body: "first"))
        try await store.save(Note(id: "b", title: "Draft", body: "unfinished", draft: true))
        #expect(try await store.note("a") == Note(id: "a", title: "Alpha", body: "first"))
        #expect(try await store.titles().map(\.title) == ["Alpha", "Draft"])
        for number in 0..<1500 { try await store.save(Note(id: "n\(number)", title: "T\(number)", body: "")) }
        #expect(try await store.titles().count == 1502, "more than one list page of 1,000 keys")

        bindings.clock.advance(by: 3601)
        #expect(try await store.note("b") == nil, "the draft expired")
        #expect(try await store.note("a") != nil, "a note does not")
    }

    @Test("a note without a title is refused; an id over KV's key limit is KV's typed error")
    func refused() async throws {
        let store = NoteStore(kv: TestBindings().kv("NOTES"))
        await #expect(throws: NoteError.self) { try await store.save(Note(id: "x", title: " ", body: "")) }
        await #expect(throws: KVError.self) { try await store.save(Note(id: String(repeating: "k", count: 600), title: "Long", body: "")) }
    }
}
