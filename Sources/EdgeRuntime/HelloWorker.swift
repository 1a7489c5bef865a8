import EdgeCore
import Foundation

/// The worker `edge dev` serves when the config's `main` is `"hello"` (the default): a greeting,
/// a counter in KV when the config binds one as `COUNTER`, and `/health`.
public struct HelloWorker: Worker {
    public struct Env: Sendable {
        public var greeting: String
        public var counter: (any KVNamespace)?
    }

    public init() {}

    public static func makeEnv(_ bindings: EdgeBindings) throws -> Env {
        let greeting = (try? bindings.variable("GREETING")) ?? "Hello from swift-edge"
        let counter = bindings.config.kvNamespaces.contains { $0.binding == "COUNTER" } ? try bindings.kv("COUNTER") : nil
        return Env(greeting: greeting, counter: counter)
    }

    public func fetch(_ request: EdgeRequest, env: Env, ctx: ExecutionContext) async throws -> EdgeResponse {
        switch request.pathOnly {
        case "/health":
            return .text("ok")
        case "/count":
            guard let counter = env.counter else { return .text("bind a KV namespace as COUNTER to count", status: 404) }
            let next = (Int(try await counter.get("count") ?? "0") ?? 0) + 1
            try await counter.put("count", String(next))
            return .text("\(next)")
        default:
            return .text(env.greeting)
        }
    }
}
