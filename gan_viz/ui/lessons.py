"""A short lesson per tab: what to try, what to predict first, what to look at after; each step a link to that view.

Every claim here is about the shipped models and is checked by tests/test_lessons.py (or follows
from a formula the app computes); check them again when the weights change.
"""
from __future__ import annotations

from typing import Callable
from urllib.parse import urlencode

import gradio as gr

# tab -> (title, [(step, link settings or None), ...]). A link's pixel is picked by eye on the bundled weights' face
# (the SAGAN step: the left eye of seed 3 on the bundled weights): look again when those weights change. The gender
# steps' examples are checked by tests/test_lessons.py (each is the gender its direction starts from).
# The adversarial lesson's example (a thumbnail's index) is one where the three steps show the lesson with the shipped
# classifier and twin: FGSM at eps 4 fools the standard one, not the twin; PGD at eps 4 fools the twin (tested). On
# Grace Hopper the twin is unsure to begin with (58% male), so every attack succeeds there and nothing is learnt.
ADVERSARIAL_EXAMPLE = 3
NO_FACE_EXAMPLE = 5  # the cup of coffee, the last thumbnail (examples.example_rows)
LESSONS: dict[str, tuple[str, list[tuple[str, dict | None]]]] = {
    "sagan": ("Lesson: what does a pixel attend to?", [
        ("**Predict**: does a pixel of the eye look at its neighbours only, or also far away? Then hover over an "
         "eye and over the background and compare the maps and the top-5 rings.", {"seed": 3, "x": 18, "y": 20}),
        ("Switch the reading to *who looks at this pixel*: the column of beta does **not** sum to 1 (the softmax runs "
         "over the attended locations, so only rows do). Which pixels draw on the eye?", None),
        ("gamma is printed with every map: it started at 0 in training, so a non-zero gamma means G learned to use "
         "its attention. Is it large or small next to 1?", None),
        ("**Predict** what lowering the truncation psi to 0.5 does to the faces, then try it: nearer the mean "
         "latent they get cleaner and more alike (the trade-off between quality and variety).", {"seed": 3, "psi": 0.5}),
        ("Open *Spectral normalisation, made visible*: the product of the raw weights' sigmas is a huge Lipschitz "
         "bound; after normalisation it is about 1. Why does D need that bound?", None),
    ]),
    "cam": ("Lesson: where is the evidence?", [
        ("**Predict** where the evidence for 'female' lies on this portrait (hair? eyes? mouth?), then look.",
         {"example": 0, "target": "gender:female"}),
        ("Compare CAM with Grad-CAM at the last layer: for a GAP + linear classifier they are the **same map** "
         "(Grad-CAM's alpha_k is w_k divided by the map's size). Check the two panels.",
         {"example": 0, "method": "cam", "target": "gender:female"}),
        ("Now Grad-CAM at an early layer (conv2): the map changes completely. Why? (smaller receptive field; the "
         "gradient there mixes many later channels) CAM is not defined there at all.",
         {"example": 0, "method": "gradcam", "target": "gender:female", "layer": "conv2"}),
        ("Explain an age group instead of gender: where is the evidence for '60+'?", {"example": 0, "target": "age_group:60+"}),
        ("**Predict** what the classifier says about a cup of coffee. Open it: no face is found, so no probability is "
         "shown. Now tick *use the whole image*: it answers anyway, and just as sure of itself. Its probabilities are "
         "calibrated on faces, the only thing it has seen; on a cup they mean nothing.", {"example": NO_FACE_EXAMPLE}),
    ]),
    "gender": ("Lesson: what does a translator change?", [
        ("**Predict** which parts of Grace Hopper's face a female -> male translation changes most, then look at "
         "|G(x) - x| in the cycle panels.", {"example": 0, "direction": "female_to_male"}),
        ("F(G(x)) should come back to x: the cycle L1 under the panels says how far it does. Where is the round "
         "trip's error largest?", {"example": 0, "direction": "female_to_male"}),
        ("Open *Where the translator looks*: does the translator change the face where its encoder finds the "
         "domain evidence? The rank correlation answers it for this face.", {"example": 0, "direction": "female_to_male"}),
        ("Now pick **U-GAT-IT**, whose attention was trained inside the translator and re-weights what its decoder "
         "sees. **Predict** whose map follows the change more closely, the probe's or U-GAT-IT's; then compare the "
         "Spearman of each, and look at the face with attention off: what did attention change?",
         {"example": 0, "direction": "female_to_male", "translator": "ugatit"}),
        ("Try a generated face (already a crop) the other way round.", {"example": 2, "direction": "male_to_female"}),
    ]),
    "inpainting": ("Lesson: filling a hole with learned attention", [
        ("The tab opens with a free-form hole filled. **Predict** where the fill will look worst, then compare the "
         "composite with OpenCV's Telea and their PSNR / SSIM.", {"example": 0}),
        ("Apply the preset *eyes*: a classical method copies the surroundings into the hole; LBAM was trained on "
         "faces. Which one draws something eye-like?", {"example": 0}),
        ("Read the attention maps: the forward maps (encoder) start from the mask and fade as the hole fills layer "
         "by layer; the reverse maps (decoder) are computed from 1 - mask.", None),
    ]),
    "adversarial": ("Lesson: fooling a classifier, and defending it", [
        ("**Predict**: will a change of at most 4 levels out of 255 per pixel flip the classifier? Look at the "
         "amplified perturbation, then at the probabilities.", {"example": ADVERSARIAL_EXAMPLE, "method": "fgsm",
                                                                "epsilon": 4}),
        ("Same attack on the adversarially trained twin: does it hold?", {"example": ADVERSARIAL_EXAMPLE, "method": "fgsm",
                                                                           "epsilon": 4, "model": "robust"}),
        ("Now PGD (FGSM repeated, re-aimed each step) at the same epsilon on the twin: the classic lesson is that "
         "a defence trained on FGSM does less against a stronger attack.", {"example": ADVERSARIAL_EXAMPLE,
                                                                            "method": "pgd", "epsilon": 4,
                                                                            "model": "robust"}),
        ("Watch the heatmaps: where did the evidence for the clean answer go? Then press the plot button for the "
         "whole curve against epsilon.", None),
    ]),
    "lab": ("Lesson: four things every GAN course says, seen happening", [
        ("**Mode collapse**: give D five steps per G step and 10x the learning rate. Predict: better teacher, or "
         "collapse? Press Play and watch the mode counter.", {"preset": "mode_collapse"}),
        ("**Why the minimax loss stalls**: with D ahead, watch A's arrows (log(1 - D(G(z)))) vanish while B's "
         "(-log D(G(z))) keep pushing.", {"preset": "vanishing_gradient"}),
        ("**Spectral normalisation**: compare D's steepest slope in A and B, and the sigma tables (power iteration "
         "next to the exact SVD).", {"preset": "spectral_norm"}),
        ("**Clipping versus spectral normalisation**: two ways to bound D's slope; which leaves D able to teach?",
         {"preset": "clipping_vs_sn"}),
        ("Then make your own: draw a set (choose 'my drawing'), pick two losses, and predict before pressing Play.",
         None),
    ]),
}


def href(tab: str, settings: dict) -> str:
    return "?" + urlencode({"tab": tab, **settings})


def steps(tab: str, available: Callable[[dict], bool] | None = None) -> list[tuple[str, dict | None]]:
    """The tab's steps, without those whose view this app cannot open (available(settings) is False)."""
    return [(t, s) for t, s in LESSONS[tab][1] if s is None or available is None or available(s)]


def markdown(tab: str, available: Callable[[dict], bool] | None = None) -> str:
    lines = []
    for n, (text, settings) in enumerate(steps(tab, available), 1):
        link = f" [Open this view]({href(tab, settings)})" if settings is not None else ""
        lines.append(f"{n}. {text}{link}")
    return "\n".join(lines)


def build(tab: str, available: Callable[[dict], bool] | None = None) -> None:
    """The lesson as a folded accordion: one click to open, its steps as links that open that view (a step whose
    view needs a model this app does not offer is left out: available(settings) says)."""
    title, _ = LESSONS[tab]
    with gr.Accordion(title, open=False, elem_id=f"{tab}-lesson"):
        gr.Markdown(markdown(tab, available))
