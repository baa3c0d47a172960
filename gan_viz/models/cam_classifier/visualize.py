"""Public inference surface of the CAM face classifier: numpy images in, named maps and numbers out."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from gan_viz import batching, faces, hub
from gan_viz.imaging import resize, upsample_map
from gan_viz.models.cam_classifier import adversarial, cams
from gan_viz.models.cam_classifier.card import FAMILY
from gan_viz.models.cam_classifier.network import LAYERS, CAMClassifier, CAMClassifierConfig  # noqa: F401 (LAYERS for the tab)
from gan_viz.models.surface import ModelSurface

DISPLAY_SIZE = 256  # the face crop shown in the tabs; the model sees it resized to its input size
METHOD_LABELS = {"cam": "CAM", "gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++"}


@dataclass
class Explanation:
    method: str
    head: str
    class_name: str
    layer: str
    heatmap: np.ndarray  # (S, S) float32 in [0, 1] at the input crop's resolution
    raw: np.ndarray  # (h, w) float32 map at the layer's resolution, before normalisation
    weights: np.ndarray  # (K,) channel weights (w_k^c or alpha_k^c)
    activation_means: np.ndarray  # (K,) mean_xy A_k, to show w_k * mean A_k contributions
    score: float  # the logit y^c explained
    seconds: float  # wall time of this method on this device


class CAMExplainer(ModelSurface):
    """The loaded classifier; every method is re-entrant (no state kept between calls)."""

    FAMILY = FAMILY

    def __init__(self, model: CAMClassifier, device: torch.device, source: hub.ResolvedWeights | None = None):
        super().__init__(model, device, source)
        self.size = model.config.image_size
        self.heads = {name: list(classes) for name, classes in model.config.heads.items()}

    @classmethod
    def build_model(cls, config: dict) -> CAMClassifier:
        return CAMClassifier(CAMClassifierConfig.from_dict(config))

    @property
    def layers(self) -> list[str]:
        return self.model.layer_names

    @staticmethod
    def class_choices(w: hub.ResolvedWeights) -> list[str]:
        """Every class as 'head:class', read from the weights' config without loading the net (for menus)."""
        return [f"{h}:{c}" for h, cl in w.config["heads"].items() for c in cl]

    def find_face(self, img: np.ndarray, use_whole_image: bool = False,
                  display_size: int = DISPLAY_SIZE) -> faces.FaceCrop:
        """The largest face in the training framing (or the image itself when it is a crop), at display_size.

        The model sees this crop resized to its input size the way the training data was (bicubic).
        """
        return faces.find_faces(img, display_size, use_whole_image=use_whole_image, max_faces=1)[0]

    def model_input(self, crop: np.ndarray) -> np.ndarray:
        """Any square face crop -> uint8 (S, S, 3) at the model's resolution; a non-square one is centre-cropped."""
        if crop.shape[0] != crop.shape[1]:
            crop = faces.whole_image(crop, max(crop.shape[:2])).crop
        return crop if crop.shape[0] == self.size else resize(crop, (self.size, self.size))

    def _tensor(self, crop: np.ndarray) -> torch.Tensor:
        crop = self.model_input(crop)
        x = torch.from_numpy(np.array(crop, dtype=np.uint8)).permute(2, 0, 1).float().div(127.5).sub(1.0)  # (3, S, S) in [-1, 1]
        return x.unsqueeze(0).to(self.device)

    def classify(self, crop: np.ndarray) -> dict[str, dict[str, float]]:
        """{head: {class: probability}} for a crop in the training framing; calibrated by the fitted temperature."""
        with torch.inference_mode():
            logits = batching.run(self.model, self._tensor(crop))  # batched with other requests' when batching is on
        t = self.model.config.temperature
        return {h: dict(zip(self.heads[h], torch.softmax(l[0] / t, 0).tolist())) for h, l in logits.items()}

    def classify_photo(self, img: np.ndarray, use_whole_image: bool = False
                       ) -> tuple[faces.FaceCrop, dict[str, dict[str, float]]]:
        """The /classify path: the largest face found (or the image itself when it is a face crop, or on request).

        A picture with no face raises faces.FaceError: the probabilities are calibrated on faces, and on anything
        else they would look just as sure and mean nothing.
        """
        face = self.find_face(img, use_whole_image)
        return face, self.classify(face.native if face.native is not None else face.crop)

    def top_class(self, crops: list[np.ndarray], head: str = "gender") -> list[tuple[str, float]]:
        """(class, calibrated probability) of one head for each face crop, in one batch: e.g. to rank generated faces
        by how sure the classifier is (the SAGAN tab's first faces)."""
        with torch.inference_mode():
            logits = self.model(torch.cat([self._tensor(c) for c in crops]))[head]
        probs = torch.softmax(logits / self.model.config.temperature, 1)
        best = probs.max(1)
        return [(self.heads[head][int(i)], float(p)) for p, i in zip(best.values, best.indices)]

    def resolve_target(self, target: str, probs: dict[str, dict[str, float]] | None, crop: np.ndarray) -> tuple[str, str]:
        """'predicted' (the gender head's top class), 'head:class' or a class name -> (head, class name)."""
        if target in ("predicted", "", None):
            probs = probs or self.classify(crop)
            return "gender", max(probs["gender"], key=probs["gender"].get)
        if ":" in target:
            head, name = target.split(":", 1)
            if head in self.heads and name in self.heads[head]:
                return head, name
        for head, classes in self.heads.items():
            if target in classes:
                return head, target
        choices = ", ".join(c for cl in self.heads.values() for c in cl)
        raise ValueError(f"unknown class {target!r}; use 'predicted' or one of {choices}")

    def explain(self, crop: np.ndarray, method: str = "gradcam", target: str = "predicted", layer: str = "last",
                probs: dict | None = None) -> Explanation:
        if target in ("predicted", "", None) and probs is None:  # the top class comes out of the method's own pass
            head, c = "gender", None
        else:
            head, name = self.resolve_target(target, probs, crop)
            c = self.heads[head].index(name)
        layer = self.model.last_layer if layer in ("last", "", None) else layer
        if layer not in self.layers:
            raise ValueError(f"unknown layer {layer!r}; use 'last' or one of {', '.join(self.layers)}")
        x = self._tensor(crop)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        r = cams.explain(self.model, x, head, c, method, layer)
        name = self.heads[head][r.c]
        heat = cams.normalise(r.cam)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        heat_np = heat.float().cpu().numpy()
        up = np.clip(upsample_map(heat_np, (self.size, self.size)), 0.0, None)
        up = up / up.max() if up.max() > 0 else up  # bilinear blurs the peak: rescale so max = 1 again
        return Explanation(
            method=method, head=head, class_name=name, layer=layer,
            heatmap=up.astype(np.float32),
            raw=r.cam.float().cpu().numpy(), weights=r.weights.float().cpu().numpy(),
            activation_means=r.activation.mean(dim=(1, 2)).float().cpu().numpy(), score=r.score, seconds=seconds)


def formula(e: Explanation, top: int = 5) -> str:
    """The chosen method's formula in Markdown with its live numbers: the channels that contribute most."""
    contrib = e.weights * e.activation_means  # w_k * mean_xy A_k: channel k's share of the pooled score
    order = np.argsort(-np.abs(contrib))[:top]
    rows = "\n".join(f"| {k} | {e.weights[k]:+.4f} | {e.activation_means[k]:.4f} | {contrib[k]:+.4f} |" for k in order)
    h, w = e.raw.shape
    if e.method == "cam":
        head = (f"**CAM** (Zhou et al. 2016): $M_c(x,y) = \\sum_k w_k^c f_k(x,y)$ — no gradients; $w^c$ is row "
                f"'{e.class_name}' of the `{e.head}` linear layer, $f_k$ the {len(e.weights)} maps of `{e.layer}` ({h}x{w}).")
        wname = "w_k^c"
    elif e.method == "gradcam":
        head = (f"**Grad-CAM** (Selvaraju et al. 2017): $\\alpha_k^c = \\frac{{1}}{{Z}}\\sum_{{ij}} \\partial y^c/\\partial A_k^{{ij}}$, "
                f"$L^c = \\mathrm{{ReLU}}(\\sum_k \\alpha_k^c A_k)$ at `{e.layer}` ({h}x{w}, Z = {h * w}).")
        wname = "alpha_k^c"
    else:
        head = (f"**Grad-CAM++** (Chattopadhay et al. 2018): $w_k^c = \\sum_{{ij}} a_k^{{ij}}\\,\\mathrm{{ReLU}}(\\partial y^c/\\partial A_k^{{ij}})$, "
                f"$a_k^{{ij}} = g^2 / (2g^2 + \\sum_{{ab}} A_k^{{ab}} g^3)$, $L^c = \\mathrm{{ReLU}}(\\sum_k w_k^c A_k)$ at `{e.layer}` ({h}x{w}).")
        wname = "w_k^c"
    return (f"{head}\n\nExplaining y^c = {e.score:+.3f} (logit of '{e.class_name}', head `{e.head}`); map range before "
            f"normalising: [{e.raw.min():+.4f}, {e.raw.max():+.4f}]; computed in {e.seconds * 1000:.1f} ms.\n\n"
            f"| channel k | {wname} | mean A_k | product |\n|---|---|---|---|\n{rows}")


@dataclass
class AdversarialResult:
    attack: adversarial.Attack
    head: str
    attacked_class: str  # the class moved away from (untargeted) or towards (targeted)
    targeted: bool
    before: dict[str, float]  # the head's probabilities on the clean crop
    after: dict[str, float]  # on the 8-bit adversarial crop
    heat_before: Explanation  # evidence for the clean prediction, on the clean crop
    heat_after: Explanation  # evidence for the same class, on the adversarial crop (where it moved)
    success: bool  # the 8-bit adversarial crop is classified as intended
    seconds: float  # the attack alone (heatmaps excluded)


def _attack_goal(explainer: "CAMExplainer", crop: np.ndarray, target: str) -> tuple[str, str, bool, dict]:
    """(head, class, targeted, clean probabilities): 'untargeted' moves away from the predicted gender."""
    probs = explainer.classify(crop)
    if target in (None, "", "untargeted", "predicted"):
        head = "gender"
        return head, max(probs[head], key=probs[head].get), False, probs
    head, name = explainer.resolve_target(target, probs, crop)
    return head, name, True, probs


def _fooled(explainer, head: str, name: str, targeted: bool):
    idx = explainer.heads[head].index(name)
    return lambda logits: (logits[head][0].argmax().item() == idx) if targeted else (logits[head][0].argmax().item() != idx)


def run_attack(explainer: "CAMExplainer", crop: np.ndarray, method: str, epsilon: float, steps: int = 10,
               alpha: float | None = None, target: str = "untargeted", cam_method: str = "gradcam") -> AdversarialResult:
    """Attack the exact 8-bit crop the model sees; heatmaps of the attacked class before and after."""
    crop = explainer.model_input(crop)
    head, name, targeted, probs = _attack_goal(explainer, crop, target)
    t0 = time.perf_counter()
    a = adversarial.attack(explainer.model, crop, explainer.device, head, explainer.heads[head].index(name), method,
                           float(epsilon), int(steps), alpha, targeted, success=_fooled(explainer, head, name, targeted))
    seconds = time.perf_counter() - t0
    after = explainer.classify(a.adversarial)
    shown = max(probs["gender"], key=probs["gender"].get) if head != "gender" else name
    return AdversarialResult(a, head, name, targeted, probs[head], after[head],
                             explainer.explain(crop, cam_method, f"gender:{shown}", "last", probs=probs),
                             explainer.explain(a.adversarial, cam_method, f"gender:{shown}", "last", probs=after),
                             a.rounded_fools, seconds)


EPSILON_CURVE = (0, 1, 2, 3, 4, 6, 8, 12, 16)


def epsilon_curve(explainer: "CAMExplainer", crop: np.ndarray, method: str, steps: int = 10,
                  epsilons=EPSILON_CURVE) -> list[dict]:
    """For each epsilon: the probability the model keeps on the clean prediction, and whether it is fooled (8-bit)."""
    crop = explainer.model_input(crop)
    head, name, _, _ = _attack_goal(explainer, crop, "untargeted")
    idx = explainer.heads[head].index(name)
    rows = []
    for eps in epsilons:
        a = adversarial.attack(explainer.model, crop, explainer.device, head, idx, method, float(eps), steps,
                               success=_fooled(explainer, head, name, False))
        rows.append({"epsilon": eps, "p_clean_class": explainer.classify(a.adversarial)[head][name],
                     "fooled": a.rounded_fools})
    return rows
