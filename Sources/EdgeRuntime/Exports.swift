// What a worker file needs besides EdgeRuntime's own types: HTTP and JSON from EdgeCore, clocks,
// and the queue types of `Worker.queues` and `EdgeBindings.queue(_:for:)`. The bindings' own
// protocols and backends come from their modules (`import EdgeKV`, `import EdgeBlob`, ...), so a
// file imports exactly the primitives it uses.
@_exported public import protocol EdgeCore.EdgeClock
@_exported public import struct EdgeCore.EdgeRequest
@_exported public import struct EdgeCore.EdgeResponse
@_exported public import enum EdgeCore.JSONValue
@_exported public import struct EdgeCore.SystemClock
@_exported public import struct EdgeQueue.Message
@_exported public import struct EdgeQueue.MessageBatch
@_exported public import struct EdgeQueue.QueueConsumerConfiguration
@_exported public import struct EdgeQueue.QueueName
@_exported public import struct EdgeQueue.QueueProducer
@_exported public import struct EdgeQueue.QueueSendRequest
