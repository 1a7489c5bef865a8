import EdgeTesting
import Foundation
import Testing

@Suite("code-search CLI")
struct CodeSearchCLITests {
    func run(_ arguments: [String], in directory: String) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try KillTest.executable(named: "code-search"))
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    @Test("index a directory, then search it with --json; paths are relative to the indexed root")
    func indexAndSearch() throws {
        let directory = NSTemporaryDirectory() + "swift-edge-tests/code-search-\(UUID().uuidString)"
        let tree = directory + "/project"
        try FileManager.default.createDirectory(atPath: tree + "/Sources", withIntermediateDirectories: true)
        try "func parseCronExpression(_ text: String) -> [Int] {\n    text.split(separator: \" \").compactMap { Int($0) }\n}\n"
            .write(toFile: tree + "/Sources/Cron.swift", atomically: true, encoding: .utf8)
        try "func sendWelcomeEmail(to user: String) {\n    print(user)\n}\n".write(toFile: tree + "/Sources/Mail.swift", atomically: true, encoding: .utf8)
        let indexed = try run(["index", tree, "--model", "hashing"], in: directory)
        #expect(indexed.status == 0, "\(indexed.error)")
        #expect(indexed.error.contains("2 files"))
        let searched = try run(["search", "parse a cron expression", "--model", "hashing", "--json", "--top", "2"], in: directory)
        #expect(searched.status == 0, "\(searched.error)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(searched.output.utf8)) as? [String: Any])
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results.first?["path"] as? String == "Sources/Cron.swift")
        #expect(results.first?["startLine"] as? Int == 1)
        #expect(results.first?["endLine"] as? Int == 3)
        #expect(try run(["search", "x", "--top", "0", "--model", "hashing"], in: directory).status != 0)
    }
}
