"""The GAN training lab as API clients and classrooms meet it: /gan_lab, drawn sets, many sessions at once."""
from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from PIL import Image

import app
from gan_viz.ui import gan_lab_tab

FIELDS = {"steps", "modes_covered", "modes_total", "high_quality_fraction", "js_divergence", "d_loss", "g_loss",
          "g_grad_norm", "d_max_slope", "sigma", "d_fake", "diverged", "steps_per_second"}


def no_timing(s: dict) -> dict:
    return {k: v for k, v in s.items() if k != "steps_per_second"}


def test_gan_lab_api_returns_the_view_and_every_field_and_repeats_itself(client):
    view, s = client.predict("ring8", "non_saturating", False, 1, 1e-3, 1e-3, 400, 2, api_name="/gan_lab")
    assert FIELDS <= set(s) and s["steps"] == 400 and s["modes_total"] == 8 and not s["diverged"]
    assert np.asarray(Image.open(view)).shape == (360, 360, 3)
    again = client.predict("ring8", "non_saturating", False, 1, 1e-3, 1e-3, 400, 2, api_name="/gan_lab")[1]
    assert no_timing(again) == no_timing(s)
    other_seed = client.predict("ring8", "non_saturating", False, 1, 1e-3, 1e-3, 400, 3, api_name="/gan_lab")[1]
    assert no_timing(other_seed) != no_timing(s)


def test_gan_lab_api_spectral_norm_bounds_the_slope_and_off_it_grows(client):
    on = client.predict("grid25", "hinge", True, 2, 1e-3, 1e-3, 600, 0, api_name="/gan_lab")[1]
    off = client.predict("grid25", "hinge", False, 2, 1e-3, 1e-3, 600, 0, api_name="/gan_lab")[1]
    assert max(h["d_max_slope"] for h in on["history"]) <= 1.05
    assert off["d_max_slope"] > 1.05 and off["d_max_slope"] > off["history"][0]["d_max_slope"]
    assert all(set(s) == {"power_iteration", "exact", "effective"} for s in on["sigma"])


def test_gan_lab_api_minimax_gradient_vanishes_once_d_separates(client):
    s = client.predict("ring8", "minimax", False, 5, 1e-4, 1e-2, 200, 1, api_name="/gan_lab")[1]
    assert s["d_fake"] < 0.05
    assert s["g_grad_norm_by_loss"]["minimax"] <= 0.1 * s["g_grad_norm_by_loss"]["non_saturating"]


@pytest.mark.parametrize("args, message", [
    (("spiral", "hinge", False, 0, 1e-3, 1e-3, 100, 0), "d_steps must be between"),
    (("spiral", "hinge", False, 1, 1e-3, 1e-3, 0, 0), "steps must be between"),
    (("spiral", "hinge", False, 1, 1e-3, 5.0, 100, 0), "lr_d must be between"),
    (("moons", "hinge", False, 1, 1e-3, 1e-3, 100, 0), "unknown distribution"),
    (("drawn", "hinge", False, 1, 1e-3, 1e-3, 100, 0), "preset distribution"),
])
def test_gan_lab_api_bad_input_is_a_clear_message(client, args, message):
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/gan_lab")
    assert client.predict("line", "least_squares", False, 1, 1e-3, 1e-3, 50, 0, api_name="/gan_lab")[1]["steps"] == 50


def test_an_empty_or_tiny_drawing_is_refused():
    with pytest.raises(ValueError, match="canvas is empty"):
        gan_lab_tab.sketch_mask({"background": None, "layers": [], "composite": None})
    layer = np.zeros((300, 300, 4), np.uint8)
    with pytest.raises(ValueError, match="canvas is empty"):
        gan_lab_tab.sketch_mask({"layers": [layer]})
    layer[100:102, 100:103, 3] = 255  # a dot: 6 pixels
    settings = ("drawn", 100, 0, 128, 64, 2, 0.01) + ("non_saturating", False, 1, 1e-3, 1e-3, "adam") * 2
    with pytest.raises(ValueError, match="at least 20"):
        gan_lab_tab._specs(settings, {"layers": [layer]})
    layer[150, 20:280, 3] = 255  # a stroke
    a, b, points, _ = gan_lab_tab._specs(settings, {"layers": [layer]})
    assert a.distribution == "drawn" and len(points.points) > 20


def test_a_classroom_of_sessions_trains_at_once_and_frees_everything():
    sessions = app.LAB.sessions  # the app's own lab (import app built the tab)
    lab = sessions.lab
    spec = gan_lab_tab.RunSpec(steps=20_000)
    ids = [sessions.start(spec, spec, None, ("key", i), play=True) for i in range(10)]
    pairs = [sessions.get(i) for i in ids]

    async def watch(pid, frames):
        async for text in gan_lab_tab_stream(pid):
            if isinstance(text, str):  # a frame (an idle stream also sends no-change heartbeats)
                frames.append(text)
            if len(frames) >= 3:
                break

    streams = [[] for _ in ids]

    async def all_streams():
        await asyncio.gather(*(watch(pid, f) for pid, f in zip(ids, streams)))

    asyncio.run(asyncio.wait_for(all_streams(), timeout=60))
    assert all(len(f) >= 3 for f in streams)
    steps = [p.a.step for p in pairs] + [p.b.step for p in pairs]
    assert min(steps) > 0  # every session trained (how evenly is a rule tested in tests/families/test_gan_lab.py)
    for pid in ids:  # the browser tabs close: gr.State's delete_callback
        sessions.stop(pid)
    assert all(p.a.finished and p.b.finished for p in pairs)
    assert not any(r in lab.runs() for p in pairs for r in (p.a, p.b))


def gan_lab_tab_stream(pid):
    """The tab's stream handler, as Gradio calls it for one session."""
    stream = next(d for d in app.demo.fns.values() if getattr(d.fn, "__name__", "") == "stream").fn
    return stream(pid)


def test_sessions_are_safe_from_many_threads():
    sessions = app.LAB.sessions
    spec = gan_lab_tab.RunSpec(steps=300)
    ids, errors = [], []

    def worker(i):
        try:
            pid = sessions.start(spec, spec, None, ("t", i), play=True)
            ids.append(pid)
            pair = sessions.get(pid)
            assert sessions.lab.wait(pair.a, 60) and sessions.lab.wait(pair.b, 60)
            sessions.stop(pid)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(ids)) == 8 and all(sessions.get(i) is None for i in ids)


def test_view_values_are_stamped_in_the_order_their_snapshots_were_taken():
    import json

    text = json.dumps({"scale": 4000, "runs": []})
    first, second = gan_lab_tab.stamped(text), gan_lab_tab.stamped(text)
    a, b = json.loads(first), json.loads(second)
    assert b["seq"] > a["seq"]  # the page draws only a value newer than the last it drew
    assert {k: v for k, v in a.items() if k != "seq"} == json.loads(text)
    assert json.loads(gan_lab_tab.stamped(text, seq=5))["seq"] == 5
