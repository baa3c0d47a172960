"""The gender-flip tab: male <-> female on the faces of the user's photo (CycleGAN or U-GAT-IT), the whole cycle shown."""
from __future__ import annotations

import cv2
import gradio as gr
import numpy as np

from gan_viz import imaging
from gan_viz.models.photo_flip import MAX_FACES, MAX_STRENGTH, TARGET, FlippedPhoto, blend_maps, patch_realness
from gan_viz.ui import examples, lessons, links, where_it_looks
from gan_viz.ui.where_it_looks import PANEL, big as _big, heat as _heat
from gan_viz.ui.context import Family
from gan_viz.ui.serving import HEAVY, LIGHT, PNG_LEVEL
from gan_viz.ui.widgets import image_input, model_handler, photo_handlers, says_no_face, session_file

DIRECTION_LABELS = {"auto": "auto (the CAM classifier decides)", "male_to_female": "male -> female",
                    "female_to_male": "female -> male"}
OTHER = {"male_to_female": "female_to_male", "female_to_male": "male_to_female"}
TRANSLATOR_LABELS = {"cyclegan": "CycleGAN (its attention read by a probe)",
                     "ugatit": "U-GAT-IT (attention trained in the loop, steering the translation)"}


def _p_female(cam: Family | None):
    """The CAM classifier as the 'auto' judge (None when its weights are missing: 'auto' then says so)."""
    if cam is None or cam.weights is None:
        return None
    return lambda crop: cam.get().classify(crop)["gender"]["female"]


def flip(fam: Family, cam: Family | None, image, direction: str, use_whole: bool = False,
         face_index: int | None = None, strength: float | None = None) -> FlippedPhoto:
    img = image_input(image)
    s = None if strength is None else float(strength)  # None: calibrated per direction
    return fam.get().flip_photo(img, direction or "auto", _p_female(cam), bool(use_whole), face_index, strength=s)


def panels(ph: FlippedPhoto, which: int = 0) -> list[tuple[np.ndarray, str]]:
    """The cycle of one face as (image, one-line caption) pairs, in the order the cycle runs."""
    f = ph.faces[which]
    c = f.cycle
    tgt, src = TARGET[c.direction], TARGET[OTHER[c.direction]]
    g, inv = c.direction, OTHER[c.direction]
    realness = patch_realness(c.patch_map, PANEL)
    d_over = imaging.overlay(_big(c.fake), realness, 0.55, "viridis")
    return [
        (_big(c.x), f"x: the face, aligned and resized to the model's {c.x.shape[0]} px"),
        (_big(c.fake), f"G(x): {g} turned it {tgt}"),
        (_big(c.rec), f"F(G(x)): {inv} turned it back; the cycle loss wants this to equal x"),
        (_heat(c.cycle_error), f"|x - F(G(x))|: what the round trip lost (cycle L1 {c.cycle_l1:.3f})"),
        (_heat(c.change), "|G(x) - x|: where the translation changed the face"),
        (_big(c.identity), f"F(x): {inv} on a face that already looks {src}; should change little "
                           f"(identity L1 {c.identity_l1:.3f})"),
        (d_over, f"D_{tgt}(G(x)): where the {tgt} discriminator finds the result real (yellow) or fake (purple)"),
        *blend_panels(ph, which),
    ]


def blend_panels(ph: FlippedPhoto, which: int) -> list[tuple[np.ndarray, str]]:
    """How the change went back into the photo: its weight, and where the photo's own fine detail was replaced."""
    alpha, dropped = blend_maps(ph, which, PANEL)
    face = _big(ph.faces[which].cycle.x)
    out = [(imaging.overlay(face, alpha, 0.6, "cividis"),
            "blend: the weight of G(x) - x added to the photo (a feathered ellipse over face and hairline)")]
    if ph.detail == "model":
        out.append((imaging.overlay(face, dropped, 0.6, "cividis"),
                    "where G redrew (|G(x) - x| > 0.15) the photo's finer detail is replaced by the model's"))
    return out


def _boxed(img: np.ndarray, ph: FlippedPhoto) -> np.ndarray:
    out = np.ascontiguousarray(img.copy())
    t = max(2, round(max(img.shape[:2]) / 250))
    for n, f in enumerate(ph.faces, start=1):
        if f.face.whole_image:
            continue
        x, y, w, h = f.face.box
        cv2.rectangle(out, (x, y), (x + w, y + h), (255, 200, 0), t)
        cv2.putText(out, str(n), (x + t, y + h - 2 * t), cv2.FONT_HERSHEY_SIMPLEX, max(0.6, w / 150), (255, 200, 0), t)
    return out


def face_json(ph: FlippedPhoto) -> dict:
    """The numbers of a flip: direction used, boxes and cycle/identity L1 (of face 1 at the top level)."""
    rows = [{"box": None if f.face.whole_image else [int(v) for v in f.face.box], "direction": f.cycle.direction,
             "p_female": None if f.p_female is None else round(f.p_female, 4),
             "cycle_l1": round(f.cycle.cycle_l1, 5), "identity_l1": round(f.cycle.identity_l1, 5),
             "eye_angle": round(f.face.angle, 2), "strength": f.strength} for f in ph.faces]
    first = rows[0]
    return {"direction": first["direction"], "p_female": first["p_female"], "cycle_l1": first["cycle_l1"],
            "identity_l1": first["identity_l1"], "face_boxes": [r["box"] for r in rows], "faces": rows,
            "whole_image": ph.faces[0].face.whole_image, "faces_not_flipped": ph.skipped,
            "seconds": round(ph.seconds, 4)}


def summary(ph: FlippedPhoto, shown: int) -> str:
    lines = []
    for n, f in enumerate(ph.faces, start=1):
        how = (f"auto: the classifier gives p(female) = {f.p_female:.2f}" if f.p_female is not None else "as chosen")
        lines.append(f"| {n} | {DIRECTION_LABELS[f.cycle.direction]} | {how} | {f.strength:g} | {f.cycle.cycle_l1:.3f} | "
                     f"{f.cycle.identity_l1:.3f} | {f.cycle.seconds * 1000:.0f} ms |")
    note = (f"\n\n{ph.skipped} more face(s) in the photo were left as they are (at most {MAX_FACES} are flipped; "
            "pick one with 'Face')." if ph.skipped else "")
    return ("| face | direction | why | strength s | cycle L1 | identity L1 | nets |\n|---|---|---|---|---|---|---|\n"
            + "\n".join(lines)
            + f"\n\nWhole photo in {ph.seconds * 1000:.0f} ms (detection, alignment, four nets per face, blending: "
              f"s x (G(x) - x) added where G changed the face, see the last panels). "
              f"L1 is the mean absolute difference in [0, 1] pixel units. The panels below show face {shown + 1}."
            + note)


def translator_family(families: dict[str, Family | None], translator) -> Family:
    """The family a `translator` value names ("cyclegan", "ugatit"; "U-GAT-IT" and "CycleGAN" too)."""
    name = str(translator or "cyclegan").strip().lower().replace("-", "").replace(" ", "")
    if name not in TRANSLATOR_LABELS:
        hint = " (use_whole_image is the fourth parameter: pass it by name)" if name in ("true", "false") else ""
        raise ValueError(f"translator must be one of {', '.join(TRANSLATOR_LABELS)}, got {translator!r}{hint}")
    fam = families.get(name)
    if fam is None or fam.weights is None:
        raise ValueError(f"the {name} translator is not offered by this app (its weights were not found, or it is "
                         "below its quality bar: 'About these models' says which)")
    return fam


def flip_tab(fam: Family, cam: Family | None, image, direction, use_whole, which, calibrated=True, strength=1.0):
    which_i = None if which in (None, "", "all faces") else int(str(which).split()[-1]) - 1
    img = image_input(image)  # decoded once; flip() only re-checks the array
    ph = flip(fam, cam, img, direction, use_whole, which_i, strength=None if calibrated else strength)
    if ph.skipped and which_i is None:
        gr.Warning(f"{len(ph.faces) + ph.skipped} faces found; the {MAX_FACES} largest were flipped.")
    png = session_file(imaging.to_png_bytes(ph.result, PNG_LEVEL), ".png")
    att_panels, att_md = where_it_looks.view(fam.name, fam.get(), ph.faces[0].cycle)
    return ph.result, _boxed(img, ph), summary(ph, 0), panels(ph, 0), png, att_panels, att_md


def show_link(image, d, translator="cyclegan"):
    i = links.example_index(image)
    if i is None:
        return links.UPLOAD_NOTE
    extra = {"translator": translator} if translator == "ugatit" else {}
    return links.markdown("gender", example=i, direction=d, **extra)


def _direction(direction) -> str:
    return (direction or "").strip().lower().replace("->", "_to_").replace(" ", "")


def build(fam: Family, cam: Family | None, ugatit: Family | None = None) -> list[dict]:
    """The tab's components and events; call inside a gr.Blocks / gr.Tab. Returns the page-load events.

    fam: the CycleGAN; cam: the classifier that decides 'auto'; ugatit: offered as a second translator when given
    (app.py gives it only when its weights are found)."""
    return GenderTab(fam, cam, ugatit).build()


class GenderTab:
    """One build of the tab: its components, and handlers that flip with the translator picked, judged by `cam`."""

    def __init__(self, fam: Family, cam: Family | None, ugatit: Family | None = None):
        self.families = {"cyclegan": fam, "ugatit": ugatit}
        self.offered = [k for k, f in self.families.items() if f is not None and f.weights is not None]
        self.cam = cam

    def build(self) -> list[dict]:
        gr.Markdown(
            "Upload a photo (or use the webcam or an example). Each face is found, its eyes levelled, cropped the way "
            "the training faces were, translated by a **CycleGAN** (Zhu et al. 2017)"
            + (" or by **U-GAT-IT** (Kim et al. 2020), whose CAM attention steers its translation,"
               if "ugatit" in self.offered else "") +
            " and the change is blended back into your picture. Below, the whole cycle of one face: the translation "
            "G(x), the way back F(G(x)), what got lost, what the discriminator thinks, and where the translator looks.")
        lessons.build("gender", lambda step: step.get("translator", "cyclegan") in self.offered)
        self._layout()
        self._wire()
        self._api()
        image, direction, whole = self.inputs[:3]
        outputs = [image, whole, direction, self.inputs[-1], *self.outputs, self.link]
        return [dict(fn=self.open_view, inputs=None, outputs=outputs,
                     api_visibility="private", **LIGHT)]

    def _layout(self) -> None:
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(label="Photo", type="filepath", sources=["upload", "webcam", "clipboard"],
                                 elem_id="flip-input", height=320)
                direction = gr.Radio([(v, k) for k, v in DIRECTION_LABELS.items()], value="auto", label="Direction")
                translator = gr.Radio([(TRANSLATOR_LABELS[k], k) for k in self.offered], value="cyclegan",
                                      label="Translator", elem_id="flip-translator", visible=len(self.offered) > 1)
                which = gr.Dropdown(["all faces"] + [f"face {i}" for i in range(1, MAX_FACES + 1)], value="all faces",
                                    label="Face (numbered on the photo, largest first)")
                whole = gr.Checkbox(label="Use the whole image (it already is a face crop)", value=False)
                calibrated = gr.Checkbox(value=True, label=(
                    "Calibrated strength, per translator and direction (the strongest flip that keeps the face's "
                    "structure; the table under the result says which); untick to choose"))
                strength = gr.Slider(0.0, MAX_STRENGTH, value=1.0, step=0.1, elem_id="flip-strength",
                                     label="Strength s: the photo moves by s x (G(x) - x); 1 is the translation itself, "
                                           "more goes further the same way")
                self.run = gr.Button("Flip", variant="primary")
                self.ex_gallery = examples.gallery()
            with gr.Column(scale=2):
                with gr.Row():
                    result = gr.Image(label="Result", format="png", elem_id="flip-result", height=340, interactive=False)
                    found = gr.Image(label="Faces found", format="png", height=340, interactive=False)
                info = gr.Markdown(elem_id="flip-info")
                gallery = gr.Gallery(label="The cycle of one face", columns=4, height=480, format="png",
                                     elem_id="flip-cycle")
                with gr.Accordion("Where the translator looks: CAM attention (U-GAT-IT's own; a probe of the "
                                  "CycleGAN)", open=True):
                    att_gallery = gr.Gallery(label="Attention of face 1", columns=5, height="auto", format="png",
                                             elem_id="flip-attention")
                    att_info = gr.Markdown(elem_id="flip-attention-info",
                                           latex_delimiters=[{"left": "$", "right": "$", "display": False}])
                download = gr.File(label="Result (PNG)")
                self.link = gr.Markdown(links.UPLOAD_NOTE, elem_id="flip-link")
        self.inputs = [image, direction, whole, which, calibrated, strength, translator]
        self.outputs = [result, found, info, gallery, download, att_gallery, att_info]

    def _wire(self) -> None:
        image, direction, whole, which, calibrated, strength, translator = self.inputs
        on_button, on_change, self.arrive = photo_handlers(self.flip, len(self.outputs), "flip_tab")
        # Only what a visitor does computes (.input, .release, a pick): the values the page sets as it opens
        # (open_view, which computes them itself) cost the server nothing more.
        self.ex_gallery.select(examples.on_select, None, [image, whole], api_visibility="private", **LIGHT).then(
            on_change, self.inputs, self.outputs, api_visibility="private", **HEAVY).then(
            show_link, [image, direction, translator], self.link, api_visibility="private", **LIGHT)
        self.run.click(on_button, self.inputs, self.outputs, api_visibility="private", **HEAVY)
        gr.on([image.input, direction.input, whole.input, which.input, calibrated.input, strength.release,
               translator.input], on_change, self.inputs, self.outputs, api_visibility="private",
              trigger_mode="always_last", **HEAVY)
        gr.on([image.input, direction.input, translator.input], show_link, [image, direction, translator], self.link,
              api_visibility="private", **LIGHT)

    def flip(self, image, direction, whole, which, calibrated, strength, translator="cyclegan"):
        fam = translator_family(self.families, translator)
        return flip_tab(fam, self.cam, image, direction, whole, which, calibrated, strength)

    def open_view(self, request: gr.Request):
        """The view a link names (?tab=gender&example=0&direction=female_to_male), else the worked example: inputs
        and results together, computed once for every visitor (examples.CACHE)."""
        q = links.for_tab(request, "gender")
        ex = links.example_path(q)
        image, whole = ex if ex is not None else examples.example_rows()[0]
        direction = links.choice_param(q, "direction", DIRECTION_LABELS) or "auto"
        translator = links.choice_param(q, "translator", self.offered) or "cyclegan"
        return (image, whole, direction, translator,
                *self.arrive(image, direction, whole, "all faces", True, 1.0, translator),
                show_link(image, direction, translator))

    def _api(self) -> None:
        with gr.Group(visible=False):  # the documented API on hidden components (gr.File: our own validation answers)
            api_image = gr.File(type="filepath", label="image", file_types=["image"])
            api_direction = gr.Textbox(label="direction", value="auto")
            api_translator = gr.Textbox(label="translator", value="cyclegan")
            api_whole = gr.Checkbox(label="use_whole_image", value=False)
            api_result = gr.Image(format="png", label="result")
            api_face = gr.Image(format="png", label="translated face")
            api_json = gr.JSON(label="details")
            api_att_direction = gr.Textbox(label="direction", value="male_to_female")
            api_att_overlay = gr.Image(format="png", label="attention_overlay")
            api_att_json = gr.JSON(label="attention")
            b, b_att = gr.Button(), gr.Button()
        b.click(model_handler(says_no_face(self.gender_flip, 2), "image"), [api_image, api_direction, api_translator, api_whole],
                [api_result, api_face, api_json], api_name="gender_flip", **HEAVY)
        b_att.click(model_handler(says_no_face(self.translator_attention, 1), "image"),
                    [api_image, api_att_direction, api_translator, api_whole],
                    [api_att_overlay, api_att_json], api_name="translator_attention", **HEAVY)

    # Named parameters: gradio_client's view_api() shows these names.
    def translator_attention(self, image, direction, translator="cyclegan", use_whole_image=False):
        fam = translator_family(self.families, translator)
        if image is None:
            raise ValueError("send an image")
        d = _direction(direction)
        if d not in TARGET:
            raise ValueError(f"direction must be one of {', '.join(TARGET)}, got {direction!r}")
        ph = flip(fam, self.cam, image, d, bool(use_whole_image))
        return where_it_looks.api_answer(fam.name, fam.get(), ph.faces[0].cycle)

    def gender_flip(self, image, direction, translator="cyclegan", use_whole_image=False):
        fam = translator_family(self.families, translator)
        if image is None:
            raise ValueError("send an image")
        ph = flip(fam, self.cam, image, _direction(direction or "auto"), bool(use_whole_image))
        return ph.result, ph.faces[0].cycle.fake, face_json(ph) | {"translator": fam.name}
