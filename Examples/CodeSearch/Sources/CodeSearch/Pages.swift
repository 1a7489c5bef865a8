import EdgeCore
import Foundation

/// The HTML pages `code-search serve` shows: search (`/`), a file (`/file`) and the indexing jobs
/// (`/jobs`). Self-contained (inline CSS and script, no external assets); every page works
/// without JavaScript — the script only adds keyboard navigation and live job progress.
enum Pages {
    /// `text` safe inside HTML text and attribute values.
    static func escape(_ text: some StringProtocol) -> String { HTML.escape(text) }

    /// `value` percent-encoded for a query string: everything but ASCII letters, digits and `-._~/`.
    static func query(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"):
                out.append(Character(Unicode.Scalar(byte)))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// A line of a snippet with the words of `terms` marked (`<mark>`), escaped.
    static func highlight(_ line: String, terms: Set<String>) -> String {
        var out = ""
        var word = ""
        func flush() {
            guard !word.isEmpty else { return }
            let hit = terms.contains(word.lowercased()) || CodeTokenizer.identifierPieces(word).contains { terms.contains($0) }
            out += hit ? "<mark>\(escape(word))</mark>" : escape(word)
            word = ""
        }
        for character in line {
            if character.isLetter || character.isNumber || character == "_" {
                word.append(character)
            } else {
                flush()
                out += escape(String(character))
            }
        }
        flush()
        return out
    }

    static let style = """
        *{box-sizing:border-box}body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
        header{background:#1d2330;color:#fff;padding:.7rem 1.2rem;display:flex;gap:1.2rem;align-items:center}
        header a{color:#cfd6e4;text-decoration:none}header a.here{color:#fff;font-weight:600}
        main{max-width:60rem;margin:1rem auto;padding:0 1rem}
        form.search{display:flex;gap:.5rem;flex-wrap:wrap;margin-bottom:1rem}
        form.search input[type=search]{flex:1 1 20rem;font-size:1.05rem;padding:.45rem .6rem;border:1px solid #b9c0cc;border-radius:6px}
        select,button{font-size:.95rem;padding:.4rem .5rem;border-radius:6px;border:1px solid #b9c0cc;background:#fff}
        button{background:#2f5fd0;color:#fff;border-color:#2f5fd0;cursor:pointer}
        ol.results{list-style:none;padding:0;margin:0}
        ol.results li{background:#fff;border:1px solid #dde1e8;border-radius:8px;margin:.5rem 0;padding:.6rem .8rem}
        ol.results li.selected{border-color:#2f5fd0;box-shadow:0 0 0 2px #2f5fd033}
        .path{font-family:ui-monospace,monospace;font-weight:600;color:#2f5fd0;text-decoration:none}.lines,.meta{color:#667085;font-size:.85rem}
        pre{margin:.4rem 0 0;white-space:pre-wrap;font:13px/1.5 ui-monospace,monospace;background:#f3f5f8;padding:.4rem .5rem;border-radius:5px}
        mark{background:#ffe58a;color:inherit;border-radius:2px}
        table.code{border-collapse:collapse;width:100%;background:#fff;font:13px/1.5 ui-monospace,monospace}
        table.code td{padding:0 .6rem;white-space:pre-wrap;vertical-align:top}table.code td.n{color:#98a2b3;text-align:right;user-select:none;width:1%}
        table.code tr.hit{background:#fff6cf}
        table.jobs{width:100%;border-collapse:collapse;background:#fff}table.jobs td,table.jobs th{border-bottom:1px solid #e4e7ec;padding:.45rem .5rem;text-align:left}
        progress{width:9rem}.status-done{color:#137333}.status-failed{color:#b42318}
        .empty{color:#667085;padding:1rem 0}.notice{background:#ecfdf3;border:1px solid #abefc6;padding:.5rem .8rem;border-radius:6px}
        kbd{border:1px solid #b9c0cc;border-bottom-width:2px;border-radius:4px;padding:0 .3rem;font-size:.8rem}
        """

    static func layout(title: String, here: String, body: String, script: String = "") -> String {
        let links = [("/", "Search"), ("/jobs", "Jobs")].map { href, name in
            "<a href=\"\(href)\"\(href == here ? " class=\"here\"" : "")>\(name)</a>"
        }.joined()
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
            <title>\(escape(title))</title><style>\(style)</style></head>
            <body><header><strong>code-search</strong>\(links)</header><main>
            \(body)
            </main>\(script.isEmpty ? "" : "<script>\(script)</script>")</body></html>
            """
    }

    struct SearchForm {
        var query = ""
        var mode = CodeIndex.SearchMode.hybrid
        var kind = CodeIndex.SearchKind.all
        var repo: String?
        var top = 10
    }

    /// The search page: the form, and the results when there is a query (or an error).
    static func search(_ form: SearchForm, repos: [String], results: [SearchResult]?, error: String? = nil) -> String {
        func options<T: RawRepresentable & CaseIterable>(_ selected: T, _ labels: [String: String]) -> String where T.RawValue == String {
            T.allCases.map { value in
                "<option value=\"\(value.rawValue)\"\(value.rawValue == selected.rawValue ? " selected" : "")>\(labels[value.rawValue] ?? value.rawValue)</option>"
            }.joined()
        }
        let repoOptions =
            "<option value=\"\">all repositories</option>"
            + repos.map { "<option value=\"\(escape($0))\"\($0 == form.repo ? " selected" : "")>\(escape($0))</option>" }.joined()
        var body = """
            <form class="search" method="get" action="/" role="search">
            <input type="search" name="q" value="\(escape(form.query))" placeholder="What are you looking for? e.g. parse a cron expression" aria-label="Query"\(results == nil ? " autofocus" : "")>
            <select name="mode" aria-label="Mode">\(options(form.mode, ["hybrid": "hybrid", "semantic": "semantic only", "lexical": "keywords only"]))</select>
            <select name="kind" aria-label="Kind">\(options(form.kind, ["all": "code and docs", "code": "code", "docs": "docs"]))</select>
            <select name="repo" aria-label="Repository">\(repoOptions)</select>
            <button type="submit">Search</button>
            </form>
            """
        if let error {
            body += "<p class=\"empty\" role=\"alert\">\(escape(error))</p>"
        } else if let results {
            if results.isEmpty {
                body += "<p class=\"empty\">No results for “\(escape(form.query))”.</p>"
            } else {
                let terms = Set(CodeTokenizer.terms(form.query))
                body += "<ol class=\"results\" id=\"results\">"
                for (rank, result) in results.enumerated() {
                    let href =
                        "/file?repo=\(query(result.repo))&path=\(query(result.path))&start=\(result.startLine)&end=\(result.endLine)&q=\(query(form.query))#L\(result.startLine)"
                    let snippet = result.snippet.split(separator: "\n", omittingEmptySubsequences: false).map { highlight(String($0), terms: terms) }
                    body += """
                        <li data-rank="\(rank + 1)"><a class="path" href="\(href)">\(escape(result.path))</a>
                        <span class="lines">lines \(result.startLine)–\(result.endLine)</span> <span class="meta">\(escape(result.repo))</span>
                        <pre>\(snippet.joined(separator: "\n"))</pre></li>
                        """
                }
                body += "</ol><p class=\"meta\"><kbd>/</kbd> search · <kbd>↓</kbd><kbd>↑</kbd> or <kbd>j</kbd><kbd>k</kbd> move · <kbd>Enter</kbd> open</p>"
            }
        }
        return layout(title: form.query.isEmpty ? "code-search" : "\(form.query) · code-search", here: "/", body: body, script: navigationScript)
    }

    /// Keyboard navigation of the results: `/` focuses the query, arrows or j/k select, Enter opens.
    static let navigationScript = """
        (function(){var items=[].slice.call(document.querySelectorAll('#results li'));var at=-1;
        function pick(i){if(!items.length)return;at=Math.max(0,Math.min(items.length-1,i));
        items.forEach(function(li,j){li.classList.toggle('selected',j===at)});items[at].scrollIntoView({block:'nearest'});}
        document.addEventListener('keydown',function(e){var box=document.querySelector('input[name=q]');
        if(e.target===box){if(e.key==='ArrowDown'&&items.length){e.preventDefault();box.blur();pick(0);}return;}
        if(e.key==='/'){e.preventDefault();box.focus();box.select();return;}
        if(e.key==='ArrowDown'||e.key==='j'){e.preventDefault();pick(at+1);}
        else if(e.key==='ArrowUp'||e.key==='k'){e.preventDefault();pick(at-1);}
        else if(e.key==='Enter'&&at>=0){e.preventDefault();items[at].querySelector('a').click();}});})();
        """

    /// A file as the index holds it, its lines `start`...`end` marked.
    static func file(repo: String, path: String, lines: [Int: String], start: Int?, end: Int?, query: String?) -> String {
        let last = lines.keys.max() ?? 0
        var rows = ""
        for number in 1...max(1, last) {
            let hit = start.map { number >= $0 && number <= (end ?? $0) } ?? false
            rows += "<tr id=\"L\(number)\"\(hit ? " class=\"hit\"" : "")><td class=\"n\">\(number)</td><td>\(escape(lines[number] ?? ""))</td></tr>"
        }
        let back = query.map { "<a href=\"/?q=\(Pages.query($0))\">← results for “\(escape($0))”</a> · " } ?? ""
        let body = """
            <p class="meta">\(back)\(escape(repo))</p><h2 class="path">\(escape(path))</h2>
            <table class="code" aria-label="\(escape(path))">\(rows)</table>
            """
        return layout(title: "\(path) · code-search", here: "", body: body)
    }

    /// One job's progress: its batches done over its batches (100 once done).
    static func percent(_ job: IndexingJob) -> Int {
        if job.status == .done { return 100 }
        let total = job.fileBatches + job.embeddingBatches
        guard total > 0 else { return 0 }
        return min(99, (job.fileBatchesDone + job.embeddingBatchesDone) * 100 / total)
    }

    /// The jobs page: each job with its progress, the dead-letter queues with a redrive form.
    static func jobs(_ jobs: [IndexingJob], deadLetters: [(queue: String, backlog: Int)], redriveEnabled: Bool, notice: String?) -> String {
        var body = notice.map { "<p class=\"notice\" role=\"status\">\(escape($0))</p>" } ?? ""
        body += "<h2>Indexing jobs</h2>"
        if jobs.isEmpty {
            body += "<p class=\"empty\" id=\"no-jobs\">No jobs yet: push to a repository whose webhook points at /webhooks/github.</p>"
        }
        body +=
            "<table class=\"jobs\" id=\"jobs\"\(jobs.isEmpty ? " hidden" : "")><thead><tr><th>Repository</th><th>Revision</th><th>Status</th><th>Progress</th><th>Files</th><th>Chunks</th></tr></thead><tbody>"
        for job in jobs { body += jobRow(job) }
        body += "</tbody></table><h2>Dead-letter queues</h2><table class=\"jobs\" id=\"dlq\"><tbody>"
        for (queue, backlog) in deadLetters {
            body += "<tr><td>\(escape(queue))</td><td data-dlq=\"\(escape(queue))\">\(backlog)</td></tr>"
        }
        body += "</tbody></table>"
        if redriveEnabled {
            let choices = deadLetters.map { "<option value=\"\(escape($0.queue))\">\(escape($0.queue))</option>" }.joined()
            body += """
                <form method="post" action="/jobs/redrive" class="search">
                <select name="queue" aria-label="Dead-letter queue">\(choices)</select>
                <input type="password" name="token" placeholder="admin token" aria-label="Admin token" required>
                <button type="submit" id="redrive">Redrive</button></form>
                """
        } else {
            body += "<p class=\"meta\">Redrive is off: start the server with CODESEARCH_ADMIN_TOKEN set.</p>"
        }
        return layout(title: "Jobs · code-search", here: "/jobs", body: body, script: jobsScript)
    }

    static func jobRow(_ job: IndexingJob) -> String {
        let percent = percent(job)
        return """
            <tr data-job="\(escape(job.id))"><td>\(escape(job.repo))</td><td class="meta">\(escape(String((job.revision ?? "").prefix(12))))</td>
            <td class="status-\(job.status.rawValue)">\(job.status.rawValue)\(job.error.map { ": " + escape($0) } ?? "")</td>
            <td><progress max="100" value="\(percent)"></progress> <span class="percent">\(percent) %</span></td>
            <td>\(job.progress.files)/\(job.plannedFiles)</td><td>\(job.progress.chunks)</td></tr>
            """
    }

    /// Live progress: the server's events (`/jobs/events`) replace the rows and the counts.
    static let jobsScript = """
        (function(){if(!window.EventSource)return;var source=new EventSource('/jobs/events');
        source.addEventListener('jobs',function(e){var data=JSON.parse(e.data);var table=document.getElementById('jobs');
        table.querySelector('tbody').innerHTML=data.rows;table.hidden=!data.rows;var none=document.getElementById('no-jobs');if(none&&data.rows)none.remove();
        Object.keys(data.dlq).forEach(function(q){var cell=document.querySelector('[data-dlq="'+q+'"]');if(cell)cell.textContent=data.dlq[q];});});})();
        """
}
