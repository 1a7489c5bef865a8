// edge-bench: swift-edge's benchmarks. Each prints JSON lines; where a peer does the same work,
// it runs in the same process and the same run, and the line carries its figure and the ratio.
//
//   swift run -c release edge-bench kv|blob|queue|coordinator|http|ws|s3|embeddings|vectors|codesearch [--seconds S] [--rounds R] [--dir DIR]
import Foundation

let usage = """
    usage: edge-bench SUITE [--seconds S] [--rounds R] [--dir DIR] [--data DIR] [--eval FILE] [--backend sqlite|postgres] [--url URL]
    suites:
      kv    SQLiteKV get / put / put_batch / list vs the raw SQLite C API; MemoryKV get
      blob  FileBlob put / get of 4 KiB and 256 MiB objects vs plain files; peak memory
      queue SQLiteQueue end-to-end throughput (1 and 2 consumers) vs a batched SQLite job table and Redis Streams; latency
      coordinator  durable object calls/s (with and without a durable write) vs a plain actor and an actor writing SQLite per call
      http  hello-world worker vs plain Hummingbird under wrk; 100 MiB up and down through a worker into a
            bucket vs plain Hummingbird to and from disk (MB/s, MiB resident above baseline); cold start; worker init
      ws    1,000 WebSockets in one durable object, each message broadcast to all, vs plain hummingbird-websocket
      s3    256 MiB up and down with aws-cli through the S3 API vs the same through the binding; 4 KiB objects/s
            with boto3 from 8 threads (needs: pip install awscli boto3)
      vectors --data DIR  HNSW build / QPS / recall per ef vs hnswlib, flat QPS vs faiss (ann_peers.py gen DIR first)
      embeddings  all-MiniLM-L6-v2 texts/s at 16/128/256 tokens and GFLOP/s vs the numpy peer and sgemm peak
      kv|queue|vectors --backend postgres [--url URL]  the PostgreSQL backends vs the same SQL written by hand
      coordinator --backend postgres [--url URL]  one durable object from two runtimes: fetch at the owner,
                  forwarded fetch, stub.call moving the object between them
      codesearch [--data DIR --eval FILE] [--cache DIR]  CodeSearch on the hummingbird and GRDB dev sets: MRR@10 per
                  mode (hybrid, lexical, semantic) vs BM25 and BM25+MiniLM fusion; full index, re-index after touching
                  one file, search p50/p99; with --backend postgres also MRR@10 with chunks, lexical index and vectors in
                  PostgreSQL next to SQLite's
      codesearch --corpus large [--limit N] [--model minilm|hashing] [--keep DIR]  every source file of the package mirrors
                  under /opt/swift-packages (13,000+ files at fixed tags) indexed in one run: files, chunks, the
                  WordPiece tokens MiniLM reads, time to searchable, peak RSS, search p50/p99 (--model hashing:
                  the pipeline without the neural model)
      isolates    WebAssembly isolates (a C guest built by the toolchain's clang): cold start p50/p99, resident
                  memory per warm idle isolate with 1,000 loaded, calls/s into a warm isolate
    """

let arguments = CommandLine.arguments.dropFirst()
guard let suite = arguments.first else {
    print(usage)
    exit(2)
}
do {
    // `edge-bench serve KIND --dir DIR`: a server the http and ws suites start in a process of its own.
    if suite == "serve", let kind = arguments.dropFirst().first {
        let options = try BenchOptions(arguments.dropFirst(2))
        try await BenchServer.run(kind, directory: options.directory ?? NSTemporaryDirectory(), port: options.port)
        exit(0)
    }
    let options = try BenchOptions(arguments.dropFirst())
    if options.backend == "postgres" {
        try await PostgresBenchmark(options: options, suite: suite).run()
        exit(0)
    }
    guard options.backend == "sqlite" else { throw BenchError(message: "--backend must be sqlite or postgres, not \(options.backend)") }
    switch suite {
    case "kv": try await KVBenchmark(options: options).run()
    case "blob": try await BlobBenchmark(options: options).run()
    case "queue": try await QueueBenchmark(options: options).run()
    case "coordinator": try await CoordinatorBenchmark(options: options).run()
    case "http": try await HTTPBenchmark(options: options).run()
    case "ws": try await WebSocketBenchmark(options: options).run()
    case "s3": try await S3Benchmark(options: options).run()
    case "embeddings": try await EmbeddingsBenchmark(options: options).run()
    case "vectors": try await VectorsBenchmark(options: options).run()
    case "codesearch" where options.corpus == "large": try await LargeCorpusBenchmark(options: options).run()
    case "codesearch" where options.corpus != nil: throw BenchError(message: "--corpus takes large, not \(options.corpus!)")
    case "codesearch": try await CodeSearchBenchmark(options: options).run()
    case "isolates": try await IsolateBenchmark(options: options).run()
    case "-h", "--help", "help": print(usage)
    default:
        FileHandle.standardError.write(Data("unknown suite \(suite)\n\(usage)\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("edge-bench: \(error)\n".utf8))
    exit(1)
}
