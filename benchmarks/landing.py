"""A visitor's arrival in a real browser: how long until the landing face is drawn, what the page downloads, what it asks.

Run: python benchmarks/landing.py [--visits 3] [--app-dir DIR] [--wait-s 60] [--url URL --pid PID ...]
Starts `python app.py` (benchmarks/load.py's starter), waits until its start-up work is done, then opens the page
--visits times in headless Chromium (Debian's, driven by playwright), one fresh browser context each (nothing cached).
Per visit: milliseconds from navigation to the SAGAN tab's face drawn (its <img> loaded), bytes and requests the page
downloaded by then and by --wait-s, how many events it sent in that time (tests/browser checks that none of them is
heavy), and the server's CPU seconds over the visit (what one more student opening the page costs). With --url it
visits a running deployment instead (scripts/serve_replicas.sh 1 PORT: the proxy's asset cache), counting the CPU of
the processes --pid names (the replicas). Prints a table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import load  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
FACE = "#sagan-image img"


def _cpu(pids: list[int]) -> float:
    seconds = [load.cpu_seconds(pid) for pid in pids]
    return float("nan") if not pids or None in seconds else sum(seconds)


def visit(browser, url: str, wait_s: float, pids: list[int]) -> dict:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1100})
    cpu0 = _cpu(pids)
    page = ctx.new_page()
    sizes, events = [], []
    page.on("requestfinished", lambda r: sizes.append(r.sizes()["responseBodySize"]))
    page.on("request", lambda r: events.append(json.loads(r.post_data or "{}").get("fn_index"))
            if "/queue/join" in r.url else None)
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_function(f"() => {{ const i = document.querySelector('{FACE}'); "
                           "return i && i.complete && i.naturalWidth > 0; }", timeout=120_000)
    drawn = time.perf_counter() - t0
    at_face = (sum(sizes), len(sizes))
    page.mouse.move(300, 300)
    page.wait_for_timeout(max(0.0, wait_s - (time.perf_counter() - t0)) * 1000)
    ctx.close()
    cpu = _cpu(pids)
    return {"face_s": drawn, "mb_at_face": at_face[0] / 1e6, "requests_at_face": at_face[1],
            "mb": sum(sizes) / 1e6, "requests": len(sizes), "events": len(events),
            "server_cpu_s": cpu - cpu0}


def visits(url: str, n: int, wait_s: float, pids: list[int]) -> list[dict]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        rows = [visit(browser, url, wait_s, pids) for _ in range(n)]
        browser.close()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--visits", type=int, default=3)
    p.add_argument("--app-dir", default=str(ROOT))
    p.add_argument("--wait-s", type=float, default=60.0, help="how long each visit stays (events counted until then)")
    p.add_argument("--url", help="a running deployment to visit instead of starting the app")
    p.add_argument("--pid", type=int, action="append", default=[], help="with --url: a server process to count")
    args = p.parse_args()
    if args.url:
        rows = visits(args.url, args.visits, args.wait_s, args.pid)
    else:
        proc, url = load.start_app(Path(args.app_dir), {})
        try:
            time.sleep(5)
            load.wait_until_idle(proc.pid)
            rows = visits(url, args.visits, args.wait_s, [proc.pid])
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"| visit | landing face drawn s | MB / requests by then | MB / requests in {args.wait_s:.0f} s | events sent "
          "| server CPU s |")
    print("|---|---|---|---|---|---|")
    for n, r in enumerate(rows, 1):
        print(f"| {n} | {r['face_s']:.2f} | {r['mb_at_face']:.2f} / {r['requests_at_face']} | {r['mb']:.2f} / "
              f"{r['requests']} | {r['events']} | {r['server_cpu_s']:.2f} |")


if __name__ == "__main__":
    main()
