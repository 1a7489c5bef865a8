import CodeSearch
import EdgeRuntimeTesting
import EdgeTesting
import Foundation
import Testing

/// Where the browser tests keep their screenshots: `.build/test-artifacts/browser` of this package.
let browserArtifacts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/test-artifacts/browser")
    .standardized.path

@Suite(
    "CodeSearch's pages in headless Chromium",
    .enabled(
        if: HeadlessChromium.isAvailable,
        "needs Debian's chromium and PyPI's playwright (`apt-get install chromium`, `pip install playwright`; .ci/run installs both)"))
struct BrowserTests {
    @Test("watch a pushed repository's job reach 100 % on /jobs, search from /, open the first result with the keyboard, search without JavaScript")
    func searchAndJobs() async throws {
        let mirror = try MirrorRepository()
        try mirror.write(
            "Sources/Cron.swift", "/// Parses a cron expression into its fields.\nfunc parseCronExpression(_ text: String) -> [Int] {\n    []\n}\n")
        try mirror.write("Sources/Mail.swift", "/// Sends the welcome email to a new user.\nfunc sendWelcomeEmail(to user: String) {}\n")
        try mirror.write("Docs/cron.md", "# Cron\n\nSchedules use cron expressions such as `*/5 * * * *`.\n")
        // Enough files for several batches, so the progress has steps to show.
        for number in 0..<150 {
            try mirror.write(
                "Sources/Generated/Step\(number).swift", "/// Step \(number) of the generated pipeline.\nfunc step\(number)() -> Int { \(number) }\n")
        }
        let head = try await runBlocking { try mirror.commit("fixtures") }
        let body = try pushPayload(after: head)
        let scratch = NSTemporaryDirectory() + "swift-edge-tests/browser-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try Data(body).write(to: URL(fileURLWithPath: scratch + "/push.json"))
        let request: [String: Any] = [
            "webhook": ["headers": signedHeaders("push", body), "body_file": scratch + "/push.json"],
            "job_id": CodeSearchWorker.jobID(repo: mirror.repo, revision: head), "query": "parse a cron expression",
            "expected_path": "Sources/Cron.swift", "expected_text": "parseCronExpression",
        ]
        try JSONSerialization.data(withJSONObject: request).write(to: URL(fileURLWithPath: scratch + "/request.json"))

        let token = "admin-\(UUID().uuidString)"
        let server = try await runBlocking {
            try ServerProcess(
                arguments: ["serve", "--model", "hashing", "--state", scratch + "/state", "--mirrors", mirror.mirrors, "--port", "0"],
                environment: ["GITHUB_WEBHOOK_SECRET": webhookSecret, "CODESEARCH_ADMIN_TOKEN": token])
        }
        defer { server.stop() }
        try FileManager.default.createDirectory(atPath: browserArtifacts, withIntermediateDirectories: true)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Browser/search_page.py").path
        let (status, output) = try await ExternalCommand.run(
            ["python3", script, "http://127.0.0.1:\(server.port)", scratch + "/request.json", browserArtifacts], mergeStandardError: true)
        #expect(status == 0, "\(output)")
        let report = output.split(separator: "\n").last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let steps = (report?["steps"] as? [[String: Any]]) ?? []
        let progress = steps.first { $0["name"] as? String == "job progress" }?["seen"] as? [String]
        #expect(progress?.last == "100 %", "the job's progress arrived live: \(progress ?? [])")
        for name in ["jobs", "search", "file"] {
            #expect(FileManager.default.fileExists(atPath: "\(browserArtifacts)/\(name).png"), "screenshot \(name).png kept")
        }

        // The redrive form: a wrong token is refused, the right one redrives (nothing is dead here).
        let form = { (token: String) in Array("queue=file-indexing-dlq&token=\(token)".utf8) }
        let headers = ["content-type": "application/x-www-form-urlencoded"]
        #expect(try await server.request("/jobs/redrive", method: "POST", headers: headers, body: form("wrong")).0 == 403)
        // The client follows the 303 to the jobs page, which says what was done.
        let redriven = try await server.request("/jobs/redrive", method: "POST", headers: headers, body: form(token))
        #expect(redriven.0 == 200 && String(decoding: redriven.1, as: UTF8.self).contains("Redriven: 0 message(s) back to file-indexing"))
        let unknown = Array("queue=secrets&token=\(token)".utf8)
        #expect(try await server.request("/jobs/redrive", method: "POST", headers: headers, body: unknown).0 == 400)
    }
}
