"""The GAN training lab tab: two 2D GANs, A and B, trained live side by side; losses and stabilisers are switches.

The family (gan_viz/models/gan2d) trains every visitor's runs on one scheduler thread; this tab
only starts and steers a visitor's pair of runs and streams what they look like. A stream is an
async generator that waits on the scheduler and sends a compact JSON several times a second;
the page draws it (gan_lab.js), so the server renders no picture per frame.
"""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np

from gan_viz import imaging
from gan_viz.models.gan2d import data, engine
from gan_viz.models.gan2d.engine import LIMITS, OPTIMIZERS, RunSpec
from gan_viz.models.gan2d.losses import LOSSES
from gan_viz.models.gan2d.presets import PRESETS
from gan_viz.models.gan2d.visualize import ARROW_MAX, ARROW_SCALE, GanLab, heat_unit
from gan_viz.ui import lessons, links
from gan_viz.ui.serving import LAB, LIGHT
from gan_viz.ui.widgets import user_errors

JS = Path(__file__).with_name("gan_lab.js").read_text()
SCALE = 4000  # plane coordinates are sent as int16 x SCALE (+-8 fits; 1/4000 is far below a pixel)
FIRST_PRESET = "mode_collapse"
HEARTBEAT_S = 2.0  # an idle stream sends a no-change update this often, so a closed page is noticed
STREAM_IDLE_S = 300  # a stream with nothing new for this long ends (the scheduler then stops the idle runs)
LOSS_LABELS = {"minimax": "minimax: G minimises log(1 - D(G(z)))",
               "non_saturating": "non-saturating: G minimises -log D(G(z))",
               "least_squares": "least squares (LSGAN; our CycleGAN's loss)",
               "wgan_clip": "Wasserstein, weight clipping (WGAN)", "hinge": "hinge (our SAGAN's loss)"}
DIST_LABELS = {"ring8": "ring of 8 Gaussians", "grid25": "5x5 grid of 25 Gaussians", "spiral": "spiral",
               "two_moons": "two moons", "line": "a line", "drawn": "my drawing (below)"}
INTRO = (
    "A GAN in two dimensions, where everything can be seen: the **real points** (white), **G's points** (red), "
    "**D's verdict** over the whole plane (the heatmap: probability 'real' for the log losses, the critic's value "
    "for Wasserstein and hinge), **where G's loss pushes** some of G's points (black arrows, drawn to one fixed scale, "
    "so a vanishing gradient shows as vanishing arrows) and **how G folds its noise** (grey: the image of a square "
    "grid of z). Two runs, **A** and **B**, train on the same data from the same seed; change what you want to "
    "compare, or start from a lesson preset. Each switch says why it exists. On the Gaussian sets, **modes covered** "
    "counts the usual way: of 2,500 generated points, those within 3 standard deviations of their nearest mode are "
    "high quality, and a mode is covered when it holds at least a quarter of its fair share of them.")
TEMPLATE = """
<div class="gl-lab">
  <div class="gl-runs">
    <div class="gl-run"><canvas class="gl-view-0" width="320" height="320"></canvas><div class="gl-info-0"></div></div>
    <div class="gl-run"><canvas class="gl-view-1" width="320" height="320"></canvas><div class="gl-info-1"></div></div>
  </div>
  <canvas class="gl-curves" width="900" height="260"></canvas>
  <div class="gl-legend"><span style="color:#1f6fd1">A</span> / <span style="color:#e07b00">B</span> in the curves.
  White: real points; red: G's points; black arrows: -grad of G's loss at G's points; grey: G's image of a grid of z.</div>
</div>
"""
CSS = """
.gl-runs { display: flex; flex-wrap: wrap; gap: 16px; }
.gl-run { display: flex; flex-direction: column; gap: 4px; font-size: 0.85em; max-width: 340px; }
.gl-run canvas { width: 320px; height: 320px; border-radius: 4px; }
.gl-curves { width: 100%; max-width: 900px; height: auto; margin-top: 8px; }
.gl-sigma { font-size: 0.9em; border-collapse: collapse; } .gl-sigma td, .gl-sigma th { padding: 0 6px; }
.gl-warn { color: #b00020; font-weight: bold; }
.gl-legend { font-size: 0.8em; }
"""
SHARED = ("distribution", "steps", "seed", "batch_size", "width", "depth", "clip")
PER_RUN = ("loss", "spectral_norm", "d_steps", "lr_g", "lr_d", "optimizer")
# Every value the view gets carries a sequence number taken when its snapshot was taken, and the page draws a value
# only if it is newer than the last one drawn: a stream's frame and a Reset's preview are separate events whose
# messages may reach the page in either order (measured in CI: a frame taken just before Reset landed after it).
_SEQ = itertools.count(1)


# ------------------------------------------------------------------ runs of a session


class Pair:
    """A visitor's two runs and the settings they came from; the stream that shows them holds the current token."""

    def __init__(self, a: engine.Run, b: engine.Run, key: tuple):
        self.a, self.b, self.key = a, b, key
        self.token = 0
        self.lock = threading.Lock()

    def claim(self) -> int:
        with self.lock:
            self.token += 1
            return self.token


class Sessions:
    """pair id -> Pair, shared by the tab's handlers (gr.State keeps only the id: runs hold locks and threads)."""

    def __init__(self, lab: GanLab):
        self.lab = lab
        self._pairs: dict[int, Pair] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def get(self, pair_id) -> Pair | None:
        with self._lock:
            return self._pairs.get(pair_id) if isinstance(pair_id, int) else None

    def start(self, a: RunSpec, b: RunSpec, points, key: tuple, play: bool) -> int:
        run_a = self.lab.start(a, points, play=play)
        try:
            run_b = self.lab.start(b, points, play=play)
        except Exception:
            self.lab.lab.control(run_a, "stop")
            raise
        with self._lock:
            pid = next(self._ids)
            self._pairs[pid] = Pair(run_a, run_b, key)
        return pid

    def stop(self, pair_id) -> None:
        """Ends both runs and forgets them (Reset, a new pair, or the browser tab closing)."""
        with self._lock:
            pair = self._pairs.pop(pair_id, None) if isinstance(pair_id, int) else None
        if pair is not None:
            pair.claim()  # its stream ends
            for r in (pair.a, pair.b):
                self.lab.lab.control(r, "stop")

    def __len__(self) -> int:
        with self._lock:
            return len(self._pairs)


# ------------------------------------------------------------------ settings


def _specs(values: tuple, sketch) -> tuple[RunSpec, RunSpec, data.PointSet | None, tuple]:
    """The tab's inputs (SHARED, then PER_RUN for A, then for B) -> the two validated specs, drawn points, a key."""
    n = len(SHARED)
    shared = dict(zip(SHARED, values[:n]))
    a = dict(zip(PER_RUN, values[n:n + len(PER_RUN)]))
    b = dict(zip(PER_RUN, values[n + len(PER_RUN):]))
    spec_a = RunSpec(**shared, **a).validated()
    spec_b = RunSpec(**shared, **b).validated()
    points, drawn_key = None, None
    if spec_a.distribution == "drawn":
        mask = sketch_mask(sketch)
        points = data.drawn(data.strokes_to_points(mask))
        drawn_key = hash(mask.tobytes())
    return spec_a, spec_b, points, (spec_a, spec_b, drawn_key)


def sketch_mask(value) -> np.ndarray:
    """The strokes drawn on the sketchpad as a boolean (H, W) mask, or a clear error when there are none."""
    layers = (value or {}).get("layers") or []
    masks = [np.asarray(layer)[..., 3] > 0 for layer in layers if layer is not None and np.asarray(layer).ndim == 3
             and np.asarray(layer).shape[-1] == 4]
    composite = (value or {}).get("composite")
    if not masks and composite is not None and np.asarray(composite).ndim == 3 and np.asarray(composite).shape[-1] == 4:
        masks = [np.asarray(composite)[..., 3] > 0]
    if not masks or not np.logical_or.reduce(masks).any():
        raise ValueError(f"the canvas is empty: draw the set first (strokes give at least {data.MIN_DRAWN_POINTS} points), "
                         "or pick a preset distribution")
    return np.logical_or.reduce(masks)


# ------------------------------------------------------------------ what the page gets


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _i16(points: np.ndarray) -> str:
    p = np.nan_to_num(np.asarray(points, dtype=np.float64), nan=99.0, posinf=99.0, neginf=-99.0)
    return _b64(np.clip(np.round(p * SCALE), -32767, 32767).astype("<i2"))


def _round(x, digits: int = 4):
    if x is None or isinstance(x, bool | int | str):
        return x
    return float(f"{x:.{digits}g}") if np.isfinite(x) else None


def _thin(xs: list, n: int = 300) -> list:
    if len(xs) <= n:
        return list(xs)
    idx = np.linspace(0, len(xs) - 1, n).round().astype(int)
    return [xs[i] for i in idx]


def describe(spec: RunSpec) -> str:
    sn = "spectral norm on" if spec.spectral_norm else "no spectral norm"
    clip = f", c = {spec.clip:g}" if spec.loss == "wgan_clip" else ""
    return (f"{spec.loss.replace('_', '-')}{clip}, {sn}, {spec.d_steps} D step(s) per G step, "
            f"lr G {spec.lr_g:g} / D {spec.lr_d:g}, {spec.optimizer}")


def run_payload(label: str, run: engine.Run, real: np.ndarray) -> dict:
    f = run.frame or {}
    v = f.get("view")
    steps = list(range(1, len(run.trace["g_loss"]) + 1))
    out = {
        "label": label, "title": describe(run.spec), "status": f.get("status", run.status),
        "message": run.message or f.get("message", ""), "step": run.step, "steps": run.spec.steps,
        "metrics": {k: _round(f.get(k)) for k in ("modes_covered", "modes_total", "high_quality_fraction",
                                                   "js_divergence", "d_fake", "d_max_slope")},
        "sigma": [{k: _round(x) for k, x in s.items()} for s in f.get("sigma") or []],
        "curves": {
            "step": _thin(steps), "d_loss": [_round(x) for x in _thin(run.trace["d_loss"])],
            "g_loss": [_round(x) for x in _thin(run.trace["g_loss"])],
            "g_grad_norm": [_round(x) for x in _thin(run.trace["g_grad_norm"])],
            "mstep": [c["step"] for c in run.curve], "d_max_slope": [_round(c["d_max_slope"]) for c in run.curve],
            "modes_covered": [c["modes_covered"] for c in run.curve],
            "js_divergence": [_round(c["js_divergence"]) for c in run.curve],
        },
    }
    out["metrics"]["g_grad_norm"] = _round(run.trace["g_grad_norm"][-1]) if run.trace["g_grad_norm"] else None
    if v is not None:
        heat = np.round(heat_unit(v["heat"], v["critic"]) * 255).astype(np.uint8)
        push = v["arrows"] * np.minimum(ARROW_SCALE, ARROW_MAX / np.maximum(np.linalg.norm(v["arrows"], axis=1,
                                                                                           keepdims=True), 1e-12))
        arrows = np.concatenate([v["arrows_from"], v["arrows_from"] + push], 1)  # (n, 4): x0, y0, x1, y1
        out.update(heat=_b64(heat), heatSize=int(heat.shape[0]), real=_i16(real), fake=_i16(v["fake"]),
                   arrows=_i16(arrows), grid=_i16(v["grid"]), gridShape=list(v["grid"].shape[:2]))
    return out


_LUT = _b64((imaging.colorize(np.linspace(0, 1, 256, dtype=np.float32)[None, :], "cividis")[0]).astype(np.uint8))


def payload(a: engine.Run, b: engine.Run) -> str:
    real = engine.real_view(a.points)
    return json.dumps({"scale": SCALE, "lut": _LUT,
                       "runs": [run_payload("A", a, real), run_payload("B", b, real)]})


def stamped(text: str, seq: int | None = None) -> str:
    """The payload with its sequence number first (taken now unless given: the moment its snapshot was taken)."""
    return f'{{"seq": {next(_SEQ) if seq is None else seq}, {text[1:]}'


# ------------------------------------------------------------------ the tab


def build() -> list[dict]:
    lab = GanLab()
    sessions = Sessions(lab)
    preview_cache: dict[tuple, str] = {}
    preview_lock = threading.Lock()

    def preview(a: RunSpec, b: RunSpec, points) -> str:
        """Step 0 of a pair, without training anything; presets' previews are made once for every visitor."""
        key = (a, b) if points is None else None
        if key is not None:
            with preview_lock:
                if key in preview_cache:
                    return preview_cache[key]
        text = payload(GanLab.preview(a, points), GanLab.preview(b, points))
        if key is not None:
            with preview_lock:
                preview_cache[key] = text
        return text

    gr.Markdown(INTRO)
    lessons.build("lab")
    with gr.Row():
        preset = gr.Dropdown([(p.title, k) for k, p in PRESETS.items()] + [("(my own settings)", "custom")],
                             value=FIRST_PRESET, label="Lesson preset (sets A and B)", scale=2, elem_id="lab-preset")
        with gr.Column(scale=1, min_width=280):
            with gr.Row():
                play = gr.Button("Play", variant="primary", elem_id="lab-play", min_width=60)
                pause = gr.Button("Pause", elem_id="lab-pause", min_width=60)
                reset = gr.Button("Reset", elem_id="lab-reset", min_width=60)
            with gr.Row():
                step_d = gr.Button("One D step", size="sm", elem_id="lab-step-d")
                step_g = gr.Button("One G step", size="sm", elem_id="lab-step-g")
    lesson = gr.Markdown(elem_id="lab-preset-text")
    view = gr.HTML(value="", html_template=TEMPLATE, css_template=CSS, js_on_load=JS, elem_id="lab-view")
    with gr.Accordion("Settings of A and B (the lesson presets set these)", open=True):
        with gr.Row():
            dist = gr.Dropdown([(DIST_LABELS[k], k) for k in data.PRESETS + ("drawn",)], value="ring8",
                               label="Data (the Gaussian sets have modes to count)", elem_id="lab-dist")
            steps = gr.Slider(100, LIMITS["steps"][1], value=2000, step=100, label="Steps (G updates) to train",
                              elem_id="lab-steps")
            seed = gr.Number(value=0, precision=0, label="Seed (same for A and B)", minimum=0)
        with gr.Row():
            batch = gr.Slider(*LIMITS["batch_size"], value=128, step=8, label="Batch size")
            width = gr.Slider(*LIMITS["width"], value=64, step=4, label="Width of G's and D's hidden layers")
            depth = gr.Slider(*LIMITS["depth"], value=2, step=1, label="Hidden layers")
            clip = gr.Number(value=0.01, label="Weight clipping c (Wasserstein only): D's parameters kept in [-c, c]",
                             minimum=LIMITS["clip"][0], maximum=LIMITS["clip"][1])
        per_run = []
        with gr.Row():
            for label in ("A", "B"):
                with gr.Column():
                    gr.Markdown(f"**Run {label}**")
                    loss = gr.Dropdown([(LOSS_LABELS[k], k) for k in LOSSES], value="non_saturating",
                                       label="Loss (the minimax game; the fixes for its vanishing gradient)")
                    sn = gr.Checkbox(value=False, label="Spectral normalisation of D (each layer's W / sigma(W): "
                                                        "D becomes 1-Lipschitz)")
                    d_steps = gr.Slider(*LIMITS["d_steps"], value=1, step=1,
                                        label="D steps per G step (WGAN used 5: a critic should be trained near optimum)")
                    lr_g = gr.Number(value=1e-3, label="G's learning rate", minimum=LIMITS["lr_g"][0], maximum=LIMITS["lr_g"][1])
                    lr_d = gr.Number(value=1e-3, label="D's learning rate (TTUR: D and G need not learn at the same rate)",
                                     minimum=LIMITS["lr_d"][0], maximum=LIMITS["lr_d"][1])
                    opt = gr.Radio(list(OPTIMIZERS), value="adam", label="Optimiser (Adam betas 0.5, 0.999; RMSprop as "
                                                                          "in WGAN)")
                    per_run += [loss, sn, d_steps, lr_g, lr_d, opt]
        with gr.Accordion("Draw your own point set (choose 'my drawing' as the data)", open=False):
            sketch = gr.Sketchpad(canvas_size=(300, 300), type="numpy", image_mode="RGBA", label="Draw strokes",
                                  brush=gr.Brush(default_size=4, colors=["#000000"], color_mode="fixed"),
                                  elem_id="lab-sketch")
    state = gr.State(None, delete_callback=sessions.stop)  # the pair id; its runs stop when the session ends
    settings = [dist, steps, seed, batch, width, depth, clip, *per_run]

    def preset_values(name: str) -> list:
        p = PRESETS[name]
        out = [getattr(p.a, k) for k in SHARED]
        for spec in (p.a, p.b):
            out += [getattr(spec, k) for k in PER_RUN]
        return out

    def lesson_text(name: str) -> str:
        if name not in PRESETS:
            return "Your own settings: press **Play** to train A and B side by side."
        p = PRESETS[name]
        return (f"**{p.title}.** A: {describe(p.a)}. B: {describe(p.b)}.\n\n**Predict first:** {p.predict}\n\n"
                f"**Then look:** {p.look}")

    def on_preset(name, pair_id):
        sessions.stop(pair_id)
        if name not in PRESETS:
            return (None, lesson_text(name), *[gr.skip()] * len(settings), gr.skip())
        a, b = PRESETS[name].a, PRESETS[name].b
        return (None, lesson_text(name), *preset_values(name), stamped(preview(a, b, None)))

    def on_play(pair_id, sketch_value, *values):
        a, b, points, key = _specs(values, sketch_value)
        pair = sessions.get(pair_id)
        if pair is not None and pair.key == key and not (pair.a.finished and pair.b.finished):
            for r in (pair.a, pair.b):
                lab.lab.control(r, "play")
            return pair_id
        sessions.stop(pair_id)
        return sessions.start(a, b, points, key, play=True)

    def on_pause(pair_id):
        pair = sessions.get(pair_id)
        if pair is not None:
            for r in (pair.a, pair.b):
                lab.lab.control(r, "pause")

    def stepper(op: str):
        def on_step(pair_id, sketch_value, *values):
            a, b, points, key = _specs(values, sketch_value)
            pair = sessions.get(pair_id)
            if pair is None or pair.key != key or (pair.a.finished and pair.b.finished):
                sessions.stop(pair_id)
                pair_id = sessions.start(a, b, points, key, play=False)
                pair = sessions.get(pair_id)
            for r in (pair.a, pair.b):
                lab.lab.control(r, op)
            return pair_id

        on_step.__name__ = f"lab_step_{op}"
        return on_step

    def on_reset(pair_id, sketch_value, *values):
        sessions.stop(pair_id)
        a, b, points, _ = _specs(values, sketch_value)
        return None, stamped(preview(a, b, points))

    async def stream(pair_id):
        """Frames of the session's pair until both runs end, the pair is replaced, or nothing changes for a while."""
        pair = sessions.get(pair_id)
        if pair is None:
            return
        token = pair.claim()
        last, idle_since, sent = None, time.monotonic(), time.monotonic()
        while pair.token == token:
            now = (pair.a.version, pair.b.version, pair.a.status, pair.b.status)
            if now != last:
                last, idle_since, sent = now, time.monotonic(), time.monotonic()
                seq = next(_SEQ)
                text = payload(pair.a, pair.b)
                if pair.token != token:  # Reset or a new pair came while this frame was made: theirs is newer
                    return
                yield stamped(text, seq)
            elif time.monotonic() - sent > HEARTBEAT_S:
                # Gradio notices a closed page only when it sends something: a paused pair's stream sends nothing,
                # so without this it would keep its runs alive (measured: a closed page's paused runs lived on)
                sent = time.monotonic()
                yield gr.skip()
            if pair.a.finished and pair.b.finished:
                return
            if time.monotonic() - idle_since > STREAM_IDLE_S:
                return
            lab.lab.touch(pair.a)
            lab.lab.touch(pair.b)
            await asyncio.sleep(0.04)

    inputs = [state, sketch, *settings]
    preset.input(user_errors(on_preset), [preset, state], [state, lesson, *settings, view],
                 api_visibility="private", **LIGHT)
    stream_event = dict(fn=user_errors(stream), inputs=state, outputs=view, api_visibility="private",
                        show_progress="hidden", **LAB)
    play.click(user_errors(on_play), inputs, state, api_visibility="private", **LIGHT).then(**stream_event)
    pause.click(user_errors(on_pause), state, None, api_visibility="private", **LIGHT)
    step_d.click(user_errors(stepper("d")), inputs, state, api_visibility="private", **LIGHT).then(**stream_event)
    step_g.click(user_errors(stepper("g")), inputs, state, api_visibility="private", **LIGHT).then(**stream_event)
    reset.click(user_errors(on_reset), inputs, [state, view], api_visibility="private", **LIGHT)

    with gr.Group(visible=False):  # the documented API on hidden components
        api_dist = gr.Textbox(label="distribution", value="ring8")
        api_loss = gr.Textbox(label="loss", value="non_saturating")
        api_sn = gr.Checkbox(label="spectral_norm", value=False)
        api_d_steps = gr.Number(label="d_steps", value=1, precision=0)
        api_lr_g = gr.Number(label="lr_g", value=1e-3)
        api_lr_d = gr.Number(label="lr_d", value=1e-3)
        api_steps = gr.Number(label="steps", value=2000, precision=0)
        api_seed = gr.Number(label="seed", value=0, precision=0)
        api_view = gr.Image(format="png", label="view")
        api_json = gr.JSON(label="summary")
        api_btn = gr.Button()

    async def gan_lab(distribution, loss, spectral_norm, d_steps, lr_g, lr_d, steps, seed):
        """Train one run to the end beside everyone else's; the final view and the summary JSON."""
        if distribution == "drawn":
            raise ValueError(f"the API takes a preset distribution: one of {', '.join(data.PRESETS)}")
        if not isinstance(spectral_norm, bool | int | type(None)):
            raise ValueError(f"spectral_norm must be true or false, got {spectral_norm!r}")
        spec = RunSpec(distribution=distribution, loss=loss, spectral_norm=bool(spectral_norm), d_steps=d_steps,
                       lr_g=lr_g, lr_d=lr_d, steps=steps, seed=seed).validated()
        run = lab.lab.start(spec, None, play=True, watched=False)
        try:
            while not run.done.is_set():
                lab.lab.touch(run)
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:  # the caller went away: free the run at once
            lab.lab.control(run, "stop")
            raise
        image = await asyncio.to_thread(GanLab.view_image, run)
        return image, engine.summary(run)

    api_btn.click(user_errors(gan_lab), [api_dist, api_loss, api_sn, api_d_steps, api_lr_g, api_lr_d, api_steps, api_seed],
                  [api_view, api_json], api_name="gan_lab", **LAB)

    def open_view(request: gr.Request):
        """?tab=lab&preset=NAME opens that lesson; without a link the first preset, at step 0 (shared by all visitors)."""
        q = links.for_tab(request, "lab")
        name = links.choice_param(q, "preset", list(PRESETS)) or FIRST_PRESET
        a, b = PRESETS[name].a, PRESETS[name].b
        return (name, lesson_text(name), *preset_values(name), stamped(preview(a, b, None)))

    build.sessions = sessions  # for tests and benchmarks: the sessions, lab and previews of the last built tab
    build.previews = preview_cache
    return [dict(fn=open_view, inputs=None, outputs=[preset, lesson, *settings, view], api_visibility="private", **LIGHT)]

