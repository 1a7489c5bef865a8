import Dispatch
import EdgeKernels
import Embeddings
import Foundation

/// `edge-bench embeddings`: all-MiniLM-L6-v2 texts/s at 16, 128 and 256 tokens and sustained
/// GFLOP/s, next to the numpy float32 peer (`Benchmarks/scripts/minilm_peer.py`, run in the same
/// benchmark) and the machine's matrix-multiply peak (numpy's sgemm on all cores).
///
/// Installs the weights on first use (as `code-search` does) and needs, for the peer,
/// `pip install numpy scipy safetensors tokenizers`.
struct EmbeddingsBenchmark {
    let options: BenchOptions
    /// The peer's defaults: 64 identical texts in batches of 32.
    let texts = 64, batch = 32

    func run() async throws {
        let model = try MiniLM(directory: MiniLM.locateOrInstallWeights { FileHandle.standardError.write(Data("edge-bench: \($0)\n".utf8)) })
        let peer = try runPeer(modelDirectory: model.directory)
        for tokens in [16, 128, 256] {
            let text = Self.text(of: tokens, model: model)
            let ids = Array(repeating: model.tokenize(text), count: texts)
            _ = model.embed(tokenIDs: Array(ids.prefix(batch)))  // warm up
            var best = 0.0
            for _ in 0..<max(1, options.rounds) {
                let started = seconds()
                for start in stride(from: 0, to: texts, by: batch) { _ = model.embed(tokenIDs: Array(ids[start..<min(start + batch, texts)])) }
                best = max(best, Double(texts) / (seconds() - started))
            }
            let peerRate = peer.rates[ids[0].count]
            BenchLine(
                suite: "embeddings", name: "minilm.t\(tokens)", value: best, unit: "texts/s", peer: peerRate == nil ? nil : "numpy-minilm",
                peerValue: peerRate,
                extra: ["tokens": "\(ids[0].count)", "batch": "\(batch)", "threads": "\(ProcessInfo.processInfo.activeProcessorCount)"]
                    .merging(tokens == 256 ? ["target_ratio": "2"] : [:]) { $1 }
            ).print()
            if tokens == 256 {
                let gflops = best * Self.flops(tokens: ids[0].count) / 1e9
                BenchLine(
                    suite: "embeddings", name: "minilm.gflops", value: gflops, unit: "GFLOP/s", peer: peer.peak == nil ? nil : "numpy-sgemm",
                    peerValue: peer.peak, extra: ["target_ratio": "0.5", "at_tokens": "256"]
                ).print()
            }
        }
        BenchLine(
            suite: "embeddings", name: "sgemm", value: sgemmRate(n: 2048), unit: "GFLOP/s", peer: peer.peak == nil ? nil : "numpy-sgemm",
            peerValue: peer.peak, extra: ["n": "2048"]
        ).print()
    }

    /// "token0 token1 …" with at most `tokens` ids after truncation, built as the peer builds
    /// its texts (so both embed the same ids).
    static func text(of tokens: Int, model: MiniLM) -> String {
        var words: [String] = []
        var text = ""
        while model.tokenize(text).count < tokens {
            words.append("token\(words.count)")
            text = words.joined(separator: " ")
        }
        while model.tokenize(text).count > tokens {
            words.removeLast()
            text = words.joined(separator: " ")
        }
        return text
    }

    /// Multiply-adds ×2 of one text of `tokens` tokens: per layer the Q/K/V, output and two
    /// feed-forward projections, plus Q·Kᵀ and P·V over all heads.
    static func flops(tokens: Int) -> Double {
        let t = Double(tokens), h = 384.0, inner = 1536.0
        let linear = 2 * t * (h * 3 * h + h * h + 2 * h * inner)
        let attention = 2 * 2 * t * t * h
        return 6 * (linear + attention)
    }

    /// Our kernel on an n×n×n multiply on every core, packing included (as numpy's timing does).
    func sgemmRate(n: Int) -> Double {
        let a = (0..<(n * n)).map { Float($0 % 17) / 17 }
        let b = (0..<(n * n)).map { Float($0 % 13) / 13 }
        let c = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: edge_sgemm_packed_size(Int32(n), Int32(n)))
        defer {
            c.deallocate()
            packed.deallocate()
        }
        let shared = (c: SendablePointer(c), packed: SendablePointer(packed))
        let threads = ProcessInfo.processInfo.activeProcessorCount
        func multiply() {
            edge_sgemm_pack(b, Int32(n), Int32(n), Int32(n), 0, packed)
            a.withUnsafeBufferPointer { a in
                let rowsA = SendableConstPointer(a.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: threads * 4) { part in
                    let rows = (n + threads * 4 - 1) / (threads * 4)
                    let first = part * rows, count = min(rows, n - first)
                    guard count > 0 else { return }
                    edge_sgemm(
                        Int32(count), Int32(n), Int32(n), rowsA.pointer + first * n, Int32(n), shared.packed.pointer,
                        shared.c.pointer + first * n, Int32(n), nil)
                }
            }
        }
        multiply()
        let repetitions = 5
        let started = seconds()
        for _ in 0..<repetitions { multiply() }
        return Double(repetitions) * 2 * pow(Double(n), 3) / (seconds() - started) / 1e9
    }

    struct PeerResult {
        var rates: [Int: Double] = [:]
        var peak: Double?
    }

    /// Runs the numpy peer; without python3 or its packages the lines carry no peer.
    func runPeer(modelDirectory: String) throws -> PeerResult {
        let script = [benchScript("minilm_peer.py")].first { FileManager.default.fileExists(atPath: $0) }
        guard let script else {
            FileHandle.standardError.write(Data("edge-bench: Benchmarks/scripts/minilm_peer.py not found; printing without the peer\n".utf8))
            return PeerResult()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, modelDirectory, "--batch", "\(batch)", "--n", "\(texts)"]
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_CORETYPE"] = nil
        environment["OPENBLAS_L2_SIZE"] = nil
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            FileHandle.standardError.write(
                Data("edge-bench: the numpy peer failed (pip install numpy scipy safetensors tokenizers); printing without it\n".utf8))
            return PeerResult()
        }
        var result = PeerResult()
        for line in text.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
            if object["peer"] as? String == "numpy-minilm", let tokens = object["tokens"] as? Int, let rate = object["texts_per_s"] as? Double {
                result.rates[tokens] = rate
            }
            if object["peer"] as? String == "numpy-sgemm", let gflops = object["gflops"] as? Double { result.peak = gflops }
        }
        return result
    }
}

struct SendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}

struct SendableConstPointer: @unchecked Sendable {
    let pointer: UnsafePointer<Float>
    init(_ pointer: UnsafePointer<Float>) { self.pointer = pointer }
}
