"""The CAM tab: where a face classifier looks, by CAM, Grad-CAM and Grad-CAM++, for any class and layer."""
from __future__ import annotations

import io

import cv2
import gradio as gr
import numpy as np

from gan_viz import imaging
from gan_viz.models.cam_classifier.cams import METHODS
from gan_viz.models.cam_classifier.visualize import LAYERS, METHOD_LABELS, CAMExplainer, formula
from gan_viz.ui import examples, lessons, links
from gan_viz.ui.context import Family
from gan_viz.ui.serving import HEAVY, LIGHT, PNG_LEVEL
from gan_viz.ui.widgets import image_input, model_handler, photo_handlers, says_no_face, session_file

DEFAULTS = ("gradcam", "predicted", "last", 0.5, "viridis")  # method, class, layer, opacity, colour map as the tab opens
DISPLAY = 256  # px of the face crop shown; the model itself sees it at its input size


def _face_and_probs(explainer, image, use_whole: bool):
    img = image_input(image)
    face = explainer.find_face(img, use_whole_image=bool(use_whole), display_size=DISPLAY)
    return img, face, explainer.classify(_model_crop(face))


def _model_crop(face):
    """What the model is given: the native square when the image is used whole (one resize, as in training)."""
    return face.native if face.native is not None else face.crop


def _boxed(img: np.ndarray, face) -> np.ndarray:
    out = img.copy()
    x, y, w, h = face.box
    t = max(2, round(max(img.shape[:2]) / 200))
    cv2.rectangle(out, (x, y), (x + w, y + h), (255, 200, 0), t)
    return out


def classify_json(fam: Family, image, use_whole_image: bool = False) -> dict:
    """/classify: probabilities of both heads and the face box used (null when the whole image was used).

    A picture with no face raises FaceError (the API answers it in its JSON, widgets.says_no_face): probabilities
    calibrated on faces mean nothing on a wall. use_whole_image classifies the picture as it is, face or not.
    """
    face, probs = fam.get().classify_photo(image_input(image), bool(use_whole_image))
    probs["face_box"] = None if face.whole_image else [int(v) for v in face.box]
    return probs


def cam_api(fam: Family, image, method: str, target: str, layer: str, use_whole_image: bool = False):
    """/cam: (overlay on the face crop, JSON with the heatmap rows in [0, 1] at the model's input resolution)."""
    explainer = fam.get()
    method = (method or "gradcam").lower().replace("grad-cam", "gradcam")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    _, face, probs = _face_and_probs(explainer, image, bool(use_whole_image))
    e = explainer.explain(_model_crop(face), method, target or "predicted", layer or "last", probs=probs)
    return imaging.overlay(face.crop, e.heatmap, 0.5, "viridis"), {
        "method": method, "head": e.head, "class": e.class_name, "layer": e.layer,
        "probability": probs[e.head][e.class_name], "heatmap": np.round(e.heatmap, 4).tolist(),
        "heatmap_size": list(e.heatmap.shape), "face_box": None if face.whole_image else [int(v) for v in face.box],
        "seconds": round(e.seconds, 5)}


def explain_tab(fam: Family, image, use_whole, method, target, layer, alpha, cmap):
    """Everything the tab shows for one image and one set of choices."""
    explainer = fam.get()
    img, face, probs = _face_and_probs(explainer, image, use_whole)
    chosen = None
    gallery = []
    for m in METHODS:
        if m == "cam" and layer not in ("last", explainer.layers[-1]):
            gallery.append((np.full((DISPLAY, DISPLAY, 3), 235, np.uint8), f"CAM: only at the last layer ({explainer.layers[-1]})"))
            continue
        e = explainer.explain(_model_crop(face), m, target, layer, probs=probs)
        gallery.append((imaging.overlay(face.crop, e.heatmap, alpha, cmap), f"{METHOD_LABELS[m]}: {e.seconds * 1000:.1f} ms"))
        if m == method:
            chosen = e
    if chosen is None:  # CAM asked for at an inner layer
        raise ValueError(f"CAM is defined only at the last conv layer ({explainer.layers[-1]}); "
                         "pick Grad-CAM or Grad-CAM++ for inner layers, or the layer 'last'.")
    over = imaging.overlay(face.crop, chosen.heatmap, alpha, cmap)
    bar = imaging.colorbar(cmap, 0.0, 1.0, f"{METHOD_LABELS[method]} for '{chosen.class_name}' at {chosen.layer} "
                                             "(share of the strongest positive evidence)")
    where = ("the whole image (already a face crop)" if face.whole_image
             else f"face box {list(face.box)}, eyes levelled by {face.angle:+.1f} degrees")
    info = f"Explaining **{chosen.class_name}** (head `{chosen.head}`) using {where}.\n\n" + formula(chosen)
    png = session_file(imaging.to_png_bytes(over, PNG_LEVEL), ".png")
    npy = _npy(chosen.heatmap)
    return (_boxed(img, face), probs["gender"], probs["age_group"], over, bar, gallery, info, png, npy)


def _npy(heat: np.ndarray) -> str:
    buf = io.BytesIO()
    np.save(buf, heat.astype(np.float32))
    return session_file(buf.getvalue(), ".npy")


def show_link(image, use_whole, m, t, lay):
    i = links.example_index(image)
    if i is None:
        return links.UPLOAD_NOTE
    return links.markdown("cam", example=i, method=m, target=None if t == "predicted" else t,
                          layer=None if lay == "last" else lay)


def build(fam: Family) -> list[dict]:
    """The tab's components and events; call inside a gr.Blocks / gr.Tab. Returns the page-load events."""
    return CamTab(fam).build()


class CamTab:
    """One build of the tab: its components, and handlers that read the family through `fam`."""

    def __init__(self, fam: Family):
        self.fam = fam
        self.classes, self.layers = ["predicted"], ["last"]
        if fam.weights is not None:
            self.classes += CAMExplainer.class_choices(fam.weights)
            self.layers += list(LAYERS)

    def build(self) -> list[dict]:
        gr.Markdown("Upload a face (or use the webcam or an example). The classifier predicts gender and age group; "
                    "the heatmap shows **where in the face the evidence for a class lies**. Pick the method, the class "
                    "and the layer; every method is also shown side by side with the time it took on this device.")
        lessons.build("cam")
        self._layout()
        self._wire()
        self._api()
        return [dict(fn=self.open_view, inputs=None, outputs=[*self.inputs[:5], *self.outputs, self.link],
                     api_visibility="private", **LIGHT)]

    def _layout(self) -> None:
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(label="Photo", type="filepath", sources=["upload", "webcam", "clipboard"],
                                 elem_id="cam-input", height=320)
                whole = gr.Checkbox(label="Use the whole image (it already is a face crop)", value=False)
                method = gr.Radio([(METHOD_LABELS[m], m) for m in METHODS], value=DEFAULTS[0], label="Method")
                target = gr.Dropdown(self.classes, value=DEFAULTS[1], label="Class to explain")
                layer = gr.Dropdown(self.layers, value=DEFAULTS[2], label="Layer (CAM: last only)")
                with gr.Row():
                    alpha = gr.Slider(0.0, 1.0, value=DEFAULTS[3], step=0.05, label="Heatmap opacity")
                    cmap = gr.Dropdown(list(imaging.COLORMAPS), value=DEFAULTS[4], label="Colormap (colour-blind safe)")
                self.run = gr.Button("Explain", variant="primary")
                self.ex_gallery = examples.gallery()
            with gr.Column(scale=2):
                with gr.Row():
                    face_img = gr.Image(label="Face used", format="png", height=240, interactive=False)
                    gender = gr.Label(label="Gender", num_top_classes=2)
                    age = gr.Label(label="Age group", num_top_classes=5)
                with gr.Row():
                    over = gr.Image(label="Heatmap over the face", format="png", elem_id="cam-overlay",
                                    height=300, interactive=False)
                    with gr.Column():
                        bar = gr.Image(label="Colour bar", format="png", show_label=False, interactive=False, height=80)
                        info = gr.Markdown(elem_id="cam-formula",
                                           latex_delimiters=[{"left": "$", "right": "$", "display": False}])
                gallery = gr.Gallery(label="All methods, same class and layer", columns=3, height=260, format="png")
                self.link = gr.Markdown(links.UPLOAD_NOTE, elem_id="cam-link")
                with gr.Row():
                    png = gr.File(label="Overlay (PNG)")
                    npy = gr.File(label="Heatmap (.npy, float32 in [0, 1])")
        self.inputs = [image, whole, method, target, layer, alpha, cmap]
        self.outputs = [face_img, gender, age, over, bar, gallery, info, png, npy]

    def _wire(self) -> None:
        image, whole, method, target, layer, alpha, cmap = self.inputs
        on_button, on_change, self.arrive = photo_handlers(self.explain, len(self.outputs), "explain_tab")
        link_inputs = [image, whole, method, target, layer]
        # Only what a visitor does computes (.input, .release, a pick): the values the page sets as it opens
        # (open_view, which computes them itself) cost the server nothing more.
        self.ex_gallery.select(examples.on_select, None, [image, whole], api_visibility="private", **LIGHT).then(
            on_change, self.inputs, self.outputs, api_visibility="private", **HEAVY).then(
            show_link, link_inputs, self.link, api_visibility="private", **LIGHT)
        self.run.click(on_button, self.inputs, self.outputs, api_visibility="private", **HEAVY)
        gr.on([image.input, method.input, target.input, layer.input, alpha.release, cmap.input, whole.input],
              on_change, self.inputs, self.outputs, api_visibility="private", trigger_mode="always_last", **HEAVY)
        gr.on([image.input, method.input, target.input, layer.input, whole.input], show_link, link_inputs, self.link,
              api_visibility="private", **LIGHT)

    def explain(self, image, *choices):
        return explain_tab(self.fam, image, *choices)

    def open_view(self, request: gr.Request):
        """The view a link names (?tab=cam&example=0&method=gradcam&target=female&layer=conv3), else the worked
        example: inputs and results together, computed once for every visitor (examples.CACHE)."""
        q = links.for_tab(request, "cam")
        ex = links.example_path(q)
        image, whole = ex if ex is not None else examples.example_rows()[0]
        choices = (links.choice_param(q, "method", METHODS) or DEFAULTS[0],
                   links.choice_param(q, "target", self.classes) or DEFAULTS[1],
                   links.choice_param(q, "layer", self.layers) or DEFAULTS[2], *DEFAULTS[3:])
        try:
            results = self.arrive(image, whole, *choices)
        except gr.Error as e:  # the lesson's picture without a face: shown, with the reason, and no probability
            gr.Warning(e.message)
            results = [None] * len(self.outputs)
        return (image, whole, *choices[:3], *results, show_link(image, whole, *choices[:3]))

    def _api(self) -> None:
        """The programmatic API (gradio_client), on hidden components so its signature is exactly the documented one."""
        with gr.Group(visible=False):
            # gr.File, not gr.Image: gradio's own image preprocessing would reject a broken upload with an
            # internal error before our validation could answer it with a clear message.
            api_image = gr.File(type="filepath", label="image", file_types=["image"])
            api_method = gr.Textbox(label="method", value="gradcam")
            api_target = gr.Textbox(label="target", value="predicted")
            api_layer = gr.Textbox(label="layer", value="last")
            api_whole = gr.Checkbox(label="use_whole_image", value=False)
            api_overlay = gr.Image(format="png", label="overlay")
            api_json = gr.JSON(label="result")
            api_classify_json = gr.JSON(label="classification")
            b1, b2 = gr.Button(), gr.Button()
        b1.click(model_handler(says_no_face(self.classify, 0), "image"), [api_image, api_whole], api_classify_json,
                 api_name="classify", **HEAVY)
        b2.click(model_handler(says_no_face(self.cam, 1), "image"), [api_image, api_method, api_target, api_layer, api_whole],
                 [api_overlay, api_json], api_name="cam", **HEAVY)

    # Named parameters: gradio_client's view_api() shows these names.
    def classify(self, image, use_whole_image=False):
        return classify_json(self.fam, image, use_whole_image)

    def cam(self, image, method, target, layer, use_whole_image=False):
        return cam_api(self.fam, image, method, target, layer, use_whole_image)
