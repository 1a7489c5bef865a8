// The vocabulary of EdgeCore this module's API speaks, so `import VectorSearch` is enough to use it.
@_exported public import protocol EdgeCore.EdgeClock
@_exported public import enum EdgeCore.JSONValue
@_exported public import struct EdgeCore.SQLiteSettings
@_exported public import struct EdgeCore.SystemClock
