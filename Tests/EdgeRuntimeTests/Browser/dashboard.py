"""Drives edge dev's dashboard (/__edge/) in headless Chromium (Debian's, through Playwright) the
way an operator would: read the overview, browse a KV namespace to a value, browse a bucket's
folder and download an object, look at a dead-letter queue, fail to act while locked, unlock with
the token and redrive, open a durable object's storage and alarm, query a vector index, watch a
request arrive in the live request log without reloading; then read the overview with
JavaScript off. Prints one JSON object; exits 1 at the first thing that did not happen.

usage: dashboard.py BASE_URL SPEC.json SCREENSHOT_DIR
SPEC.json: {"token": T, "download_key": K, "download_body": B, "dlq": Q, "dlq_messages": N,
            "redrive_to": QUEUE, "object_name": NAME, "vector_id": ID}
"""
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request

from playwright.sync_api import sync_playwright

base, spec_file, shots = sys.argv[1], sys.argv[2], sys.argv[3]
spec = json.load(open(spec_file))
dashboard = base + "/__edge/"
report = {"steps": []}


def step(name, **facts):
    report["steps"].append(dict(name=name, **facts))


def fail(message):
    report["error"] = message
    print(json.dumps(report))
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)


def wait_for(predicate, seconds, message):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    fail(message)


executable = shutil.which("chromium") or shutil.which("chromium-browser")
if executable is None:
    fail("no chromium on PATH")
os.makedirs(shots, exist_ok=True)

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
    context = browser.new_context(viewport={"width": 1200, "height": 800}, accept_downloads=True)
    page = context.new_page()
    external = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(base) else None)

    # The overview: every kind of binding with what it holds.
    page.goto(dashboard)
    expect(page.title().startswith("Overview"), f"title {page.title()!r}")
    text = page.inner_text("main")
    for needle in ["COUNTER", "FILES", "jobs", spec["dlq"], "COUNTERS", "HelloCounter", "VECTORS"]:
        expect(needle in text, f"the overview names {needle}: {text}")
    dlq_row = page.locator("tr", has=page.locator(f'a[href="/__edge/queues/{spec["dlq"]}"]')).filter(has_text="dead-letter queue")
    expect(dlq_row.count() == 1, "one row for the dead-letter queue")
    backlog = dlq_row.locator("td").nth(2).inner_text()
    expect(backlog == str(spec["dlq_messages"]), f"the dead-letter queue's backlog is {backlog}")
    expect("read-only" in page.inner_text("header"), "locked by default")
    page.screenshot(path=f"{shots}/overview.png", full_page=True)
    step("overview", dlq_backlog=backlog)

    # KV: the namespace, then a key's value with its metadata.
    page.click('a[href="/__edge/kv/COUNTER"]')
    page.click('main a:text-is("count")')
    value = page.inner_text("pre")
    expect(value.strip().isdigit(), f"the counter's value {value!r}")
    step("kv value", value=value.strip())

    # The bucket: into the folder, the object, its download.
    page.goto(dashboard)
    page.click('a[href="/__edge/buckets/FILES"]')
    for folder in spec["download_key"].split("/")[:-1]:
        page.click(f'main a:text-is("{folder}/")')
        expect(page.locator(".crumbs").inner_text().endswith(folder), f"the breadcrumbs end with {folder}")
    name = spec["download_key"].split("/")[-1]
    page.screenshot(path=f"{shots}/bucket.png", full_page=True)
    page.click(f'main a:text-is("{name}")')
    expect(str(len(spec["download_body"])) + " bytes" in page.inner_text("main"), "the object's size")
    with page.expect_download() as download_info:
        page.click("a[download]")
    download = download_info.value
    path = download.path()
    expect(open(path, "rb").read() == spec["download_body"].encode(), "the download is the object's body")
    step("download", filename=download.suggested_filename)

    # The dead-letter queue, locked: its messages, no redrive button, and a forged POST refused.
    page.goto(dashboard + "queues/" + spec["dlq"])
    rows = page.locator("table").nth(1).locator("tbody tr")
    expect(rows.count() == spec["dlq_messages"], f"{rows.count()} messages listed")
    expect(page.locator("button", has_text="Redrive").count() == 0, "no redrive button while locked")
    try:
        urllib.request.urlopen(urllib.request.Request(dashboard + "queues/" + spec["dlq"] + "/redrive", data=b"", method="POST"))
        fail("a redrive without the token was accepted")
    except urllib.error.HTTPError as error:
        expect(error.code == 403, f"a redrive without the token answers {error.code}")
    step("locked", messages=rows.count())

    # Unlock: a wrong token is refused, the right one unlocks; redrive empties the queue.
    page.goto(dashboard)
    page.fill("input[name=token]", "wrong")
    page.click("text=Unlock actions")
    expect("Wrong or missing dashboard token" in page.inner_text("main"), "a wrong token is refused")
    page.goto(dashboard)
    page.fill("input[name=token]", spec["token"])
    page.click("text=Unlock actions")
    expect("actions unlocked" in page.inner_text("header"), "the right token unlocks")
    page.goto(dashboard + "queues/" + spec["dlq"])
    # These messages were sent to the dead-letter queue directly: they name no source queue.
    page.select_option("select[name=to]", spec["redrive_to"])
    page.click("button:text-is('Redrive')")
    expect(f'redrove {spec["dlq_messages"]} messages' in page.inner_text("main"), f"the redrive says so: {page.inner_text('main')}")
    step("redrive", notice=page.locator(".notice").inner_text())

    # A durable object: listed with its alarm, then its storage.
    page.goto(dashboard)
    page.click('a[href="/__edge/durable-objects/COUNTERS"]')
    objects = page.locator("table").first.locator("tbody tr")
    expect(objects.count() >= 1, "the namespace lists its objects")
    expect(page.locator("text=Next alarms").count() == 1 and page.locator("table").nth(1).locator("tbody tr").count() == 1, "one alarm scheduled")
    objects.first.locator("a").click()
    storage = page.inner_text("main")
    expect("value" in storage and "alarm: 20" in storage, f"the object's storage and alarm: {storage}")
    step("durable object", storage=storage.splitlines()[1] if len(storage.splitlines()) > 1 else storage)

    # The vector index: query by a stored vector's id.
    page.goto(dashboard + "vectors/VECTORS")
    page.fill("input[name=id]", spec["vector_id"])
    page.click("text=Query")
    matches = page.locator("table").first.locator("tbody tr")
    expect(matches.count() >= 1, "the query found matches")
    expect(matches.first.locator("td").first.inner_text() == spec["vector_id"], "the vector itself comes first")
    step("vector query", matches=matches.count())

    # The live request log: a request made now appears without a reload.
    page.goto(dashboard + "requests")
    marker = f"/health?live={time.time_ns()}"
    urllib.request.urlopen(base + marker).read()
    wait_for(lambda: page.locator("td.path", has_text="/health").count() >= 1, 10, "the new request appeared in the live log")
    page.screenshot(path=f"{shots}/requests.png", full_page=True)
    step("live log", rows=page.locator("#requests tbody tr").count())

    # Without JavaScript: the same overview, rendered by the server.
    plain = browser.new_context(java_script_enabled=False).new_page()
    plain.goto(dashboard)
    expect("COUNTERS" in plain.inner_text("main"), "the overview works without JavaScript")
    step("no javascript")

    expect(not external, f"nothing loaded from elsewhere: {external}")
    browser.close()

print(json.dumps(report))
