import EdgeCore

/// Sends a durable object's `fetch` to the process that owns the object, when the namespace's
/// ``DurableObjectOwnership`` names another process as owner (a store several processes share).
/// The host provides one (EdgeRuntime forwards over HTTP to the owner's advertised address); a
/// namespace without one runs every call here.
public protocol DurableObjectForwarder: Sendable {
    /// Runs `request` on object `objectID` (hex) of namespace `namespace` in the process at
    /// `address`, proving membership with `token` (``DurableObjectOwnership/forwardingToken()``).
    ///
    /// - Throws: ``OwnerUnreachable`` when nothing was sent (the owner could not be connected to;
    ///   the caller then runs the call here, taking the object over); ``CoordinatorError``
    ///   `.remoteCallFailed` when `fetch` threw in the owner or its answer was lost.
    func forward(_ request: EdgeRequest, namespace: String, objectID: String, to address: String, token: String) async throws -> EdgeResponse
}

/// A forwarded call could not reach the owner at all: nothing ran there.
public struct OwnerUnreachable: Error, Sendable, CustomStringConvertible {
    public var address: String
    public var underlying: any Error

    public init(address: String, underlying: any Error) {
        self.address = address
        self.underlying = underlying
    }

    public var description: String { "the owner at \(address) could not be reached: \(underlying)" }
}
