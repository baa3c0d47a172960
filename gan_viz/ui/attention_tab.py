"""The SAGAN attention tab: click a pixel of a generated (or real) face and see beta for it; spectral norm made visible."""
from __future__ import annotations

import random

import gradio as gr
import numpy as np

from gan_viz import faces, imaging
from gan_viz.models.sagan.visualize import Generated, read_attention
from gan_viz.ui import examples, hover, lessons, links
from gan_viz.ui.context import Family
from gan_viz.ui.serving import HEAVY, LIGHT, LIGHT_RAW
from gan_viz.ui.widgets import click_xy, image_input, model_handler, user_errors

VIEW = 4  # the 64x64 face is shown at 256x256, blocky, so every model pixel can be clicked
SAMPLES = 12  # the gallery: the first 12 of seeds 0-63 by SAGANExplorer.ranked_seeds (the rule in SEED_RULE)
SEED_RULE = ("The first face and the samples are the seeds among 0-63 whose faces the CAM tab's classifier is surest "
             "of, women and men in turn (chosen by a model, not by hand).")
SEED_RULE_NO_JUDGE = ("The first face and the samples are the seeds among 0-63 whose faces this model's discriminator "
                      "finds most real (chosen by the model, not by hand).")
READING_CHOICES = [("where this pixel looks (row j of beta; sums to 1)", "query"),
                   ("who looks at this pixel (column i of beta)", "key")]
SOFTMAX_NOTE = (
    "**Which axis the softmax runs over.** SAGAN computes $s_{ij} = f(x_i)^\\top g(x_j)$ and "
    "$\\beta_{j,i} = \\exp(s_{ij}) / \\sum_{i} \\exp(s_{ij})$: for every *query* location $j$ the softmax runs over "
    "the *attended* locations $i$. So row $j$ of beta is a probability map (it sums to 1): where pixel $j$ looks when "
    "its new feature $o_j = v(\\sum_i \\beta_{j,i} h(x_i))$ is formed. Column $i$ does not sum to 1: it shows how "
    "much every other pixel draws on pixel $i$. The block's output is $y = \\gamma\\,o + x$; $\\gamma$ starts at 0, "
    "so a trained non-zero $\\gamma$ means the network learned to use its attention.")
PSI_NOTE = ("z is scaled by psi towards the mean latent: below 1 the faces are cleaner but less varied "
            "(G saw most of its training z near the mean); 1.0 is the model's real distribution.")
SN_NOTE = (
    "**Why spectral normalisation.** The critic of a GAN should be Lipschitz-bounded so its gradients stay "
    "informative; dividing each weight by its largest singular value $\\sigma(W)$ makes every layer 1-Lipschitz, so the "
    "whole network is bounded by the product of the layers' norms (about 1). Weight clipping also bounds the "
    "network but crudely, pushing weights to the clip values and wasting capacity, while spectral normalisation "
    "keeps the weights' direction and only rescales; $\\sigma$ is estimated cheaply by one power-iteration step per "
    "training step, reusing the vector $u$ from the step before.")


def attention_view(gen_image: np.ndarray, beta: np.ndarray, layer: str, x: int, y: int, reading: str, gamma: float,
                   alpha: float, k: int, cmap: str = "magma"):
    """The overlay (view-sized, query and top-k marked) and the reading's numbers for one click."""
    r = read_attention(beta, layer, x, y, reading, gamma, image_size=gen_image.shape[0], k=k)
    view = imaging.upscale_nearest(gen_image, VIEW)
    shown = r.map / r.map.max() if r.map.max() > 0 else r.map
    cell = view.shape[0] / r.res
    over = imaging.overlay(view, shown, alpha, cmap)
    over = imaging.mark(over, ((x + 0.5) * VIEW, (y + 0.5) * VIEW),
                        [((fx + 0.5) * cell, (fy + 0.5) * cell) for fx, fy, _ in r.top])
    return over, r


def _reading_md(r, x: int, y: int) -> str:
    what = ("where this pixel looks: row j of beta (sums to {:.3f})".format(float(r.map.sum())) if r.reading == "query"
            else "who looks at this pixel: column i of beta (sums to {:.3f}, not 1)".format(float(r.map.sum())))
    tops = ", ".join(f"#{n} ({fx},{fy}) {w:.4f}" for n, (fx, fy, w) in enumerate(r.top, 1))
    return (f"**{r.layer}**, gamma = **{r.gamma:+.4f}**. Clicked pixel ({x}, {y}) of the 64x64 face = cell "
            f"({r.feature_xy[0]}, {r.feature_xy[1]}) of the {r.res}x{r.res} feature map. Showing {what}; uniform "
            f"attention would be {1 / r.res ** 2:.5f} per cell. Top {len(r.top)}: {tops}. Answered in "
            f"{r.seconds * 1000:.2f} ms from the session's stored maps (G was not rerun).")


def whole(v, name):
    """A number sent to the API (LIGHT_RAW: as sent), rounded as gr.Number(precision=0) would."""
    try:
        return int(round(float(v)))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {v!r}") from None


def click_pixel(evt: gr.SelectData) -> tuple[int, int]:
    vx, vy = click_xy(evt)
    return min(vx // VIEW, 63), min(vy // VIEW, 63)


def spectral_plot(ex, rows: list[dict], worst: dict):
    """The power iteration converging from a random u for the first, the worst and the last layer."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3))
    ax = fig.add_subplot()
    for name in (rows[0]["layer"], worst["layer"], rows[-1]["layer"]):
        curve, exact = ex.power_iteration_curve(name, steps=30)
        line = ax.plot(range(1, 31), curve, marker=".", label=f"{name} estimate")[0]
        ax.axhline(exact, color=line.get_color(), linestyle="--", linewidth=0.8)
    ax.set_xlabel("power iterations")
    ax.set_ylabel("sigma estimate (dashed: exact)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def spectral_summary(rows: list[dict], k: int) -> tuple[str, dict]:
    bound_raw = float(np.prod([r["sigma_exact"] for r in rows]))
    bound_norm = float(np.prod([r["normalised_norm"] for r in rows]))
    worst = max(rows, key=lambda r: r["rel_error_used"])
    return (f"{len(rows)} layers. Product of the raw weights' sigmas (the Lipschitz bound the network would "
            f"have without normalisation): **{bound_raw:.3e}**. Product of the normalised layers' norms "
            f"sigma_exact / sigma_used (the bound it has): **{bound_norm:.4f}**. Largest relative error of the "
            f"sigma in use: {worst['rel_error_used']:.2e} ({worst['layer']}); after {k} more iterations: "
            f"{worst[f'rel_error_after_{k}']:.2e}. (For a conv the reshaped-matrix norm is the one SN uses, an "
            f"approximation of the conv operator's norm.)"), worst


def build(fam: Family, judge: Family | None = None) -> list[dict]:
    """The tab; judge (the CAM classifier's family, when it has weights) picks the first faces by its confidence."""
    return SaganTab(fam, judge).build()


class SaganTab:
    """One build of the tab: its components, and handlers that read the SAGAN through `fam`."""

    def __init__(self, fam: Family, judge: Family | None):
        self.fam = fam
        self.layers, self.d_layers, ranked = [], [], [0]
        self.use_judge = judge is not None and judge.weights is not None
        if fam.weights is not None:
            ex = fam.get()
            self.layers, self.d_layers = ex.g_layers, ex.d_layers
            ranked = ex.ranked_seeds(judge=judge.get().top_class if self.use_judge else None)
        self.default_layer = max(self.layers, key=lambda n: int(n.split("attn")[1])) if self.layers else None
        self.default_seed, self.sample_seeds = ranked[0], ranked[:SAMPLES]
        # The landing face goes into the page itself, drawn as soon as Gradio renders the page instead of after the
        # page-load events answer (0.5-0.9 s later on 2 cores): the same cached view open_view hands every visitor.
        self.landing = self._cached_view(self.default_seed, 1.0)[1] if fam.weights is not None else None

    def build(self) -> list[dict]:
        gr.Markdown("Generate a face, then **click any pixel** of it: the map shows the self-attention beta of that "
                    "query location in the chosen attention layer. " + SOFTMAX_NOTE,
                    latex_delimiters=[{"left": "$", "right": "$", "display": False}])
        lessons.build("sagan")
        self.state = gr.State(None)  # this visitor's Generated: image + beta maps; never shared between users
        self.last_click = gr.State(None)
        self._layout()
        self._interpolation()
        self._discriminator()
        self._spectral()
        self._wire()
        self._api()
        # The page's first face and samples come from a cache every visitor shares (a new seed from a link is one G
        # pass): the light lane, so a visitor's arrival never waits for, nor holds, a heavy slot.
        return [dict(fn=model_handler(self.sample_grid, "image"), inputs=None, outputs=self.samples,
                     api_visibility="private", **LIGHT),
                dict(fn=model_handler(self.open_view, "image"), inputs=None,
                     outputs=[self.state, self.face, self.over, self.info, self.link, self.seed, self.psi,
                              self.last_click, self.hover_view], api_visibility="private", **LIGHT)]

    def _layout(self) -> None:
        with gr.Row():
            with gr.Column(scale=1):
                with gr.Row():
                    self.seed = gr.Number(value=self.default_seed, precision=0, label="Seed", minimum=0,
                                          elem_id="sagan-seed")
                    self.rnd = gr.Button("Random")
                self.psi = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Truncation psi", elem_id="sagan-psi",
                                     info=PSI_NOTE)
                self.gen_btn = gr.Button("Generate", variant="primary")
                self.layer = gr.Radio(self.layers, value=self.default_layer, label="Attention layer of G")
                self.reading = gr.Radio(READING_CHOICES, value="query", label="Reading")
                self.topk = gr.Slider(1, 10, value=5, step=1, label="Top-k attended locations marked",
                                      elem_id="sagan-topk")
                self.alpha = gr.Slider(0.0, 1.0, value=0.6, step=0.05, label="Map opacity")
                rule = SEED_RULE if self.use_judge else SEED_RULE_NO_JUDGE
                self.samples = gr.Gallery(label="Samples (click one to explore it). " + rule, columns=4, height=220,
                                          format="png", allow_preview=False)
            with gr.Column(scale=2):
                gr.Markdown("**Hover over the face**: beta for the pixel under the pointer, drawn in your browser "
                            "(the maps come once per face; moving the pointer costs the server nothing). "
                            "Below: the same by a click on the server, as the API answers it.")
                self.hover_view = hover.component("sagan-hover")
                with gr.Row():
                    self.face = gr.Image(self.landing, label="Generated face: click a pixel", format="png",
                                         interactive=False, elem_id="sagan-image", height=300)
                    # A click's view is a JPEG (its numbers are the reading beside it): encoding it as a PNG was
                    # 5.1-5.5 ms of a click's server CPU on a 2 vCPU Intel Xeon, a JPEG 0.2 ms (docs/benchmarks.md)
                    self.over = gr.Image(label="beta for the clicked pixel", format="jpeg", interactive=False,
                                         elem_id="sagan-overlay", height=300)
                first = self._cached_view(self.default_seed, 1.0)[0] if self.landing is not None else None
                self.info = gr.Markdown(_open_caption(first) if first else "Click the face.", elem_id="sagan-info")
                self.link = gr.Markdown(elem_id="sagan-link")

    def _interpolation(self) -> None:
        with gr.Accordion("Interpolate between two seeds", open=False):
            with gr.Row():
                seed_a = gr.Number(value=1, precision=0, label="Seed A", minimum=0)
                seed_b = gr.Number(value=2, precision=0, label="Seed B", minimum=0)
                interp_btn = gr.Button("Interpolate")
            interp = gr.Gallery(columns=8, height=160, format="png", label="A -> B")
        interp_btn.click(model_handler(self.interpolate, "image"), [seed_a, seed_b], interp, api_visibility="private",
                         **HEAVY)

    def _discriminator(self) -> None:
        with gr.Accordion("The discriminator's attention on a real face", open=False):
            gr.Markdown("Upload a face photo: it is cropped to the training framing at 64x64, as D sees it; "
                        "then click a pixel of it.")
            d_state = gr.State(None)
            with gr.Row():
                d_in = gr.Image(label="Real face", type="filepath", sources=["upload", "webcam", "clipboard"],
                                height=260, elem_id="sagan-d-input")
                d_view = gr.Image(label="As D sees it: click a pixel", format="png", interactive=False, height=260,
                                  elem_id="sagan-d-view")
                d_over = gr.Image(label="D's beta for the clicked pixel", format="png", interactive=False, height=260)
            d_layer = gr.Radio(self.d_layers, value=self.d_layers[0] if self.d_layers else None,
                               label="Attention layer of D")
            gr.Markdown("Hover over D's view of the face (drawn in your browser):")
            d_hover = hover.component("sagan-d-hover")
            d_info = gr.Markdown(elem_id="sagan-d-info")
        d_in.upload(model_handler(self.d_upload, "image"), d_in, [d_state, d_view, d_over, d_info, d_hover],
                    api_visibility="private", **HEAVY)
        d_view.select(user_errors(d_click), [d_state, d_layer], [d_over, d_info], api_visibility="private",
                      **LIGHT_RAW)

    def _spectral(self) -> None:
        with gr.Accordion("Spectral normalisation, made visible", open=False):
            gr.Markdown(SN_NOTE, latex_delimiters=[{"left": "$", "right": "$", "display": False}])
            k_more = gr.Slider(0, 50, value=10, step=1, label="k more power iterations")
            sn_btn = gr.Button("Measure every layer")
            sn_table = gr.Dataframe(label="sigma per spectrally normalised layer", wrap=True)
            sn_summary = gr.Markdown()
            sn_plot = gr.Plot(label="Power iteration converging (from a random u)")
        for event in (sn_btn.click, k_more.release):
            event(user_errors(self.spectral), k_more, [sn_table, sn_summary, sn_plot], api_visibility="private",
                  **HEAVY)

    def _wire(self) -> None:
        gen_event = dict(fn=model_handler(self.generate, "image"), inputs=[self.seed, self.psi],
                         outputs=[self.state, self.face, self.over, self.info, self.link, self.hover_view],
                         api_visibility="private", **HEAVY)
        self.gen_btn.click(**gen_event)
        self.psi.release(**gen_event)
        self.psi.release(model_handler(self.sample_grid, "image"), self.psi, self.samples, api_visibility="private",
                         **HEAVY)
        self.rnd.click(lambda: random.randrange(0, 2 ** 31), None, self.seed, api_visibility="private",
                       **LIGHT).then(**gen_event)
        self.samples.select(self.pick_sample, None, self.seed, api_visibility="private", **LIGHT).then(**gen_event)
        # Clicks and redraws are answered from this visitor's stored maps: the light lane, never behind a flip.
        choices = [self.state, self.layer, self.reading, self.topk, self.alpha]
        self.face.select(user_errors(self.on_click), choices, [self.over, self.info, self.last_click, self.link],
                         api_visibility="private", **LIGHT_RAW)
        for comp in (self.layer, self.reading, self.topk, self.alpha):
            comp.change(user_errors(self.redraw), [*choices, self.last_click], [self.over, self.info],
                        api_visibility="private", **LIGHT_RAW)

    def explorer(self):
        return self.fam.get()

    def _link(self, g: Generated, xy=None):
        return links.markdown("sagan", seed=g.seed, psi=None if g.psi == 1.0 else g.psi,
                              x=xy[0] if xy else None, y=xy[1] if xy else None)

    def _hover(self, g: Generated) -> str:
        return hover.payload(g.image, g.maps[self.default_layer], self.default_layer, g.gammas[self.default_layer])

    def generate(self, s, p):
        g = self.explorer().generate(int(s), float(p))
        return g, imaging.upscale_nearest(g.image, VIEW), None, _open_caption(g), self._link(g), self._hover(g)

    def shown(self, g: Generated | None) -> Generated | None:
        """This visitor's face; before the page's first answer has stored it, the landing face the page shows."""
        if g is None and self.landing is not None:
            return self._cached_view(self.default_seed, 1.0)[0]
        return g

    def redraw(self, g, *view):
        return redraw(self.shown(g), *view)

    def on_click(self, g: Generated, layer_name, reading_name, k, a, evt: gr.SelectData):
        g = self.shown(g)
        if g is None:
            raise gr.Error("Generate a face first.")
        x, y = click_pixel(evt)
        o, r = attention_view(g.image, g.maps[layer_name], layer_name, x, y, reading_name, g.gammas[layer_name], a,
                              int(k))
        return o, _reading_md(r, x, y), (x, y), self._link(g, (x, y))

    def sample_grid(self, p=1.0):
        p = float(p)
        return examples.CACHE.get(("sagan_samples", p), lambda: [
            (g.image, f"seed {g.seed}")
            for g in self.explorer().generate_many(self.sample_seeds, [p] * len(self.sample_seeds))])

    def pick_sample(self, evt: gr.SelectData):
        return self.sample_seeds[evt.index]

    def interpolate(self, a, b):
        return [(im, f"{i}/7") for i, im in enumerate(self.explorer().interpolate(int(a), int(b), 8))]

    def d_upload(self, path):
        if path is None:
            return None, None, None, "", ""
        ex = self.explorer()
        photo = image_input(path)
        try:  # D was trained on aligned 64x64 crops: give it the same framing when a face is found
            img = faces.find_faces(photo, 64, max_faces=1)[0].crop
        except faces.FaceError:
            img = faces.whole_image(photo, 64).crop
        score, maps = ex.discriminate(img)
        g = Generated(-1, img, maps, {n: ex.gamma(n) for n in maps})
        verdict = "real" if score > 0 else "fake"
        first = next(iter(maps))
        return (g, imaging.upscale_nearest(img, VIEW), None,
                f"D's score {score:+.3f} (hinge loss: above 0 leans {verdict}).",
                hover.payload(img, maps[first], first, g.gammas[first]))

    def spectral(self, k):
        import pandas as pd

        ex, k = self.explorer(), int(k)
        rows = ex.spectral_report(k)
        summary, worst = spectral_summary(rows, k)
        return pd.DataFrame(rows).round(5), summary, spectral_plot(ex, rows, worst)

    def _api(self) -> None:
        """The programmatic API on hidden components (exact documented signatures)."""
        with gr.Group(visible=False):
            a_seed = gr.Number(precision=0, label="seed")
            a_psi = gr.Number(value=1.0, label="psi")
            a_x, a_y = gr.Number(precision=0, label="x"), gr.Number(precision=0, label="y")
            a_layer = gr.Textbox(label="layer", value="default")
            a_reading = gr.Textbox(label="reading", value="query")
            a_img, a_view = gr.Image(format="png"), gr.Image(format="png")
            a_over = gr.Image(format="jpeg")  # a view of the map in the JSON beside it, as in the tab
            a_json = gr.JSON()
            b_gen, b_att = gr.Button(), gr.Button()
        # One G pass or a cached face: both in the light lane, so they never wait behind a flip.
        b_gen.click(model_handler(self.sagan_generate, "image"), [a_seed, a_psi], [a_img, a_view],
                    api_name="sagan_generate", **LIGHT_RAW)
        b_att.click(model_handler(self.sagan_attention, "image"), [a_seed, a_x, a_y, a_layer, a_reading],
                    [a_over, a_json], api_name="sagan_attention", **LIGHT_RAW)

    # Named parameters: gradio_client's view_api() shows these names.
    def sagan_generate(self, seed, psi=1.0):
        if seed is None:
            raise ValueError("seed is required")
        g = self.explorer().recent(whole(seed, "seed"), 1.0 if psi is None else float(psi))
        return g.image, imaging.upscale_nearest(g.image, VIEW)

    def sagan_attention(self, seed, x, y, layer, reading):
        if seed is None or x is None or y is None:
            raise ValueError("seed, x and y are required")
        ex = self.explorer()
        layer_name = self.default_layer if layer in (None, "", "default") else layer
        if layer_name not in ex.g_layers:
            raise ValueError(f"unknown layer {layer_name!r}; use 'default' or one of {', '.join(ex.g_layers)}")
        g = ex.recent(whole(seed, "seed"))
        o, r = attention_view(g.image, g.maps[layer_name], layer_name, whole(x, "x"), whole(y, "y"),
                              reading or "query", g.gammas[layer_name], 0.6, 5)
        return o, {"layer": layer_name, "reading": r.reading, "map": np.round(r.map, 6).tolist(),
                   "feature_xy": list(r.feature_xy), "feature_size": r.res, "gamma": r.gamma,
                   "top": [{"x": fx, "y": fy, "weight": w} for fx, fy, w in r.top]}

    def open_view(self, request: gr.Request):
        """The first face, or the one a link names: ?tab=sagan&seed=11&psi=0.7&x=20&y=30 (x, y: a clicked pixel)."""
        q = links.for_tab(request, "sagan")
        s = links.int_param(q, "seed", 0, 2 ** 63 - 1)
        p = links.float_param(q, "psi", 0.0, 1.0)
        key = (self.default_seed if s is None else s, 1.0 if p is None else p)
        g, view, packed = self._cached_view(*key)
        x, y = links.int_param(q, "x", 0, 63), links.int_param(q, "y", 0, 63)
        if x is None or y is None:
            # The landing face and its caption are in the page already, and a click may have come before this
            # answer (on_click reads the landing face then): leave what the page shows as it is.
            landing = key == (self.default_seed, 1.0)
            return (g, gr.skip() if landing else view, gr.skip() if landing else None,
                    gr.skip() if landing else _open_caption(g), self._link(g), g.seed, g.psi,
                    gr.skip() if landing else None, packed)
        layer = self.default_layer
        o, r = attention_view(g.image, g.maps[layer], layer, x, y, "query", g.gammas[layer], 0.6, 5)
        return g, view, o, _reading_md(r, x, y), self._link(g, (x, y)), g.seed, g.psi, (x, y), packed

    def _cached_view(self, seed: int, psi: float):
        """Every visitor opens on the same face: G, the enlarged view and the packed beta are made once."""
        return examples.CACHE.get(("sagan_face", seed, psi), lambda: self._face_view(self.explorer().generate(seed, psi)))

    def _face_view(self, g: Generated):
        return g, imaging.upscale_nearest(g.image, VIEW), self._hover(g)


def _open_caption(g: Generated) -> str:
    return f"Seed {g.seed}, psi {g.psi:.2f}: click a pixel of the face."


def redraw(g, layer_name, reading_name, k, a, xy):
    if g is None or xy is None:
        return gr.skip(), gr.skip()
    o, r = attention_view(g.image, g.maps[layer_name], layer_name, *xy, reading_name, g.gammas[layer_name], a, int(k))
    return o, _reading_md(r, *xy)


def d_click(g, layer_name, evt: gr.SelectData):
    if g is None:
        raise gr.Error("Upload a face first.")
    x, y = click_pixel(evt)
    o, r = attention_view(g.image, g.maps[layer_name], layer_name, x, y, "query", g.gammas[layer_name], 0.6, 5)
    return o, _reading_md(r, x, y)
