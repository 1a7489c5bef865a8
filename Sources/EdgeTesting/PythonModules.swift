import Foundation

/// Python packages the tests use as independent clients and parsers (Prometheus's text parser,
/// ...): importable already, or installed once with pip into `~/.cache/swift-edge/python`, so
/// `swift test` needs nothing installed by hand.
public enum PythonModules {
    /// Where packages missing from the machine are installed.
    public static let cache = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/swift-edge/python").path

    /// The environment (`PYTHONPATH`) under which `python3` imports `module`, installing
    /// `requirement` with pip first when it cannot.
    ///
    /// - Throws: ``KillTestError`` when pip cannot install it.
    public static func environment(importing module: String, requirement: String) async throws -> [String: String] {
        let environment = ["PYTHONPATH": cache]
        if try await ExternalCommand.run(["python3", "-c", "import \(module)"], environment: environment).status == 0 { return environment }
        let install = try await ExternalCommand.run(
            ["python3", "-m", "pip", "install", "--quiet", "--target", cache, requirement], mergeStandardError: true)
        guard install.status == 0 else { throw KillTestError(message: "cannot install \(requirement) with pip: \(install.output)") }
        return environment
    }
}
