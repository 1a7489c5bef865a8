import EdgeCoordinator
import EdgeKV
import EdgePostgres
import EdgeRuntime
import EdgeRuntimeTesting
import EdgeTesting
import Foundation
import HTTPTypes
import Logging
import PostgresNIO
import ServiceLifecycle
import Testing

/// An object that says which runtime it runs in and echoes what it was sent.
actor Echo: DurableObject {
    struct Failure: Error {}
    let label: String
    init(state: DurableObjectState, env: String) { label = env }

    func fetch(_ request: EdgeRequest) async throws -> EdgeResponse {
        if request.url.path == "/fail" { throw Failure() }
        return .text("\(label) \(request.method) \(request.path) \(request.header("x-test") ?? "-") \(try await request.body.text())", status: .created)
    }
}

struct EchoWorker: Worker {
    struct Env: Sendable { var objects: DurableObjectNamespace<Echo> }
    static func makeEnv(_ bindings: EdgeBindings) throws -> Env {
        Env(objects: try bindings.durableObjects(Echo.self, binding: "ECHO", env: try bindings.variable("LABEL")))
    }

    func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        try await env.objects.get(env.objects.idFromName(request.url.query["name"] ?? "a")).fetch(request)
    }
}

/// Two runtimes in this process, each with its own pool (so its own owner identity) and its own
/// HTTP server, stand for two processes. Their leases last ten minutes: the test is about
/// forwarding, and with the default 10 s a test process starved for longer by the tests beside
/// it (it happened in CI) loses A's lease to B half-way, which is the lease doing its job.
@Suite("Forwarded durable-object fetch", .enabled(if: postgresAvailable, skipReason))
struct ForwardingTests {
    func serve(label: String) async throws -> (runtime: WorkerRuntime<EchoWorker>, port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        let config = try EdgeConfig.parse(
            """
            { "name": "forwarding", "vars": { "LABEL": "\(label)" }, "log_level": "warning", "limits": { "request_timeout_ms": 600000 },
              "postgres": { "url": "\(postgresURL!)", "max_connections": 4, "connect_timeout_seconds": 600, "query_timeout_seconds": 600,
                            "object_lease_seconds": 600 },
              "durable_objects": { "backend": "postgres", "bindings": [{ "name": "ECHO", "class_name": "Echo" }] } }
            """, providers: postgresProviders)
        let runtime = try WorkerRuntime(worker: EchoWorker(), bindings: EdgeBindings(config: config, providers: postgresProviders))
        let ports = AsyncStream<Int>.makeStream()
        let app = try EdgeHost(runtime: runtime).application(port: 0) { port in ports.continuation.yield(port) }
        let group = ServiceGroup(services: [app], logger: Logger(label: "test"))
        let task = Task { try await group.run() }
        var iterator = ports.stream.makeAsyncIterator()
        let port = try #require(await iterator.next())
        return (runtime, port, group, task)
    }

    func send(
        _ port: Int, _ path: String, method: String = "POST", headers: [String: String] = [:], body: String = ""
    ) async throws -> (status: Int, text: String) {
        let response = try await TestHTTP.send("http://127.0.0.1:\(port)\(path)", method: method, headers: headers, body: Array(body.utf8))
        return (response.status, response.text)
    }

    /// Seconds until the object's lease expires, by the database's clock; nil without a lease.
    func leaseRemaining(_ objectID: String) async throws -> Double? {
        let query: PostgresQuery = """
            SELECT (expires_at - (extract(epoch from clock_timestamp()) * 1000)::bigint)::float8 / 1000 FROM edge_do_leases WHERE object_id = \(objectID)
            """
        for try await seconds in try await database().client.query(query).decode(Double.self) { return seconds }
        return nil
    }

    func leases(_ objectID: String) async throws -> Int {
        for try await count in try await database().client.query("SELECT count(*) FROM edge_do_leases WHERE object_id = \(objectID)").decode(Int64.self) {
            return Int(count)
        }
        return 0
    }

    @Test(
        "a fetch reaching the non-owner runs in the owner with its method, path, headers and body; a throw there is remoteCallFailed; a wrong token is refused")
    func forwarding() async throws {
        let a = try await serve(label: "A")
        let b = try await serve(label: "B")
        let name = uniqueName("echo")
        let first = try await send(a.port, "/x?name=\(name)", headers: ["x-test": "1"], body: "ping")
        #expect(first.status == 201)
        #expect(first.text == "A POST /x?name=\(name) 1 ping")
        let second = try await send(b.port, "/y?name=\(name)", headers: ["x-test": "2"], body: "pong")
        #expect(second.status == 201, "the owner's status comes back")
        #expect(second.text == "A POST /y?name=\(name) 2 pong", "B forwarded the call to A, the owner")
        #expect(b.runtime.env.objects.callsForwarded == 1)
        #expect(a.runtime.env.objects.callsForwarded == 0)

        let stub = b.runtime.env.objects.get(b.runtime.env.objects.idFromName(name))
        #expect(try await leaseRemaining(stub.id.hex).map { $0 > 300 } == true, "postgres.object_lease_seconds sets the lease")
        await #expect {
            _ = try await stub.fetch(EdgeRequest(path: "/fail"))
        } throws: { error in
            (error as? CoordinatorError)?.code == .remoteCallFailed && "\(error)".contains("Failure")
        }

        let id = stub.id.hex
        #expect(try await send(a.port, "/__edge/objects/ECHO/\(id)").status == 403, "no token")
        #expect(try await send(a.port, "/__edge/objects/ECHO/\(id)", headers: ["x-edge-forward-token": "guess"]).status == 403)
        #expect(try await send(a.port, "/__edge/objects/OTHER/\(id)").status == 404)

        // A gives the object up (idle eviction): B's next call finds no owner and runs in B.
        #expect(a.runtime.env.objects.evictIdle(idleFor: 0) == 1)
        // The lease is given up asynchronously, once the last commit is durable.
        let released = Date().addingTimeInterval(600)
        while try await leases(stub.id.hex) > 0, Date() < released { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try await leases(stub.id.hex) == 0)
        #expect(try await send(b.port, "/z?name=\(name)").text.hasPrefix("B POST /z"))
        #expect(try await send(a.port, "/z?name=\(name)").text.hasPrefix("B POST /z"), "now A forwards to B")

        await a.group.triggerGracefulShutdown()
        await b.group.triggerGracefulShutdown()
        try await a.task.value
        try await b.task.value
    }
}
