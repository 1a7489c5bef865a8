import EdgeCore
public import Foundation

/// A durable object class: one live instance per id, calls delivered one at a time, with
/// transactional storage and an alarm (Cloudflare Durable Objects, in Swift idiom).
///
/// ```swift
/// actor Counter: DurableObject {
///     let state: DurableObjectState
///     init(state: DurableObjectState, env: AppEnv) { self.state = state }
///
///     func increment() throws -> Int {
///         let value = (try state.storage.get("count", as: Int.self) ?? 0) + 1
///         try state.storage.put("count", value)
///         return value
///     }
/// }
///
/// let value = try await namespace.get(namespace.idFromName("global")).call { try await $0.increment() }
/// ```
///
/// A call runs alone on its object: the next call starts only when it has finished, even if it
/// suspends in between. Its response is released only once its writes are durable.
public protocol DurableObject: Actor {
    /// The application's bindings, handed to every instance.
    associatedtype Env: Sendable

    /// Builds the instance for `state.id`. Instances are rebuilt from storage after eviction or
    /// a restart, so keep durable state in `state.storage`.
    init(state: DurableObjectState, env: Env)

    /// Handles a request sent with ``DurableObjectStub/fetch(_:)``. The default answers 501.
    func fetch(_ request: EdgeRequest) async throws -> EdgeResponse

    /// Runs when the alarm set with ``DurableObjectStorage/setAlarm(_:)`` comes due. When it
    /// throws, it is retried with exponential backoff (2 s, 4 s, … up to 6 retries).
    func alarm(_ info: AlarmInfo) async throws
}

extension DurableObject {
    public func fetch(_ request: EdgeRequest) async throws -> EdgeResponse {
        EdgeResponse(status: 501, body: Array("\(Self.self) does not implement fetch".utf8))
    }

    public func alarm(_ info: AlarmInfo) async throws {}
}

/// Details of an alarm invocation.
public struct AlarmInfo: Sendable, Hashable {
    /// How many times this alarm already failed (0 on the first run).
    public var retryCount: Int
    /// `true` when this run retries a failed one.
    public var isRetry: Bool { retryCount > 0 }
    /// When the alarm was scheduled to run.
    public var scheduledTime: Date
}

/// What an instance gets: its id and its storage.
public struct DurableObjectState: Sendable {
    public let id: DurableObjectID
    public let storage: DurableObjectStorage
}
