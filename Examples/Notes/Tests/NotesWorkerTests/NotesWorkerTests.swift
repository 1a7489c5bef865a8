import EdgeRuntime
import EdgeRuntimeTesting
import NotesWorker
import Testing

let config = """
    { "name": "notes", "kv_namespaces": [{ "binding": "NOTES" }, { "binding": "STATS" }],
      "queues": { "producers": [{ "binding": "EVENTS", "queue": "note-events" }],
                  "consumers": [{ "queue": "note-events", "dead_letter_queue": "note-events-dlq" }] } }
    """

@Suite("NotesWorker")
struct NotesWorkerTests {
    @Test("save, read back, list, and the queue handler counts words")
    func flow() async throws {
        let client = try WorkerTestClient(NotesWorker(), config: config)
        let put = await client.fetch("/notes/a", method: "PUT", body: Array(#"{"id":"","title":"Hi","body":"hello there world","draft":false}"#.utf8))
        #expect(put.status == 201, "\(put.text)")
        #expect(await client.fetch("/notes/a").text.contains(#""title":"Hi""#))
        #expect(await client.fetch("/notes/zz").status == 404)
        #expect(await client.fetch("/notes").text == #"[{"id":"a","title":"Hi"}]"#)
        #expect(try await client.deliverQueue("note-events") == 1)
        #expect(await client.fetch("/stats").text == #"{"words":3}"#)
        try await client.queue(NotesWorker.noteEvents, [NoteSaved(id: "b", words: 2)])
        #expect(await client.fetch("/stats").text == #"{"words":5}"#)
    }

    @Test("bad input is a 400 naming what was wrong, over a real socket too")
    func badInput() async throws {
        let client = try WorkerTestClient(NotesWorker(), config: config)
        #expect(await client.fetch("/notes/a", method: "PUT", body: Array("nope".utf8)).status == 400)
        let untitled = await client.fetch("/notes/a", method: "PUT", body: Array(#"{"id":"a","title":"","body":"","draft":false}"#.utf8))
        #expect(untitled.status == 400 && untitled.text.contains("title"))
        let status = try await client.live { live in try await live.fetch("/notes/none").status }
        #expect(status == 404)
    }

    @Test("a config missing a binding the worker needs fails at startup, naming it")
    func missingBinding() {
        #expect {
            try WorkerTestClient(NotesWorker(), config: #"{ "name": "notes", "kv_namespaces": [{ "binding": "NOTES" }] }"#)
        } throws: { error in
            (error as? ConfigError)?.message.contains("STATS") == true
        }
    }
}
