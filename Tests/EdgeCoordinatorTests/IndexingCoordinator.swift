import EdgeCoordinator
import Foundation

/// The example from Docs/coordinator.md: one object per repository hands out indexing jobs to
/// many workers, each claim a lease that expires, without races and without a lock service.
actor IndexingCoordinator: DurableObject {
    struct Env: Sendable {
        var clock: any EdgeClock
        var leaseSeconds: Double = 60
    }

    struct Job: Codable, Sendable, Equatable {
        enum Status: String, Codable, Sendable { case pending, claimed, done }
        var id: String
        var status: Status
        var worker: String?
        var leaseUntil: Date?
        var completions: Int
    }

    struct Claim: Sendable, Equatable {
        var jobID: String
        var leaseUntil: Date
    }

    struct Progress: Sendable, Equatable {
        var total = 0
        var pending = 0
        var claimed = 0
        var done = 0
    }

    let state: DurableObjectState
    let env: Env
    /// In-memory indexes rebuilt from storage on first use (the instance may be new after eviction).
    private var pending: [String] = []
    private var pendingHead = 0
    private var claimed: [String: Job] = [:]
    private var progress = Progress()
    private var loaded = false

    init(state: DurableObjectState, env: Env) {
        self.state = state
        self.env = env
    }

    private func load() throws {
        guard !loaded else { return }
        loaded = true
        for entry in try state.storage.list(.init(prefix: "job:"), as: Job.self) {
            progress.total += 1
            switch entry.value.status {
            case .pending:
                pending.append(entry.value.id)
                progress.pending += 1
            case .claimed:
                claimed[entry.value.id] = entry.value
                progress.claimed += 1
            case .done: progress.done += 1
            }
        }
    }

    /// Adds jobs; ids already known are ignored. Returns how many were added.
    func enqueue(_ ids: [String]) throws -> Int {
        try load()
        var added = 0
        for id in ids where try state.storage.get("job:\(id)", as: Job.self) == nil {
            try state.storage.put("job:\(id)", Job(id: id, status: .pending, completions: 0))
            pending.append(id)
            progress.total += 1
            progress.pending += 1
            added += 1
        }
        return added
    }

    /// Hands the next job to `workerID` with a lease; a job whose lease expired is handed out again.
    func claimJob(workerID: String) throws -> Claim? {
        try load()
        let now = env.clock.now
        let leaseUntil = now.addingTimeInterval(env.leaseSeconds)
        var job: Job
        if pendingHead < pending.count {
            let id = pending[pendingHead]
            pendingHead += 1
            guard let stored = try state.storage.get("job:\(id)", as: Job.self) else { return nil }
            job = stored
            progress.pending -= 1
            progress.claimed += 1
        } else if let expired = claimed.values.filter({ ($0.leaseUntil ?? now) <= now }).min(by: { $0.id < $1.id }) {
            job = expired
        } else {
            return nil
        }
        job.status = .claimed
        job.worker = workerID
        job.leaseUntil = leaseUntil
        claimed[job.id] = job
        try state.storage.put("job:\(job.id)", job)
        return Claim(jobID: job.id, leaseUntil: leaseUntil)
    }

    /// Completes a job; only the worker holding a live lease may. Returns whether it counted.
    func complete(jobID: String, workerID: String) throws -> Bool {
        try load()
        guard var job = claimed[jobID], job.worker == workerID, let lease = job.leaseUntil, lease > env.clock.now else { return false }
        job.status = .done
        job.completions += 1
        job.leaseUntil = nil
        claimed.removeValue(forKey: jobID)
        progress.claimed -= 1
        progress.done += 1
        try state.storage.put("job:\(jobID)", job)
        return true
    }

    func currentProgress() throws -> Progress {
        try load()
        return progress
    }

    func job(_ id: String) throws -> Job? { try state.storage.get("job:\(id)", as: Job.self) }
}
