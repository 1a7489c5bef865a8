import EdgeBlob
import EdgeCoordinator
import EdgeCore
import EdgeKV
import EdgeQueue
import Embeddings
import Foundation
import HTTPTypes
import VectorSearch

/// The local dashboard a host serves at `dashboard.path` (default `/__edge/`): the configured
/// bindings and what they hold (KV keys with metadata and expiry, a bucket browser with
/// downloads, queues with their depth and dead-letter queues, durable objects with their storage
/// and alarms, vector indexes with a query box) and a live request log.
///
/// Pages are rendered on the server, with no external assets, and work without JavaScript; the
/// request log polls `requests.json` once a second when scripts run. It is read-only unless the
/// config names a token secret (`dashboard.token_secret`): then signing in with that secret's value
/// (a cookie scoped to the dashboard's path, `SameSite=Strict`) or sending it as a bearer token
/// unlocks the actions: redriving a dead-letter queue, deleting a KV key, deleting an object.
struct Dashboard: Sendable {
    let bindings: EdgeBindings
    let log: RequestLog
    /// Where it answers, ending with `/`.
    let base: String
    /// The value unlocking the actions; nil: read-only.
    let token: String?
    /// The metrics endpoint when this port serves it (linked from the overview).
    let metricsPath: String?

    private static let cookie = "edge_dashboard"
    private static let pageSize = 100

    init(bindings: EdgeBindings, log: RequestLog, metricsPath: String?) throws {
        self.bindings = bindings
        self.log = log
        base = bindings.config.dashboard.path
        token = try bindings.config.dashboard.tokenSecret.map { try bindings.secret($0) }
        self.metricsPath = metricsPath
    }

    /// Whether `path` is the dashboard's (its base, with or without the final `/`, or below it).
    func serves(_ path: String) -> Bool {
        path.hasPrefix(base) || path + "/" == base
    }

    /// Answers a request to the dashboard. Never throws: a failure of a binding becomes a page
    /// saying what failed.
    func handle(_ request: EdgeRequest) async -> EdgeResponse {
        let url = request.url
        if url.path + "/" == base { return Self.redirect(base) }
        let query = url.rawQuery.map { QueryParameters(parsing: Substring($0), plusIsSpace: true) } ?? QueryParameters()
        let segments = String(url.path.dropFirst(base.count)).split(separator: "/").map {
            QueryParameters.percentDecoded($0, plusIsSpace: false)
        }
        // A dashboard on a loopback address answers only requests addressed to a loopback name:
        // a page whose DNS name was rebound to 127.0.0.1 cannot read it.
        guard hostAllowed(request) else {
            return Self.html(.misdirectedRequest, "<p>This dashboard answers only requests to localhost or 127.0.0.1.</p>")
        }
        guard [.get, .head, .post].contains(request.method) else {
            var response = Self.html(.methodNotAllowed, "<p>The dashboard answers GET and POST.</p>")
            response.headers[.allow] = "GET, HEAD, POST"
            return response
        }
        // Browsers attach cookies to form posts from other local sites (every port of localhost is
        // one site): a post authenticated by the cookie must come from the dashboard's own pages.
        if request.method == .post, !sameOrigin(request) {
            return Self.html(.forbidden, "<p>A dashboard action must be posted from the dashboard itself.</p>")
        }
        let unlocked = isUnlocked(request)
        let method: HTTPRequest.Method = request.method == .head ? .get : request.method
        do {
            switch (method, segments.count, segments.first) {
            case (.get, 0, _): return page("Overview", try await overview(unlocked: unlocked, notice: query["notice"]), unlocked: unlocked)
            case (.get, 1, "requests"): return page("Requests", requestsPage(), unlocked: unlocked)
            case (.get, 1, "requests.json"): return requestsJSON(after: Int(query["after"] ?? "") ?? 0)
            case (.get, 1, "queues"): return page("Queues", try await queuesPage(), unlocked: unlocked)
            case (.post, 1, "login"): return try await login(request)
            case (.post, 1, "logout"): return logout()
            case (.get, 2, "kv"): return page("KV \(segments[1])", try await kvPage(segments[1], query), unlocked: unlocked)
            case (.get, 3, "kv") where segments[2] == "value":
                return page("KV \(segments[1])", try await kvValuePage(segments[1], key: query["key"] ?? "", unlocked: unlocked), unlocked: unlocked)
            case (.get, 2, "buckets"): return page("Bucket \(segments[1])", try await bucketPage(segments[1], query), unlocked: unlocked)
            case (.get, 3, "buckets") where segments[2] == "object":
                return page(
                    "Bucket \(segments[1])", try await objectPage(segments[1], key: query["key"] ?? "", unlocked: unlocked), unlocked: unlocked)
            case (.get, 3, "buckets") where segments[2] == "download": return try await download(segments[1], key: query["key"] ?? "")
            case (.get, 2, "queues"):
                return page("Queue \(segments[1])", try await queuePage(segments[1], notice: query["notice"], unlocked: unlocked), unlocked: unlocked)
            case (.get, 2, "durable-objects"):
                return page("Objects \(segments[1])", try await objectsPage(segments[1], after: query["after"]), unlocked: unlocked)
            case (.get, 3, "durable-objects") where segments[2] == "object":
                return page("Objects \(segments[1])", try await durableObjectPage(segments[1], id: query["id"] ?? ""), unlocked: unlocked)
            case (.get, 2, "vectors"): return page("Vectors \(segments[1])", try await vectorsPage(segments[1], query), unlocked: unlocked)
            case (.post, 3, "queues") where segments[2] == "redrive",
                (.post, 3, "kv") where segments[2] == "delete",
                (.post, 3, "buckets") where segments[2] == "delete":
                guard unlocked else {
                    return Self.html(
                        .forbidden,
                        layout(
                            "Read-only",
                            "<p class=error>This dashboard is read-only: \(token == nil ? "the config names no dashboard.token_secret" : "sign in with the dashboard token first").</p>",
                            unlocked: false))
                }
                return try await action(segments[0], segments[1], request)
            case (.post, _, _):
                var response = Self.html(
                    .methodNotAllowed, layout("Not an action", "<p class=error>\(htmlEscape(url.path)) is a page: GET it.</p>", unlocked: unlocked))
                response.headers[.allow] = "GET, HEAD"
                return response
            default:
                return Self.html(.notFound, layout("Not found", "<p class=error>No dashboard page at \(htmlEscape(url.path)).</p>", unlocked: unlocked))
            }
        } catch let error as ConfigError where error.code == .missingBinding {
            return Self.html(.notFound, layout("Not found", "<p class=error>\(htmlEscape(error.description))</p>", unlocked: unlocked))
        } catch let error as KVError where error.code != .storageFailure && error.code != .closed {
            return Self.html(.badRequest, layout("Bad request", "<p class=error>\(htmlEscape(error.description))</p>", unlocked: unlocked))
        } catch let error as BlobError where error.code != .storageFailure && error.code != .closed && error.code != .unavailable {
            return Self.html(.badRequest, layout("Bad request", "<p class=error>\(htmlEscape(error.description))</p>", unlocked: unlocked))
        } catch let error as VectorError where error.code != .storage {
            let status: HTTPResponse.Status = error.code == .notFound ? .notFound : .badRequest
            return Self.html(status, layout("Bad request", "<p class=error>\(htmlEscape(error.description))</p>", unlocked: unlocked))
        } catch let error as DashboardError {
            return Self.html(error.status, layout("Error", "<p class=error>\(htmlEscape(error.message))</p>", unlocked: unlocked))
        } catch {
            return Self.html(.internalServerError, layout("Error", "<p class=error>\(htmlEscape(String(describing: error)))</p>", unlocked: unlocked))
        }
    }

    // MARK: Access

    /// Whether the dashboard listens on a loopback address only (its default).
    private var loopbackOnly: Bool { ["127.0.0.1", "localhost", "::1", "[::1]"].contains(bindings.config.host.lowercased()) }

    private func hostAllowed(_ request: EdgeRequest) -> Bool {
        guard loopbackOnly, let authority = request.head.authority ?? request.headers[Self.hostField] else { return true }
        var name = Substring(authority.lowercased())
        if name.hasPrefix("["), let end = name.firstIndex(of: "]") {
            name = name[name.index(after: name.startIndex)..<end]
        } else if let colon = name.lastIndex(of: ":") {
            name = name[..<colon]
        }
        return name == "localhost" || name == "127.0.0.1" || name == "::1" || name.hasSuffix(".localhost")
    }

    /// Whether a POST comes from the dashboard's own origin (`Sec-Fetch-Site`, else `Origin`,
    /// as browsers send them); a request without either is not a browser's and carries no
    /// ambient cookie.
    private func sameOrigin(_ request: EdgeRequest) -> Bool {
        if let site = request.headers[Self.fetchSite] { return site == "same-origin" || site == "none" }
        if let origin = request.headers[Self.origin] {
            guard let authority = request.head.authority ?? request.headers[Self.hostField] else { return false }
            return origin == "http://\(authority)" || origin == "https://\(authority)"
        }
        return true
    }

    private static let fetchSite = HTTPField.Name("Sec-Fetch-Site")!
    private static let origin = HTTPField.Name("Origin")!
    /// `Host` as a plain field (HTTP/1 servers move it to the request's authority).
    private static let hostField = HTTPField.Name("Host")!

    private func isUnlocked(_ request: EdgeRequest) -> Bool {
        guard let token else { return false }
        if let authorization = request.headers[.authorization], authorization.hasPrefix("Bearer ") {
            return constantTimeEqual(Array(authorization.dropFirst(7).utf8), Array(token.utf8))
        }
        let cookies = request.headers[values: .cookie].flatMap { $0.split(separator: ";") }
        for cookie in cookies {
            let parts = cookie.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0] == Self.cookie {
                return constantTimeEqual(Array(QueryParameters.percentDecoded(parts[1], plusIsSpace: false).utf8), Array(token.utf8))
            }
        }
        return false
    }

    private func login(_ request: EdgeRequest) async throws -> EdgeResponse {
        let form = try await Self.form(request)
        guard let token, let given = form["token"], constantTimeEqual(Array(given.utf8), Array(token.utf8)) else {
            return Self.html(.forbidden, layout("Sign in", "<p class=error>Wrong or missing dashboard token.</p>", unlocked: false))
        }
        var response = Self.redirect(base)
        response.headers[.setCookie] = "\(Self.cookie)=\(Self.percentEncoded(token)); Path=\(base); HttpOnly; SameSite=Strict"
        return response
    }

    private func logout() -> EdgeResponse {
        var response = Self.redirect(base)
        response.headers[.setCookie] = "\(Self.cookie)=; Path=\(base); HttpOnly; SameSite=Strict; Max-Age=0"
        return response
    }

    private func action(_ kind: String, _ name: String, _ request: EdgeRequest) async throws -> EdgeResponse {
        let form = try await Self.form(request)
        switch kind {
        case "queues":
            guard queueNames.contains(name) else { throw DashboardError(.notFound, "no queue \"\(name)\" in the config") }
            guard bindings.config.queueConsumers.contains(where: { $0.configuration.deadLetterQueue == name }) else {
                throw DashboardError(.badRequest, "\(name) is not a dead-letter queue of the config: only dead letters are redriven")
            }
            let target = form["to"].flatMap { $0.isEmpty ? nil : $0 }
            if let target, !queueNames.contains(target) || target == name {
                throw DashboardError(.badRequest, "no queue \"\(target)\" in the config to redrive to (other than \(name))")
            }
            let moved = try await bindings.queueBackend.redrive(from: name, to: target)
            return Self.redirect(link("queues/\(Self.percentEncoded(name))", ["notice": "redrove \(moved) messages"]))
        case "kv":
            guard let key = form["key"] else { throw DashboardError(.badRequest, "the form has no key") }
            try await bindings.kv(name).delete(key)
            return Self.redirect(link("kv/\(Self.percentEncoded(name))", ["notice": "deleted \(key)"]))
        default:
            guard let key = form["key"] else { throw DashboardError(.badRequest, "the form has no key") }
            try await bindings.bucket(name).delete([key])
            return Self.redirect(link("buckets/\(Self.percentEncoded(name))", ["notice": "deleted \(key)"]))
        }
    }

    // MARK: Overview

    private var queueNames: [String] {
        var names: [String] = []
        for name in bindings.config.queueProducers.map(\.queue)
            + bindings.config.queueConsumers.flatMap({ [$0.queue] + [$0.configuration.deadLetterQueue].compactMap { $0 } })
        where !names.contains(name) {
            names.append(name)
        }
        return names
    }

    private func overview(unlocked: Bool, notice: String?) async throws -> String {
        let config = bindings.config
        var html = notice.map { "<p class=notice>\(htmlEscape($0))</p>" } ?? ""
        html +=
            "<p>Worker <b>\(htmlEscape(config.name))</b>, config <code>\(htmlEscape(config.file))</code>, state in <code>\(htmlEscape(config.stateDirectory))</code>."
        html += " <a href=\"\(link("requests"))\">Live request log</a>"
        if let metricsPath { html += " · <a href=\"\(htmlEscape(metricsPath))\">Prometheus metrics</a>" }
        html += "</p>"
        if token != nil && !unlocked {
            html += """
                <form method=post action="\(link("login"))" class=inline><label>Dashboard token <input type=password name=token autocomplete=current-password></label> <button>Unlock actions</button></form>
                """
        } else if unlocked {
            html += "<form method=post action=\"\(link("logout"))\" class=inline><button>Lock</button></form>"
        }
        html += "<h2>KV namespaces</h2>"
        html += table(
            ["binding", "backend", "keys"],
            await config.kvNamespaces.asyncMap { entry in
                let count = await describe { () async throws -> String in
                    let page = try await bindings.kv(entry.binding).list(KVListOptions(limit: 1000))
                    return page.listComplete ? "\(page.keys.count)" : "1000+"
                }
                return [
                    "<a href=\"\(link("kv/\(Self.percentEncoded(entry.binding))"))\">\(htmlEscape(entry.binding))</a>", htmlEscape(entry.backend.rawValue),
                    count,
                ]
            })
        html += "<h2>Buckets</h2>"
        html += table(
            ["binding", "bucket", "backend"],
            config.r2Buckets.map { entry in
                [
                    "<a href=\"\(link("buckets/\(Self.percentEncoded(entry.binding))"))\">\(htmlEscape(entry.binding))</a>", htmlEscape(entry.bucketName),
                    htmlEscape(entry.backend.rawValue),
                ]
            })
        html += "<h2>Queues</h2>" + (try await queueTable())
        html += "<h2>Durable objects</h2>"
        html += table(
            ["binding", "class", "backend", "objects", "alarms pending"],
            await config.durableObjects.asyncMap { entry in
                let (objects, alarms) = await describe2 { () async throws -> (String, String) in
                    let inspection = try bindings.durableObjectInspection(entry.name)
                    let objects = try await inspection.objects(after: nil, limit: 1001).count
                    return (objects > 1000 ? "1000+" : "\(objects)", "\(try await inspection.pendingAlarmCount())")
                }
                return [
                    "<a href=\"\(link("durable-objects/\(Self.percentEncoded(entry.name))"))\">\(htmlEscape(entry.name))</a>", htmlEscape(entry.className),
                    htmlEscape(config.durableObjectsBackend.rawValue), objects, alarms,
                ]
            })
        html += "<h2>Vector indexes</h2>"
        html += table(
            ["binding", "index", "dimensions", "metric", "vectors"],
            await config.vectorize.asyncMap { entry in
                let count = await describe { "\(try await bindings.vectorize(entry.binding).describe().vectorCount)" }
                return [
                    "<a href=\"\(link("vectors/\(Self.percentEncoded(entry.binding))"))\">\(htmlEscape(entry.binding))</a>", htmlEscape(entry.indexName),
                    "\(entry.dimensions)", htmlEscape(entry.metric.rawValue), count,
                ]
            })
        if let ai = config.ai {
            html +=
                "<h2>AI</h2>" + table(["binding", "model", "cache"], [[htmlEscape(ai.binding), htmlEscape("\(ai.model)"), htmlEscape(ai.cache ?? "none")]])
        }
        if !config.vars.isEmpty || !config.secrets.isEmpty {
            html += "<h2>Variables and secrets</h2>"
            html += table(
                ["name", "value"],
                config.vars.keys.sorted().map { [htmlEscape($0), htmlEscape(config.vars[$0] ?? "")] }
                    + config.secrets.map { [htmlEscape($0), "<i>secret, not shown</i>"] })
        }
        return html
    }

    // MARK: KV

    private func kvPage(_ binding: String, _ query: QueryParameters) async throws -> String {
        let namespace = try bindings.kv(binding)
        let prefix = query["prefix"].flatMap { $0.isEmpty ? nil : $0 }
        let page = try await namespace.list(KVListOptions(prefix: prefix, limit: Self.pageSize, cursor: query["cursor"]))
        var html = query["notice"].map { "<p class=notice>\(htmlEscape($0))</p>" } ?? ""
        html += """
            <form method=get><label>Prefix <input name=prefix value="\(htmlEscape(prefix ?? ""))"></label> <button>List</button></form>
            """
        html += table(
            ["key", "expires", "metadata"],
            page.keys.map { key in
                [
                    "<a href=\"\(link("kv/\(Self.percentEncoded(binding))/value", ["key": key.name]))\">\(htmlEscape(key.name))</a>",
                    key.expiration.map { Self.date(Date(timeIntervalSince1970: Double($0))) } ?? "never",
                    key.metadata.map { "<code>\(htmlEscape($0.description))</code>" } ?? "",
                ]
            }, empty: "no keys\(prefix.map { " starting with \"\(htmlEscape($0))\"" } ?? "")")
        if !page.listComplete, let cursor = page.cursor {
            html += "<p><a rel=next href=\"\(link("kv/\(Self.percentEncoded(binding))", ["prefix": prefix ?? "", "cursor": cursor]))\">Next page</a></p>"
        }
        return html
    }

    private func kvValuePage(_ binding: String, key: String, unlocked: Bool) async throws -> String {
        guard let entry = try await bindings.kv(binding).getWithMetadata(key) else {
            throw DashboardError(.notFound, "KV namespace \(binding) has no key \"\(key)\"")
        }
        var html = table(
            ["key", "size", "expires", "metadata"],
            [
                [
                    htmlEscape(key), "\(entry.value.count) bytes", entry.expiration.map { Self.date(Date(timeIntervalSince1970: Double($0))) } ?? "never",
                    entry.metadata.map { "<code>\(htmlEscape($0.description))</code>" } ?? "",
                ]
            ])
        html += "<h2>Value</h2>" + Self.preview(entry.value)
        if unlocked {
            html += """
                <form method=post action="\(link("kv/\(Self.percentEncoded(binding))/delete"))"><input type=hidden name=key value="\(htmlEscape(key))"><button class=danger>Delete this key</button></form>
                """
        }
        return html
    }

    // MARK: Buckets

    private func bucketPage(_ binding: String, _ query: QueryParameters) async throws -> String {
        let bucket = try bindings.bucket(binding)
        let prefix = query["prefix"] ?? ""
        let page = try await bucket.list(
            BlobListOptions(prefix: prefix.isEmpty ? nil : prefix, delimiter: "/", cursor: query["cursor"], limit: Self.pageSize, include: [.httpMetadata]))
        var html = query["notice"].map { "<p class=notice>\(htmlEscape($0))</p>" } ?? ""
        // Breadcrumbs: the bucket, then each folder of the prefix.
        var crumbs = ["<a href=\"\(link("buckets/\(Self.percentEncoded(binding))"))\">\(htmlEscape(binding))</a>"]
        var walked = ""
        for folder in prefix.split(separator: "/", omittingEmptySubsequences: false).dropLast() {
            walked += folder + "/"
            crumbs.append("<a href=\"\(link("buckets/\(Self.percentEncoded(binding))", ["prefix": walked]))\">\(htmlEscape(String(folder)))</a>")
        }
        html += "<p class=crumbs>\(crumbs.joined(separator: " / "))</p>"
        let folders = page.delimitedPrefixes.map { folder in
            [
                "📁 <a href=\"\(link("buckets/\(Self.percentEncoded(binding))", ["prefix": folder]))\">\(htmlEscape(String(folder.dropFirst(prefix.count))))</a>",
                "", "", "",
            ]
        }
        let objects = page.objects.map { object in
            [
                "<a href=\"\(link("buckets/\(Self.percentEncoded(binding))/object", ["key": object.key]))\">\(htmlEscape(String(object.key.dropFirst(prefix.count))))</a>",
                Self.size(object.size), Self.date(object.uploaded),
                "<a download href=\"\(link("buckets/\(Self.percentEncoded(binding))/download", ["key": object.key]))\">download</a>",
            ]
        }
        html += table(["key", "size", "uploaded", ""], folders + objects, empty: "no objects")
        if page.truncated, let cursor = page.cursor {
            html += "<p><a rel=next href=\"\(link("buckets/\(Self.percentEncoded(binding))", ["prefix": prefix, "cursor": cursor]))\">Next page</a></p>"
        }
        return html
    }

    private func objectPage(_ binding: String, key: String, unlocked: Bool) async throws -> String {
        guard let object = try await bindings.bucket(binding).head(key) else {
            throw DashboardError(.notFound, "bucket \(binding) has no object \"\(key)\"")
        }
        var rows = [
            ["key", htmlEscape(object.key)], ["size", "\(Self.size(object.size)) (\(object.size) bytes)"], ["uploaded", Self.date(object.uploaded)],
            ["etag", "<code>\(htmlEscape(object.etag))</code>"], ["content type", htmlEscape(object.httpMetadata.contentType ?? "not set")],
        ]
        rows += object.customMetadata.keys.sorted().map { ["x-amz-meta-\(htmlEscape($0))", htmlEscape(object.customMetadata[$0] ?? "")] }
        var html = table(["", ""], rows)
        html += "<p><a download href=\"\(link("buckets/\(Self.percentEncoded(binding))/download", ["key": key]))\">Download</a></p>"
        if unlocked {
            html += """
                <form method=post action="\(link("buckets/\(Self.percentEncoded(binding))/delete"))"><input type=hidden name=key value="\(htmlEscape(key))"><button class=danger>Delete this object</button></form>
                """
        }
        return html
    }

    private func download(_ binding: String, key: String) async throws -> EdgeResponse {
        guard let result = try await bindings.bucket(binding).get(key, options: BlobGetOptions()), let body = result.body else {
            throw DashboardError(.notFound, "bucket \(binding) has no object \"\(key)\"")
        }
        var headers = HTTPFields()
        headers[.contentType] = result.object.httpMetadata.contentType ?? "application/octet-stream"
        headers[.contentLength] = "\(result.object.size)"
        let name = key.split(separator: "/").last.map(String.init) ?? "download"
        headers[.contentDisposition] = "attachment; filename*=UTF-8''\(Self.percentEncoded(name))"
        headers[.eTag] = result.object.httpEtag
        return EdgeResponse(status: .ok, headers: headers, body: .stream(body))
    }

    // MARK: Queues

    private func queueTable() async throws -> String {
        let consumers = Dictionary(bindings.config.queueConsumers.map { ($0.queue, $0) }, uniquingKeysWith: { first, _ in first })
        let deadLetter = Set(bindings.config.queueConsumers.compactMap(\.configuration.deadLetterQueue))
        var rows: [[String]] = []
        for name in queueNames {
            let stats = try await bindings.queueBackend.stats(name)
            var role = consumers[name] != nil ? "consumed" : "produced"
            if deadLetter.contains(name) { role = "dead-letter queue" }
            let dlq =
                consumers[name]?.configuration.deadLetterQueue.map { "<a href=\"\(link("queues/\(Self.percentEncoded($0))"))\">\(htmlEscape($0))</a>" } ?? ""
            rows.append([
                "<a href=\"\(link("queues/\(Self.percentEncoded(name))"))\">\(htmlEscape(name))</a>", role, "\(stats.backlog)", "\(stats.inFlight)",
                "\(stats.delayed)", "\(Int(stats.oldestMessageAge)) s", dlq,
            ])
        }
        return table(["queue", "role", "backlog", "in flight", "delayed", "oldest", "dead-letter queue"], rows, empty: "no queues")
    }

    private func queuesPage() async throws -> String { try await queueTable() }

    private func queuePage(_ name: String, notice: String?, unlocked: Bool) async throws -> String {
        guard queueNames.contains(name) else { throw DashboardError(.notFound, "no queue \"\(name)\" in the config") }
        let backend = bindings.queueBackend
        let stats = try await backend.stats(name)
        var html = notice.map { "<p class=notice>\(htmlEscape($0))</p>" } ?? ""
        html += table(
            ["backlog", "in flight", "delayed", "oldest message"],
            [["\(stats.backlog)", "\(stats.inFlight)", "\(stats.delayed)", "\(Int(stats.oldestMessageAge)) s"]])
        let isDeadLetter = bindings.config.queueConsumers.contains { $0.configuration.deadLetterQueue == name }
        if isDeadLetter {
            if unlocked {
                html += """
                    <form method=post action="\(link("queues/\(Self.percentEncoded(name))/redrive"))"><label>Send every message to <select name=to><option value="">the queue it failed on</option>\(queueNames.filter { $0 != name }.map { "<option>\(htmlEscape($0))</option>" }.joined())</select></label> <button>Redrive</button></form>
                    """
            } else {
                html += "<p class=muted>Redrive needs the dashboard token (or <code>edge queue redrive \(htmlEscape(name))</code>).</p>"
            }
        }
        let messages = try await backend.peek(name, limit: 50)
        html += "<h2>Messages (oldest first, at most 50)</h2>"
        html += table(
            ["id", "attempts", "sent", "type", "body"] + (isDeadLetter ? ["failed on"] : []),
            messages.map { message in
                [
                    "<code>\(htmlEscape(message.id))</code>", "\(message.attempts)", Self.date(message.timestamp), htmlEscape(message.contentType.rawValue),
                    Self.preview(message.body, limit: 2048),
                ] + (isDeadLetter ? [htmlEscape(message.sourceQueue ?? "")] : [])
            }, empty: "empty")
        return html
    }

    // MARK: Durable objects

    private func objectsPage(_ binding: String, after: String?) async throws -> String {
        let inspection = try bindings.durableObjectInspection(binding)
        let objects = try await inspection.objects(after: after, limit: Self.pageSize)
        var html = table(
            ["object id", "keys", "alarm"],
            objects.map { object in
                [
                    "<a href=\"\(link("durable-objects/\(Self.percentEncoded(binding))/object", ["id": object.id]))\"><code>\(htmlEscape(object.id))</code></a>",
                    "\(object.keys)", object.alarm.map(Self.describe) ?? "",
                ]
            }, empty: "no object holds storage or an alarm")
        if objects.count == Self.pageSize, let last = objects.last {
            html += "<p><a rel=next href=\"\(link("durable-objects/\(Self.percentEncoded(binding))", ["after": last.id]))\">Next page</a></p>"
        }
        let alarms = try await inspection.scheduledAlarms(limit: 20)
        html += "<h2>Next alarms</h2>"
        html += table(
            ["object id", "due"],
            alarms.map { alarm in
                [
                    "<a href=\"\(link("durable-objects/\(Self.percentEncoded(binding))/object", ["id": alarm.objectID]))\"><code>\(htmlEscape(alarm.objectID))</code></a>",
                    Self.describe(alarm.alarm),
                ]
            }, empty: "no alarm scheduled")
        return html
    }

    private func durableObjectPage(_ binding: String, id: String) async throws -> String {
        let objectID: String
        do { objectID = try DurableObjectID(parsing: id).hex } catch { throw DashboardError(.badRequest, "\"\(id)\" is not an object id (64 hex digits)") }
        let inspection = try bindings.durableObjectInspection(binding)
        let entries = try await inspection.storedEntries(objectID, prefix: nil, limit: 1000)
        let alarm = try await inspection.storedAlarm(objectID)
        var html = "<p>Object <code>\(htmlEscape(objectID))</code> · alarm: \(alarm.map(Self.describe) ?? "none")</p>"
        html += "<h2>Storage (\(entries.count == 1000 ? "first 1000 keys" : "\(entries.count) keys"))</h2>"
        html += table(["key", "value"], entries.map { [htmlEscape($0.key), Self.preview($0.value, limit: 4096)] }, empty: "no storage")
        return html
    }

    // MARK: Vectors

    private func vectorsPage(_ binding: String, _ query: QueryParameters) async throws -> String {
        guard let entry = bindings.config.vectorize.first(where: { $0.binding == binding }) else {
            throw DashboardError(.notFound, "no vectorize binding \"\(binding)\" in the config")
        }
        let index = try bindings.vectorize(binding)
        let info = try await index.describe()
        let ai = bindings.config.ai
        let embeds = ai != nil
        var html =
            "<p>Index <b>\(htmlEscape(entry.indexName))</b>: \(info.vectorCount) vectors of \(info.dimensions) dimensions, \(htmlEscape(info.metric.rawValue)).</p>"
        let text = query["q"] ?? ""
        let id = query["id"] ?? ""
        let topK = min(max(Int(query["top_k"] ?? "") ?? 10, 1), 20)
        html += """
            <form method=get>\(embeds ? "<label>Text <input name=q size=50 value=\"\(htmlEscape(text))\"></label> or " : "")<label>stored vector id <input name=id value="\(htmlEscape(id))"></label> <label>top <input name=top_k type=number min=1 max=20 value=\(topK)></label> <button>Query</button></form>
            """
        let options = VectorQueryOptions(topK: topK, returnMetadata: .all)
        var result: VectorQueryResult?
        if !id.isEmpty {
            result = try await index.queryById(id, options: options)
        } else if !text.isEmpty, let ai {
            let model = try bindings.ai(ai.binding)
            guard let vector = try await model.embed([text]).first, vector.count == info.dimensions else {
                throw DashboardError(.badRequest, "the AI binding's model makes vectors of \(model.dimensions) dimensions; this index holds \(info.dimensions)")
            }
            result = try await index.query(vector, options: options)
        }
        if let result {
            html += "<h2>Matches</h2>"
            html += table(
                ["id", "score", "namespace", "metadata"],
                result.matches.map { match in
                    [
                        htmlEscape(match.id), String(format: "%.4f", match.score), htmlEscape(match.namespace ?? ""),
                        match.metadata.map { "<code>\(htmlEscape($0.description))</code>" } ?? "",
                    ]
                }, empty: "no match")
        }
        return html
    }

    // MARK: Requests

    private func requestsPage() -> String {
        let entries = log.entries().reversed()
        let rows = entries.map(Self.requestRow).joined()
        return """
            <p>The last \(log.capacity) requests the worker answered, newest first\(" (dashboard and metrics requests are not listed)"). <span id=live class=muted>Reload for new requests.</span></p>
            <table id=requests><thead><tr><th>time</th><th>method</th><th>path</th><th>status</th><th>ms</th><th>request id</th></tr></thead><tbody>\(rows)</tbody></table>
            <script>
            (function () {
              var last = \(entries.first?.sequence ?? 0);
              var body = document.querySelector('#requests tbody');
              document.getElementById('live').textContent = 'Live: new requests appear as they are answered.';
              function text(tag, value, cls) { var cell = document.createElement(tag); cell.textContent = value; if (cls) cell.className = cls; return cell; }
              function poll() {
                fetch('\(link("requests.json"))?after=' + last).then(function (r) { return r.json(); }).then(function (entries) {
                  entries.forEach(function (e) {
                    var row = document.createElement('tr');
                    row.className = 'request s' + String(e.status).charAt(0);
                    [e.time, e.method, e.path, e.status, e.ms.toFixed(2), e.requestID].forEach(function (v, i) { row.appendChild(text('td', v, i === 2 ? 'path' : '')); });
                    body.insertBefore(row, body.firstChild);
                    last = Math.max(last, e.sequence);
                  });
                }).catch(function () {}).then(function () { setTimeout(poll, 1000); });
              }
              setTimeout(poll, 1000);
            })();
            </script>
            """
    }

    private static func requestRow(_ entry: RequestLog.Entry) -> String {
        "<tr class=\"request s\(entry.status / 100)\"><td>\(date(entry.time))</td><td>\(htmlEscape(entry.method))</td><td class=path>\(htmlEscape(entry.path))</td><td>\(entry.status)</td><td>\(String(format: "%.2f", entry.milliseconds))</td><td>\(htmlEscape(entry.requestID))</td></tr>"
    }

    private func requestsJSON(after: Int) -> EdgeResponse {
        let entries = log.entries(after: after).map { entry -> JSONValue in
            [
                "sequence": .int(Int64(entry.sequence)), "time": .string(Self.date(entry.time)), "method": .string(entry.method),
                "path": .string(entry.path), "status": .int(Int64(entry.status)), "ms": .double(entry.milliseconds),
                "requestID": .string(entry.requestID),
            ]
        }
        let data = (try? JSONValue.array(entries).serialized()) ?? Data("[]".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return EdgeResponse(status: .ok, headers: headers, body: .bytes(Array(data)))
    }

    // MARK: Rendering

    private func link(_ path: String, _ parameters: KeyValuePairs<String, String> = [:]) -> String {
        let query = parameters.filter { !$0.value.isEmpty }.map { "\($0.key)=\(Self.percentEncoded($0.value))" }.joined(separator: "&")
        return htmlEscape(base + path + (query.isEmpty ? "" : "?" + query))
    }

    private func table(_ headers: [String], _ rows: [[String]], empty: String = "none") -> String {
        guard !rows.isEmpty else { return "<p class=muted>\(empty)</p>" }
        let head = headers.contains { !$0.isEmpty } ? "<thead><tr>" + headers.map { "<th>\($0)</th>" }.joined() + "</tr></thead>" : ""
        return "<table>\(head)<tbody>" + rows.map { "<tr>" + $0.map { "<td>\($0)</td>" }.joined() + "</tr>" }.joined() + "</tbody></table>"
    }

    private func page(_ title: String, _ body: String, unlocked: Bool) -> EdgeResponse {
        Self.html(.ok, layout(title, body, unlocked: unlocked))
    }

    private func layout(_ title: String, _ body: String, unlocked: Bool) -> String {
        let name = htmlEscape(bindings.config.name)
        let mode = token == nil ? "read-only" : unlocked ? "actions unlocked" : "read-only (locked)"
        return """
            <!doctype html>
            <html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width, initial-scale=1">
            <title>\(htmlEscape(title)) · \(name) · swift-edge</title><link rel=icon href="data:,">
            <style>
            body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d232a; background: #fafafa; }
            header { background: #1d232a; color: #fff; padding: .6em 1.2em; display: flex; gap: 1.2em; align-items: baseline; }
            header a { color: #fff; text-decoration: none; } header .mode { margin-left: auto; opacity: .75; font-size: 90%; }
            main { padding: 1em 1.2em; max-width: 1200px; }
            h1 { font-size: 1.4em; margin: .2em 0 .6em; } h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
            table { border-collapse: collapse; background: #fff; margin: .3em 0; }
            th, td { border: 1px solid #dde; padding: .25em .6em; text-align: left; vertical-align: top; }
            th { background: #eef0f4; } code, pre, td.path { font-family: ui-monospace, monospace; font-size: 90%; }
            pre { white-space: pre-wrap; word-break: break-all; max-width: 900px; margin: 0; }
            .muted { color: #667; } .notice { background: #e6f4ea; padding: .4em .8em; } .error { background: #fdecea; padding: .4em .8em; }
            .inline { display: inline; } .danger { color: #a00; } tr.s5 td, tr.s4 td { background: #fff4f4; }
            form { margin: .6em 0; }
            </style></head>
            <body><header><a href="\(htmlEscape(base))"><b>swift-edge</b></a><span>\(name)</span>
            <nav><a href="\(htmlEscape(base))">overview</a> · <a href="\(link("queues"))">queues</a> · <a href="\(link("requests"))">requests</a></nav>
            <span class=mode>\(mode)</span></header>
            <main><h1>\(htmlEscape(title))</h1>
            \(body)
            </main></body></html>
            """
    }

    private static func html(_ status: HTTPResponse.Status, _ text: String) -> EdgeResponse {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // Scripts and styles of the page itself only; nothing is loaded from elsewhere.
        headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'self'; img-src 'self' data:; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'"
        return EdgeResponse(status: status, headers: headers, body: .text(text))
    }

    private static func redirect(_ location: String) -> EdgeResponse {
        var headers = HTTPFields()
        headers[.location] = location.replacingOccurrences(of: "&amp;", with: "&")
        return EdgeResponse(status: .seeOther, headers: headers)
    }

    private static func form(_ request: EdgeRequest) async throws -> QueryParameters {
        let bytes: [UInt8]
        do { bytes = try await request.body.collect(upTo: 64 * 1024) } catch { throw DashboardError(.contentTooLarge, "a dashboard form is at most 64 KiB") }
        return QueryParameters(parsing: Substring(String(decoding: bytes, as: UTF8.self)), plusIsSpace: true)
    }

    /// Text as it is when it is UTF-8 (JSON values are), else base64; cut at `limit` bytes.
    private static func preview(_ bytes: [UInt8], limit: Int = 65_536) -> String {
        var shown = Array(bytes.prefix(limit))
        let more = bytes.count > limit ? "<p class=muted>first \(limit) of \(bytes.count) bytes</p>" : ""
        if bytes.count > limit {
            // Not cut inside a character: drop a trailing incomplete UTF-8 sequence (at most 3 bytes).
            var back = 0
            while back < 3, back < shown.count, shown[shown.count - 1 - back] & 0xC0 == 0x80 { back += 1 }
            if back < shown.count {
                let lead = shown[shown.count - 1 - back]
                let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
                if length > back + 1 { shown.removeLast(back + 1) }
            }
        }
        if let text = String(validating: shown, as: UTF8.self) { return "<pre>\(htmlEscape(text))</pre>" + more }
        return "<pre class=binary>base64:\(Data(shown).base64EncodedString())</pre>" + more
    }

    private static func describe(_ alarm: ScheduledAlarm) -> String {
        date(alarm.time) + (alarm.retryCount > 0 ? " (retry \(alarm.retryCount))" : "")
    }

    private static func date(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    private static func size(_ bytes: Int) -> String {
        bytes < 1024 ? "\(bytes) B" : bytes < 1 << 20 ? String(format: "%.1f KiB", Double(bytes) / 1024) : String(format: "%.1f MiB", Double(bytes) / 1_048_576)
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters.
    static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    private func describe(_ body: () async throws -> String) async -> String {
        do { return try await body() } catch { return "<span class=error>\(htmlEscape(String(describing: error)))</span>" }
    }

    private func describe2(_ body: () async throws -> (String, String)) async -> (String, String) {
        do { return try await body() } catch {
            let message = "<span class=error>\(htmlEscape(String(describing: error)))</span>"
            return (message, message)
        }
    }
}

/// A dashboard request that cannot be answered, with its status.
struct DashboardError: Error {
    var status: HTTPResponse.Status
    var message: String
    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }
}

/// Escapes text for HTML content and attribute values.
func htmlEscape(_ text: String) -> String { HTML.escape(text) }

extension Array {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        results.reserveCapacity(count)
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
