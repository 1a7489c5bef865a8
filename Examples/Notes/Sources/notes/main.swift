// `swift run notes` serves the Notes worker with the bindings of edge.jsonc (SQLite files under
// .edge/state): try `curl -X PUT localhost:8787/notes/a -d '{"id":"a","title":"Hi","body":"hello there","draft":false}'`.
import EdgeRuntime
import NotesWorker

try await EdgeHost.run(NotesWorker(), configPath: "edge.jsonc")
