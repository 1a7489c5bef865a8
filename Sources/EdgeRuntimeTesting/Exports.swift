// A worker test needs the primitives' test kit too (TestClock, TemporaryDirectory, ...).
@_exported import EdgeTesting
