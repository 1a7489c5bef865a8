// EdgeCore: the vocabulary every swift-edge module shares.
//
// - `EdgeClock` / `SystemClock`: injected wall-clock time for expirations, delays and alarms.
// - `JSONValue`: free-form JSON (metadata) stored and returned unchanged.
// - `SQLiteSettings` and package-internal SQLite helpers: WAL databases opened through GRDB, and
//   raw prepared statements for hot read paths.
//
// EdgeCore is not a product of its own: each binding module re-exports it.
