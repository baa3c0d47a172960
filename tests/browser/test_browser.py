"""The app in a real headless browser (Debian's chromium driven by playwright): a user's path through the CAM tab."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
HOPPER = str(Path(__file__).resolve().parents[2] / "assets" / "grace_hopper.jpg")
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
    # the redraws take their inputs as the browser sends them (serving.LIGHT_RAW): a radio and a slider
    page.get_by_label("who looks at this pixel (column i of beta)").check()
    info.get_by_text("who looks at this pixel", exact=False).first.wait_for(timeout=30_000)
    topk = page.locator("#sagan-topk input[type=range]")
    topk.fill("2")
    topk.dispatch_event("change")
    page.wait_for_function("() => document.querySelector('#sagan-info').innerText.includes('Top 2:')", timeout=30_000)


def test_gender_tab_upload_shows_result_and_cycle(page):
    page.get_by_role("tab", name="Gender flip").click()
    page.locator("#flip-input input[type=file]").set_input_files(HOPPER)
    page.locator("#flip-result img").wait_for(state="visible", timeout=60_000)
    info = page.locator("#flip-info")
    info.get_by_text("cycle L1", exact=False).first.wait_for(timeout=30_000)
    assert "p(female)" in info.inner_text()
    assert page.locator("#flip-cycle img").count() >= 7
    # The result and the cycle's panels are the server's own PNGs (fpng's): Chromium decodes every one of them.
    page.wait_for_function("() => [...document.querySelectorAll('#flip-result img, #flip-cycle img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)", timeout=30_000)
    src = page.locator("#flip-result img").first.get_attribute("src")
    assert src and ".png" in src


def test_inpainting_tab_draw_a_hole_and_fill_it(page):
    page.get_by_role("tab", name="Inpainting").click()
    canvas = page.locator("#inpaint-editor .pixi-target canvas").first
    canvas.wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(1000)  # an upload right after the tab switch was once lost (NOTES-gradio-hub.md)
    page.locator("#inpaint-input input[type=file]").set_input_files(HOPPER)
    page.wait_for_timeout(4000)  # face detection, then the crop becomes the editor's background
    brush = page.locator("#inpaint-editor button[aria-label='Brush']")
    if brush.count():
        brush.first.click()
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 40, cy)
    page.mouse.down()
    for i in range(20):
        page.mouse.move(cx - 40 + 4 * i, cy + (i % 5))
    page.mouse.up()
    page.get_by_role("button", name="Inpaint", exact=True).click()
    page.locator("#inpaint-composite img").wait_for(state="visible", timeout=60_000)
    info = page.locator("#inpaint-info")
    info.get_by_text("PSNR", exact=False).first.wait_for(timeout=30_000)
    text = info.inner_text()
    assert "Hole" in text and "Telea" in text


def test_inpainting_preset_becomes_the_mask(page):
    page.get_by_role("tab", name="Inpainting").click()
    page.locator("#inpaint-editor .pixi-target canvas").first.wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(1000)
    page.locator("#inpaint-input input[type=file]").set_input_files(HOPPER)
    page.wait_for_timeout(4000)
    page.get_by_role("button", name="Apply preset").click()  # default preset: free-form 30-40%
    page.wait_for_timeout(2000)
    page.get_by_role("button", name="Inpaint", exact=True).click()
    info = page.locator("#inpaint-info")
    page.wait_for_function("document.querySelector('#inpaint-info').innerText.match(/Hole: 3\\d\\.\\d%/)", timeout=60_000)
    assert "Hole: 3" in info.inner_text()


def test_a_link_opens_the_sagan_tab_with_that_face_and_pixel(page):
    url = page.url.split("?")[0]
    page.goto(url + "?tab=sagan&seed=11&x=20&y=30", wait_until="domcontentloaded")
    info = page.locator("#sagan-info")
    info.get_by_text("Clicked pixel (20, 30)", exact=False).first.wait_for(timeout=60_000)
    page.locator("#sagan-overlay img").wait_for(state="visible", timeout=30_000)
    assert "seed=11" in page.locator("#sagan-link").inner_text()
    assert page.locator("#sagan-seed input").input_value() == "11"


def test_a_link_opens_the_cam_tab_on_an_example_and_shows_its_own_link(page):
    url = page.url.split("?")[0]
    page.goto(url + "?tab=cam&example=0&method=gradcam&layer=conv4", wait_until="domcontentloaded")
    page.locator("#cam-overlay img").wait_for(state="visible", timeout=60_000)
    page.locator("#cam-link").get_by_text("example=0", exact=False).first.wait_for(timeout=30_000)
    assert "layer=conv4" in page.locator("#cam-link").inner_text()
    assert "conv4" in page.locator("#cam-formula").inner_text()


def test_adversarial_tab_attack_shows_both_heatmaps(page):
    page.goto(page.url.split("?")[0], wait_until="domcontentloaded")
    page.get_by_role("tab", name="Adversarial examples").click()
    page.locator("#adv-input input[type=file]").set_input_files(HOPPER)
    page.locator("#adv-info").get_by_text("FGSM", exact=False).first.wait_for(timeout=60_000)
    assert page.locator("#adv-gallery img").count() >= 5
    assert "largest pixel change" in page.locator("#adv-info").inner_text()


FIND_HOVER = """(id) => [document.querySelector(id), ...document.querySelectorAll(id + ' *')].find(e => e && e.ganViz)"""


def _hover_ready(page, elem_id):
    page.wait_for_function(f"(() => {{ const e = ({FIND_HOVER})('{elem_id}'); return e && e.ganViz.ready(); }})()",
                           timeout=60_000)


def test_hover_draws_beta_in_the_page_with_no_request_and_matches_the_api(page):
    from gradio_client import Client

    base = page.url.split("?")[0]
    page.goto(base + "?tab=sagan&seed=11", wait_until="domcontentloaded")
    _hover_ready(page, "#sagan-hover")
    canvas = page.locator("#sagan-hover canvas")
    box = canvas.bounding_box()
    page.wait_for_timeout(1500)  # let the page finish fetching the images of its first load
    requests = []  # events sent to the server (a hover that asked the server would join the queue)
    page.on("request", lambda r: requests.append(r.url) if "/gradio_api/" in r.url and "/file=" not in r.url else None)
    before = page.evaluate(f"({FIND_HOVER})('#sagan-hover').ganViz.stats.draws")
    for k in range(50):
        page.mouse.move(box["x"] + 5 + (k * 37) % int(box["width"] - 10), box["y"] + 5 + (k * 53) % int(box["height"] - 10))
    after = page.evaluate(f"({FIND_HOVER})('#sagan-hover').ganViz.stats.draws")
    assert after - before >= 45 and requests == []  # drawn in the page; not one request to the server
    assert "Top 5" in page.locator("#sagan-hover .gv-info").inner_text()
    client = Client(base, verbose=False)
    for x, y in ((5, 5), (20, 30), (50, 40), (63, 0)):
        for reading in ("query", "key"):
            page_map = np.array(page.evaluate(f"({FIND_HOVER})('#sagan-hover').ganViz.mapAt({x}, {y}, '{reading}')"))
            _, info = client.predict(11, x, y, "default", reading, api_name="/sagan_attention")
            server = np.array(info["map"]).ravel()
            assert np.abs(page_map - server).max() <= 0.01 * server.max(), (x, y, reading)


@pytest.mark.parametrize("tab, output", [("Inpainting", "#inpaint-composite img"), ("Gender flip", "#flip-result img"),
                                         ("CAM", "#cam-overlay img"), ("Adversarial examples", "#adv-gallery img")])
def test_each_tab_opens_filled_with_captioned_examples_and_no_plumbing_column(page, tab, output):
    if "?" in page.url or not page.locator("#sagan-hover").count():
        page.goto(page.url.split("?")[0], wait_until="domcontentloaded")
        page.locator("#sagan-image img").wait_for(state="visible", timeout=60_000)  # the page's first load is done
        page.wait_for_timeout(3000)  # the worked examples are computed (once) while the visitor looks at SAGAN
    joins = []  # events the tab's opening sends (a result computed on the click would join the queue)

    def on_request(r):
        if "/queue/join" in r.url:
            joins.append(r.url)
    page.on("request", on_request)
    page.get_by_role("tab", name=tab, exact=True).click()
    # Filled from the examples computed at start-up, with no event of its own; a bound in seconds here (1 s before)
    # failed beside a training run on a busy machine
    page.locator(output).first.wait_for(state="visible", timeout=30_000)
    page.remove_listener("request", on_request)  # the page is shared with the next tests
    assert joins == [], joins
    panel = page.locator("[role=tabpanel]:visible")
    assert panel.get_by_text("already a crop", exact=False).count() or panel.locator(".gv-examples").count()
    assert panel.get_by_role("columnheader", name="Use the whole image").count() == 0
    assert panel.get_by_text("Lesson", exact=False).count() >= 1


def test_hover_on_the_real_face_shown_to_d(page):
    page.goto(page.url.split("?")[0], wait_until="domcontentloaded")
    page.get_by_text("The discriminator's attention on a real face").click()
    page.locator("#sagan-d-input input[type=file]").set_input_files(HOPPER)
    _hover_ready(page, "#sagan-d-hover")
    page.locator("#sagan-d-hover canvas").scroll_into_view_if_needed()
    box = page.locator("#sagan-d-hover canvas").bounding_box()
    before = page.evaluate(f"({FIND_HOVER})('#sagan-d-hover').ganViz.stats.draws")
    for k in range(10):
        page.mouse.move(box["x"] + 10 + 0.08 * box["width"] * k, box["y"] + 10 + 0.07 * box["height"] * k)
    assert page.evaluate(f"({FIND_HOVER})('#sagan-d-hover').ganViz.stats.draws") - before >= 8
    assert "D.attn" in page.locator("#sagan-d-hover .gv-info").inner_text()
    # a click on D's view is answered on the server (serving.LIGHT_RAW), with D's own layer and gamma
    view = page.locator("#sagan-d-view img")
    view.scroll_into_view_if_needed()
    vb = view.bounding_box()
    page.mouse.click(vb["x"] + vb["width"] * 0.4, vb["y"] + vb["height"] * 0.4)
    page.locator("#sagan-d-info").get_by_text("gamma", exact=False).first.wait_for(timeout=30_000)
    assert "D.attn" in page.locator("#sagan-d-info").inner_text()


def test_controls_no_other_test_drives(page):
    """Example thumbnails, the hover's reading menu, the flip tab's attention panels, the adversarial epsilon plot."""
    page.goto(page.url.split("?")[0], wait_until="domcontentloaded")
    _hover_ready(page, "#sagan-hover")
    page.locator("#sagan-hover .gv-reading").select_option("key")  # the page redraws for the key reading
    page.locator("#sagan-hover .gv-info").get_by_text("who looks at this pixel", exact=False).wait_for(timeout=5_000)
    page.get_by_role("tab", name="Gender flip", exact=True).click()
    page.locator("#flip-attention img").first.wait_for(state="visible", timeout=30_000)
    assert "rho" in page.locator("#flip-attention-info").inner_text()
    page.get_by_role("tab", name="CAM", exact=True).click()
    before = page.locator("#cam-formula").inner_text()
    page.locator("[role=tabpanel]:visible .gv-examples button.thumbnail-item").nth(1).click()  # a generated face (a crop)
    page.wait_for_function("(b) => { const e = document.querySelector('#cam-formula'); return e && e.innerText !== b"
                           " && e.innerText.includes('whole image'); }", arg=before, timeout=60_000)
    page.get_by_role("tab", name="Adversarial examples", exact=True).click()
    page.get_by_role("button", name="Plot p(clean answer) against epsilon", exact=False).click()
    page.locator("[role=tabpanel]:visible .js-plotly-plot, [role=tabpanel]:visible canvas, "
                 "[role=tabpanel]:visible img[src*='data:image'], [role=tabpanel]:visible svg").first.wait_for(
        timeout=60_000)


def _lab_state(page):
    return page.evaluate("() => { const e = document.querySelector('#lab-view .gl-lab')?.parentElement; "
                         "const c = document.querySelector('#lab-view .gl-view-0'); "
                         "return { steps: e?.dataset.steps || '', frames: Number(e?.dataset.frames || 0), "
                         "pixels: c ? c.toDataURL() : '' }; }")


def test_lab_play_on_a_preset_trains_and_the_view_changes(page, tmp_path):
    page.goto(page.url.split("?")[0] + "?tab=lab&preset=vanishing_gradient", wait_until="domcontentloaded")
    page.locator("#lab-view .gl-view-0").wait_for(state="visible", timeout=30_000)
    page.wait_for_function("() => (document.querySelector('#lab-view .gl-lab')?.parentElement.dataset.steps || '')"
                           " === '0,0'", timeout=30_000)  # the preset's step 0, drawn before anything trains
    assert "minimax" in page.locator("#lab-preset-text").inner_text()
    before = _lab_state(page)
    page.locator("#lab-play").click()
    page.wait_for_function("() => { const s = document.querySelector('#lab-view .gl-lab')?.parentElement.dataset.steps"
                           " || '0,0'; return s.split(',').every((x) => Number(x) >= 300); }", timeout=60_000)
    after = _lab_state(page)
    assert after["frames"] > before["frames"] + 2  # streamed: several frames, not one answer at the end
    assert after["pixels"] != before["pixels"]
    page.locator("#lab-pause").click()
    page.wait_for_timeout(500)
    paused = _lab_state(page)["steps"]
    page.wait_for_timeout(800)
    assert _lab_state(page)["steps"] == paused  # paused: no more steps
    page.locator("#lab-step-g").click()  # one G step (after its D step) while paused
    page.wait_for_function("(s) => (document.querySelector('#lab-view .gl-lab')?.parentElement.dataset.steps || '')"
                           " !== s", arg=paused, timeout=30_000)
    shot = os.environ.get("GAN_VIZ_LAB_SCREENSHOT")
    if shot:  # the README's screenshot of the lab
        page.locator("#lab-view").screenshot(path=shot)


def test_lab_runs_end_soon_after_their_browser_tab_closes(page):
    import time

    import app

    lab = app.LAB.lab.scheduler
    other = page.context.browser.new_page()
    other.goto(page.url.split("?")[0] + "?tab=lab&preset=mode_collapse", wait_until="domcontentloaded")
    other.locator("#lab-view .gl-view-0").wait_for(state="visible", timeout=30_000)
    before = {r.id for r in lab.runs()}  # other tests' runs (their page is still open) are not this page's
    other.wait_for_function("() => (document.querySelector('#lab-view .gl-lab')?.parentElement.dataset.steps || '')"
                            " === '0,0'", timeout=30_000)  # the preset has set the controls: now change one
    box = other.locator("#lab-steps input[type=number]")
    box.fill("20000")  # long enough not to end by itself during the test
    box.press("Enter")
    other.wait_for_timeout(500)
    other.locator("#lab-play").click()
    other.wait_for_function("() => (document.querySelector('#lab-view .gl-lab')?.parentElement.dataset.steps || '0,0')"
                            " !== '0,0'", timeout=60_000)
    mine = [r for r in lab.runs() if not r.finished and r.id not in before]
    assert len(mine) == 2 and all(r.spec.steps == 20_000 for r in mine)
    other.locator("#lab-pause").click()  # a paused pair never ends by itself: only the closed page can end it
    other.wait_for_timeout(500)
    assert all(r.status == "paused" for r in mine)
    other.close()
    t0 = time.monotonic()
    while any(not r.finished for r in mine) and time.monotonic() - t0 < lab.idle_seconds + 30:
        time.sleep(1)
    assert all(r.status == "stopped" and "nobody watched" in r.message for r in mine), [(r.status, r.step, r.message, round(time.monotonic() - t0)) for r in mine]


def _lab_steps(page):
    return page.evaluate("() => document.querySelector('#lab-view .gl-lab')?.parentElement.dataset.steps || ''")


def test_lab_preset_menu_single_steps_and_reset(page):
    page.goto(page.url.split("?")[0] + "?tab=lab", wait_until="domcontentloaded")
    page.wait_for_function("() => (document.querySelector('#lab-view .gl-lab')?.parentElement.dataset.steps || '')"
                           " === '0,0'", timeout=30_000)
    page.locator("#lab-preset input").click()
    page.get_by_role("option", name="What spectral normalisation does to D's slope").click()
    page.locator("#lab-preset-text").get_by_text("spectral norm on", exact=False).first.wait_for(timeout=30_000)
    page.locator("#lab-view .gl-info-1").get_by_text("spectral norm on", exact=False).wait_for(timeout=30_000)
    frames = _lab_state(page)["frames"]
    page.locator("#lab-step-d").click()  # one D step: a new frame, and no G step yet
    page.wait_for_function("(f) => Number(document.querySelector('#lab-view .gl-lab')?.parentElement.dataset.frames)"
                           " > f", arg=frames, timeout=30_000)
    assert _lab_steps(page) == "0,0"
    page.locator("#lab-step-g").click()
    page.wait_for_function("() => (document.querySelector('#lab-view .gl-lab')?.parentElement.dataset.steps || '')"
                           " === '1,1'", timeout=30_000)
    page.locator("#lab-reset").click()
    page.wait_for_function("() => (document.querySelector('#lab-view .gl-lab')?.parentElement.dataset.steps || '')"
                           " === '0,0'", timeout=30_000)
    page.wait_for_timeout(2500)  # a frame the stream took just before Reset must not land after it (it did, in CI)
    assert _lab_steps(page) == "0,0"


def test_lab_a_drawn_set_trains_where_it_was_drawn(page):
    page.goto(page.url.split("?")[0] + "?tab=lab", wait_until="domcontentloaded")
    page.wait_for_function("() => (document.querySelector('#lab-view .gl-lab')?.parentElement.dataset.steps || '')"
                           " === '0,0'", timeout=30_000)
    page.get_by_text("Draw your own point set", exact=False).click()
    canvas = page.locator("#lab-sketch .pixi-target canvas").first
    canvas.wait_for(state="visible", timeout=30_000)
    canvas.scroll_into_view_if_needed()  # page.mouse works in the viewport: strokes below it are lost
    page.wait_for_timeout(1000)
    page.locator("#lab-sketch button[aria-label='Brush']").first.click()
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # the 300 px drawing area sits in the middle
    for row in range(3):  # three strokes in the upper left quarter of the drawing area
        page.mouse.move(cx - 120, cy - 110 + 20 * row)
        page.mouse.down()
        for i in range(25):
            page.mouse.move(cx - 120 + 4 * i, cy - 110 + 20 * row + (i % 5), steps=2)
        page.mouse.up()
    page.locator("#lab-dist input").click()
    page.get_by_role("option", name="my drawing (below)").click()
    page.locator("#lab-play").click()
    page.wait_for_function("() => Number((document.querySelector('#lab-view .gl-lab')?.parentElement.dataset.steps"
                           " || '0').split(',')[0]) > 0", timeout=60_000)
    assert page.locator(".toast-body").count() == 0
    mx, my = map(float, page.evaluate("() => document.querySelector('#lab-view .gl-lab').parentElement"
                                      ".dataset.realMean").split(","))
    assert mx < -0.5 and my > 0.5, (mx, my)  # the plane's y points up: the upper left of the canvas is x < 0, y > 0
    page.locator("#lab-pause").click()


def test_gender_tab_calibrated_strength_can_be_unticked(page):
    page.goto(page.url.split("?")[0], wait_until="domcontentloaded")
    page.get_by_role("tab", name="Gender flip", exact=True).click()
    info = page.locator("#flip-info")
    info.get_by_text("strength s", exact=False).first.wait_for(timeout=60_000)
    before = info.inner_text()
    assert "1.3" in before or "1.4" in before  # the calibrated strength of the worked example's direction
    page.get_by_label("Calibrated strength", exact=False).uncheck()
    # the face's row now says strength 1 (the slider's value) where it said the calibrated one
    page.wait_for_function("() => /\t1\t0\.\d/.test(document.querySelector('#flip-info').innerText)", timeout=60_000)
    # then the slider itself: moved to 2 and let go, the flip is redone at that strength
    rng = page.locator("#flip-strength input[type=range]")
    rng.fill("2")
    rng.dispatch_event("pointerup")
    page.wait_for_function("() => /\t2\t0\.\d/.test(document.querySelector('#flip-info').innerText)", timeout=60_000)


def test_a_visitors_arrival_costs_no_heavy_event(page):
    """A visitor who only opens the page and moves the pointer takes no heavy-lane slot: every tab opens on results
    computed once for everyone, and values the page sets as it opens trigger nothing."""
    import json

    import app

    joined = []

    def on_request(request):
        if "/queue/join" in request.url:
            joined.append(json.loads(request.post_data or "{}").get("fn_index"))

    visitor = page.context.browser.new_page(viewport={"width": 1400, "height": 1100})
    visitor.on("request", on_request)
    visitor.goto(page.url.split("?")[0], wait_until="domcontentloaded")
    visitor.locator("#sagan-image img").wait_for(state="visible", timeout=60_000)
    for x, y in ((300, 300), (700, 500), (1000, 800)):
        visitor.mouse.move(x, y)
        visitor.wait_for_timeout(1500)
    visitor.wait_for_timeout(3000)
    visitor.close()
    assert joined, "the page sent no event at all: the test did not see the page open"
    lanes = {i: app.demo.fns[i].concurrency_id for i in joined}
    heavy = {i: getattr(app.demo.fns[i].fn, "__name__", "?") for i, lane in lanes.items() if lane == "heavy"}
    assert not heavy, f"heavy events on arrival: {heavy}"


def test_the_landing_face_is_drawn_before_any_event_answers(page):
    """The landing face is part of the page itself: with every event held back (none may join the queue), the SAGAN
    tab's face is still drawn, so a visitor sees it as soon as Gradio renders the page."""
    held = []
    visitor = page.context.browser.new_page(viewport={"width": 1400, "height": 1100})
    visitor.route("**/queue/join**", lambda route: (held.append(route.request.url), route.abort()))
    visitor.goto(page.url.split("?")[0], wait_until="domcontentloaded")
    visitor.wait_for_function("() => { const i = document.querySelector('#sagan-image img');"
                              " return i && i.complete && i.naturalWidth > 0; }", timeout=60_000)
    visitor.wait_for_timeout(500)
    visitor.close()
    assert held, "the page sent no event: the test did not hold anything back"


@pytest.mark.parametrize("tab, link, result", [("CAM", "#cam-link", "#cam-overlay img"),
                                               ("Gender flip", "#flip-link", "#flip-result img")])
def test_picking_an_example_computes_its_view_and_its_link(page, tab, link, result):
    """A thumbnail sets the photo programmatically, which no .input listens to: the pick itself must compute."""
    page.goto(page.url.split("?")[0], wait_until="domcontentloaded")
    page.locator("#sagan-image img").wait_for(state="visible", timeout=60_000)
    page.get_by_role("tab", name=tab, exact=True).click()
    panel = page.locator("[role=tabpanel]:visible")
    panel.locator(result).first.wait_for(state="visible", timeout=60_000)
    before = panel.locator(result).first.get_attribute("src")
    panel.locator(".gv-examples img").nth(1).click()
    page.locator(link).get_by_text("example=1", exact=False).first.wait_for(timeout=60_000)
    page.wait_for_function("([sel, old]) => { const e = document.querySelector(sel); return e && e.src !== old; }",
                           arg=[result, before], timeout=60_000)


def test_gender_tab_translator_choice_shows_u_gat_it_s_own_attention(page):
    """With U-GAT-IT offered (its bar passed, or GAN_VIZ_OFFER_UGATIT=1), picking it on the page shows its own
    attention panels and says it was trained in the loop."""
    import gradio as gr

    import app
    from gan_viz.ui.gender_tab import GenderTab

    fams = app.CONTEXT.families
    with gr.Blocks() as demo:
        for event in GenderTab(fams["cyclegan"], fams["cam_classifier"], fams["ugatit"]).build():
            demo.load(**event)
    demo.queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        pg = page.context.browser.new_page(viewport={"width": 1400, "height": 1100})
        pg.goto(url, wait_until="domcontentloaded")
        info = pg.locator("#flip-attention-info")
        info.get_by_text("probe", exact=False).first.wait_for(timeout=90_000)  # it opens on the CycleGAN
        pg.locator("#flip-translator").get_by_text("U-GAT-IT", exact=False).click()
        info.get_by_text("in the loop", exact=False).first.wait_for(timeout=90_000)
        shown = info.inner_text()
        assert "AdaLIN" in shown
        # the bundled weights' map was also taught to mark the change: the page says so, with the loss's weight
        weight = fams["ugatit"].get().focus_weight
        assert weight > 0 and f"focus loss (weight {weight:g})" in shown and "partly taught" in shown
        pg.wait_for_function("() => document.querySelectorAll('#flip-attention img').length === 10", timeout=30_000)
        pg.close()
    finally:
        demo.close()


def test_the_default_app_shows_the_translator_choice_only_when_u_gat_it_is_offered(page):
    import app

    page.get_by_role("tab", name="Gender flip").click()
    choice = page.locator("#flip-translator")
    if app.CONTEXT.families["ugatit"].offered:  # its measured verdict passes (models/ugatit/gate.py)
        choice.wait_for(state="visible", timeout=15_000)
        assert "U-GAT-IT" in choice.inner_text()
    else:
        assert not choice.is_visible()
