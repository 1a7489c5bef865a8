import Foundation

/// What browser tests need: Debian's headless `chromium` on `PATH` and Playwright for Python
/// (`apt-get install chromium`, `pip install playwright`; `.ci/run` installs both). Playwright
/// drives the Debian binary through `executable_path`, since its own browser download cannot
/// work offline.
public enum HeadlessChromium {
    /// Whether both are installed (checked once).
    public static let isAvailable: Bool = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"
        let chromium = path.split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/chromium") || FileManager.default.isExecutableFile(atPath: "\($0)/chromium-browser")
        }
        guard chromium else { return false }
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", "import playwright.sync_api"]
        python.standardError = FileHandle.nullDevice
        guard (try? python.run()) != nil else { return false }
        python.waitUntilExit()
        return python.terminationStatus == 0
    }()

}
