/// A small, seedable pseudo-random generator (SplitMix64): the same seed gives the same
/// sequence on every run and machine, for reproducible graphs, workloads and tests.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    package private(set) var state: UInt64

    package init(seed: UInt64) { state = seed }
    package init(state: UInt64) { self.state = state }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    package mutating func nextUnit() -> Double { Double((next() >> 11) + 1) / Double(1 << 53) }
}
