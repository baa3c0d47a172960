"""Refresh the README's screenshots of the gender-flip and inpainting tabs (headless Debian chromium, the bundled weights).

Run: python scripts/screenshots.py   (writes docs/gender_tab.png and docs/inpainting_tab.png)
The photo is assets/grace_hopper.jpg (public domain, from matplotlib's sample data).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

import app  # noqa: E402

HOPPER = str(ROOT / "assets" / "grace_hopper.jpg")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def main() -> None:
    _, url, _ = app.demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_role("tab", name="Gender flip").click()
            page.locator("#flip-input input[type=file]").set_input_files(HOPPER)
            page.locator("#flip-info").get_by_text("cycle L1", exact=False).first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ROOT / "docs" / "gender_tab.png"))
            page.get_by_role("tab", name="Inpainting").click()
            page.locator("#inpaint-editor .pixi-target canvas").first.wait_for(state="visible", timeout=30_000)
            page.wait_for_timeout(1000)
            page.locator("#inpaint-input input[type=file]").set_input_files(HOPPER)
            page.wait_for_timeout(4000)
            page.get_by_role("button", name="Apply preset").click()
            page.wait_for_timeout(2000)
            page.get_by_role("button", name="Inpaint", exact=True).click()
            page.locator("#inpaint-info").get_by_text("PSNR", exact=False).first.wait_for(timeout=60_000)
            page.wait_for_timeout(2000)
            page.screenshot(path=str(ROOT / "docs" / "inpainting_tab.png"), full_page=True)
            browser.close()
    finally:
        app.demo.close()


if __name__ == "__main__":
    main()
