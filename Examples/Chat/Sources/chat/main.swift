// `chat`: serves ChatWorker. With no config file, rooms live in SQLite under --state (default
// .edge/state) on --port (default 8787, 0 picks one); --idle-timeout-ms sets how long a room
// stays in memory after its last event (its sockets stay open when it is dropped: hibernation);
// `--config FILE` serves a config of your own instead (PostgreSQL, several processes).
import Chat
import EdgePostgres
import EdgeRuntime
import Foundation

func option(_ name: String) -> String? {
    let arguments = Array(CommandLine.arguments.dropFirst())
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

let providers = BackendProviders.builtIn.adding(PostgresProvider())
var config: EdgeConfig
if let path = option("--config") {
    config = try EdgeConfig.load(path, providers: providers)
    if let port = option("--port").flatMap(Int.init) { config.port = port }
} else {
    config = ChatWorker.defaultConfig(stateDirectory: option("--state") ?? ".edge/state", port: Int(option("--port") ?? "") ?? 8787)
}
if let milliseconds = option("--idle-timeout-ms").flatMap(Int.init) { config.durableObjectIdleTimeout = Double(milliseconds) / 1000 }
let runtime = try WorkerRuntime(worker: ChatWorker(), bindings: EdgeBindings(config: config, providers: providers))
try await EdgeHost(runtime: runtime).run { port in
    FileHandle.standardOutput.write(Data("chat listening on http://127.0.0.1:\(port)\n".utf8))
}
