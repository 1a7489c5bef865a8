import CodeSearch
import Foundation
import Testing

/// Real GitHub payloads (octokit/webhooks examples, MIT: Fixtures/LICENSE.octokit-webhooks).
func fixture(_ name: String) throws -> [UInt8] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
    return Array(try Data(contentsOf: url))
}

@Suite("GitHub webhooks")
struct WebhookTests {
    let webhook = GitHubWebhook(secret: "It's a Secret to Everybody")

    @Test("GitHub's documented example signature verifies")
    func documentedSignature() throws {
        // From GitHub's "Validating webhook deliveries" documentation.
        let body = Array("Hello, World!".utf8)
        #expect(webhook.signature(of: body) == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        try webhook.verify(body: body, signatureHeader: "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    }

    @Test("missing, malformed and wrong signatures are 401; oversized bodies 413; bad JSON 400")
    func refusals() throws {
        let body = try fixture("push.json")
        func code(_ header: String?, body: [UInt8], webhook: GitHubWebhook) -> (WebhookError.Code, Int)? {
            do {
                _ = try webhook.event(name: "push", body: body, signatureHeader: header)
                return nil
            } catch let error as WebhookError {
                return (error.code, error.status)
            } catch {
                return nil
            }
        }
        #expect(code(nil, body: body, webhook: webhook)! == (.missingSignature, 401))
        #expect(code("sha1=abc", body: body, webhook: webhook)! == (.badSignature, 401))
        #expect(code("sha256=" + String(repeating: "0", count: 64), body: body, webhook: webhook)! == (.badSignature, 401))
        var tampered = body
        tampered[10] ^= 1
        #expect(code(webhook.signature(of: body), body: tampered, webhook: webhook)! == (.badSignature, 401))
        let small = GitHubWebhook(secret: "It's a Secret to Everybody", maxBodyBytes: 100)
        #expect(code(small.signature(of: body), body: body, webhook: small)! == (.tooLarge, 413))
        let notJSON = Array("not json".utf8)
        #expect(code(webhook.signature(of: notJSON), body: notJSON, webhook: webhook)! == (.malformedBody, 400))
        let incomplete = Array(#"{"ref": "refs/heads/main"}"#.utf8)
        #expect(code(webhook.signature(of: incomplete), body: incomplete, webhook: webhook)! == (.malformedBody, 400))
    }

    @Test("real payloads parse into events; unknown events are ignored")
    func events() throws {
        func event(_ name: String, _ file: String) throws -> GitHubEvent? {
            let body = try fixture(file)
            return try webhook.event(name: name, body: body, signatureHeader: webhook.signature(of: body))
        }
        guard case .push(let push)? = try event("push", "push.json") else {
            Issue.record("push did not parse")
            return
        }
        #expect(push.repository.fullName == "Codertocat/Hello-World")
        #expect(push.repository.cloneURL == "https://github.com/Codertocat/Hello-World.git")
        #expect(push.ref == "refs/tags/simple-tag")
        #expect(push.deleted == true)
        guard case .push(let organizationPush)? = try event("push", "push.with-organization.json") else {
            Issue.record("push did not parse")
            return
        }
        #expect(!organizationPush.repository.fullName.isEmpty)
        guard case .create(let repository, let ref, let refType)? = try event("create", "create.json") else {
            Issue.record("create")
            return
        }
        #expect(repository.fullName == "Codertocat/Hello-World" && ref == "simple-tag" && refType == "tag")
        guard case .delete(_, let deletedRef, _)? = try event("delete", "delete.json") else {
            Issue.record("delete")
            return
        }
        #expect(deletedRef == "simple-tag")
        guard case .installation(let action, let repositories)? = try event("installation", "installation.created.json") else {
            Issue.record("installation")
            return
        }
        #expect(action == "created" && repositories == ["Codertocat/Hello-World"])
        guard case .ping? = try event("ping", "ping.json") else {
            Issue.record("ping")
            return
        }
        #expect(try event("pull_request", "pull_request.opened.json") == nil, "events the pipeline does not handle are ignored")
    }
}

@Suite("Code chunker")
struct ChunkerTests {
    let swiftSource = """
        import Foundation

        /// A greeting.
        public struct Greeter {
            let name: String

            /// Says hello.
            public func hello() -> String {
                "Hello, \\(name) {"
            }

            func bye() -> String { "bye }" }
        }

        // A free function.
        func parseHTTPRequest(_ data: [UInt8]) -> Int {
            var count = 0
            for byte in data where byte == 10 { count += 1 }
            return count
        }
        """

    @Test("Swift chunks follow declarations, keep doc comments, and ignore braces in strings")
    func swiftDeclarations() {
        let chunks = CodeChunker().chunks(path: "Sources/App/Greeter.swift", text: swiftSource)
        let ranges = chunks.map { "\($0.startLine)-\($0.endLine)" }
        #expect(ranges == ["1-2", "3-13", "15-20"], "the imports, the struct with its doc comment, the function with its comment")
        let greeter = chunks.first { $0.text.contains("struct Greeter") }
        #expect(greeter?.startLine == 3, "the doc comment belongs to the declaration")
        #expect(greeter?.endLine == 13)
        let parse = chunks.first { $0.text.contains("parseHTTPRequest") }
        #expect(parse?.endLine == 20)
        #expect(parse?.text.hasPrefix("// A free function.") == true)
        // Every non-blank line is in some chunk.
        let lines = swiftSource.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            #expect(chunks.contains { ($0.startLine...$0.endLine).contains(index + 1) }, "line \(index + 1) is in no chunk")
        }
    }

    @Test("a type longer than a chunk is split into its members")
    func longType() {
        let members = (0..<12).map { "    func method\($0)() -> Int {\n        let value = \($0)\n        return value * 2\n    }\n" }.joined()
        let source = "final class Big {\n\(members)}\n"
        let chunks = CodeChunker(maxLines: 20, overlap: 4).chunks(path: "Big.swift", text: source)
        #expect(chunks.allSatisfy { $0.endLine - $0.startLine + 1 <= 20 })
        #expect(chunks.filter { $0.text.contains("func method") }.count >= 12)
        #expect(chunks.contains { $0.text.contains("func method7()") && $0.text.contains("return value * 2") && !$0.text.contains("method8") })
    }

    @Test("other languages use overlapping line windows; blank files have no chunks")
    func windows() {
        let text = (1...130).map { "line \($0)" }.joined(separator: "\n")
        let chunks = CodeChunker(maxLines: 60, overlap: 10).chunks(path: "README.md", text: text)
        #expect(chunks.map { "\($0.startLine)-\($0.endLine)" } == ["1-60", "51-110", "101-130"])
        #expect(CodeChunker().chunks(path: "empty.py", text: "\n  \n").isEmpty)
    }

    @Test("binaries, vendored and oversized files are skipped")
    func filter() {
        let filter = FileFilter()
        #expect(filter.verdict(path: "Sources/A.swift", bytes: Array("let a = 1".utf8)) == .index)
        #expect(filter.verdict(path: "vendor/lib/A.swift", bytes: Array("let a = 1".utf8)) == .skipVendored)
        #expect(filter.verdict(path: "node_modules/x/index.js", bytes: [65]) == .skipVendored)
        #expect(filter.verdict(path: "logo.png", bytes: [0x89, 0x50, 0x4E, 0x47, 0, 0]) == .skipBinary)
        #expect(filter.verdict(path: "big.json", bytes: [UInt8](repeating: 65, count: 600 * 1024)) == .skipTooLarge(600 * 1024))
    }

    @Test("every Swift file of this repository: chunks within the size limit cover every non-blank line")
    func thisRepository() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources").standardized
        let files = FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
        #expect(files.count > 50)
        let chunker = CodeChunker()
        var total = 0
        for file in files {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            let chunks = chunker.chunks(path: file, text: text)
            total += chunks.count
            #expect(chunks.allSatisfy { $0.endLine - $0.startLine + 1 <= 60 && $0.startLine >= 1 }, "\(file)")
            var covered = Set<Int>()
            for chunk in chunks { covered.formUnion(chunk.startLine...chunk.endLine) }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let uncovered = lines.indices.filter { !lines[$0].trimmingCharacters(in: .whitespaces).isEmpty && !covered.contains($0 + 1) }
            #expect(uncovered.isEmpty, "\(file): lines \(uncovered.prefix(5).map { $0 + 1 }) are in no chunk")
        }
        #expect(total > files.count)
    }
}
