import EdgeBlob
import EdgeKV
import EdgeRuntime
import EdgeRuntimeTesting
import EdgeTesting
import Foundation
import HTTPTypes
import Testing

@Suite("The dashboard at /__edge/: access, escaping, routing, settings")
struct DashboardTests {
    static let config = """
        {
          "name": "dash",
          "secrets": ["DASH_TOKEN"],
          "dashboard": { "token_secret": "DASH_TOKEN" },
          "kv_namespaces": [{ "binding": "COUNTER" }],
          "r2_buckets": [{ "binding": "FILES" }],
          "queues": { "consumers": [{ "queue": "jobs", "dead_letter_queue": "jobs-dlq" }] },
          "durable_objects": { "bindings": [{ "name": "COUNTERS", "class_name": "HelloCounter" }] }
        }
        """
    static let form = ["content-type": "application/x-www-form-urlencoded"]

    @Test("read-only unless the token is given: an action without it is 403 and changes nothing; a bearer token or the sign-in cookie unlocks it")
    func actionsNeedTheToken() async throws {
        let client = try WorkerTestClient(HelloWorker(), config: Self.config, secrets: ["DASH_TOKEN": "t0ken"])
        let kv = try client.bindings.kv("COUNTER")
        try await kv.put("doomed", "x")
        let delete = Array("key=doomed".utf8)
        let refused = await client.fetch("/__edge/kv/COUNTER/delete", method: "POST", headers: Self.form, body: delete)
        #expect(refused.status == .forbidden && refused.text.contains("sign in with the dashboard token first"), "\(refused.text)")
        let wrongBearer = await client.fetch(
            "/__edge/kv/COUNTER/delete", method: "POST", headers: Self.form.merging(["authorization": "Bearer t0ke"]) { $1 }, body: delete)
        #expect(wrongBearer.status == .forbidden)
        #expect(try await kv.get("doomed") == "x", "nothing was deleted")
        let deleted = await client.fetch(
            "/__edge/kv/COUNTER/delete", method: "POST", headers: Self.form.merging(["authorization": "Bearer t0ken"]) { $1 }, body: delete)
        #expect(deleted.status == .seeOther && deleted.headers[.location] == "/__edge/kv/COUNTER?notice=deleted%20doomed")
        #expect(try await kv.get("doomed") == nil)

        let wrong = await client.fetch("/__edge/login", method: "POST", headers: Self.form, body: Array("token=nope".utf8))
        #expect(wrong.status == .forbidden && wrong.headers[.setCookie] == nil)
        let signedIn = await client.fetch("/__edge/login", method: "POST", headers: Self.form, body: Array("token=t0ken".utf8))
        #expect(signedIn.status == .seeOther)
        let cookie = try #require(signedIn.headers[.setCookie])
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/__edge/"), "\(cookie)")
        let pair = String(cookie.split(separator: ";")[0])
        #expect(await client.fetch("/__edge/", headers: ["cookie": pair]).text.contains("actions unlocked"))
        #expect(await client.fetch("/__edge/", headers: ["cookie": "edge_dashboard=t0kex"]).text.contains("read-only (locked)"))
        // The cookie unlocks a redrive of the dead-letter queue to a named queue.
        let producer = try QueueProducer<String>(queue: "jobs-dlq", backend: client.bindings.queueBackend)
        try await producer.send("lost")
        let redrive = await client.fetch(
            "/__edge/queues/jobs-dlq/redrive", method: "POST", headers: Self.form.merging(["cookie": pair]) { $1 }, body: Array("to=jobs".utf8))
        #expect(redrive.status == .seeOther && redrive.headers[.location]?.contains("redrove%201%20messages") == true, "\(redrive.text)")
        #expect(try await client.bindings.queueBackend.stats("jobs-dlq").backlog == 0)
        #expect(try await client.bindings.queueBackend.stats("jobs").backlog == 1)
        let elsewhere = await client.fetch(
            "/__edge/queues/jobs-dlq/redrive", method: "POST", headers: Self.form.merging(["cookie": pair]) { $1 }, body: Array("to=secrets".utf8))
        #expect(elsewhere.status == .badRequest && elsewhere.text.contains("no queue &quot;secrets&quot; in the config"), "\(elsewhere.text)")
        let signedOut = await client.fetch("/__edge/logout", method: "POST", headers: ["cookie": pair])
        #expect(signedOut.headers[.setCookie]?.contains("Max-Age=0") == true)
    }

    @Test("a post from another origin is refused even with the cookie; a request to another host name is refused; only dead letters are redriven")
    func browserDefences() async throws {
        let client = try WorkerTestClient(HelloWorker(), config: Self.config, secrets: ["DASH_TOKEN": "t0ken"])
        let signedIn = await client.fetch("/__edge/login", method: "POST", headers: Self.form, body: Array("token=t0ken".utf8))
        let cookie = String(try #require(signedIn.headers[.setCookie]).split(separator: ";")[0])
        let unlocked = Self.form.merging(["cookie": cookie]) { $1 }
        try await client.bindings.kv("COUNTER").put("kept", "x")
        let delete = Array("key=kept".utf8)
        let crossSite = await client.fetch(
            "/__edge/kv/COUNTER/delete", method: "POST", headers: unlocked.merging(["sec-fetch-site": "same-site"]) { $1 }, body: delete)
        #expect(crossSite.status == .forbidden, "another local site's form")
        let otherOrigin = await client.fetch(
            "/__edge/kv/COUNTER/delete", method: "POST", headers: unlocked.merging(["origin": "http://localhost:3000", "host": "localhost:8787"]) { $1 },
            body: delete)
        #expect(otherOrigin.status == .forbidden)
        #expect(try await client.bindings.kv("COUNTER").get("kept") == "x")
        let sameOrigin = await client.fetch(
            "/__edge/kv/COUNTER/delete", method: "POST",
            headers: unlocked.merging(["origin": "http://localhost:8787", "host": "localhost:8787", "sec-fetch-site": "same-origin"]) { $1 }, body: delete)
        #expect(sameOrigin.status == .seeOther)
        #expect(await client.fetch("/__edge/", headers: ["host": "rebound.example:8787"]).status == .misdirectedRequest)
        #expect(await client.fetch("/__edge/", headers: ["host": "localhost:8787"]).status == .ok)
        #expect(await client.fetch("/__edge/", headers: ["host": "[::1]:8787"]).status == .ok)
        let live = await client.fetch("/__edge/queues/jobs/redrive", method: "POST", headers: unlocked, body: Array("to=jobs-dlq".utf8))
        #expect(live.status == .badRequest && live.text.contains("not a dead-letter queue"), "\(live.text)")
        let onto = await client.fetch("/__edge/queues/jobs-dlq/redrive", method: "POST", headers: unlocked, body: Array("to=jobs-dlq".utf8))
        #expect(onto.status == .badRequest)
        #expect(await client.fetch("/__edge/queues", method: "POST", headers: unlocked, body: []).status == .methodNotAllowed)
        #expect(await client.fetch("/__edge/", method: "DELETE").status == .methodNotAllowed)
        #expect(await client.fetch("/__edge/kv/COUNTER/value?key=").status == .badRequest, "an empty key is the request's mistake")
        #expect(await client.fetch("/__edge/buckets/FILES?cursor=garbage").status == .badRequest)
    }

    @Test("a long UTF-8 value cut for display stays text; a binary one shows as base64")
    func previews() async throws {
        let client = try WorkerTestClient(HelloWorker(), config: Self.config, secrets: ["DASH_TOKEN": "t0ken"])
        // 65,535 ASCII bytes then a 3-byte character: the 64 KiB cut falls inside it.
        try await client.bindings.kv("COUNTER").put(
            "long", value: Array(String(repeating: "a", count: 65_535).utf8) + Array("€€".utf8), options: KVPutOptions())
        let long = await client.fetch("/__edge/kv/COUNTER/value?key=long")
        #expect(long.text.contains("<pre>aaaa") && long.text.contains("first 65536 of 65541 bytes"), "shown as text, cut before the character")
        try await client.bindings.kv("COUNTER").put("binary", value: [0xFF, 0x00, 0xFE], options: KVPutOptions())
        #expect(await client.fetch("/__edge/kv/COUNTER/value?key=binary").text.contains("base64:/wD+"))
    }

    @Test("without dashboard.token_secret the dashboard is read-only and says why; no action form is shown")
    func readOnlyWithoutToken() async throws {
        let client = try WorkerTestClient(
            HelloWorker(), config: Self.config.replacingOccurrences(of: #""dashboard": { "token_secret": "DASH_TOKEN" },"#, with: ""),
            secrets: ["DASH_TOKEN": "t0ken"])
        let refused = await client.fetch(
            "/__edge/queues/jobs-dlq/redrive", method: "POST", headers: Self.form.merging(["authorization": "Bearer t0ken"]) { $1 }, body: [])
        #expect(refused.status == .forbidden && refused.text.contains("the config names no dashboard.token_secret"), "\(refused.text)")
        let overview = await client.fetch("/__edge/")
        #expect(overview.status == .ok && !overview.text.contains("name=token") && overview.text.contains(">read-only<"))
        let queue = await client.fetch("/__edge/queues/jobs-dlq")
        #expect(!queue.text.contains("<form method=post"), "no action form")
    }

    @Test("what the bindings hold is shown as text, never as markup: keys, metadata, values, object keys and metadata")
    func everythingIsEscaped() async throws {
        let client = try WorkerTestClient(HelloWorker(), config: Self.config, secrets: ["DASH_TOKEN": "t0ken"])
        let hostile = "<script>alert(1)</script>"
        try await client.bindings.kv("COUNTER").put(
            hostile, value: Array("<img src=x onerror=alert(2)>".utf8), options: KVPutOptions(metadata: ["note": "\"><i>x"]))
        _ = try await client.bindings.bucket("FILES").put(
            "docs/\(hostile).txt", body: .bytes(Array("x".utf8)), options: BlobPutOptions(customMetadata: ["who": hostile]))
        let pages = [
            "/__edge/kv/COUNTER", "/__edge/kv/COUNTER/value?key=\(Dashboarding.encoded(hostile))", "/__edge/buckets/FILES?prefix=docs%2F",
            "/__edge/buckets/FILES/object?key=\(Dashboarding.encoded("docs/\(hostile).txt"))",
        ]
        for path in pages {
            let page = await client.fetch(path)
            #expect(page.status == .ok, "\(path): \(page.text)")
            #expect(!page.text.contains("<script>alert") && !page.text.contains("<img src=x") && !page.text.contains("\"><i>x"), "\(path)")
            // (In the bucket listing the key rolls up at its second `/`: a folder `<script>alert(1)</`.)
            #expect(page.text.contains("&lt;script&gt;alert(1)&lt;/"), "\(path)")
            #expect(page.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("default-src 'self'") == true)
        }
        let download = await client.fetch("/__edge/buckets/FILES/download?key=\(Dashboarding.encoded("docs/\(hostile).txt"))")
        #expect(download.status == .ok && download.text == "x")
        // The file name is the key's last segment: after the `/` of `</script>`.
        #expect(download.headers[.contentDisposition] == "attachment; filename*=UTF-8''script%3E.txt")
    }

    @Test("a binding or page that does not exist is 404 naming it; the request log lists the worker's requests, not the dashboard's")
    func routingAndRequestLog() async throws {
        let client = try WorkerTestClient(HelloWorker(), config: Self.config, secrets: ["DASH_TOKEN": "t0ken"])
        let missing = await client.fetch("/__edge/kv/NOPE")
        #expect(missing.status == .notFound && missing.text.contains("NOPE"), "\(missing.text)")
        #expect(await client.fetch("/__edge/queues/nope").status == .notFound)
        #expect(await client.fetch("/__edge/buckets/FILES/object?key=absent").status == .notFound)
        #expect(await client.fetch("/__edge/durable-objects/COUNTERS/object?id=xyz").status == .badRequest)
        #expect(await client.fetch("/__edge/nothing/here").status == .notFound)
        let bare = await client.fetch("/__edge")
        #expect(bare.status == .seeOther && bare.headers[.location] == "/__edge/")
        #expect(await client.fetch("/health").status == .ok)
        #expect(await client.fetch("/count").status == .ok)
        struct Entry: Decodable {
            var sequence: Int
            var method: String
            var path: String
            var status: Int
        }
        let all = try JSONDecoder().decode([Entry].self, from: Data(await client.fetch("/__edge/requests.json").body))
        #expect(all.map(\.path) == ["/health", "/count"], "only the worker's requests: \(all.map(\.path))")
        #expect(all.map(\.status) == [200, 200])
        let after = try JSONDecoder().decode([Entry].self, from: Data(await client.fetch("/__edge/requests.json?after=\(all[0].sequence)").body))
        #expect(after.map(\.path) == ["/count"])
        let page = await client.fetch("/__edge/requests")
        #expect(page.text.contains("<td class=path>/count</td>"))
        let forwarded = await client.fetch("/__edge/objects/COUNTERS/\(String(repeating: "a", count: 64))")
        #expect(!forwarded.text.contains("<title>"), "durable-object calls forwarded between processes are not the dashboard's")
    }

    @Test("served on loopback by default, not on a public address unless enabled; the path moves; bad settings are typed errors")
    func settings() async throws {
        let publicHost = try WorkerTestClient(HelloWorker(), config: #"{ "name": "d", "dev": { "host": "0.0.0.0" } }"#)
        #expect(await publicHost.fetch("/__edge/").text == "Hello from swift-edge", "the worker answers there")
        let enabled = try WorkerTestClient(HelloWorker(), config: #"{ "name": "d", "dev": { "host": "0.0.0.0" }, "dashboard": { "enabled": true } }"#)
        #expect(await enabled.fetch("/__edge/").text.contains("<title>Overview"))
        let off = try WorkerTestClient(HelloWorker(), config: #"{ "name": "d", "dashboard": { "enabled": false } }"#)
        #expect(await off.fetch("/__edge/").text == "Hello from swift-edge")
        let moved = try WorkerTestClient(HelloWorker(), config: #"{ "name": "d", "dashboard": { "path": "/ops" } }"#)
        #expect(await moved.fetch("/ops/").text.contains("<title>Overview"))
        #expect(await moved.fetch("/ops").headers[.location] == "/ops/")
        #expect(await moved.fetch("/__edge/").text == "Hello from swift-edge")
        let undeclared = #expect(throws: ConfigError.self) {
            try EdgeConfig.parse(#"{ "name": "d", "dashboard": { "token_secret": "NOPE" } }"#, file: "edge.jsonc")
        }
        #expect(undeclared?.key == "dashboard.token_secret" && undeclared?.message.contains("not declared") == true)
        let root = #expect(throws: ConfigError.self) { try EdgeConfig.parse(#"{ "name": "d", "dashboard": { "path": "/" } }"#, file: "edge.jsonc") }
        #expect(root?.key == "dashboard.path")
        #expect(throws: ConfigError.self) { try EdgeConfig.parse(#"{ "name": "d", "dashboard": { "colour": "red" } }"#, file: "edge.jsonc") }
    }
}

/// Percent-encoding for the tests' dashboard links.
enum Dashboarding {
    static func encoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    }
}
