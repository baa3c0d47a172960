"""The adversarial-examples tab: FGSM and PGD against the face classifier, where its evidence moves, what robust training buys."""
from __future__ import annotations

import gradio as gr
import numpy as np

from gan_viz import imaging
from gan_viz.models.cam_classifier.adversarial import MAX_EPSILON, METHODS
from gan_viz.models.cam_classifier.visualize import EPSILON_CURVE, CAMExplainer, epsilon_curve, run_attack
from gan_viz.ui import examples, lessons, links
from gan_viz.ui.context import Family
from gan_viz.ui.serving import HEAVY, LIGHT
from gan_viz.ui.widgets import image_input, model_handler, photo_handlers, says_no_face

DEFAULTS = ("fgsm", 4, 10, 1.0, "untargeted", "standard", "gradcam")  # the settings the tab opens with
VIEW = 4  # the model's crop is small (80 px): shown 4x, nearest, so single-level changes stay visible
METHOD_LABELS = {"fgsm": "FGSM (one step)", "pgd": "PGD (k projected steps)"}
MODELS = {"standard": "standard", "robust": "adversarially trained (FGSM, random start)"}
INTRO = (
    "A tiny change to a face, made *against* the classifier, flips its answer: an **adversarial example**. "
    "GANs grew from the same idea: a generator trained against a discriminator. Pick an attack and a budget "
    "epsilon (in 8-bit pixel levels: 4 means no pixel moves by more than 4 out of 255); the attack works on the "
    "exact 8-bit crop the classifier sees, and the result is saved as 8-bit again. The heatmaps show where the "
    "evidence for the clean answer lies before and after. The adversarially trained twin was trained on FGSM "
    "examples: compare how much it resists FGSM, and then PGD.")


def _models(standard: Family, robust: Family | None) -> dict[str, Family]:
    out = {"standard": standard}
    if robust is not None and robust.weights is not None:
        out["robust"] = robust
    return out


def _crop(explainer, image, use_whole: bool) -> np.ndarray:
    face = explainer.find_face(image_input(image), use_whole_image=bool(use_whole))
    return explainer.model_input(face.native if face.native is not None else face.crop)


def perturbation_view(clean: np.ndarray, adv: np.ndarray, eps: float) -> np.ndarray:
    """x' - x amplified to the full grey range: mid-grey = 0, white = +eps, black = -eps."""
    delta = adv.astype(np.float32) - clean.astype(np.float32)
    scale = 127.0 / max(eps, 1.0)
    return np.clip(128 + delta * scale, 0, 255).astype(np.uint8)


def formula(r, model_name: str) -> str:
    a = r.attack
    p_before, p_after = r.before[r.attacked_class], r.after[r.attacked_class]
    goal = (f"towards **{r.attacked_class}** (targeted: $J$ is the loss of that class, and the step goes *down* it)"
            if r.targeted else f"away from the clean answer **{r.attacked_class}** (untargeted)")
    if a.method == "fgsm":
        how = (f"**FGSM**: $x' = \\mathrm{{clip}}(x + \\epsilon\\,\\mathrm{{sign}}(\\nabla_x J(x, y)))$ with "
               f"$\\epsilon$ = {a.epsilon:g}/255: one gradient, every pixel moved by exactly $\\pm\\epsilon$ (or clipped).")
    else:
        how = (f"**PGD**: $x_{{k+1}} = \\Pi_{{\\|x'-x\\|_\\infty \\le \\epsilon}}(x_k + \\alpha\\,\\mathrm{{sign}}(\\nabla_x J(x_k, y)))$ "
               f"from a random start, k = {a.steps} steps of $\\alpha$ = {a.alpha:g}/255 within $\\epsilon$ = {a.epsilon:g}/255: "
               "FGSM repeated, re-aimed after every step.")
    verdict = ("**Fooled**" if r.success else "**Not fooled**")
    rounding = ""
    if a.float_fools and not a.rounded_fools:
        rounding = " Rounding to 8-bit levels undid the attack: the float image fooled the model, the saved one does not."
    return (f"{how} Attack {goal} on the **{model_name}** model: "
            f"p({r.attacked_class}) {p_before:.3f} -> {p_after:.3f}; largest pixel change {a.linf:g} levels; "
            f"{verdict} (after rounding to 8 bits).{rounding} Attack time {r.seconds * 1000:.0f} ms.")


def attack_tab(models: dict[str, Family], image, use_whole, method, epsilon, steps, alpha, target, model, cam_method):
    if model not in models:
        raise ValueError(f"unknown model {model!r}; use one of {', '.join(models)}")
    explainer = models[model].get()
    crop = _crop(explainer, image, use_whole)
    r = run_attack(explainer, crop, method, float(epsilon), int(steps), float(alpha), target, cam_method)
    a = r.attack
    big = lambda im: imaging.upscale_nearest(im, VIEW)  # noqa: E731
    gallery = [
        (big(a.clean), "x: the crop the model sees"),
        (big(perturbation_view(a.clean, a.adversarial, a.epsilon)), f"x' - x, amplified x{127 / max(a.epsilon, 1):.0f}: grey 0, white +{a.epsilon:g}"),
        (big(a.adversarial), "x': the adversarial crop (8-bit)"),
        (imaging.overlay(big(a.clean), r.heat_before.heatmap, 0.5),
         f"{r.heat_before.method}: evidence for '{r.heat_before.class_name}' on x"),
        (imaging.overlay(big(a.adversarial), r.heat_after.heatmap, 0.5),
         f"{r.heat_after.method}: evidence for '{r.heat_after.class_name}' on x'"),
    ]
    return r.before, r.after, gallery, formula(r, MODELS[model])


def curve_plot(models: dict[str, Family], image, use_whole, steps):
    """p(clean answer) against epsilon: FGSM and PGD, each model; filled markers where the model is fooled."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.4))
    ax = fig.add_subplot()
    for model, fam in models.items():
        explainer = fam.get()
        crop = _crop(explainer, image, use_whole)
        for method, style in (("fgsm", "-"), ("pgd", "--")):
            rows = epsilon_curve(explainer, crop, method, int(steps))
            eps = [r["epsilon"] for r in rows]
            p = [r["p_clean_class"] for r in rows]
            line = ax.plot(eps, p, style, label=f"{model}, {method.upper()}")[0]
            fooled = [(e, q) for e, q, r in zip(eps, p, rows) if r["fooled"]]
            if fooled:
                ax.scatter(*zip(*fooled), color=line.get_color(), zorder=3, s=18)
    ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("epsilon (pixel levels out of 255)")
    ax.set_ylabel("p(clean answer)")
    ax.set_xticks(list(EPSILON_CURVE))
    ax.set_ylim(0, 1)
    ax.set_title("Dots: fooled (the 8-bit image is classified otherwise)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def adversarial_api(models: dict[str, Family], image, method, epsilon, model, use_whole_image: bool = False):
    """/adversarial: (clean crop, adversarial crop at the same size, JSON)."""
    if image is None:
        raise ValueError("send an image")
    method = (method or "fgsm").strip().lower()
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    model = (model or "standard").strip().lower()
    if model not in models:
        raise ValueError(f"unknown model {model!r}; use one of {', '.join(models)}")
    try:
        eps = float(epsilon)
    except (TypeError, ValueError):
        raise ValueError(f"epsilon must be a number of pixel levels between 0 and {MAX_EPSILON:g}") from None
    explainer = models[model].get()
    img = image_input(image)
    face = explainer.find_face(img, use_whole_image=bool(use_whole_image))
    crop = explainer.model_input(face.native if face.native is not None else face.crop)
    r = run_attack(explainer, crop, method, eps, 10, None, "untargeted")
    return r.attack.clean, r.attack.adversarial, {
        "before": r.before, "after": r.after, "linf": r.attack.linf, "success": r.success,
        "success_before_rounding": r.attack.float_fools, "steps": r.attack.steps, "alpha": r.attack.alpha,
        "epsilon": r.attack.epsilon, "model": model, "attacked_class": r.attacked_class,
        "face_box": None if face.whole_image else [int(v) for v in face.box], "seconds": round(r.seconds, 5)}


def build(standard: Family, robust: Family | None) -> list[dict]:
    """The tab's components and events; call inside a gr.Tab. Returns the page-load events."""
    return AdversarialTab(standard, robust).build()


class AdversarialTab:
    """One build of the tab: its components, and handlers that attack the models in `models`."""

    def __init__(self, standard: Family, robust: Family | None):
        self.models = _models(standard, robust)
        self.targets = ["untargeted"]
        if standard.weights is not None:
            self.targets += CAMExplainer.class_choices(standard.weights)

    def build(self) -> list[dict]:
        gr.Markdown(INTRO)
        if "robust" not in self.models:
            gr.Markdown("The adversarially trained twin is not available in this run (see 'About these models').")
        lessons.build("adversarial")
        self._layout()
        self._wire()
        self._api()
        image, whole, method, epsilon = self.inputs[:4]
        return [dict(fn=self.open_view, inputs=None, outputs=[image, whole, method, epsilon, self.inputs[7], *self.outputs],
                     api_visibility="private", **LIGHT)]

    def _layout(self) -> None:
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(label="Face", type="filepath", sources=["upload", "webcam", "clipboard"],
                                 elem_id="adv-input", height=260)
                whole = gr.Checkbox(label="Use the whole image (it already is a face crop)", value=False)
                method = gr.Radio([(METHOD_LABELS[m], m) for m in METHODS], value=DEFAULTS[0], label="Attack")
                epsilon = gr.Slider(0, MAX_EPSILON, value=DEFAULTS[1], step=1, label="epsilon (pixel levels out of 255)")
                with gr.Row():
                    steps = gr.Slider(1, 50, value=DEFAULTS[2], step=1, label="PGD steps k")
                    alpha = gr.Slider(0.25, 4.0, value=DEFAULTS[3], step=0.25, label="PGD step size alpha (levels)")
                target = gr.Dropdown(self.targets, value=DEFAULTS[4],
                                     label="Target (untargeted: away from the predicted gender)")
                model = gr.Radio([(MODELS[m], m) for m in self.models], value=DEFAULTS[5], label="Model attacked")
                cam_method = gr.Radio([("CAM", "cam"), ("Grad-CAM", "gradcam")], value=DEFAULTS[6], label="Heatmap")
                self.run = gr.Button("Attack", variant="primary")
                self.ex_gallery = examples.gallery()
            with gr.Column(scale=2):
                with gr.Row():
                    before = gr.Label(label="Before", num_top_classes=5)
                    after = gr.Label(label="After", num_top_classes=5)
                gallery = gr.Gallery(label="Clean, perturbation, adversarial; evidence before and after", columns=5,
                                     height=300, format="png", elem_id="adv-gallery")
                info = gr.Markdown(elem_id="adv-info", latex_delimiters=[{"left": "$", "right": "$", "display": False}])
                self.curve_btn = gr.Button("Plot p(clean answer) against epsilon: both attacks, both models")
                self.curve = gr.Plot(label="Against epsilon")
        self.inputs = [image, whole, method, epsilon, steps, alpha, target, model, cam_method]
        self.outputs = [before, after, gallery, info]

    def _wire(self) -> None:
        image, whole, method, epsilon, steps, alpha, target, model, cam_method = self.inputs
        on_button, on_change, self.arrive = photo_handlers(self.attack, len(self.outputs), "attack_tab")
        # Only what a visitor does computes (.input, .release, a pick): the values the page sets as it opens
        # (open_view, which computes them itself) cost the server nothing more.
        self.ex_gallery.select(examples.on_select, None, [image, whole], api_visibility="private", **LIGHT).then(
            on_change, self.inputs, self.outputs, api_visibility="private", **HEAVY)
        self.run.click(on_button, self.inputs, self.outputs, api_visibility="private", **HEAVY)
        gr.on([image.input, method.input, epsilon.release, steps.release, alpha.release, target.input, model.input,
               cam_method.input, whole.input], on_change, self.inputs, self.outputs, api_visibility="private",
              trigger_mode="always_last", **HEAVY)
        self.curve_btn.click(model_handler(self.on_curve, "curve"), [image, whole, steps], self.curve,
                             api_visibility="private", **HEAVY)

    def attack(self, im, *choices):
        return attack_tab(self.models, im, *choices)

    def on_curve(self, im, use_whole, k):
        if im is None:
            raise gr.Error("Upload a face or pick an example first.")
        return curve_plot(self.models, im, use_whole, k)

    def _api(self) -> None:
        with gr.Group(visible=False):  # the documented API on hidden components (gr.File: our own validation answers)
            api_image = gr.File(type="filepath", label="image", file_types=["image"])
            api_method = gr.Textbox(label="method", value="fgsm")
            api_eps = gr.Number(label="epsilon", value=4)
            api_model = gr.Textbox(label="model", value="standard")
            api_whole = gr.Checkbox(label="use_whole_image", value=False)
            api_clean = gr.Image(format="png", label="clean_crop")
            api_adv = gr.Image(format="png", label="adversarial_crop")
            api_json = gr.JSON(label="details")
            b = gr.Button()
        b.click(model_handler(says_no_face(self.adversarial, 2), "attack"),
                [api_image, api_method, api_eps, api_model, api_whole],
                [api_clean, api_adv, api_json], api_name="adversarial", **HEAVY)

    # Named parameters: gradio_client's view_api() shows these names.
    def adversarial(self, image, method, epsilon, model, use_whole_image=False):
        return adversarial_api(self.models, image, method, epsilon, model, use_whole_image)

    def open_view(self, request: gr.Request):
        """The view a link names (?tab=adversarial&example=0&method=pgd&epsilon=8&model=robust), else the worked
        example (FGSM at 4/255): inputs and results together, computed once for every visitor (examples.CACHE)."""
        q = links.for_tab(request, "adversarial")
        ex = links.example_path(q)
        image, whole = ex if ex is not None else examples.example_rows()[0]
        eps = links.float_param(q, "epsilon", 0, MAX_EPSILON)
        method = links.choice_param(q, "method", METHODS) or DEFAULTS[0]
        model = links.choice_param(q, "model", self.models) or DEFAULTS[5]
        choices = (method, DEFAULTS[1] if eps is None else eps, *DEFAULTS[2:5], model, *DEFAULTS[6:])
        return (image, whole, method, choices[1], model, *self.arrive(image, whole, *choices))
