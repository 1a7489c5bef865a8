import EdgeBlob
import EdgeCore
import EdgeKV
import EdgeQueue
import Embeddings
import Foundation
import Metrics
import Synchronization
import Tracing
import VectorSearch

/// A binding ``EdgeBindings`` wrapped to meter and trace its operations (when the config enables
/// metrics). Its `unmetered` is the backend's own object; ``backendObject(of:as:)`` reaches it.
public protocol MeteredBinding: Sendable {
    /// The backend's own binding object (a `SQLiteKV`, an `HNSWIndex`, ...).
    var unmetered: any Sendable { get }
}

/// The backend's own object behind a binding, as `type`: the binding itself when it is one,
/// else what a metered binding wraps (``MeteredBinding``). For a backend's own API (a KV
/// namespace's `KVMaintenance`, an index's compaction) or to check which backend a config chose.
public func backendObject<T>(of binding: Any, as type: T.Type = T.self) -> T? {
    if let direct = binding as? T { return direct }
    return (binding as? any MeteredBinding)?.unmetered as? T
}

/// Per-operation metrics of one binding, whatever its backend: `edge_binding_operations_total`,
/// `edge_binding_errors_total` and the `edge_binding_operation_duration_seconds` histogram, by
/// kind (`kv`, `blob`, `queue`, `vectorize`, `ai`), binding and operation.
///
/// ``EdgeBindings`` wraps every binding it hands out in a metered one when the config enables
/// metrics, so memory, SQLite, file, PostgreSQL and S3 backends report alike.
struct BindingMeter: Sendable {
    let kind: String
    let binding: String
    /// false: spans only (metrics are off in the config, tracing is on).
    var metrics = true

    private struct Instruments: Sendable {
        let count: Counter
        let errors: Counter
        let duration: Timer
    }

    private static let instruments = LockedCache<String, Instruments>()

    private func instruments(_ operation: String) -> Instruments {
        Self.instruments.value(for: "\(kind)\u{0}\(binding)\u{0}\(operation)") {
            let dimensions = [("kind", kind), ("binding", binding), ("operation", operation)]
            return Instruments(
                count: Counter(label: "edge_binding_operations_total", dimensions: dimensions),
                errors: Counter(label: "edge_binding_errors_total", dimensions: dimensions),
                duration: Timer(label: "edge_binding_operation_duration_seconds", dimensions: dimensions))
        }
    }

    /// Runs `body` as operation `operation`: counted, timed, counted as an error when it throws,
    /// and, inside a trace, traced as a client span `KIND OPERATION` (attributes `edge.binding`,
    /// `edge.operation`).
    func measure<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        let instruments = metrics ? instruments(operation) : nil
        let started = ContinuousClock.now
        defer {
            instruments?.duration.recordInterval(since: started)
            instruments?.count.increment()
        }
        do {
            // A span only inside a trace: a consumer's idle polling starts none.
            guard ServiceContext.current != nil else { return try await body() }
            return try await withSpan("\(kind) \(operation)", ofKind: .client) { span in
                span.attributes["edge.binding"] = binding
                span.attributes["edge.operation"] = operation
                return try await body()
            }
        } catch {
            instruments?.errors.increment()
            throw error
        }
    }
}

extension Timer {
    fileprivate func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        recordNanoseconds(elapsed.inNanoseconds)
    }
}

/// A small thread-safe cache of instruments, so an operation does not look its metrics up in the
/// metrics system's registry on every call.
final class LockedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let values = Mutex<[Key: Value]>([:])

    func value(for key: Key, make: () -> Value) -> Value {
        values.withLock { values in
            if let value = values[key] { return value }
            let value = make()
            values[key] = value
            return value
        }
    }
}

// MARK: KV

/// A KV namespace that meters every operation of `base`.
class MeteredKV: KVNamespace, MeteredBinding, @unchecked Sendable {
    let base: any KVNamespace
    let meter: BindingMeter
    var unmetered: any Sendable { base }

    /// Wraps `base`, keeping its `KVMaintenance` when it has it.
    static func wrapping(_ base: any KVNamespace, meter: BindingMeter) -> MeteredKV {
        base is any KVMaintenance ? MeteredMaintainedKV(base: base, meter: meter) : MeteredKV(base: base, meter: meter)
    }

    init(base: any KVNamespace, meter: BindingMeter) {
        self.base = base
        self.meter = meter
    }

    var limits: KVLimits { base.limits }

    func getWithMetadata(_ key: String) async throws -> KVEntry? { try await meter.measure("get") { try await base.getWithMetadata(key) } }
    func get(_ key: String) async throws -> String? { try await meter.measure("get") { try await base.get(key) } }
    func getWithMetadata(_ keys: [String]) async throws -> [String: KVEntry] {
        try await meter.measure("get_many") { try await base.getWithMetadata(keys) }
    }
    func put(_ key: String, value: [UInt8], options: KVPutOptions) async throws {
        try await meter.measure("put") { try await base.put(key, value: value, options: options) }
    }
    func put(_ entries: [KVWrite]) async throws { try await meter.measure("put_many") { try await base.put(entries) } }
    func delete(_ key: String) async throws { try await meter.measure("delete") { try await base.delete(key) } }
    func delete(_ keys: [String]) async throws { try await meter.measure("delete_many") { try await base.delete(keys) } }
    func list(_ options: KVListOptions) async throws -> KVListResult { try await meter.measure("list") { try await base.list(options) } }
}

/// A metered namespace whose backend has `KVMaintenance`.
final class MeteredMaintainedKV: MeteredKV, KVMaintenance, @unchecked Sendable {
    func storedKeyCount() async throws -> Int { try await (base as! any KVMaintenance).storedKeyCount() }
    func purgeExpired() async throws -> Int { try await (base as! any KVMaintenance).purgeExpired() }
}

// MARK: Blob

/// A bucket that meters every operation of `base`. A `get` is timed to its answer (the metadata and
/// the start of the body), not to the end of a body the caller streams.
class MeteredBucket: BlobBucket, MeteredBinding, @unchecked Sendable {
    let base: any BlobBucket
    let meter: BindingMeter
    var unmetered: any Sendable { base }

    /// Wraps `base`, keeping its `BlobPresigning` when it has it.
    static func wrapping(_ base: any BlobBucket, meter: BindingMeter) -> MeteredBucket {
        base is any BlobPresigning ? MeteredPresigningBucket(base: base, meter: meter) : MeteredBucket(base: base, meter: meter)
    }

    init(base: any BlobBucket, meter: BindingMeter) {
        self.base = base
        self.meter = meter
    }

    var limits: BlobLimits { base.limits }

    func put(_ key: String, body: BlobBody, options: BlobPutOptions) async throws -> BlobObject? {
        try await meter.measure("put") { try await base.put(key, body: body, options: options) }
    }
    func get(_ key: String, options: BlobGetOptions) async throws -> BlobGetResult? {
        try await meter.measure("get") { try await base.get(key, options: options) }
    }
    func head(_ key: String) async throws -> BlobObject? { try await meter.measure("head") { try await base.head(key) } }
    func delete(_ keys: [String]) async throws { try await meter.measure("delete") { try await base.delete(keys) } }
    func list(_ options: BlobListOptions) async throws -> BlobListResult { try await meter.measure("list") { try await base.list(options) } }
    func createMultipartUpload(_ key: String, options: BlobMultipartOptions) async throws -> BlobMultipartUpload {
        // The handle's calls go through this bucket, so they are metered too.
        let upload = try await meter.measure("create_multipart_upload") { try await base.createMultipartUpload(key, options: options) }
        return resumeMultipartUpload(upload.key, uploadId: upload.uploadId)
    }
    func uploadPart(key: String, uploadId: String, partNumber: Int, body: BlobBody) async throws -> BlobUploadedPart {
        try await meter.measure("upload_part") { try await base.uploadPart(key: key, uploadId: uploadId, partNumber: partNumber, body: body) }
    }
    func completeMultipartUpload(key: String, uploadId: String, parts: [BlobUploadedPart]) async throws -> BlobObject {
        try await meter.measure("complete_multipart_upload") { try await base.completeMultipartUpload(key: key, uploadId: uploadId, parts: parts) }
    }
    func abortMultipartUpload(key: String, uploadId: String) async throws {
        try await meter.measure("abort_multipart_upload") { try await base.abortMultipartUpload(key: key, uploadId: uploadId) }
    }
    func cleanUpIncompleteUploads() async throws -> Int { try await meter.measure("clean_up_uploads") { try await base.cleanUpIncompleteUploads() } }
    func listParts(key: String, uploadId: String) async throws -> [BlobPartInfo] {
        try await meter.measure("list_parts") { try await base.listParts(key: key, uploadId: uploadId) }
    }
    func listMultipartUploads(prefix: String?) async throws -> [BlobPendingUpload] {
        try await meter.measure("list_multipart_uploads") { try await base.listMultipartUploads(prefix: prefix) }
    }
}

/// A metered bucket whose store presigns URLs itself.
final class MeteredPresigningBucket: MeteredBucket, BlobPresigning, @unchecked Sendable {
    func presignedURL(for key: String, method: String, expiresIn: Int) throws -> URL {
        try (base as! any BlobPresigning).presignedURL(for: key, method: method, expiresIn: expiresIn)
    }
}

// MARK: Queues

/// A queue backend that meters every operation of `base`, by queue: the binding label is the
/// queue's name.
struct MeteredQueueBackend: QueueBackend, MeteredBinding {
    let base: any QueueBackend
    var unmetered: any Sendable { base }

    var limits: QueueLimits { base.limits }
    var clock: any EdgeClock { base.clock }

    let metrics: Bool

    private func meter(_ queue: String) -> BindingMeter { BindingMeter(kind: "queue", binding: queue, metrics: metrics) }

    func send(_ queue: String, _ messages: [OutgoingMessage]) async throws {
        try await meter(queue).measure("send") { try await base.send(queue, messages) }
    }
    func claim(_ queue: String, max: Int, visibilityTimeout: Double) async throws -> [ClaimedMessage] {
        try await meter(queue).measure("claim") { try await base.claim(queue, max: max, visibilityTimeout: visibilityTimeout) }
    }
    func extendLeases(_ queue: String, _ leases: [QueueLease], visibilityTimeout: Double) async throws -> [QueueLease] {
        try await meter(queue).measure("extend_leases") { try await base.extendLeases(queue, leases, visibilityTimeout: visibilityTimeout) }
    }
    func settle(_ queue: String, _ outcomes: [MessageOutcome]) async throws {
        try await meter(queue).measure("settle") { try await base.settle(queue, outcomes) }
    }
    func stats(_ queue: String) async throws -> QueueStats { try await meter(queue).measure("stats") { try await base.stats(queue) } }
    func peek(_ queue: String, limit: Int) async throws -> [QueuedMessage] {
        try await meter(queue).measure("peek") { try await base.peek(queue, limit: limit) }
    }
    func redrive(from deadLetterQueue: String, to target: String?) async throws -> Int {
        try await meter(deadLetterQueue).measure("redrive") { try await base.redrive(from: deadLetterQueue, to: target) }
    }
    func nextVisibleTime(_ queue: String) async throws -> Date? { try await base.nextVisibleTime(queue) }
    func signal(for queue: String) -> QueueSignal { base.signal(for: queue) }
    func settleAndClaim(_ queue: String, _ outcomes: [MessageOutcome], max: Int, visibilityTimeout: Double) async throws -> [ClaimedMessage] {
        try await meter(queue).measure("settle_and_claim") {
            try await base.settleAndClaim(queue, outcomes, max: max, visibilityTimeout: visibilityTimeout)
        }
    }
}

// MARK: Vectors and AI

/// A vector index that meters every operation of `base`.
final class MeteredVectorIndex: VectorIndex, MeteredBinding {
    let base: any VectorIndex
    let meter: BindingMeter
    var unmetered: any Sendable { base }

    init(base: any VectorIndex, meter: BindingMeter) {
        self.base = base
        self.meter = meter
    }

    func describe() async throws -> VectorIndexInfo { try await meter.measure("describe") { try await base.describe() } }
    func insert(_ vectors: [VectorRecord]) async throws -> VectorMutationResult { try await meter.measure("insert") { try await base.insert(vectors) } }
    func upsert(_ vectors: [VectorRecord]) async throws -> VectorMutationResult { try await meter.measure("upsert") { try await base.upsert(vectors) } }
    func query(_ vector: [Float], options: VectorQueryOptions) async throws -> VectorQueryResult {
        try await meter.measure("query") { try await base.query(vector, options: options) }
    }
    func queryById(_ id: String, options: VectorQueryOptions) async throws -> VectorQueryResult {
        try await meter.measure("query_by_id") { try await base.queryById(id, options: options) }
    }
    func getByIds(_ ids: [String]) async throws -> [VectorRecord] { try await meter.measure("get_by_ids") { try await base.getByIds(ids) } }
    func deleteByIds(_ ids: [String]) async throws -> VectorMutationResult { try await meter.measure("delete_by_ids") { try await base.deleteByIds(ids) } }
    func checkpoint() async throws { try await meter.measure("checkpoint") { try await base.checkpoint() } }
}

/// An embedding model that meters every call of `base`.
final class MeteredEmbeddingModel: EmbeddingModel, MeteredBinding {
    let base: any EmbeddingModel
    let meter: BindingMeter
    var unmetered: any Sendable { base }

    init(base: any EmbeddingModel, meter: BindingMeter) {
        self.base = base
        self.meter = meter
    }

    var modelID: String { base.modelID }
    var dimensions: Int { base.dimensions }
    var maxInputTokens: Int { base.maxInputTokens }
    var maxBatchSize: Int { base.maxBatchSize }
    var acceptsEmptyInput: Bool { base.acceptsEmptyInput }

    func embed(_ texts: [String]) async throws -> [[Float]] { try await meter.measure("embed") { try await base.embed(texts) } }
    func embedReportingCache(_ texts: [String]) async throws -> (embeddings: [[Float]], cacheHits: Int) {
        try await meter.measure("embed") { try await base.embedReportingCache(texts) }
    }
}
