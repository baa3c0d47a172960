"""Refresh the README's screenshots of every tab (headless Debian chromium, the bundled weights).

Run: python scripts/screenshots.py   (writes docs/sagan_tab.webp, gender_tab.webp, inpainting_tab.webp, screenshot.webp
(the CAM tab), adversarial_tab.webp and lab_tab.webp). Each tab is shown as a visitor first sees it: its worked example, on
assets/grace_hopper.jpg (public domain, from matplotlib's sample data); the SAGAN tab with the pointer over the face.
WebP at quality 90: a third of the PNGs' size, which every clone of the repository (a Space's too) downloads.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

import app  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def save(png: bytes, name: str) -> None:
    """A screenshot (PNG bytes) written as docs/<name>.webp."""
    Image.open(io.BytesIO(png)).convert("RGB").save(ROOT / "docs" / f"{name}.webp", "WEBP", quality=90, method=6)


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
            save(page.screenshot(), "sagan_tab")
            for tab, ready, name, full in (("Gender flip", "#flip-result img", "gender_tab", False),
                                           ("Inpainting", "#inpaint-composite img", "inpainting_tab", True),
                                           ("CAM", "#cam-overlay img", "screenshot", False),
                                           ("Adversarial examples", "#adv-gallery img", "adversarial_tab", False)):
                page.get_by_role("tab", name=tab, exact=True).click()
                page.locator(ready).first.wait_for(state="visible", timeout=60_000)
                page.wait_for_timeout(1500)
                # opening a tab may start its event again: wait until no output is pending (Gradio's spinner state)
                page.wait_for_function("() => document.querySelectorAll('.pending, .generating').length === 0",
                                       timeout=60_000)
                page.wait_for_timeout(500)
                save(page.screenshot(full_page=full), name)
            # the GAN lab: the mode-collapse preset trained to the end, A and B side by side with their curves
            page.goto(url + "?tab=lab&preset=mode_collapse", wait_until="domcontentloaded")
            page.locator("#lab-view .gl-view-0").wait_for(state="visible", timeout=60_000)
            page.wait_for_timeout(1500)
            page.locator("#lab-play").click()
            page.wait_for_function("() => (document.querySelector('#lab-view .gl-lab')?.parentElement.dataset.steps"
                                   " || '') === '2000,2000'", timeout=120_000)
            page.wait_for_timeout(500)
            save(page.locator("#lab-view").screenshot(), "lab_tab")
            browser.close()
    finally:
        app.demo.close()


if __name__ == "__main__":
    main()
