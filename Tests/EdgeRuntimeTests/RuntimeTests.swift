import EdgeRuntime
import EdgeRuntimeTesting
import EdgeTesting
import Foundation
import HTTPTypes
import Logging
import ServiceLifecycle
import Testing

/// Ten minutes: a guard against a hang, not a duration. The whole suite runs in parallel on two
/// cores beside servers in processes of their own; a test needing a second alone has waited more
/// than three minutes there for the cooperative threads.
@Suite("Worker runtime", .timeLimit(.minutes(10)))
struct RuntimeTests {
    @Test("fetch reaches the worker with its bindings: vars, secrets, KV")
    func fetch() async throws {
        let client = try makeClient()
        #expect(await client.fetch("/hello").text == "hello world")
        #expect(await client.fetch("/secret-length").text == "12")
        #expect(await client.fetch("/kv/a", method: "POST", body: Array("stored".utf8)).status == 201)
        #expect(await client.fetch("/kv/a").text == "stored")
        let response = await client.fetch("/missing")
        #expect(response.status == 404)
        #expect(response.header("x-request-id") != nil, "every response carries a request id")
    }

    @Test("queue batches reach the queue handler; retried messages go to the dead-letter queue")
    func queue() async throws {
        let worker = TestWorker()
        let client = try makeClient(worker)
        #expect(await client.fetch("/enqueue", method: "POST", body: Array(#"{"n":1}"#.utf8)).status == 202)
        try await client.deliverQueue("events")
        try await client.queue(TestWorker.events, [["n": 2], ["n": 3, "fail": true]])
        // retry_delay is 0, so the failed message comes straight back, once (max_retries 1).
        let events = await worker.log.events
        #expect(events == ["queued 1", "queued 2", "failed 3 attempt 1", "failed 3 attempt 2"], "\(events)")
        #expect(try await client.bindings.queueBackend.peek("events-dlq", limit: 10).count == 1, "dead-lettered after max_retries")
        #expect(try await client.deliverQueue("events") == 0, "nothing left")
    }

    @Test("scheduled events reach the scheduled handler, by hand and from the cron trigger")
    func scheduled() async throws {
        let worker = TestWorker()
        let client = try makeClient(worker)
        try await client.scheduled("*/5 * * * *")
        #expect(await worker.log.events == ["cron */5 * * * *"])
        let services = try client.runtime.backgroundServices()
        let group = ServiceGroup(services: services, logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        // The cron service parks until the next 5-minute mark (other services sleep on the clock
        // too: waiting for that deadline, not for any sleeper, is what proves it is parked).
        let mark = try #require(try CronSchedule("*/5 * * * *").nextFire(after: client.clock.now))
        try await client.clock.waitForSleeper(until: mark)
        client.clock.advance(by: 300)
        // Only the cron trigger, woken by the clock reaching that mark, logs a second event.
        try await worker.log.wait { $0.count == 2 }
        #expect(await worker.log.events == ["cron */5 * * * *", "cron */5 * * * *"])
        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test("waitUntil work runs after the response and is awaited before shutdown")
    func waitUntil() async throws {
        let worker = TestWorker()
        let client = try makeClient(worker)
        // The waitUntil work waits on a gate the test opens, so the response provably came first.
        #expect(await client.fetch("/later").text == "ok")
        try await worker.later.waitForArrivals(1)
        #expect(await worker.log.events == ["response"], "the response did not wait for waitUntil work")
        let settled = Task {
            await client.settle()
            return await worker.log.events
        }
        await worker.later.release()
        #expect(await settled.value == ["response", "after response"], "settle() returned only after the work finished")
    }

    @Test("limits: 413 for a large body, 503 past the wall time or the concurrency limit, 500 with the request id")
    func limits() async throws {
        let worker = TestWorker()
        let client = try makeClient(worker)
        let large = await client.fetch("/kv/x", method: "POST", body: [UInt8](repeating: 1, count: 65))
        #expect(large.status == 413)
        #expect(large.text.contains("64 bytes"))
        let failed = await client.fetch("/throw")
        #expect(failed.status == 500)
        let id = try #require(failed.header("x-request-id"))
        #expect(failed.text.contains(id), "the 500 body carries the request id")
        // Wall time: the handler waits on a gate; the runtime's clock passes the 2 s limit.
        let slow = Task { await client.fetch("/wait") }
        try await worker.gate.waitForArrivals(1)
        // Concurrency: with 1 in flight and a limit of 4, three more are admitted, the fifth is not.
        let more = (0..<3).map { _ in Task { await client.fetch("/wait") } }
        try await worker.gate.waitForArrivals(4)
        #expect(await client.fetch("/hello").status == 503, "over the concurrency limit")
        client.clock.advance(by: 2)
        let timedOut = await slow.value
        #expect(timedOut.status == 503)
        #expect(timedOut.text.contains("2000 ms"))
        for task in more { #expect(await task.value.status == 503) }
        await worker.gate.release()
        #expect(await client.fetch("/hello").status == 200, "the host is healthy afterwards")
    }

    @Test("10,000 requests, a third of them throwing: every one answered, none crashes the host")
    func manyRequests() async throws {
        let client = try makeClient(config: testConfig.replacingOccurrences(of: #""max_concurrent_requests": 4"#, with: #""max_concurrent_requests": 1000"#))
        var statuses: [Int: Int] = [:]
        for chunk in stride(from: 0, to: 10_000, by: 500) {
            let results = await withTaskGroup(of: Int.self) { group in
                for index in chunk..<(chunk + 500) {
                    group.addTask { await client.fetch(index % 3 == 0 ? "/throw" : "/hello").status.code }
                }
                return await group.reduce(into: [Int]()) { $0.append($1) }
            }
            for status in results { statuses[status, default: 0] += 1 }
        }
        #expect(statuses == [200: 6666, 500: 3334])
    }

    @Test("the same worker over a live socket")
    func live() async throws {
        let client = try makeClient()
        try await client.live { http in
            #expect(http.port != nil)
            let hello = try await http.fetch("/hello")
            #expect(hello.status == 200)
            #expect(hello.text == "hello world")
            #expect(hello.header("x-request-id") != nil)
            #expect(try await http.fetch("/kv/k", method: "POST", body: Array("v".utf8)).status == 201)
            #expect(try await http.fetch("/kv/k").text == "v")
            let large = try await http.fetch("/kv/x", method: "POST", body: [UInt8](repeating: 1, count: 1000))
            #expect(large.status == 413)
            #expect(try await http.fetch("/throw").status == 500)
        }
    }

    @Test("graceful shutdown finishes a request in flight")
    func gracefulShutdown() async throws {
        let worker = TestWorker()
        let client = try makeClient(worker)
        let ports = AsyncStream<Int>.makeStream()
        let app = try EdgeHost(runtime: client.runtime).application(port: 0) { port in ports.continuation.yield(port) }
        let group = ServiceGroup(services: [app], logger: Logger(label: "test"))
        let serving = Task { try await group.run() }
        var iterator = ports.stream.makeAsyncIterator()
        let port = try #require(await iterator.next())
        let request = Task {
            // A loaded CI run can hold the request at the gate for minutes (nothing here is about time).
            let response = try await TestHTTP.send("http://127.0.0.1:\(port)/wait", timeout: 600)
            return (response.status, response.text)
        }
        try await worker.gate.waitForArrivals(1)
        await group.triggerGracefulShutdown()
        // Shutdown has begun once the listener is closed: a new connection is refused.
        while canConnect(port: port) { try await Task.sleep(for: .milliseconds(1)) }
        await worker.gate.release()
        let (status, body) = try await request.value
        #expect(status == 200)
        #expect(body == "released")
        try await serving.value
    }
}

/// Whether a TCP connection to 127.0.0.1:`port` is accepted now.
func canConnect(port: Int) -> Bool {
    let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { return false }
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}
