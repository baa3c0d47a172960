"""Attention under the pointer, measured in headless Chromium: move-to-drawn time, requests per move, first overlay.

Run: python benchmarks/hover.py [--moves 200] [--with-load]
Starts the app on a free local port, opens the SAGAN tab in Debian's chromium (playwright), and:
- first overlay: seconds from clicking Generate to the page holding the new face's maps and a drawn map;
- per pointer move: the handler's own time from the event to the new map drawn on the canvas
  (synchronously, performance.now()); a map drawn inside the handler is on screen at the next frame;
- requests sent to the server during the moves (expected: none).
--with-load runs benchmarks/load.py's classroom mix (20 users) against the same app meanwhile.
Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402

import load  # noqa: E402

FIND = "[document.querySelector('#sagan-hover'), ...document.querySelectorAll('#sagan-hover *')].find(e => e && e.ganViz)"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--moves", type=int, default=200)
    p.add_argument("--with-load", action="store_true")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    proc, url = load.start_app(ROOT, {})
    loader = None
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_function(f"(() => {{ const e = {FIND}; return e && e.ganViz.ready(); }})()", timeout=120_000)
            if args.with_load:
                mask = load.make_mask(Path("/tmp"))
                loader = threading.Thread(target=load.run_round, args=(url, 20, 10, 0, mask), daemon=True)
                loader.start()
                time.sleep(2)
            # First overlay after a new face: Generate, then wait for the page to hold that face's maps.
            draws0 = page.evaluate(f"{FIND}.ganViz.stats.draws")
            # When the new face appears in the page (the Image output gets its new picture, loaded).
            page.evaluate("""() => { window.__faceAt = null;
                const img = document.querySelector('#sagan-image img');
                new MutationObserver(() => { const i = document.querySelector('#sagan-image img');
                    if (i) i.addEventListener('load', () => { window.__faceAt = performance.now(); }, { once: true }); })
                    .observe(document.querySelector('#sagan-image'), { subtree: true, attributes: true, childList: true }); }""")
            page.locator("#sagan-seed input").fill("21")
            t0 = time.perf_counter()
            page.get_by_role("button", name="Generate").click()
            page.wait_for_function(f"{FIND}.ganViz.stats.draws > {draws0}", timeout=120_000)
            first = time.perf_counter() - t0
            decode_ms = page.evaluate(f"{FIND}.ganViz.stats.decodeMs")
            page.wait_for_function("window.__faceAt !== null", timeout=30_000)
            after_face = page.evaluate(f"{FIND}.ganViz.stats.loadedAt - window.__faceAt")
            box = page.locator("#sagan-hover canvas").bounding_box()
            page.wait_for_timeout(1500)  # the new face's images finish loading
            requests = []  # events sent to the server (file fetches of images already on the page are not)
            page.on("request", lambda r: requests.append(r.url) if "/gradio_api/" in r.url and "/file=" not in r.url else None)
            page.evaluate(f"{FIND}.ganViz.stats.times.length = 0")
            for k in range(args.moves):
                page.mouse.move(box["x"] + 3 + (k * 37) % int(box["width"] - 6), box["y"] + 3 + (k * 53) % int(box["height"] - 6))
            times = np.array(page.evaluate(f"{FIND}.ganViz.stats.times"))
            browser.close()
        print("| measure | value |\n|---|---|")
        print(f"| classroom load meanwhile | {'20 users x 10 requests' if args.with_load else 'none'} |")
        print(f"| first overlay after the new face appears in the page (one user) | {after_face / 1000:.3f} s |")
        print(f"| first overlay after the click on Generate (one user) | {first:.2f} s |")
        print(f"| of which in the page: JSON parse + PNG decoding | {decode_ms:.0f} ms |")
        print(f"| pointer moves measured | {len(times)} of {args.moves} |")
        print(f"| move -> map drawn, p50 | {np.median(times):.2f} ms |")
        print(f"| move -> map drawn, p95 | {np.percentile(times, 95):.2f} ms |")
        print(f"| moves slower than one 60 Hz frame (16.7 ms) | {int((times > 16.7).sum())} |")
        print(f"| events sent to the server during the moves | {len(requests)} |")
    finally:
        if loader:
            loader.join(timeout=120)
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
