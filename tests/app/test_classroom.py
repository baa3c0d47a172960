"""A class on one Space: readable API names, links that open a view, the light lane, truncation, the serving defaults."""
import json
import re
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import app
from gan_viz.models.sagan.visualize import z_from_seed
from gan_viz.ui import gradio_patches, links, memory, serving

ASSETS = Path(__file__).resolve().parents[2] / "assets"
HOPPER = str(ASSETS / "grace_hopper.jpg")


def test_api_parameters_are_named_for_what_they_are(client):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    names = {ep: [p["parameter_name"] for p in spec["parameters"]] for ep, spec in api.items()}
    assert names["/classify"] == ["image", "use_whole_image"]
    assert names["/cam"] == ["image", "method", "target", "layer", "use_whole_image"]
    assert names["/gender_flip"] == ["image", "direction", "translator", "use_whole_image"]
    assert names["/translator_attention"] == ["image", "direction", "translator", "use_whole_image"]
    assert names["/inpaint"] == ["image", "mask"]
    assert names["/sagan_generate"] == ["seed", "psi"]
    assert names["/sagan_attention"] == ["seed", "x", "y", "layer", "reading"]
    assert names["/adversarial"] == ["image", "method", "epsilon", "model", "use_whole_image"]


def test_truncation_psi_through_the_api(client):
    plain, _ = client.predict(7, api_name="/sagan_generate")  # psi defaults to 1.0: the model's own distribution
    same, _ = client.predict(7, 1.0, api_name="/sagan_generate")
    half, _ = client.predict(7, 0.5, api_name="/sagan_generate")
    a, b, c = (np.asarray(Image.open(p)) for p in (plain, same, half))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(Exception, match="psi"):
        client.predict(7, 1.5, api_name="/sagan_generate")


def test_psi_zero_is_the_mean_latent_for_every_seed():
    ex = app.CONTEXT.families["sagan"].get()
    assert float(z_from_seed(5, 8, 0.0).abs().max()) == 0.0
    assert np.array_equal(ex.generate(1, 0.0).image, ex.generate(2, 0.0).image)
    assert not np.array_equal(ex.generate(1).image, ex.generate(2).image)


def test_a_batch_of_faces_equals_the_faces_one_by_one():
    ex = app.CONTEXT.families["sagan"].get()
    many = ex.generate_many([3, 11, 27], [1.0, 0.7, 1.0])
    for g, (s, p) in zip(many, [(3, 1.0), (11, 0.7), (27, 1.0)]):
        alone = ex.generate(s, p)
        assert np.abs(g.image.astype(int) - alone.image.astype(int)).max() <= 1


class FakeRequest:
    def __init__(self, **q):
        self.query_params = q


def test_links_read_only_what_they_can_carry():
    q = links.for_tab(FakeRequest(tab="cam", example="0", method="gradcam"), "cam")
    assert links.example_path(q)[0].endswith(".jpg")
    assert links.for_tab(FakeRequest(tab="sagan", seed="3"), "cam") == {}
    assert links.int_param({"seed": "x"}, "seed", 0, 10) is None and links.int_param({"x": "70"}, "x", 0, 63) is None
    assert links.example_path({"example": "999"}) is None
    md = links.markdown("sagan", seed=11, x=20, y=30, psi=None)
    assert "?tab=sagan&seed=11&x=20&y=30" in md and "psi" not in md
    assert links.example_index(HOPPER) == 0 and links.example_index("/nonexistent.png") is None


def _call(fn, *args):
    """Call an event's handler as Gradio does: heavy ones are coroutines (serving.lower_heavy_priority)."""
    import asyncio
    import inspect

    return asyncio.run(fn(*args)) if inspect.iscoroutinefunction(fn) else fn(*args)


def test_a_sagan_link_opens_that_face_with_that_pixel_clicked():
    events = [e for e in app.demo.fns.values() if getattr(e.fn, "__name__", "") == "open_view"]
    sagan_open = next(e for e in events if "sagan" in (e.fn.__wrapped__.__doc__ or ""))
    g, view, overlay, info, link, seed, psi, xy, hover_payload = _call(sagan_open.fn, FakeRequest(tab="sagan", seed="11", x="20",
                                                                                          y="30"))
    assert g.seed == 11 and seed == 11 and xy == (20, 30) and overlay is not None
    assert "seed=11" in link and "x=20" in link and "(20, 30)" in info
    g0, view0, overlay0, info0, _, seed0, _, xy0, _ = _call(sagan_open.fn, FakeRequest())
    judge = app.CONTEXT.families["cam_classifier"].get().top_class
    assert g0.seed == seed0 == app.CONTEXT.families["sagan"].get().ranked_seeds(judge=judge)[0]  # the stated rule
    # the landing face and its caption are in the page: the answer leaves them, and any early click, as they are
    assert view0 == overlay0 == info0 == xy0 == gr.skip()
    g2, view2, overlay2, _, _, seed2, *_ = _call(sagan_open.fn, FakeRequest(tab="sagan", seed="12"))
    assert g2.seed == seed2 == 12 and isinstance(view2, np.ndarray) and overlay2 is None


def test_a_click_on_the_landing_face_before_the_page_s_first_answer_reads_that_face():
    tab = next(e.fn.__wrapped__.__self__ for e in app.demo.fns.values()
               if getattr(e.fn, "__name__", "") == "open_view" and "sagan" in (e.fn.__wrapped__.__doc__ or ""))
    landing = tab.open_view(FakeRequest())[0]
    click = gr.SelectData(None, {"index": [100, 60], "value": None})
    early = tab.on_click(None, tab.default_layer, "query", 5, 0.6, click)  # no stored face yet
    late = tab.on_click(landing, tab.default_layer, "query", 5, 0.6, click)
    untimed = [re.sub(r"[\d.]+ ms", "", answer[1]) for answer in (early, late)]  # the reading names its time
    assert np.array_equal(early[0], late[0]) and untimed[0] == untimed[1] and early[2:] == late[2:]
    other = tab.explorer().generate(landing.seed + 1, 1.0)
    assert not np.array_equal(tab.on_click(other, tab.default_layer, "query", 5, 0.6, click)[0], early[0])
    assert np.array_equal(tab.redraw(None, tab.default_layer, "key", 5, 0.6, early[2])[0],
                          tab.redraw(landing, tab.default_layer, "key", 5, 0.6, early[2])[0])


def test_a_cam_link_sets_the_tab_inputs():
    events = [e for e in app.demo.fns.values() if getattr(e.fn, "__name__", "") == "open_view"]
    cam_open = next(e for e in events if "tab=cam" in (e.fn.__doc__ or ""))
    image, whole, method, target, layer, *outputs = _call(cam_open.fn, FakeRequest(tab="cam", example="0", method="cam",
                                                                            layer="conv5"))
    *results, link = outputs  # computed here, with the link's settings: the new inputs trigger nothing more
    assert len(results) == 9 and "example=0" in link and "method=cam" in link and "layer=conv5" in link
    assert image.endswith("grace_hopper.jpg") and whole is False and method == "cam" and layer == "conv5"
    assert set(results[1]) == {"male", "female"} and "conv5" in results[6]  # gender probabilities, the formula


def test_heavy_events_share_one_budget_and_clicks_have_their_own_lane():
    fns = list(app.demo.fns.values())
    by_name = {f.api_name: f for f in fns if f.api_name}
    for heavy in ("classify", "cam", "gender_flip", "inpaint", "adversarial"):
        assert by_name[heavy].concurrency_id == "heavy"
    assert by_name["sagan_attention"].concurrency_id == "light"
    assert app.demo._queue.max_size == serving.QUEUE_MAX


def test_heavy_work_runs_on_its_own_nicer_threads_and_clicks_stay_on_gradios():
    import asyncio
    import contextvars
    import inspect
    import os
    import threading

    import gradio as gr

    by_name = {f.api_name: f for f in app.demo.fns.values() if f.api_name}
    for heavy in ("classify", "cam", "gender_flip", "inpaint", "adversarial"):  # the app's own events are routed
        assert inspect.iscoroutinefunction(by_name[heavy].fn) and hasattr(by_name[heavy].fn, "__wrapped__")
    assert not hasattr(by_name["sagan_attention"].fn, "__wrapped__") or \
        not inspect.iscoroutinefunction(by_name["sagan_attention"].fn)

    request_id = contextvars.ContextVar("request_id", default=None)

    def heavy(x):
        if x < 0:
            raise gr.Error("x must be positive")
        tid = threading.get_native_id()
        return x, os.getpriority(os.PRIO_PROCESS, tid), threading.current_thread().name, request_id.get()

    with gr.Blocks() as demo:
        b = gr.Button()
        b.click(heavy, gr.Number(), gr.JSON(), **serving.HEAVY)
        b.click(lambda: threading.current_thread().name, None, gr.JSON(), **serving.LIGHT)
    assert serving.lower_heavy_priority(demo) == 1
    heavy_fn, light_fn = [f.fn for f in demo.fns.values()]

    async def call(x):
        request_id.set("r1")  # what Gradio keeps per request travels to the heavy thread
        return await heavy_fn(x)

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    x, nice, thread, rid = asyncio.run(call(3))
    assert (x, thread.startswith("gan-viz-heavy"), rid) == (3, True, "r1")
    assert nice == min(19, base + serving.HEAVY_NICE) and serving.HEAVY_NICE > 0
    with pytest.raises(gr.Error, match="x must be positive"):  # the user's message comes back unchanged
        asyncio.run(call(-1))
    assert not inspect.iscoroutinefunction(light_fn)  # light events are left on Gradio's threads, at normal priority


def test_a_heavy_event_s_images_are_encoded_on_its_heavy_thread_and_arrive_unchanged(monkeypatch):
    import threading

    import gradio as gr

    encoded_on = []
    real_encode = gradio_patches.encode

    def recording_encode(img, format, png_level):
        encoded_on.append(threading.current_thread().name)
        return real_encode(img, format, png_level)

    monkeypatch.setattr(gradio_patches, "encode", recording_encode)
    rng = np.random.default_rng(1)
    a = (rng.random((40, 56, 3)) * 255).astype(np.uint8)
    b = (rng.random((24, 24, 3)) * 255).astype(np.uint8)
    with gr.Blocks() as demo:
        btn = gr.Button()
        outs = [gr.Image(format="png"), gr.JSON(), gr.Image(format="png", type="pil")]
        btn.click(lambda: (a, {"n": 1}, Image.fromarray(b)), None, outs, api_name="heavy", **serving.HEAVY)
        btn.click(lambda: b, None, gr.Image(format="png"), api_name="light", **serving.LIGHT)
    demo.queue(**serving.queue_settings())
    assert serving.lower_heavy_priority(demo) == 1
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        c = Client(url, verbose=False)
        first, meta, second = c.predict(api_name="/heavy")
        heavy_threads = list(encoded_on)
        light = c.predict(api_name="/light")
    finally:
        demo.close()
    assert np.array_equal(np.asarray(Image.open(first).convert("RGB")), a) and meta == {"n": 1}
    assert np.array_equal(np.asarray(Image.open(second).convert("RGB")), b)
    assert len(heavy_threads) == 2 and all(t.startswith("gan-viz-heavy") for t in heavy_threads)
    assert np.array_equal(np.asarray(Image.open(light).convert("RGB")), b)
    assert not encoded_on[-1].startswith("gan-viz-heavy")  # a light event's image: Gradio's own threads


def test_a_jpeg_view_is_encoded_at_the_apps_quality_not_pils_default():
    import io

    view = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1)
    img = Image.fromarray(view)
    got = gradio_patches.encode(img, "jpeg", 1)
    decoded = np.asarray(Image.open(io.BytesIO(got)))
    assert Image.open(io.BytesIO(got)).format == "JPEG" and decoded.shape == view.shape
    for quality, same in ((gradio_patches.JPEG_QUALITY, True), (75, False)):
        with io.BytesIO() as out:
            img.save(out, format="jpeg", quality=quality)
            assert (out.getvalue() == got) is same
    png = gradio_patches.encode(img, "png", 1)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), view)  # results that are not views stay lossless


def test_a_view_shared_by_every_visitor_is_encoded_once_and_a_fresh_result_every_time(monkeypatch):
    import gradio as gr

    from gan_viz.ui import examples

    encoded = []
    real_encode = gradio_patches.encode
    monkeypatch.setattr(gradio_patches, "encode", lambda img, format, png_level: encoded.append(img.size)
                        or real_encode(img, format, png_level))
    rng = np.random.default_rng(2)
    shared = (rng.random((30, 50, 3)) * 255).astype(np.uint8)
    cache = examples.ExampleCache()
    view = lambda: cache.get(("view",), lambda: (shared.copy(), [(shared.copy(), "in a gallery")]))  # noqa: E731
    assert not view()[0].flags.writeable and not view()[1][0][0].flags.writeable  # what is shared cannot change
    with gr.Blocks() as demo:
        btn = gr.Button()
        btn.click(view, None, [gr.Image(format="png"), gr.Gallery(format="png")], api_name="view", **serving.LIGHT)
        btn.click(lambda: shared.copy(), None, gr.Image(format="png"), api_name="fresh", **serving.LIGHT)
    demo.queue(**serving.queue_settings())
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        c = Client(url, verbose=False)
        views = [c.predict(api_name="/view") for _ in range(3)]  # three visitors
        after_views = len(encoded)
        fresh = [c.predict(api_name="/fresh") for _ in range(2)]
    finally:
        demo.close()
    assert after_views == 2 and len(encoded) == 4  # the view's image and gallery item once; each fresh result anew
    for image, gallery in views:
        assert np.array_equal(np.asarray(Image.open(image).convert("RGB")), shared)
        assert np.array_equal(np.asarray(Image.open(gallery[0]["image"]).convert("RGB")), shared)
    assert all(np.array_equal(np.asarray(Image.open(f).convert("RGB")), shared) for f in fresh)


def test_a_shared_view_saved_from_many_threads_at_once_is_right_for_each_and_then_saved_no_more(tmp_path, monkeypatch):
    """Visitors arrive together: the first saves of one read-only array race; each must get a file of that image,
    compressed at SHARED_PNG_LEVEL, and once they are done a later visitor's save is answered from the memo."""
    import io
    import threading

    from gradio import processing_utils

    calls = []
    barrier = threading.Barrier(8)
    real_encode = gradio_patches.encode
    monkeypatch.setattr(gradio_patches, "encode",
                        lambda img, format, level: calls.append(level) or real_encode(img, format, level))

    def save(arr, cache_dir, format="webp"):
        return processing_utils.save_img_array_to_cache(arr, cache_dir, format=format)

    def saved_once(arr):
        return gradio_patches._save_array_once(arr, str(tmp_path), format="png", save=save)

    shared = (np.random.default_rng(3).random((20, 30, 3)) * 255).astype(np.uint8)
    shared.flags.writeable = False
    paths, errors = [], []

    def visitor():
        try:
            barrier.wait()
            paths.append(saved_once(shared))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=visitor) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(paths) == 8
    assert all(np.array_equal(np.asarray(Image.open(p).convert("RGB")), shared) for p in set(paths))
    level6 = io.BytesIO()
    Image.fromarray(shared).save(level6, format="png", compress_level=gradio_patches.SHARED_PNG_LEVEL)
    assert {Path(p).read_bytes() for p in paths} == {level6.getvalue()}
    assert set(calls) == {gradio_patches.SHARED_PNG_LEVEL}
    before = len(calls)
    assert saved_once(shared) in paths and len(calls) == before  # later visitors: no encoding
    writable = shared.copy()
    saved_once(writable)
    assert calls[before:] == [serving.PNG_LEVEL]  # an array that may change is always saved anew, at the app's level


def test_freed_heap_pages_are_handed_back_by_one_trimming_thread():
    import threading

    serving.configure_threads()  # a second call (app.py made the first) starts no second thread
    trimmers = [t for t in threading.enumerate() if t.name == "gan-viz-malloc-trim"]
    assert memory.TRIM_SECONDS > 0 and len(trimmers) == 1 and trimmers[0].daemon


def test_a_new_visitor_s_session_builds_configs_only_for_what_events_change(client):
    from gradio import state_holder

    assert state_holder.SessionState is gradio_patches.LazySessionState  # installed by serving.configure_threads at start-up
    gradio_own = gradio_patches.LazySessionState.__mro__[1]
    eager, lazy = gradio_own(app.demo), gradio_patches.LazySessionState(app.demo)
    assert vars(eager).keys() == vars(lazy).keys() and lazy.config_values == {} and len(eager.config_values) > 200
    some = next(k for k, c in eager.config_values.items() if "props" in c and "value" in c["props"])
    eager._update_value_in_config(some, "changed")
    lazy._update_value_in_config(some, "changed")
    assert lazy.config_values[some] == eager.config_values[some]  # the entry, once made, is Gradio's own
    # Through the app: a visitor's click leaves entries for the components it sent and changed, with their values.
    c = Client(client.src, verbose=False)
    c.predict(3, 20, 30, "default", "query", api_name="/sagan_attention")
    session = app.demo.state_holder[c.session_hash]
    fn = next(f for f in app.demo.fns.values() if f.api_name == "sagan_attention")
    assert {o._id for o in fn.outputs} <= set(session.config_values) <= {b._id for b in fn.inputs + fn.outputs}
    json_out = next(o for o in fn.outputs if type(o).__name__ == "JSON")
    value = session.config_values[json_out._id]["props"]["value"]
    assert (value.model_dump() if hasattr(value, "model_dump") else value)["feature_xy"] == [10, 15]


def test_the_classroom_api_calls_answer_with_the_bundled_models(client, tmp_path):
    out = client.predict(handle_file(HOPPER), "fgsm", 4, "standard", api_name="/adversarial")
    clean, adv, info = out
    c, a = np.asarray(Image.open(clean)).astype(int), np.asarray(Image.open(adv)).astype(int)
    assert c.shape == a.shape and np.abs(c - a).max() == info["linf"] <= 4
    assert set(info["before"]) == {"male", "female"} and isinstance(info["success"], bool)
    with pytest.raises(Exception, match="between 0 and 16"):
        client.predict(handle_file(HOPPER), "fgsm", 40, "standard", api_name="/adversarial")
    assert json.dumps(client.predict(handle_file(HOPPER), api_name="/classify"))


def test_every_photo_tab_opens_on_a_worked_example_computed_once_for_all_visitors():
    from concurrent.futures import ThreadPoolExecutor

    from gan_viz.ui import examples

    examples.CACHE._entries.clear()
    examples.CACHE.computed.clear()
    opens = [e.fn for e in app.demo.fns.values() if getattr(e.fn, "__name__", "") == "open_view"]

    def visitor(_):
        return [f(FakeRequest()) if getattr(f, "__wrapped__", f).__code__.co_argcount else f() for f in opens]

    with ThreadPoolExecutor(20) as pool:  # twenty students open the page at once
        pages = list(pool.map(visitor, range(20)))
    assert examples.CACHE.computed and all(n == 1 for n in examples.CACHE.computed.values())
    photo_tabs = [k for k in examples.CACHE.computed if not str(k[0]).startswith("sagan")]
    assert len(photo_tabs) == 4  # CAM, gender flip, inpainting, adversarial (and SAGAN's first face)
    for outs in pages:
        filled = [o for page in outs for o in (page if isinstance(page, tuple) else [page])]
        assert sum(isinstance(o, np.ndarray) for o in filled) >= 6  # images in every photo tab's outputs


def test_example_thumbnails_carry_captions_not_a_true_false_column():
    from gan_viz.ui import examples

    caps = [examples.caption(p, w) for p, w in examples.example_rows()]
    assert any("found in the photo" in c for c in caps) and any("already a crop" in c for c in caps)
    assert not any(c in ("True", "False", "true", "false") for c in caps)


def test_warm_up_fills_every_worked_example_before_the_first_visitor():
    from gan_viz.ui import examples

    examples.CACHE._entries.clear()
    examples.CACHE.computed.clear()
    app.LAB.previews.cache.clear()
    app.warm_up(app.OPENERS)
    # 4 photo tabs + SAGAN's first face, and the GAN lab's first preset at step 0
    assert len(examples.CACHE.computed) == 5 and len(app.OPENERS) == 6
    assert len(app.LAB.previews.cache) == 1


def test_output_pngs_are_lossless_at_the_fast_level_and_written_where_gradio_looks(tmp_path, client):
    import io

    from gradio import processing_utils

    from gan_viz import imaging

    rng = np.random.default_rng(0)
    pixels = (rng.random((64, 80, 3)) * 255).astype(np.uint8)
    pixels[:32] = 40  # some flat area, so the level changes the bytes
    img = Image.fromarray(pixels)
    data = gradio_patches.encode(img, "png", serving.PNG_LEVEL)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), pixels)
    assert data == imaging.to_png_bytes(pixels, serving.PNG_LEVEL)
    assert serving.PNG_LEVEL != imaging.FAST_PNG or data != imaging.to_png_bytes(pixels, 1)  # fpng's, by default
    img.info["Comment"] = "kept"  # text to keep: PIL writes it, as Gradio's own encoder did
    assert Image.open(io.BytesIO(gradio_patches.encode(img, "png", serving.PNG_LEVEL))).info["Comment"] == "kept"
    palette = img.convert("P")  # not RGB: PIL keeps the mode
    assert Image.open(io.BytesIO(gradio_patches.encode(palette, "png", serving.PNG_LEVEL))).mode == "P"
    # the app's outputs go through it (serving.configure_threads installed it when app.py was imported)
    assert processing_utils.save_pil_to_cache.func is gradio_patches._save_pil_to_cache_atomically
    assert processing_utils.save_pil_to_cache.keywords == {"png_level": serving.PNG_LEVEL}
    path = processing_utils.save_img_array_to_cache(pixels, str(tmp_path), format="png")
    assert Path(path).read_bytes() == data


def test_an_idle_queue_polls_every_few_milliseconds_not_every_one():
    # Gradio's default on Linux (1 ms) kept an app nobody used busy; serving.calm_queue sets the app's interval.
    queue = app.demo._queue
    assert queue.sleep_when_free == serving.QUEUE_POLL_S and 0.005 <= serving.QUEUE_POLL_S <= 0.05
    assert queue.progress_update_sleep_when_free == serving.QUEUE_PROGRESS_S


def test_the_page_and_its_config_go_compressed_to_browsers_that_ask(server):
    import httpx

    for path in ("", "config"):  # the page carries the whole config inline: hundreds of KB of JSON
        plain = httpx.get(server + path, headers={"Accept-Encoding": "identity"})
        for encoding in ("br", "gzip"):
            packed = httpx.get(server + path, headers={"Accept-Encoding": encoding})
            assert plain.status_code == packed.status_code == 200
            assert plain.headers.get("content-encoding") is None and packed.headers["content-encoding"] == encoding
            assert len(packed.content) == len(plain.content) > 100_000  # httpx decoded it: the same page
            assert packed.num_bytes_downloaded < len(plain.content) / 5


def test_only_the_page_its_config_and_api_info_are_added_to_what_gradio_compresses():
    from gradio.brotli_middleware import BrotliMiddleware

    middleware = BrotliMiddleware(app=None)
    assert getattr(BrotliMiddleware._is_compressible_file_type, "gan_viz", False)  # installed once, by app.py
    for path in ("/", "/config", "/gradio_api/info", "/assets/index.js"):
        assert middleware._is_compressible_file_type({"path": path}), path
    for path in ("/gradio_api/queue/data", "/gradio_api/file=/tmp/gradio/ab/image.png", "/gradio_api/upload",
                 "/gradio_api/heartbeat/abc123"):  # event streams, files and uploads stay as Gradio sends them
        assert not middleware._is_compressible_file_type({"path": path}), path


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop has no Windows build")
def test_the_server_runs_on_uvloop_with_the_c_http_parser(client):
    """requirements.txt installs uvloop and httptools, and uvicorn picks them up itself: less CPU per event."""
    server = app.demo.server
    assert server.config.http_protocol_class.__name__ == "HttpToolsProtocol"
    assert server.servers and all(type(s).__module__.startswith("uvloop") for s in server.servers)
