// A worker in Embedded Swift for the swift-edge isolate runtime (Docs/isolates.md), built with
// `edge build Guests/swift-hello -o hello.wasm`:
//   GET /         -> a greeting
//   GET /kv/KEY   -> the value of KEY in the KV namespace bound as KV (404 when absent)
//   PUT /kv/KEY   -> stores the request body under KEY

func fetch(_ request: Request) -> Response {
    let path = request.path
    if path == "/" { return .text("Hello from Embedded Swift\n") }
    if path.hasPrefix("/kv/") && path.count > 4 {
        let kv = KV("KV")
        let key = Array(path[4...])
        if request.method == "PUT" {
            return kv.put(key, request.body()) ? .text("stored\n", status: 201) : .text("the KV namespace refused the key or value\n", status: 400)
        }
        guard let value = kv.get(key) else { return .text("no such key\n", status: 404) }
        return .bytes(value, contentType: "application/octet-stream")
    }
    return .text("not found\n", status: 404)
}
