// EdgeCore: the vocabulary every swift-edge module shares, and nothing else (no SQLite, no HTTP
// server).
//
// - `EdgeClock` / `SystemClock`: injected wall-clock time for expirations, delays and alarms.
// - `JSONValue`: free-form JSON (metadata) stored and returned unchanged.
// - `EdgeRequest` / `EdgeResponse`: HTTP as workers and durable objects see it.
// - `SQLiteSettings`: the durability settings of every SQLite-backed binding (the helpers that
//   apply them live in the package-internal EdgeSQLite target).
//
// EdgeCore is not a product of its own: each binding module re-exports it.
