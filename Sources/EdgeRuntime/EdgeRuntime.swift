// EdgeRuntime: the Worker protocol, Env built from a config file, the HTTP host, queue dispatch and
// cron triggers.
//
// The runtime is the one module that knows every primitive, so it re-exports them: an application
// imports EdgeRuntime and gets every binding protocol and backend. The worker model and the config
// file arrive with their own issue (see README.md, "Status").
@_exported import EdgeBlob
@_exported import EdgeCoordinator
@_exported import EdgeCore
@_exported import EdgeKV
@_exported import EdgeQueue
@_exported import Embeddings
@_exported import VectorSearch
