import Foundation

/// Runs `ip ARGUMENTS` (iproute2, as root); returns its exit status and output.
///
/// - Throws: when `ip` cannot be started.
@discardableResult
public func ip(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["ip"] + arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Whether the kernel lets this process make network namespaces and bridges (root with
/// CAP_NET_ADMIN): probed by making and removing one of each. Tests that need them skip otherwise.
public let networkNamespaces: Bool = {
    let name = "edgeprobe\(UInt16.random(in: 0...UInt16.max))"
    guard (try? ip(["netns", "add", name]))?.status == 0 else { return false }
    _ = try? ip(["netns", "del", name])
    guard (try? ip(["link", "add", name, "type", "bridge"]))?.status == 0 else { return false }
    _ = try? ip(["link", "del", name])
    return true
}()

/// Two "hosts": network namespaces on a bridge of their own (10.77.N.0/24: the bridge .1, host 0
/// .2, host 1 .3), reaching the machine's servers only through the bridge address. A host is cut
/// off by ``partition(_:)`` (its link to the bridge goes down: packets are dropped, connections
/// are not reset, as in a real partition) and joined again by ``heal(_:)``.
///
/// Run a process on a host with `ip netns exec NAMESPACE COMMAND` (``namespace(_:)``).
public struct TwoHostNetwork: Sendable {
    public let suffix = String(format: "%04x", UInt16.random(in: 0...UInt16.max))
    public let subnet = Int.random(in: 1...250)
    public var bridge: String { "ebr\(suffix)" }
    public var bridgeAddress: String { "10.77.\(subnet).1" }
    public func namespace(_ host: Int) -> String { "edge\(suffix)h\(host)" }
    public func address(_ host: Int) -> String { "10.77.\(subnet).\(host + 2)" }
    private func outside(_ host: Int) -> String { "ev\(suffix)\(host)o" }

    public init() {}

    /// Makes the bridge, the two namespaces and their veth links.
    ///
    /// - Throws: ``KillTestError`` naming the `ip` command that failed.
    public func create() throws {
        try run(["link", "add", bridge, "type", "bridge"])
        try run(["addr", "add", bridgeAddress + "/24", "dev", bridge])
        try run(["link", "set", bridge, "up"])
        for host in 0..<2 {
            let namespace = namespace(host), outside = outside(host), inside = "ev\(suffix)\(host)i"
            try run(["netns", "add", namespace])
            try run(["link", "add", outside, "type", "veth", "peer", "name", inside])
            try run(["link", "set", outside, "master", bridge])
            try run(["link", "set", outside, "up"])
            try run(["link", "set", inside, "netns", namespace])
            try run(["-n", namespace, "addr", "add", address(host) + "/24", "dev", inside])
            try run(["-n", namespace, "link", "set", inside, "up"])
            try run(["-n", namespace, "link", "set", "lo", "up"])
        }
    }

    /// Cuts `host` off from the bridge (and so from the other host and the machine's servers).
    ///
    /// - Throws: ``KillTestError`` when `ip` fails.
    public func partition(_ host: Int) throws { try run(["link", "set", outside(host), "down"]) }

    /// Joins `host` to the bridge again.
    ///
    /// - Throws: ``KillTestError`` when `ip` fails.
    public func heal(_ host: Int) throws { try run(["link", "set", outside(host), "up"]) }

    /// Removes the namespaces (their veth pairs go with them) and the bridge.
    public func remove() {
        for host in 0..<2 { _ = try? ip(["netns", "del", namespace(host)]) }
        _ = try? ip(["link", "del", bridge])
    }

    private func run(_ arguments: [String]) throws {
        let (status, output) = try ip(arguments)
        guard status == 0 else { throw KillTestError(message: "ip \(arguments.joined(separator: " ")) failed: \(output)") }
    }
}
