// edge-crash-harness: the child process of the crash tests.
//
// It writes forever and prints the number of every write that returned (so was acknowledged to
// its caller) on its own line, flushed at once. The test reads those lines, kills this process
// with SIGKILL at a moment of its choosing, reopens the storage and checks that every
// acknowledged write is there.
//
//   edge-crash-harness kv-writer PATH     puts key-N -> crashValue(N) into the SQLiteKV at PATH
import EdgeKV
import Foundation

/// The value the writer stores under key-N: mostly small, every tenth 200 KB, so kills land both
/// between and inside larger commits. The test computes the same bytes.
func crashValue(_ index: Int) -> String {
    String(repeating: "v\(index);", count: index % 10 == 9 ? 20_000 : 8)
}

func acknowledge(_ index: Int) {
    let line = Array("\(index)\n".utf8)
    line.withUnsafeBytes { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(1, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 { exit(3) }
            offset += written
        }
    }
}

let arguments = CommandLine.arguments
guard arguments.count == 3, arguments[1] == "kv-writer" else {
    FileHandle.standardError.write(Data("usage: edge-crash-harness kv-writer PATH\n".utf8))
    exit(2)
}
let kv = try SQLiteKV(path: arguments[2])
var index = 0
while true {
    try await kv.put("key-\(index)", crashValue(index))
    acknowledge(index)
    index += 1
}
