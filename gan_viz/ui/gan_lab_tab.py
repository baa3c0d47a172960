"""The GAN training lab tab: two 2D GANs, A and B, trained live side by side; losses and stabilisers are switches.

The family (gan_viz/models/gan2d) trains every visitor's runs on one scheduler thread; this tab
only starts and steers a visitor's pair of runs and streams what they look like. A stream is an
async generator that waits on the scheduler and sends a compact JSON several times a second;
the page draws it (gan_lab.js), so the server renders no picture per frame.
"""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np

from gan_viz.models.gan2d import data
from gan_viz.models.gan2d.spec import LIMITS, OPTIMIZERS, RunSpec
from gan_viz.models.gan2d.losses import LOSSES
from gan_viz.models.gan2d.presets import PRESETS
from gan_viz.models.gan2d.visualize import GanLab
from gan_viz.ui import lessons, links
from gan_viz.ui.gan_lab_sessions import Sessions
from gan_viz.ui.gan_lab_wire import describe, next_seq, payload, stamped
from gan_viz.ui.serving import LAB, LIGHT
from gan_viz.ui.widgets import user_errors

HERE = Path(__file__).parent
JS, TEMPLATE, CSS = ((HERE / f"gan_lab.{ext}").read_text() for ext in ("js", "html", "css"))
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
SHARED = ("distribution", "steps", "seed", "batch_size", "width", "depth", "clip")
PER_RUN = ("loss", "spectral_norm", "d_steps", "lr_g", "lr_d", "optimizer")


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


class Previews:
    """Step 0 of a pair, without training anything; presets' previews are made once for every visitor."""

    def __init__(self):
        self.cache: dict[tuple, str] = {}
        self._lock = threading.Lock()

    def get(self, a: RunSpec, b: RunSpec, points) -> str:
        key = (a, b) if points is None else None
        if key is not None:
            with self._lock:
                if key in self.cache:
                    return self.cache[key]
        text = payload(GanLab.preview(a, points), GanLab.preview(b, points))
        if key is not None:
            with self._lock:
                self.cache[key] = text
        return text


def build() -> list[dict]:
    """The tab's components and events; call inside a gr.Tab. Returns the page-load events."""
    return GanLabTab().build()


class GanLabTab:
    """One build of the tab: the lab (one scheduler thread), its visitors' pairs and the preset previews."""

    def __init__(self, lab: GanLab | None = None):
        self.lab = lab or GanLab()
        self.sessions = Sessions(self.lab)
        self.previews = Previews()

    def build(self) -> list[dict]:
        gr.Markdown(INTRO)
        lessons.build("lab")
        self._controls()
        self.lesson = gr.Markdown(elem_id="lab-preset-text")
        self.view = gr.HTML(value="", html_template=TEMPLATE, css_template=CSS, js_on_load=JS, elem_id="lab-view")
        self._settings()
        self.state = gr.State(None, delete_callback=self.sessions.stop)  # the pair id; its runs stop with the session
        self._wire()
        self._api()
        return [dict(fn=self.open_view, inputs=None, outputs=[self.preset, self.lesson, *self.settings, self.view],
                     api_visibility="private", **LIGHT)]

    def _controls(self) -> None:
        with gr.Row():
            self.preset = gr.Dropdown([(p.title, k) for k, p in PRESETS.items()] + [("(my own settings)", "custom")],
                                      value=FIRST_PRESET, label="Lesson preset (sets A and B)", scale=2,
                                      elem_id="lab-preset")
            with gr.Column(scale=1, min_width=280):
                with gr.Row():
                    self.play = gr.Button("Play", variant="primary", elem_id="lab-play", min_width=60)
                    self.pause = gr.Button("Pause", elem_id="lab-pause", min_width=60)
                    self.reset = gr.Button("Reset", elem_id="lab-reset", min_width=60)
                with gr.Row():
                    self.step_d = gr.Button("One D step", size="sm", elem_id="lab-step-d")
                    self.step_g = gr.Button("One G step", size="sm", elem_id="lab-step-g")

    def _settings(self) -> None:
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
                        per_run += run_settings(label)
            with gr.Accordion("Draw your own point set (choose 'my drawing' as the data)", open=False):
                self.sketch = gr.Sketchpad(canvas_size=(300, 300), type="numpy", image_mode="RGBA",
                                           label="Draw strokes", elem_id="lab-sketch",
                                           brush=gr.Brush(default_size=4, colors=["#000000"], color_mode="fixed"))
        self.settings = [dist, steps, seed, batch, width, depth, clip, *per_run]

    def _wire(self) -> None:
        inputs = [self.state, self.sketch, *self.settings]
        self.preset.input(user_errors(self.on_preset), [self.preset, self.state],
                          [self.state, self.lesson, *self.settings, self.view], api_visibility="private", **LIGHT)
        stream_event = dict(fn=user_errors(self.stream), inputs=self.state, outputs=self.view,
                            api_visibility="private", show_progress="hidden", **LAB)
        self.play.click(user_errors(self.on_play), inputs, self.state, api_visibility="private",
                        **LIGHT).then(**stream_event)
        self.pause.click(user_errors(self.on_pause), self.state, None, api_visibility="private", **LIGHT)
        self.step_d.click(user_errors(self.lab_step_d), inputs, self.state, api_visibility="private",
                          **LIGHT).then(**stream_event)
        self.step_g.click(user_errors(self.lab_step_g), inputs, self.state, api_visibility="private",
                          **LIGHT).then(**stream_event)
        self.reset.click(user_errors(self.on_reset), inputs, [self.state, self.view], api_visibility="private", **LIGHT)

    def on_preset(self, name, pair_id):
        self.sessions.stop(pair_id)
        if name not in PRESETS:
            return (None, lesson_text(name), *[gr.skip()] * len(self.settings), gr.skip())
        a, b = PRESETS[name].a, PRESETS[name].b
        return (None, lesson_text(name), *preset_values(name), stamped(self.previews.get(a, b, None)))

    def on_play(self, pair_id, sketch_value, *values):
        a, b, points, key = _specs(values, sketch_value)
        pair = self.sessions.get(pair_id)
        if pair is not None and pair.key == key and not (pair.a.finished and pair.b.finished):
            for r in (pair.a, pair.b):
                self.lab.control(r, "play")
            return pair_id
        self.sessions.stop(pair_id)
        return self.sessions.start(a, b, points, key, play=True)

    def on_pause(self, pair_id):
        pair = self.sessions.get(pair_id)
        if pair is not None:
            for r in (pair.a, pair.b):
                self.lab.control(r, "pause")

    def _step(self, op: str, pair_id, sketch_value, values):
        a, b, points, key = _specs(values, sketch_value)
        pair = self.sessions.get(pair_id)
        if pair is None or pair.key != key or (pair.a.finished and pair.b.finished):
            self.sessions.stop(pair_id)
            pair_id = self.sessions.start(a, b, points, key, play=False)
            pair = self.sessions.get(pair_id)
        for r in (pair.a, pair.b):
            self.lab.control(r, op)
        return pair_id

    def lab_step_d(self, pair_id, sketch_value, *values):
        return self._step("d", pair_id, sketch_value, values)

    def lab_step_g(self, pair_id, sketch_value, *values):
        return self._step("g", pair_id, sketch_value, values)

    def on_reset(self, pair_id, sketch_value, *values):
        self.sessions.stop(pair_id)
        a, b, points, _ = _specs(values, sketch_value)
        return None, stamped(self.previews.get(a, b, points))

    async def stream(self, pair_id):
        """Frames of the session's pair until both runs end, the pair is replaced, or nothing changes for a while."""
        pair = self.sessions.get(pair_id)
        if pair is None:
            return
        token = pair.claim()
        last, idle_since, sent = None, time.monotonic(), time.monotonic()
        while pair.token == token:
            now = (pair.a.version, pair.b.version, pair.a.status, pair.b.status)
            if now != last:
                last, idle_since, sent = now, time.monotonic(), time.monotonic()
                seq = next_seq()
                text = payload(pair.a, pair.b)
                if pair.token != token:  # Reset or a new pair came while this frame was made: theirs is newer
                    return
                yield stamped(text, seq)
            elif time.monotonic() - sent > HEARTBEAT_S:
                # Gradio notices a closed page only when it sends something: a paused pair's stream sends nothing,
                # so without this heartbeat a closed page's paused runs would live on
                sent = time.monotonic()
                yield gr.skip()
            if (pair.a.finished and pair.b.finished) or time.monotonic() - idle_since > STREAM_IDLE_S:
                return
            self.lab.touch(pair.a)
            self.lab.touch(pair.b)
            await asyncio.sleep(0.04)

    def _api(self) -> None:
        with gr.Group(visible=False):  # the documented API on hidden components
            api_inputs = [gr.Textbox(label="distribution", value="ring8"),
                          gr.Textbox(label="loss", value="non_saturating"),
                          gr.Checkbox(label="spectral_norm", value=False),
                          gr.Number(label="d_steps", value=1, precision=0), gr.Number(label="lr_g", value=1e-3),
                          gr.Number(label="lr_d", value=1e-3), gr.Number(label="steps", value=2000, precision=0),
                          gr.Number(label="seed", value=0, precision=0)]
            api_view, api_json = gr.Image(format="png", label="view"), gr.JSON(label="summary")
            api_btn = gr.Button()
        api_btn.click(user_errors(self.gan_lab), api_inputs, [api_view, api_json], api_name="gan_lab", **LAB)

    async def gan_lab(self, distribution, loss, spectral_norm, d_steps, lr_g, lr_d, steps, seed):
        """Train one run to the end beside everyone else's; the final view and the summary JSON."""
        if distribution == "drawn":
            raise ValueError(f"the API takes a preset distribution: one of {', '.join(data.PRESETS)}")
        if not isinstance(spectral_norm, bool | int | type(None)):
            raise ValueError(f"spectral_norm must be true or false, got {spectral_norm!r}")
        spec = RunSpec(distribution=distribution, loss=loss, spectral_norm=bool(spectral_norm), d_steps=d_steps,
                       lr_g=lr_g, lr_d=lr_d, steps=steps, seed=seed).validated()
        run = self.lab.start(spec, None, play=True, watched=False)
        try:
            while not run.done.is_set():
                self.lab.touch(run)
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:  # the caller went away: free the run at once
            self.lab.control(run, "stop")
            raise
        image = await asyncio.to_thread(GanLab.view_image, run)
        return image, GanLab.summary(run)

    def open_view(self, request: gr.Request):
        """?tab=lab&preset=NAME opens that lesson; without a link the first preset, at step 0 (shared by all visitors)."""
        q = links.for_tab(request, "lab")
        name = links.choice_param(q, "preset", list(PRESETS)) or FIRST_PRESET
        a, b = PRESETS[name].a, PRESETS[name].b
        return (name, lesson_text(name), *preset_values(name), stamped(self.previews.get(a, b, None)))


def run_settings(label: str) -> list:
    """One run's switches (A or B), each saying why it exists."""
    gr.Markdown(f"**Run {label}**")
    return [gr.Dropdown([(LOSS_LABELS[k], k) for k in LOSSES], value="non_saturating",
                        label="Loss (the minimax game; the fixes for its vanishing gradient)"),
            gr.Checkbox(value=False, label="Spectral normalisation of D (each layer's W / sigma(W): "
                                           "D becomes 1-Lipschitz)"),
            gr.Slider(*LIMITS["d_steps"], value=1, step=1,
                      label="D steps per G step (WGAN used 5: a critic should be trained near optimum)"),
            gr.Number(value=1e-3, label="G's learning rate", minimum=LIMITS["lr_g"][0], maximum=LIMITS["lr_g"][1]),
            gr.Number(value=1e-3, label="D's learning rate (TTUR: D and G need not learn at the same rate)",
                      minimum=LIMITS["lr_d"][0], maximum=LIMITS["lr_d"][1]),
            gr.Radio(list(OPTIMIZERS), value="adam", label="Optimiser (Adam betas 0.5, 0.999; RMSprop as in WGAN)")]
