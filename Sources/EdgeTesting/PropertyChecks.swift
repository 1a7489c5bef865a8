#if canImport(Testing)
    import Foundation
    public import Testing

    /// Runs a model check (``KVModel``, ``BlobModel``, ``QueueModel``, ``DurableObjectModel``)
    /// as the body of a property test, recording its ``ConformanceFailure`` as an issue.
    ///
    /// swift-property-based's `propertyCheck` counts recorded issues and drops thrown errors, so a
    /// check that only threw would pass every sequence; recorded, the failing sequence is found and
    /// shrunk. The library reports the failing input but not the recorded message, so the message
    /// is also written to standard error.
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
            FileHandle.standardError.write(Data("model check failed: \(error)\n".utf8))
            Issue.record("\(error)", sourceLocation: sourceLocation)
        }
    }
#endif
