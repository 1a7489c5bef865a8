import Crypto
import EdgeCore
import Foundation

/// Why a repository could not be read.
public struct RepositoryError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// Where a repository's files come from: a plain directory, the files git tracks in a working
/// tree, or a commit of a git repository (read from git's object store, so the working tree is
/// never touched).
///
/// Every path is relative to the root, `/`-separated.
public struct RepositorySource: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable {
        /// Every file under the root, walked recursively.
        case directory
        /// The files git tracks (plus untracked ones not ignored) in the working tree.
        case workingTree
        /// The tree of `revision` in the repository at the root (bare or not).
        case commit
        /// No files: indexing it removes the repository from the index.
        case empty
    }

    public var root: String
    public var kind: Kind
    /// A commit id for `.commit`.
    public var revision: String?

    public init(root: String, kind: Kind, revision: String? = nil) {
        self.root = root
        self.kind = kind
        self.revision = revision
    }

    /// A directory, as a git working tree when it is one (so `.gitignore` is honoured), else
    /// as a plain directory.
    ///
    /// - Throws: ``RepositoryError`` when `path` is not a directory.
    public static func local(_ path: String) throws -> RepositorySource {
        let root = URL(fileURLWithPath: path).standardized.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RepositoryError("\(path) is not a directory")
        }
        if FileManager.default.fileExists(atPath: root + "/.git"), Git.available,
            (try? Git.run(["rev-parse", "--is-inside-work-tree"], in: root)) != nil
        {
            return RepositorySource(root: root, kind: .workingTree)
        }
        return RepositorySource(root: root, kind: .directory)
    }

    /// The git repository at `path` at `revision` (a commit id, branch or tag; default `HEAD`),
    /// resolved to a commit id.
    ///
    /// - Throws: ``RepositoryError`` when git is missing, `path` is no repository or the
    ///   revision does not exist there.
    public static func gitCommit(_ path: String, revision: String = "HEAD") throws -> RepositorySource {
        guard Git.available else { throw RepositoryError("git is not installed") }
        let root = URL(fileURLWithPath: path).standardized.path
        guard let commit = try? Git.run(["rev-parse", "--verify", "--quiet", revision + "^{commit}"], in: root) else {
            throw RepositoryError("\(path) is not a git repository with a commit \(revision)")
        }
        let id = String(decoding: commit, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !id.isEmpty else { throw RepositoryError("\(path) has no commit \(revision)") }
        return RepositorySource(root: root, kind: .commit, revision: id)
    }

    /// Clones `url` into `directory` (or fetches into it when it already holds a clone).
    ///
    /// - Throws: ``RepositoryError`` with git's message when cloning or fetching fails.
    public static func cloneOrFetch(_ url: String, into directory: String) throws {
        guard Git.available else { throw RepositoryError("git is not installed") }
        if FileManager.default.fileExists(atPath: directory + "/HEAD") || FileManager.default.fileExists(atPath: directory + "/.git") {
            _ = try Git.run(["fetch", "--quiet", "--prune", "origin", "+refs/heads/*:refs/heads/*"], in: directory)
        } else {
            try FileManager.default.createDirectory(atPath: (directory as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            _ = try Git.run(["clone", "--quiet", "--mirror", url, directory], in: (directory as NSString).deletingLastPathComponent)
        }
    }

    /// Every file with a fingerprint of its content (a git blob id, or the SHA-256 of the bytes),
    /// sorted by path; files in directories `filter` never enters are left out.
    ///
    /// - Throws: ``RepositoryError`` when the tree cannot be read.
    public func files(filter: FileFilter = FileFilter()) throws -> [(path: String, fingerprint: String)] {
        var listed: [(path: String, fingerprint: String)] = []
        switch kind {
        case .empty:
            return []
        case .commit:
            // <mode> SP <type> SP <object> TAB <path> NUL
            let output = try Git.run(["ls-tree", "-r", "-z", "--full-tree", revision ?? "HEAD"], in: root)
            for record in output.split(separator: 0) {
                guard let tab = record.firstIndex(of: 9) else { continue }
                let fields = record[..<tab].split(separator: 32)
                guard fields.count == 3, fields[1].elementsEqual("blob".utf8) else { continue }
                listed.append((String(decoding: record[(tab + 1)...], as: UTF8.self), "git:" + String(decoding: fields[2], as: UTF8.self)))
            }
        case .workingTree:
            let output = try Git.run(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], in: root)
            var seen = Set<String>()
            for record in output.split(separator: 0) {
                let path = String(decoding: record, as: UTF8.self)
                guard seen.insert(path).inserted, filter.entersDirectories(of: path),
                    let bytes = FileManager.default.contents(atPath: root + "/" + path)
                else { continue }
                listed.append((path, Self.fingerprint(Array(bytes))))
            }
        case .directory:
            guard let enumerator = FileManager.default.enumerator(atPath: root) else { throw RepositoryError("cannot read \(root)") }
            while let path = enumerator.nextObject() as? String {
                if enumerator.fileAttributes?[.type] as? FileAttributeType == .typeDirectory {
                    if filter.skippedDirectories.contains((path as NSString).lastPathComponent) { enumerator.skipDescendants() }
                    continue
                }
                guard enumerator.fileAttributes?[.type] as? FileAttributeType == .typeRegular,
                    let bytes = FileManager.default.contents(atPath: root + "/" + path)
                else { continue }
                listed.append((path, Self.fingerprint(Array(bytes))))
            }
        }
        return listed.filter { filter.entersDirectories(of: $0.path) }.sorted { $0.path < $1.path }
    }

    /// The SHA-256 fingerprint of file contents.
    static func fingerprint(_ bytes: [UInt8]) -> String {
        "sha256:" + Hex.encode(SHA256.hash(data: bytes))
    }

    /// The contents of `paths` (a path that no longer exists maps to nil).
    ///
    /// - Throws: ``RepositoryError`` when git fails.
    public func read(_ paths: [String]) throws -> [String: [UInt8]] {
        var contents: [String: [UInt8]] = [:]
        switch kind {
        case .empty:
            return [:]
        case .directory, .workingTree:
            for path in paths {
                if let data = FileManager.default.contents(atPath: root + "/" + path) { contents[path] = Array(data) }
            }
        case .commit:
            // One `git cat-file --batch` for the whole list: "<rev>:<path>" in, objects out.
            let revision = revision ?? "HEAD"
            let input = paths.map { "\(revision):\($0)\n" }.joined()
            let output = try Git.run(["cat-file", "--batch"], in: root, input: Array(input.utf8))
            var offset = 0
            for path in paths {
                guard let newline = output[offset...].firstIndex(of: 10) else { break }
                let header = String(decoding: output[offset..<newline], as: UTF8.self).split(separator: " ")
                offset = newline + 1
                guard header.count == 3, let size = Int(header[2]) else { continue }  // "<name> missing"
                if header[1] == "blob" { contents[path] = Array(output[offset..<offset + size]) }
                offset += size + 1
            }
        }
        return contents
    }
}

extension FileFilter {
    /// Whether no directory on `path` is one the filter skips.
    public func entersDirectories(of path: String) -> Bool {
        !path.split(separator: "/").dropLast().contains { skippedDirectories.contains(String($0)) }
    }
}

/// Runs git.
enum Git {
    static let available: Bool = {
        ["/usr/bin/git", "/usr/local/bin/git", "/bin/git"].contains { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Runs `git arguments` in `directory` and returns its standard output.
    static func run(_ arguments: [String], in directory: String, input: [UInt8] = []) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var environment = ProcessInfo.processInfo.environment
        environment["GIT_TERMINAL_PROMPT"] = "0"
        process.environment = environment
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            throw RepositoryError("cannot run git: \(error)")
        }
        // Feed stdin from another thread so a large output never deadlocks against it.
        let writer = stdin.fileHandleForWriting
        let feed = Thread {
            if !input.isEmpty { writer.write(Data(input)) }
            try? writer.close()
        }
        feed.start()
        let errors = ErrorCollector(stderr.fileHandleForReading)
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = errors.text.trimmingCharacters(in: .whitespacesAndNewlines)
            throw RepositoryError(
                "git \(arguments.prefix(2).joined(separator: " ")) failed in \(directory): \(message.isEmpty ? "status \(process.terminationStatus)" : message)"
            )
        }
        return Array(output)
    }

    /// Drains a pipe on a thread of its own.
    final class ErrorCollector: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        private let done = DispatchSemaphore(value: 0)

        init(_ handle: FileHandle) {
            Thread {
                let read = handle.readDataToEndOfFile()
                self.lock.withLock { self.data = read }
                self.done.signal()
            }.start()
        }

        var text: String {
            done.wait()
            return lock.withLock { String(decoding: data, as: UTF8.self) }
        }
    }
}
