// EdgeRuntime knows every primitive, so it re-exports them: an application imports EdgeRuntime
// and gets every binding protocol and backend.
@_exported import EdgeBlob
@_exported import EdgeCoordinator
@_exported import EdgeCore
@_exported import EdgeKV
@_exported import EdgeQueue
@_exported import Embeddings
@_exported import VectorSearch
