// `recordings`: serves RecordingsWorker. With no config file, recordings go to a file bucket
// under --state (default .edge/state) on --port (default 8787, 0 picks one) with a 200 MiB
// body limit; `--config FILE` serves a config of your own instead (--port still applies).
import EdgeRuntime
import Foundation
import Logging
import Recordings

func option(_ name: String) -> String? {
    let arguments = Array(CommandLine.arguments.dropFirst())
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}
let runtime: WorkerRuntime<RecordingsWorker>
if let path = option("--config") {
    var config = try EdgeConfig.load(path)
    // --port (0 picks one) overrides the config's port, as it does for the built-in config.
    if let port = option("--port").flatMap(Int.init) { config.port = port }
    runtime = try WorkerRuntime(worker: RecordingsWorker(), bindings: EdgeBindings(config: config))
} else {
    var config = EdgeConfig(name: "recordings", file: "recordings (built-in config)", stateDirectory: option("--state") ?? ".edge/state")
    config.r2Buckets = [.init(binding: "RECORDINGS", bucketName: "recordings")]
    config.limits.maxRequestBodyBytes = Int(option("--max-body-bytes") ?? "") ?? 200 * 1024 * 1024
    config.port = Int(option("--port") ?? "") ?? 8787
    config.logLevel = .warning
    runtime = try WorkerRuntime(worker: RecordingsWorker(), bindings: EdgeBindings(config: config))
}
try await EdgeHost(runtime: runtime).run { port in
    FileHandle.standardOutput.write(Data("recordings listening on http://127.0.0.1:\(port)\n".utf8))
}
