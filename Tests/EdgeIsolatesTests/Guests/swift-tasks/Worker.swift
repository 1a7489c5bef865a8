// A worker in Embedded Swift on the guest SDK with all three handlers (the Swift side of
// Guests/tasks.c):
//   POST /jobs -> sends the body (JSON) to the queue bound as JOBS: 202, or 400 when refused
//   PUT /files/KEY -> writes the body to the bucket bound as FILES as KEY, 1 KiB at a time
//                 through a writer, then answers the object read back
//   POST /object/NAME -> POST /increment with the body to the durable object NAME of COUNTER
//   POST /embed -> the body's embedding by AI, as little-endian floats
//   POST /nearest -> the body's embedding queried against VECS, top 3, as JSON
//   queue      -> each body stored under "job:ID" with its attempt count under "attempts:ID";
//                 a body holding "later" retried in 60 s
//   scheduled  -> the cron expression under "cron", its time (ms, decimal) under "cron_time"

func fetch(_ request: Request) -> Response {
    if request.path == "/jobs" && request.method == "POST" {
        return Queue("JOBS").send(request.body()) ? .text("queued\n", status: 202) : .text("the queue refused the message\n", status: 400)
    }
    if request.path.starts(with: ("/files/" as StaticString).bytes) && request.method == "PUT" {
        let key = Array(request.path[7...])
        let body = request.body()
        guard let writer = Bucket("FILES").writer(key) else { return .text("refused\n", status: 400) }
        var offset = 0
        while offset < body.count {
            let end = min(offset + 1024, body.count)
            guard writer.write(Array(body[offset..<end])) else { return .text("refused\n", status: 400) }
            offset = end
        }
        guard writer.close(), let stored = Bucket("FILES").get(key) else { return .text("refused\n", status: 400) }
        return Response(status: 200, body: stored)
    }
    if request.path.starts(with: ("/object/" as StaticString).bytes) && request.method == "POST" {
        guard
            let answer = DurableObjectNamespace("COUNTER").fetch(
                Array(request.path[8...]), method: "POST", path: ("/increment" as StaticString).bytes, body: request.body())
        else { return .text("refused\n", status: 400) }
        return Response(status: answer.status, body: answer.body)
    }
    if request.path == "/embed" && request.method == "POST" {
        guard let vector = AI("AI").embed(request.body()) else { return .text("refused\n", status: 400) }
        return Response(body: vector.withUnsafeBytes { Array($0) })
    }
    if request.path == "/nearest" && request.method == "POST" {
        guard let vector = AI("AI").embed(request.body()), let answer = VectorIndex("VECS").query(vector, topK: 3) else {
            return .text("refused\n", status: 400)
        }
        return .bytes(answer, contentType: "application/json")
    }
    return .text("not found\n", status: 404)
}

func decimal(_ value: Int64) -> [UInt8] {
    var digits: [UInt8] = []
    var rest = value
    repeat {
        digits.insert(UInt8(ascii: "0") + UInt8(rest % 10), at: 0)
        rest /= 10
    } while rest > 0
    return digits
}

func holds(_ bytes: [UInt8], _ word: StaticString) -> Bool {
    let needle = word.bytes
    guard bytes.count >= needle.count else { return false }
    for start in 0...(bytes.count - needle.count) where bytes[start..<(start + needle.count)].elementsEqual(needle) { return true }
    return false
}

@_expose(wasm, "queue")
@_cdecl("queue")
func queue() -> Int32 {
    let batch = Batch()
    let kv = KV("KV")
    var index: Int32 = 0
    while index < batch.count {
        let body = batch.body(index)
        if holds(body, "later") {
            batch.retry(index, delaySeconds: 60)
        } else {
            let id = batch.id(index)
            guard kv.put(("job:" as StaticString).bytes + id, body), kv.put(("attempts:" as StaticString).bytes + id, decimal(Int64(batch.attempts(index))))
            else { return 1 }
            batch.ack(index)
        }
        index += 1
    }
    return 0
}

@_expose(wasm, "scheduled")
@_cdecl("scheduled")
func scheduled() -> Int32 {
    let trigger = Trigger()
    let kv = KV("KV")
    return kv.put(("cron" as StaticString).bytes, trigger.cron) && kv.put(("cron_time" as StaticString).bytes, decimal(trigger.milliseconds)) ? 0 : 1
}
