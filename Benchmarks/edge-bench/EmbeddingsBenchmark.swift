import Dispatch
import EdgeKernels
import Embeddings
import Foundation

/// `edge-bench embeddings`: all-MiniLM-L6-v2 texts/s at 16, 128 and 256 tokens (timed from the
/// texts, tokenization included) and sustained GFLOP/s, next to two peers run in the same
/// benchmark — ONNX Runtime on a graph built from the same weights (`minilm_onnx.py`, same
/// threads) and a batched numpy float32 encoder (`minilm_peer.py`) — and the machine's
/// matrix-multiply peak (numpy's OpenBLAS sgemm on all cores).
///
/// Installs the weights on first use (as `code-search` does) and needs, for the peers,
/// `pip install numpy scipy safetensors tokenizers onnx onnxruntime`.
struct EmbeddingsBenchmark {
    let options: BenchOptions
    /// The peer's defaults: 64 identical texts in batches of 32.
    let texts = 64, batch = 32

    func run() async throws {
        let model = try MiniLM(directory: MiniLM.locateOrInstallWeights { FileHandle.standardError.write(Data("edge-bench: \($0)\n".utf8)) })
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let numpy = runPeer(
            script: "minilm_peer.py", arguments: [model.directory, "--batch", "\(batch)", "--n", "\(texts)"],
            packages: "numpy scipy safetensors tokenizers")
        let onnx = runPeer(
            script: "minilm_onnx.py",
            arguments: [model.directory, "--batch", "\(batch)", "--n", "\(texts)", "--threads", "\(threads)", "--rounds", "\(max(1, options.rounds))"],
            packages: "numpy safetensors tokenizers onnx onnxruntime")
        for tokens in [16, 128, 256] {
            let text = Self.text(of: tokens, model: model)
            let count = model.tokenize(text).count
            let batchTexts = Array(repeating: text, count: texts)
            _ = try await model.embed(Array(batchTexts.prefix(batch)))  // warm up
            // Timed from the texts, tokenization included, as both peers are.
            var best = 0.0
            for _ in 0..<max(1, options.rounds) {
                let started = seconds()
                for start in stride(from: 0, to: texts, by: batch) { _ = try await model.embed(Array(batchTexts[start..<min(start + batch, texts)])) }
                best = max(best, Double(texts) / (seconds() - started))
            }
            let extra = ["tokens": "\(count)", "batch": "\(batch)", "threads": "\(threads)", "timed_from": "text"]
            let numpyRate = numpy.rates["numpy-minilm"]?[count]
            BenchLine(
                suite: "embeddings", name: "minilm.t\(tokens)", value: best, unit: "texts/s", peer: numpyRate == nil ? nil : "numpy-minilm",
                peerValue: numpyRate, extra: extra.merging(tokens == 256 ? ["target_ratio": "2"] : [:]) { $1 }
            ).print()
            if tokens >= 128 {
                let onnxRate = onnx.rates["onnxruntime-minilm"]?[count]
                BenchLine(
                    suite: "embeddings", name: "minilm.t\(tokens)_vs_onnxruntime", value: best, unit: "texts/s",
                    peer: onnxRate == nil ? nil : "onnxruntime-minilm", peerValue: onnxRate, extra: extra.merging(["target_ratio": "1"]) { $1 }
                ).print()
            }
            if tokens == 256 {
                let gflops = best * Self.flops(tokens: count) / 1e9
                BenchLine(
                    suite: "embeddings", name: "minilm.gflops", value: gflops, unit: "GFLOP/s", peer: numpy.peak == nil ? nil : "numpy-sgemm",
                    peerValue: numpy.peak, extra: ["target_ratio": "0.5", "at_tokens": "256"]
                ).print()
            }
        }
        BenchLine(
            suite: "embeddings", name: "sgemm", value: sgemmRate(n: 2048), unit: "GFLOP/s", peer: numpy.peak == nil ? nil : "numpy-sgemm",
            peerValue: numpy.peak, extra: ["n": "2048", "threads": "\(threads)", "target_ratio": "0.9"]
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
        /// texts/s by peer name, then by token count.
        var rates: [String: [Int: Double]] = [:]
        /// numpy's sgemm on all cores, GFLOP/s.
        var peak: Double?
    }

    /// Runs one peer script of `Benchmarks/scripts`; without python3 or its packages the lines
    /// carry no peer (said on stderr).
    func runPeer(script name: String, arguments: [String], packages: String) -> PeerResult {
        let script = benchScript(name)
        guard FileManager.default.fileExists(atPath: script) else {
            FileHandle.standardError.write(Data("edge-bench: Benchmarks/scripts/\(name) not found; printing without its peer\n".utf8))
            return PeerResult()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_CORETYPE"] = nil
        environment["OPENBLAS_L2_SIZE"] = nil
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        guard (try? process.run()) != nil else { return PeerResult() }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            FileHandle.standardError.write(Data("edge-bench: \(name) failed (pip install \(packages)); printing without its peer\n".utf8))
            return PeerResult()
        }
        var result = PeerResult()
        for line in text.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let peer = object["peer"] as? String else {
                continue
            }
            if let tokens = object["tokens"] as? Int, let rate = object["texts_per_s"] as? Double { result.rates[peer, default: [:]][tokens] = rate }
            if peer == "numpy-sgemm", let gflops = object["gflops"] as? Double { result.peak = gflops }
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
