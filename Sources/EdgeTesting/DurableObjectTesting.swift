public import EdgeCoordinator

extension DurableObjectNamespace {
    /// Drops every live instance and deletes every object's storage and alarm, so the next test
    /// starts from an empty namespace.
    ///
    /// - Throws: `CoordinatorError` `.storageFailure`.
    public func reset() async throws {
        try await resetEverything()
    }
}
