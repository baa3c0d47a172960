"""Refresh the README's screenshots of every tab (headless Debian chromium, the bundled weights).

Run: python scripts/screenshots.py   (writes docs/sagan_tab.png, gender_tab.png, inpainting_tab.png, screenshot.png
(the CAM tab), adversarial_tab.png and lab_tab.png). Each tab is shown as a visitor first sees it: its worked example, on
assets/grace_hopper.jpg (public domain, from matplotlib's sample data); the SAGAN tab with the pointer over the face.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

import app  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def main() -> None:
    _, url, _ = app.demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.goto(url, wait_until="domcontentloaded")
            page.locator("#sagan-image img").wait_for(state="visible", timeout=60_000)
            page.wait_for_timeout(6000)  # the worked examples of the other tabs are computed meanwhile
            canvas = page.locator("#sagan-hover canvas")
            box = canvas.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.38, box["y"] + box["height"] * 0.42)
            page.wait_for_timeout(500)
            page.screenshot(path=str(ROOT / "docs" / "sagan_tab.png"))
            for tab, ready, name, full in (("Gender flip", "#flip-result img", "gender_tab.png", False),
                                           ("Inpainting", "#inpaint-composite img", "inpainting_tab.png", True),
                                           ("CAM", "#cam-overlay img", "screenshot.png", False),
                                           ("Adversarial examples", "#adv-gallery img", "adversarial_tab.png", False)):
                page.get_by_role("tab", name=tab, exact=True).click()
                page.locator(ready).first.wait_for(state="visible", timeout=60_000)
                page.wait_for_timeout(1500)
                # opening a tab may start its event again: wait until no output is pending (Gradio's spinner state)
                page.wait_for_function("() => document.querySelectorAll('.pending, .generating').length === 0",
                                       timeout=60_000)
                page.wait_for_timeout(500)
                page.screenshot(path=str(ROOT / "docs" / name), full_page=full)
            # the GAN lab: the mode-collapse preset trained to the end, A and B side by side with their curves
            page.goto(url + "?tab=lab&preset=mode_collapse", wait_until="domcontentloaded")
            page.locator("#lab-view .gl-view-0").wait_for(state="visible", timeout=60_000)
            page.wait_for_timeout(1500)
            page.locator("#lab-play").click()
            page.wait_for_function("() => (document.querySelector('#lab-view .gl-lab')?.parentElement.dataset.steps"
                                   " || '') === '2000,2000'", timeout=120_000)
            page.wait_for_timeout(500)
            page.locator("#lab-view").screenshot(path=str(ROOT / "docs" / "lab_tab.png"))
            browser.close()
    finally:
        app.demo.close()


if __name__ == "__main__":
    main()
