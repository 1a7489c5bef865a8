"""Drives code-search's pages in headless Chromium (Debian's, through Playwright) the way a
person would: watch a pushed repository's job reach 100 % on /jobs (live, without reloading),
search from /, see the expected file first, move to it with the keyboard and open it; then the
same search with JavaScript off. Prints one JSON object; exits 1 when something did not happen.

usage: search_page.py BASE_URL REQUEST.json SCREENSHOT_DIR
REQUEST.json: {"webhook": {"headers": {...}, "body_file": PATH}, "job_id": ID, "query": Q,
               "expected_path": PATH, "expected_text": TEXT}
"""
import json
import shutil
import sys
import time
import urllib.request

from playwright.sync_api import sync_playwright

base, request_file, shots = sys.argv[1], sys.argv[2], sys.argv[3]
spec = json.load(open(request_file))
report = {"steps": []}


def step(name, **facts):
    report["steps"].append(dict(name=name, **facts))


def fail(message):
    report["error"] = message
    print(json.dumps(report))
    sys.exit(1)


executable = shutil.which("chromium") or shutil.which("chromium-browser")
if executable is None:
    fail("no chromium on PATH")

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1100, "height": 760})

    # The jobs page first, then the push: its progress must arrive live.
    page.goto(base + "/jobs")
    row = page.locator(f'tr[data-job="{spec["job_id"]}"]')
    step("jobs page", title=page.title(), rows_before_push=row.count())
    if row.count() != 0:
        fail("the job is on the page before its push")
    webhook = spec["webhook"]
    body = open(webhook["body_file"], "rb").read()
    answer = urllib.request.urlopen(urllib.request.Request(base + "/webhooks/github", data=body, headers=webhook["headers"], method="POST"))
    step("webhook", status=answer.status)
    seen = []
    deadline = time.time() + 120
    while time.time() < deadline:
        if row.count() == 1:
            text = row.locator(".percent").inner_text()
            if not seen or seen[-1] != text:
                seen.append(text)
            if text == "100 %":
                break
        time.sleep(0.1)
    step("job progress", seen=seen, status=row.locator("td").nth(2).inner_text() if row.count() else None)
    page.screenshot(path=f"{shots}/jobs.png", full_page=True)
    if not seen or seen[-1] != "100 %":
        fail(f"the job did not reach 100 % on /jobs without a reload: {seen}")

    # Search: type a query, press Enter.
    page.goto(base + "/")
    box = page.locator('input[name="q"]')
    box.fill(spec["query"])
    box.press("Enter")
    page.wait_for_selector("#results li")
    if page.locator('input[name="q"]').input_value() != spec["query"]:
        fail(f"the query box shows {page.locator('input[name=q]').input_value()!r} after searching")
    paths = page.locator("#results li .path").all_inner_texts()
    marks = page.locator("#results li mark").count()
    step("search", paths=paths, highlighted=marks, url=page.url)
    page.screenshot(path=f"{shots}/search.png", full_page=True)
    if not paths or paths[0] != spec["expected_path"]:
        fail(f"expected {spec['expected_path']} first, got {paths}")
    if marks == 0:
        fail("no query word is highlighted in the snippets")

    # Keyboard: j selects the first result, Enter opens it.
    page.locator("body").press("j")
    selected = page.locator("#results li.selected .path").all_inner_texts()
    page.keyboard.press("Enter")
    page.wait_for_url("**/file?**")
    marked = page.locator("tr.hit").all_inner_texts()
    step("open", selected=selected, url=page.url, marked_lines=len(marked))
    page.screenshot(path=f"{shots}/file.png", full_page=True)
    if selected != [spec["expected_path"]]:
        fail(f"j did not select the first result: {selected}")
    if not any(spec["expected_text"] in line for line in marked):
        fail(f"the opened file does not mark {spec['expected_text']!r}: {marked[:5]}")

    # Without JavaScript the form still searches (a plain GET rendered on the server).
    context = browser.new_context(java_script_enabled=False)
    plain = context.new_page()
    plain.goto(base + "/")
    plain.locator('input[name="q"]').fill(spec["query"])
    plain.locator('button[type="submit"]').click()
    plain.wait_for_selector("#results li")
    plain_paths = plain.locator("#results li .path").all_inner_texts()
    step("search without javascript", paths=plain_paths)
    if not plain_paths or plain_paths[0] != spec["expected_path"]:
        fail(f"without JavaScript: expected {spec['expected_path']} first, got {plain_paths}")
    browser.close()

print(json.dumps(report))
