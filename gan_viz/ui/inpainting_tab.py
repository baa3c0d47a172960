"""The inpainting tab: paint a hole in a face, LBAM fills it, and its forward and reverse attention maps are shown."""
from __future__ import annotations

import functools
import time

import gradio as gr
import numpy as np

from gan_viz import faces, imaging, image_quality
from gan_viz.models.lbam import masks
from gan_viz.models.lbam.visualize import Inpainting, hole_at, mask_from_image, reconcile_mask
from gan_viz.ui import examples, lessons, links
from gan_viz.ui.context import Family
from gan_viz.ui.serving import HEAVY, LIGHT, PNG_LEVEL
from gan_viz.ui.widgets import image_input, session_file, model_handler, user_errors

EDIT = 256  # px of the face in the editor; the model works at its own size (128) and the mask is mapped to it
MASK_RGB = (255, 0, 255)  # preset holes are tinted in the brush's colour, so brush and presets look alike
PRESETS = {f"free-form {int(lo * 100)}-{int(hi * 100)}%": (lo, hi) for lo, hi in masks.BUCKETS}
PRESETS.update({"centre box (25%)": "box", "eyes": "eyes", "nose": "nose", "mouth": "mouth"})


def editor_value(crop: np.ndarray, preset: np.ndarray | None = None) -> dict:
    """An ImageEditor value: the face as background, a preset hole tinted into it (the brush adds to it).

    The preset is kept in the session's state, not as an editor layer: Gradio 6.31 draws a
    layer handed to the editor offset from the image, so the tint is what the user sees.
    """
    bg = crop.copy()
    if preset is not None:
        tint = np.array(MASK_RGB, np.float32)
        bg[preset] = (0.35 * bg[preset] + 0.65 * tint).astype(np.uint8)
    return {"background": bg, "layers": [], "composite": None}


def editor_hole(value, shape: tuple[int, int]) -> np.ndarray:
    """The painted hole of an ImageEditor value: any layer pixel with alpha > 0, at shape (H, W)."""
    layers = (value or {}).get("layers") or []
    hole = np.zeros(shape, bool)
    for layer in layers:
        a = np.asarray(layer)
        if a.ndim == 3 and a.shape[2] == 4:
            hole |= reconcile_mask(a[..., 3] > 0, shape)
    return hole


def preset_hole(name: str, size: int, seed: int, model_size: int | None = None) -> np.ndarray:
    """A preset hole at size px; drawn at model_size and scaled up (nearest), so the model sees the stated ratio."""
    if model_size and model_size != size:
        small = preset_hole(name, model_size, seed)
        return reconcile_mask(small, (size, size))  # nearest: every model pixel stays whole
    kind = PRESETS.get(name)
    if kind is None:
        raise ValueError(f"unknown preset {name!r}")
    if isinstance(kind, tuple):
        return masks.free_form(size, np.random.default_rng(int(seed)), *kind).astype(bool)
    if kind == "box":
        return masks.centre_box(size, 0.25).astype(bool)
    return masks.face_part(size, kind).astype(bool)


def face_crop(image, use_whole: bool) -> np.ndarray:
    """The face of a photo in the model's framing, at the editor's size."""
    return faces.find_faces(image_input(image), EDIT, use_whole_image=bool(use_whole), max_faces=1)[0].crop


def _maps_gallery(res: Inpainting, cmap: str = "viridis") -> list[tuple[np.ndarray, str]]:
    out = []
    for kind, maps, sym in (("forward", res.forward_maps, "A"), ("reverse", res.reverse_maps, "A^r")):
        for n, (name, m) in enumerate(maps, start=1):
            lo, hi = float(m.min()), float(m.max())
            shown = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
            img = imaging.upscale_nearest(imaging.colorize(shown, cmap), max(1, 128 // m.shape[0]))
            out.append((img, f"{kind} {sym}_{n}, {name}: mean over channels, {lo:.2f} (dark) to {hi:.2f} (bright)"))
    return out


@functools.lru_cache(maxsize=4)
def _activation_plot(inp) -> np.ndarray:
    """The learned g_A and g_M of every layer, rendered once per loaded model (they are fixed weights)
    to a uint8 image, so no click pays for matplotlib and no figure is shared between sessions."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    xs = np.linspace(-2, 6, 241)
    fig = Figure(figsize=(8, 3.2))
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for kind, name, ga, gm in inp.activation_curves(xs):
        style = "-" if kind == "forward" else "--"
        ax1.plot(xs, ga, style, linewidth=1, label=f"{kind} {name.split(' (')[0]}")
        ax2.plot(xs, gm, style, linewidth=1)
    ax1.set_title("g_A: attention from the convolved mask", fontsize=9)
    ax2.set_title("g_M(M) = ReLU(M)^alpha: the updated mask", fontsize=9)
    for ax in (ax1, ax2):
        ax.set_xlabel("convolved mask value", fontsize=8)
        ax.tick_params(labelsize=7)
    ax1.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    FigureCanvasAgg(fig).draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


@functools.lru_cache(maxsize=4)
def _params_table(inp):
    """The learned parameters per layer, once per loaded model (read-only afterwards)."""
    import pandas as pd

    return pd.DataFrame(inp.activations()).round(4)


def inpaint_tab(fam: Family, original, editor, dilation: int, preset: np.ndarray | None = None):
    """Everything the tab shows for one face and one hole: the brush strokes plus the preset, if any."""
    if original is None:
        raise gr.Error("Upload a photo or pick an example first; its face appears in the editor.")
    inp = fam.get()
    s = inp.size
    hole_edit = editor_hole(editor, original.shape[:2])
    if preset is not None:
        hole_edit |= reconcile_mask(preset, original.shape[:2])
    hole_edit = masks.dilate(hole_edit, int(dilation))
    if not hole_edit.any():
        raise gr.Error("Paint over part of the face with the brush (or apply a preset) first.")
    truth = imaging.resize(original, (s, s)) if original.shape[0] != s else original  # what the model sees, and the ground truth
    hole = hole_at(hole_edit, s)
    res = inp.inpaint(truth, hole, with_maps=True)
    telea = image_quality.classical_inpaint(truth, hole, "telea")
    masked = np.where(hole[..., None], np.array([255, 0, 255], np.uint8), truth)
    rows = [("LBAM composite", res.composite), ("OpenCV Telea", telea)]
    table = "\n".join(f"| {n} | {image_quality.psnr(im, truth):.2f} | {image_quality.ssim(im, truth):.4f} |" for n, im in rows)
    info = (f"Hole: **{res.hole_ratio:.1%}** of the {s}x{s} face. LBAM ran in **{res.seconds * 1000:.0f} ms** on this "
            f"device. Against the original pixels (the whole {s}x{s} image):\n\n| result | PSNR (dB) | SSIM |\n"
            f"|---|---|---|\n{table}\n\nThe composite keeps every known pixel; only the hole comes from the network.")
    view = (EDIT, EDIT)
    png = session_file(imaging.to_png_bytes(res.composite, PNG_LEVEL), ".png")
    return (imaging.resize(masked, view), imaging.resize(res.raw, view), imaging.resize(res.composite, view),
            imaging.resize(telea, view), info, _maps_gallery(res), _activation_plot(inp), _params_table(inp), png)


def inpaint_api(fam: Family, image, mask) -> tuple[np.ndarray, np.ndarray, dict]:
    """/inpaint: the image as given (no face cropping) and a mask picture (white = hole) -> composite, raw, JSON."""
    t0 = time.perf_counter()
    if image is None or mask is None:
        raise ValueError("send both an image and a mask (white = hole)")
    img = image_input(image)
    hole = mask_from_image(image_input(mask, "mask"))
    hole = reconcile_mask(hole, img.shape[:2])
    res = fam.get().inpaint(img, hole)
    return res.composite, res.raw, {
        "hole_ratio": round(res.hole_ratio, 5), "size": [int(img.shape[1]), int(img.shape[0])],
        "model_size": fam.get().size,
        "timings": {"network_s": round(res.seconds, 5), "total_s": round(time.perf_counter() - t0, 5)}}


INTRO = (
    "Upload a photo (or pick an example): its face appears in the editor. **Paint the hole** with the brush (size, "
    "eraser and undo are in the editor's toolbar) and/or apply a preset (tinted magenta; the brush adds to it, "
    "'Clear preset' removes it), then press Inpaint. The LBAM network "
    "(Xie et al. 2019) fills the hole; below it, the **learned attention maps**: each encoder layer re-weights its "
    "features by a forward map computed from the mask, each decoder layer by a reverse map computed from 1 - mask.")


def load_face(image, use_whole):
    if image is None:
        return None, None, None
    crop = face_crop(image, use_whole)
    return crop, editor_value(crop), None


def on_clear(crop):
    if crop is None:
        return None, None
    return editor_value(crop), None


def show_link(image):
    i = links.example_index(image)
    return links.UPLOAD_NOTE if i is None else links.markdown("inpainting", example=i)


def build(fam: Family) -> list[dict]:
    """The tab's components and events; call inside a gr.Blocks / gr.Tab. Returns the page-load events."""
    return InpaintingTab(fam).build()


class InpaintingTab:
    """One build of the tab: its components, and handlers that fill holes with `fam`."""

    def __init__(self, fam: Family):
        self.fam = fam

    def build(self) -> list[dict]:
        gr.Markdown(INTRO)
        lessons.build("inpainting")
        # Per visitor: the face at the editor's size (the truth PSNR and SSIM are measured against), and the
        # applied preset hole (bool, editor size) that brush strokes add to.
        self.original, self.preset_hole_state = gr.State(None), gr.State(None)
        self._layout()
        self._wire()
        self._api()
        return [dict(fn=model_handler(self.open_view, "image"), inputs=None,
                     outputs=[self.photo, self.whole, self.original, self.editor, self.preset_hole_state,
                              *self.run_outputs], api_visibility="private", **LIGHT)]

    def _layout(self) -> None:
        with gr.Row():
            with gr.Column(scale=1):
                self.photo = gr.Image(label="Photo", type="filepath", sources=["upload", "webcam", "clipboard"],
                                      elem_id="inpaint-input", height=220)
                self.whole = gr.Checkbox(label="Use the whole image (it already is a face crop)", value=False)
                self.ex_gallery = examples.gallery()
                self.editor = gr.ImageEditor(
                    label="Paint the hole", type="numpy", image_mode="RGBA", format="png", sources=(), transforms=(),
                    layers=False, elem_id="inpaint-editor", height=340, eraser=gr.Eraser(default_size=12),
                    brush=gr.Brush(default_size=10, colors=["#ff00ff"], color_mode="fixed"))
                with gr.Row():
                    self.preset = gr.Dropdown(list(PRESETS), value="free-form 30-40%", label="Preset hole")
                    self.seed = gr.Number(value=0, precision=0, label="Seed (free-form)")
                with gr.Row():
                    self.apply, self.clear = gr.Button("Apply preset"), gr.Button("Clear preset")
                with gr.Row():
                    self.dilation = gr.Slider(0, 16, value=0, step=1, label="Grow the hole by (px of the editor)")
                self.run = gr.Button("Inpaint", variant="primary")
            with gr.Column(scale=2):
                self._results()

    def _results(self) -> None:
        with gr.Row():
            masked = gr.Image(label="Masked input", format="png", interactive=False, height=220)
            raw = gr.Image(label="LBAM raw output", format="png", interactive=False, height=220)
            comp = gr.Image(label="Composite (known pixels kept)", format="png", interactive=False, height=220,
                            elem_id="inpaint-composite")
            telea = gr.Image(label="OpenCV Telea (classical)", format="png", interactive=False, height=220)
        info = gr.Markdown(elem_id="inpaint-info")
        maps = gr.Gallery(label="Attention maps: forward (encoder) and reverse (decoder)", columns=6, height=300,
                          format="png")
        plot = gr.Image(label="Learned activation functions (solid: forward, dashed: reverse)", format="png",
                        interactive=False)
        params = gr.Dataframe(label="Learned parameters of g_A and g_M per layer", interactive=False)
        download = gr.File(label="Composite (PNG)")
        self.link = gr.Markdown(links.UPLOAD_NOTE, elem_id="inpaint-link")
        self.run_outputs = [masked, raw, comp, telea, info, maps, plot, params, download]

    def _wire(self) -> None:
        gr.on([self.photo.change, self.whole.change], user_errors(load_face), [self.photo, self.whole],
              [self.original, self.editor, self.preset_hole_state], api_visibility="private", **HEAVY)
        self.apply.click(user_errors(self.on_preset), [self.original, self.preset, self.seed],
                         [self.editor, self.preset_hole_state], api_visibility="private", **LIGHT)
        self.clear.click(user_errors(on_clear), self.original, [self.editor, self.preset_hole_state],
                         api_visibility="private", **LIGHT)
        self.ex_gallery.select(examples.on_select, None, [self.photo, self.whole], api_visibility="private", **LIGHT)
        self.run.click(model_handler(self.on_inpaint, "image"),
                       [self.original, self.editor, self.dilation, self.preset_hole_state], self.run_outputs,
                       api_visibility="private", **HEAVY)
        self.photo.change(show_link, self.photo, self.link, api_visibility="private", **LIGHT)

    def on_preset(self, crop, name, s):
        if crop is None:
            raise gr.Error("Upload a photo or pick an example first.")
        hole = preset_hole(name, crop.shape[0], s, self.fam.get().size)
        return editor_value(crop, hole), hole

    def on_inpaint(self, o, e, d, p):
        return inpaint_tab(self.fam, o, e, d, p)

    def worked_example(self):
        """The first example's face with the default preset hole, filled: computed once for every visitor."""
        first, whole0 = examples.example_rows()[0]
        crop = face_crop(first, whole0)
        hole = preset_hole(self.preset.value, crop.shape[0], int(self.seed.value), self.fam.get().size)
        return (crop, editor_value(crop, hole), hole, *inpaint_tab(self.fam, crop, editor_value(crop, hole), 0, hole))

    def open_view(self, request: gr.Request):
        """?tab=inpainting&example=0 sets the photo; without a link the tab opens on the worked example."""
        ex = links.example_path(links.for_tab(request, "inpainting"))
        if ex:
            return (ex[0], ex[1], *[gr.skip()] * (3 + len(self.run_outputs)))
        # The photo box stays empty (setting it would reload the face and drop the preset); the editor holds the face.
        return (gr.skip(), gr.skip(), *examples.CACHE.get(("inpainting_worked_example",), self.worked_example))

    def _api(self) -> None:
        with gr.Group(visible=False):  # the documented API on hidden components (gr.File: our own validation answers)
            api_image = gr.File(type="filepath", label="image", file_types=["image"])
            api_mask = gr.File(type="filepath", label="mask", file_types=["image"])
            api_comp, api_raw = gr.Image(format="png", label="composite"), gr.Image(format="png", label="raw")
            api_json = gr.JSON(label="details")
            b = gr.Button()
        b.click(model_handler(self.inpaint, "image"), [api_image, api_mask], [api_comp, api_raw, api_json],
                api_name="inpaint", **HEAVY)

    # Named parameters: gradio_client's view_api() shows these names.
    def inpaint(self, image, mask):
        return inpaint_api(self.fam, image, mask)
