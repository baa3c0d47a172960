"""The app in a real headless browser (Debian's chromium driven by playwright): a user's path through the CAM tab."""
import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
HOPPER = str(Path(__file__).resolve().parent.parent / "assets" / "grace_hopper.jpg")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def page():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run must install it")
        pytest.skip("Debian chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    import app

    _, url, _ = app.demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1100})
        pg.goto(url, wait_until="domcontentloaded")
        yield pg
        browser.close()
    app.demo.close()


def test_cam_tab_upload_shows_heatmap(page, tmp_path):
    page.get_by_role("tab", name="CAM").click()
    page.locator("#cam-input input[type=file]").set_input_files(HOPPER)
    overlay = page.locator("#cam-overlay img")
    overlay.wait_for(state="visible", timeout=60_000)
    assert overlay.get_attribute("src")
    formula = page.locator("#cam-formula")
    formula.get_by_text("Explaining", exact=False).first.wait_for(timeout=30_000)
    assert "ms" in formula.inner_text()
    page.screenshot(path=str(tmp_path / "cam_tab.png"), full_page=True)
    shot = os.environ.get("GAN_VIZ_SCREENSHOT")
    if shot:  # used to refresh the README's screenshot
        page.screenshot(path=shot, full_page=False)


def test_sagan_tab_click_shows_attention(page):
    page.get_by_role("tab", name="SAGAN attention").click()
    face = page.locator("#sagan-image img")
    face.wait_for(state="visible", timeout=60_000)
    box = face.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4)
    page.locator("#sagan-overlay img").wait_for(state="visible", timeout=30_000)
    info = page.locator("#sagan-info")
    info.get_by_text("gamma", exact=False).first.wait_for(timeout=30_000)
    assert "G was not rerun" in info.inner_text()
