public import EdgeCoordinator
public import EdgeCore
public import Foundation

/// One indexing job: a repository at a revision, from planning to the last embedding batch.
public struct IndexingJob: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable {
        /// Registered; the repository has not been listed yet.
        case queued
        /// Planned: file batches and embedding batches are in the queues.
        case indexing
        /// Every batch is done; the snapshot is the base of the next job.
        case done
        /// Stopped for good (for example: no source for the repository); see `error`.
        case failed
    }

    public var id: String
    public var repo: String
    public var revision: String?
    public var status: Status
    public var created: Date
    public var finished: Date?
    public var error: String?
    /// Files to (re-)index and files to remove, from the plan.
    public var plannedFiles = 0
    public var plannedRemovals = 0
    /// File batches (of up to 50 files) planned and done.
    public var fileBatches = 0
    public var fileBatchesDone = 0
    /// Embedding batches (of up to 128 chunks) announced by finished file batches, and done.
    public var embeddingBatches = 0
    public var embeddingBatchesDone = 0
    /// Totals over the batches done.
    public var progress = IndexSummary()
}

/// The durable object that coordinates the indexing of one repository (one instance per
/// repository, `idFromName(repo)`): it registers jobs, records their plan (how many 50-file
/// batches), and counts batches as the queue stages finish them — each batch once, however
/// often a queue redelivers it — until the job is done.
///
/// Storage: `job:ID` → ``IndexingJob``; `batch:ID:BATCH` → true for every batch counted.
public actor IndexingCoordinator: DurableObject {
    public struct Env: Sendable {
        public var clock: any EdgeClock
        public init(clock: any EdgeClock = SystemClock()) { self.clock = clock }
    }

    /// What a stage learns when it reports: the job, and whether this report completed it
    /// (exactly one report does).
    public struct Report: Sendable {
        public var job: IndexingJob
        public var completed: Bool
    }

    let state: DurableObjectState
    let env: Env

    public init(state: DurableObjectState, env: Env) {
        self.state = state
        self.env = env
    }

    /// Registers job `id` for `repo` (an id already known returns the existing job).
    public func register(id: String, repo: String, revision: String?) throws -> IndexingJob {
        if let job = try state.storage.get("job:\(id)", as: IndexingJob.self) { return job }
        let job = IndexingJob(id: id, repo: repo, revision: revision, status: .queued, created: env.clock.now)
        try state.storage.put("job:\(id)", job)
        return job
    }

    /// Records the plan of a queued job. Repeating it (a redelivered message) changes nothing.
    /// A plan with no batches completes the job.
    ///
    /// - Throws: ``CodeSearchError`` `.unknownJob`.
    public func planned(id: String, files: Int, removals: Int, fileBatches: Int) throws -> Report {
        var job = try existing(id)
        guard job.status == .queued else { return Report(job: job, completed: false) }
        job.plannedFiles = files
        job.plannedRemovals = removals
        job.fileBatches = fileBatches
        job.status = .indexing
        return try finishIfComplete(&job)
    }

    /// Counts a finished file batch with what it did and the embedding batches it queued.
    ///
    /// - Throws: ``CodeSearchError`` `.unknownJob`.
    public func fileBatchDone(id: String, batch: String, summary: IndexSummary, embeddingBatches: Int) throws -> Report {
        var job = try existing(id)
        guard job.status == .indexing, try state.storage.get("batch:\(id):\(batch)", as: Bool.self) == nil else {
            return Report(job: job, completed: false)
        }
        try state.storage.put("batch:\(id):\(batch)", true)
        job.fileBatchesDone += 1
        job.embeddingBatches += embeddingBatches
        job.progress.add(summary)
        return try finishIfComplete(&job)
    }

    /// Counts a finished embedding batch.
    ///
    /// - Throws: ``CodeSearchError`` `.unknownJob`.
    public func embeddingBatchDone(id: String, batch: String, summary: IndexSummary) throws -> Report {
        var job = try existing(id)
        guard job.status == .indexing, try state.storage.get("batch:\(id):\(batch)", as: Bool.self) == nil else {
            return Report(job: job, completed: false)
        }
        try state.storage.put("batch:\(id):\(batch)", true)
        job.embeddingBatchesDone += 1
        job.progress.add(summary)
        return try finishIfComplete(&job)
    }

    /// Marks a job failed with `error` (it is not retried).
    ///
    /// - Throws: ``CodeSearchError`` `.unknownJob`.
    public func fail(id: String, error: String) throws -> IndexingJob {
        var job = try existing(id)
        guard job.status != .done else { return job }
        job.status = .failed
        job.error = error
        job.finished = env.clock.now
        try state.storage.put("job:\(id)", job)
        return job
    }

    public func job(_ id: String) throws -> IndexingJob? {
        try state.storage.get("job:\(id)", as: IndexingJob.self)
    }

    /// The repository's jobs, newest first.
    public func jobs() throws -> [IndexingJob] {
        try state.storage.list(.init(prefix: "job:"), as: IndexingJob.self).map(\.value).sorted { $0.created > $1.created }
    }

    private func existing(_ id: String) throws -> IndexingJob {
        guard let job = try state.storage.get("job:\(id)", as: IndexingJob.self) else {
            throw CodeSearchError(.unknownJob, "no indexing job \(id)")
        }
        return job
    }

    private func finishIfComplete(_ job: inout IndexingJob) throws -> Report {
        let complete = job.status == .indexing && job.fileBatchesDone == job.fileBatches && job.embeddingBatchesDone == job.embeddingBatches
        if complete {
            job.status = .done
            job.finished = env.clock.now
        }
        try state.storage.put("job:\(job.id)", job)
        return Report(job: job, completed: complete)
    }
}

/// Errors of the CodeSearch pipeline that are not another module's.
public struct CodeSearchError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A stage reported on a job the coordinator does not know.
        case unknownJob
        /// The repository of an event has no local mirror and cannot be cloned.
        case noSource
        /// A search request is invalid (empty query, `top` out of range, ...).
        case invalidQuery
        /// The index holds embeddings of another model than the one asked to write or query it
        /// (see ``IndexModelRecord``).
        case modelMismatch
        /// The chunk store or the lexical index failed (a database error, named in the message).
        case storageFailure
    }

    public var code: Code
    public var message: String
    public var description: String { message }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
