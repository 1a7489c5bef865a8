import CodeSearch
import Foundation
import Testing

@Suite("Chunking C, C++, Go, Rust, TypeScript, JavaScript and Python along declarations")
struct LanguageChunkerTests {
    /// The chunks of `text` as "start-end" ranges, and the chunk holding `needle`.
    func chunks(_ path: String, _ text: String, maxLines: Int = 60) -> [CodeChunk] {
        CodeChunker(maxLines: maxLines, overlap: 2).chunks(path: path, text: text)
    }

    func range(of needle: String, in chunks: [CodeChunk]) -> String? {
        chunks.first { $0.text.contains(needle) }.map { "\($0.startLine)-\($0.endLine)" }
    }

    @Test("C: functions with their comments, K&R and Allman braces, braces in strings and macros ignored")
    func c() {
        let source = """
            #include <stdio.h>
            #define WRAP(x) do { x; } while (0)

            /* Counts the lines of a buffer. */
            static int
            count_lines(const char *text)
            {
                int n = 0;
                for (; *text; text++) if (*text == '\\n') n++;
                return n;
            }

            struct ring {
                int head;
                const char *name; /* "{" */
            };

            int main(void) {
                printf("{ not a brace\\n");
                return count_lines("a\\nb");
            }
            """
        let found = chunks("src/ring.c", source)
        #expect(range(of: "count_lines(const", in: found) == "4-11", "the comment and the split signature belong to the function")
        #expect(range(of: "struct ring", in: found) == "13-16")
        #expect(range(of: "int main", in: found) == "18-21")
    }

    @Test("Go: funcs, methods and types; a var block without braces does not swallow the next function")
    func go() {
        let source = """
            package retry

            var (
                attempts = 3
            )

            // Backoff returns the wait before attempt n.
            func Backoff(n int) time.Duration {
                return time.Duration(1<<n) * time.Second
            }

            type Policy struct {
                Max int
            }

            func (p *Policy) Next(n int) bool {
                s := `raw { string`
                return n < p.Max
            }
            """
        let found = chunks("retry/retry.go", source)
        #expect(range(of: "func Backoff", in: found) == "7-10")
        #expect(range(of: "type Policy", in: found) == "12-14")
        #expect(range(of: "func (p *Policy) Next", in: found) == "16-19")
    }

    @Test("Rust: items with attributes and doc comments, impl members when the impl is long, lifetimes are not quotes")
    func rust() {
        let members = (0..<8).map { "    /// Step \($0).\n    pub fn step\($0)<'a>(&self, s: &'a str) -> &'a str {\n        let c = '{';\n        s\n    }\n" }
            .joined()
        let source = "use std::fmt;\n\n/// A parser.\n#[derive(Debug)]\npub struct Parser {\n    depth: usize,\n}\n\nimpl Parser {\n" + members + "}\n"
        let found = chunks("src/parser.rs", source, maxLines: 20)
        #expect(range(of: "pub struct Parser", in: found) == "3-7", "doc comment and attribute included")
        #expect(range(of: "pub fn step0", in: found) == "10-14", "a long impl is split into its methods")
        #expect(range(of: "pub fn step7", in: found) == "45-49")
    }

    @Test("TypeScript and JavaScript: exported functions, classes split into methods, arrow functions, template strings")
    func typescript() {
        let methods = (0..<6).map {
            "  /** Handles case \($0). */\n  async handle\($0)(req: Request): Promise<Response> {\n    return new Response(`{${req.url}`)\n  }\n"
        }.joined()
        let source =
            "import { Router } from './router'\n\nexport const handler = async (event) => {\n  return { ok: true }\n}\n\nexport class Worker {\n  name = 'w'\n"
            + methods
            + "}\n\nfunction helper() {\n  return 1\n}\n"
        let found = chunks("src/worker.ts", source, maxLines: 12)
        #expect(range(of: "export const handler", in: found) == "3-5")
        #expect(range(of: "async handle0", in: found) == "9-12")
        #expect(range(of: "async handle5", in: found) == "29-32")
        #expect(range(of: "function helper", in: found) == "35-37")
        #expect(range(of: "function helper", in: chunks("lib/worker.js", source, maxLines: 12)) == "35-37")
    }

    @Test("Python: functions, classes split into methods, decorators and comments, docstrings with odd indentation")
    func python() {
        let methods = (0..<5).map {
            "    @property\n    def value\($0)(self):\n        \"\"\"Value \($0).\n\nStill the docstring.\n\"\"\"\n        return \($0)\n\n"
        }.joined()
        let source =
            "import os\n\n# Reads the config.\ndef load(path):\n    with open(path) as f:\n        return f.read()\n\n\nclass Settings:\n    \"\"\"Settings.\"\"\"\n\n"
            + methods + "\ndef main():\n    print(load('x'))\n"
        let found = chunks("app/settings.py", source, maxLines: 12)
        #expect(range(of: "def load", in: found) == "3-6", "the comment above belongs to the function")
        #expect(range(of: "def value0", in: found) == "12-18", "a long class is split into its methods, decorators included")
        #expect(range(of: "def main", in: found) == "53-54")
    }

    @Test("Java, Kotlin, C# and C++: classes split into methods, generic signatures with commas, extern \"C\" blocks")
    func jvmAndFriends() {
        let javaMethods = (0..<5).map {
            "    /** Looks up entry \($0). */\n    public Map<String, List<Integer>> lookup\($0)(String key, int limit) throws IOException, TimeoutException {\n        return cache.get(key);\n    }\n"
        }
        .joined()
        let java =
            "package x;\n\nimport java.util.*;\n\npublic class Cache<K, V> {\n    private final Map<K, V> cache = new HashMap<>();\n\n" + javaMethods + "}\n"
        let javaChunks = chunks("src/Cache.java", java, maxLines: 12)
        #expect(
            range(of: "lookup0(", in: javaChunks) == "8-11",
            "a method whose signature has commas in its generics: \(javaChunks.map { "\($0.startLine)-\($0.endLine)" })")
        #expect(range(of: "lookup4(", in: javaChunks) == "24-27")

        let kotlinFunctions = (0..<4).map {
            "    /** Sends message \($0). */\n    suspend fun send\($0)(to: String, body: Map<String, Any>): Result<Unit> {\n        return post(to, body)\n    }\n"
        }.joined()
        let kotlin = "package mail\n\nclass Mailer(private val client: Client) {\n    val retries = 3\n" + kotlinFunctions + "}\n"
        #expect(range(of: "send0(", in: chunks("mail/Mailer.kt", kotlin, maxLines: 10)) == "5-8")

        let csharpMethods = (0..<4).map {
            "    /// <summary>Handles \($0).</summary>\n    public async Task<Dictionary<string, int>> Handle\($0)(Request request)\n    {\n        return await Next(request);\n    }\n"
        }
        .joined()
        let csharp = "namespace App;\n\npublic class Handler\n{\n" + csharpMethods + "}\n"
        #expect(range(of: "Handle0(", in: chunks("App/Handler.cs", csharp, maxLines: 12)) == "5-9", "Allman braces")

        let cppFunctions = (0..<4).map { "/* Frees buffer \($0). */\nvoid free_buffer\($0)(buffer *b)\n{\n    free(b->data);\n}\n" }.joined()
        let header = "#include <stdlib.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n" + cppFunctions + "\n#ifdef __cplusplus\n}\n#endif\n"
        #expect(range(of: "free_buffer2(", in: chunks("include/buffer.cpp", header, maxLines: 12)) == "17-21", "inside extern \"C\"")
    }

    @Test("real code in several languages (this machine's Python library, the C of the package checkouts): every line in a chunk, no chunk too long")
    func realCode() throws {
        var files: [String] = []
        let fm = FileManager.default
        let python = (try? fm.contentsOfDirectory(atPath: "/usr/lib")).flatMap { $0.filter { $0.hasPrefix("python3.") }.sorted().last }
        if let python {
            files += ["json/decoder.py", "argparse.py", "asyncio/tasks.py", "dataclasses.py"].map { "/usr/lib/\(python)/\($0)" }
        }
        let checkouts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/checkouts").standardized.path
        if let enumerator = fm.enumerator(atPath: checkouts) {
            for case let path as String in enumerator where path.hasSuffix(".c") && files.count < 40 {
                files.append(checkouts + "/" + path)
            }
        }
        files = files.filter { fm.fileExists(atPath: $0) }
        #expect(files.count > 4, "found some real code: \(files)")
        for file in files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let found = CodeChunker().chunks(path: file, text: text)
            #expect(found.allSatisfy { $0.endLine - $0.startLine + 1 <= 60 && $0.startLine >= 1 }, "\(file)")
            var covered = Set<Int>()
            for chunk in found { covered.formUnion(chunk.startLine...chunk.endLine) }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let uncovered = lines.indices.filter { !lines[$0].trimmingCharacters(in: .whitespaces).isEmpty && !covered.contains($0 + 1) }
            #expect(uncovered.isEmpty, "\(file): lines \(uncovered.prefix(5).map { $0 + 1 }) are in no chunk")
            // Python's top-level declarations start chunks: every column-0 `def` or `class` begins a
            // chunk at most 15 lines above it (its comments and decorators), which 60-line windows
            // would rarely do.
            for (index, line) in lines.enumerated() where file.hasSuffix(".py") && (line.hasPrefix("def ") || line.hasPrefix("class ")) {
                #expect(
                    found.contains { ($0.startLine...($0.startLine + 15)).contains(index + 1) && $0.endLine >= index + 1 },
                    "\(file): the declaration at line \(index + 1) does not start a chunk")
            }
        }
    }
}
