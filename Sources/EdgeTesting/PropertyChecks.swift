#if canImport(Testing)
    public import Testing

    /// Runs a model check (``KVModel``, ``BlobModel``, ``QueueModel``, ``DurableObjectModel``)
    /// as the body of a property test, recording its ``ConformanceFailure`` as an issue.
    ///
    /// swift-property-based's `propertyCheck` counts recorded issues and drops thrown errors, so a
    /// check that only threw would pass every sequence; recorded, the failing sequence is found and
    /// shrunk.
    ///
    /// ```swift
    /// await propertyCheck(input: operations) { codes in
    ///     await recordingFailure { try await KVModel.check(codes.map(KVModel.Operation.init), on: harness) }
    /// }
    /// ```
    public func recordingFailure(sourceLocation: SourceLocation = #_sourceLocation, _ check: () async throws -> Void) async {
        do {
            try await check()
        } catch {
            Issue.record("\(error)", sourceLocation: sourceLocation)
        }
    }
#endif
