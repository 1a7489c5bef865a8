// EdgeCoordinator: durable objects: single-owner actors with transactional storage and alarms.
//
// This module is part of the package layout from the start so that every product builds and
// applications can already depend on it; its binding arrives with its own issue (see README.md,
// "Status"). Until then it re-exports the shared vocabulary (clocks, JSON values).
@_exported import EdgeCore
