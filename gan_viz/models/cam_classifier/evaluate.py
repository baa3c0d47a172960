"""Validation metrics of the CAM classifier: accuracy (also through the app's photo path), calibration, temperature.

Run: python -m gan_viz.models.cam_classifier.evaluate --data DIR [--app-path] [--fit-temperature]
(evaluates the weights the app would load; --weights DIR for another export folder).
--app-path: validation adults through the app's /classify path (CAMExplainer.classify_photo), as crops
(the 200 px files as uploaded) and placed in larger pictures (the app must find the face), per
gender and age group, with the expected calibration error. --fit-temperature: fit softmax's
temperature on one half of the validation faces (by file-name hash) and write it into the
weights' config.json; the ECE reported is on the other half.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gan_viz import cards, faces, hub, utkface
from gan_viz.models.cam_classifier.card import FAMILY
from gan_viz.models.cam_classifier.network import CAMClassifier, CAMClassifierConfig


@torch.inference_mode()
def gender_logits(model: nn.Module, images: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(gender logits (N, 2), age-group logits (N, 5)) for uint8 crops at the model's size."""
    model.eval()
    dev = next(model.parameters()).device
    g, a = [], []
    for i in range(0, len(images), batch):
        x = utkface.to_input(torch.from_numpy(np.ascontiguousarray(images[i:i + batch])).to(dev)).contiguous(
            memory_format=torch.channels_last)
        out = model(x)
        g.append(out["gender"].float().cpu())
        a.append(out["age_group"].float().cpu())
    return torch.cat(g).numpy(), torch.cat(a).numpy()


def evaluate(model: nn.Module, images: np.ndarray, recs: list[utkface.Record], batch: int = 256) -> dict:
    """Accuracy on validation crops fed to the net directly (the training script's per-epoch check)."""
    gl, al = gender_logits(model, images, batch)
    g_pred, a_pred = gl.argmax(1), al.argmax(1)
    g = np.array([r.gender for r in recs])
    a = np.array([utkface.age_group(r.age) for r in recs])
    adult = np.array([18 <= r.age <= 65 for r in recs])
    return {
        "gender_acc_18_65": float((g_pred == g)[adult].mean()),
        "n_18_65": int(adult.sum()),
        "gender_acc_all": float((g_pred == g).mean()),
        "age_acc": float((a_pred == a).mean()),
        "n_val": len(recs),
    }


def expected_calibration_error(p_pred: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """ECE (Guo et al. 2017): sum over confidence bins of |accuracy - mean confidence|, weighted by the bin's share.

    p_pred: probability of the predicted class (N,); correct: bool (N,).
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (p_pred > lo) & (p_pred <= hi)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - p_pred[inside].mean())
    return float(ece)


def softmax(logits: np.ndarray, t: float = 1.0) -> np.ndarray:
    z = logits / t
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T minimising the negative log-likelihood of softmax(logits / T) (temperature scaling, Guo et al. 2017).

    One parameter, so a fine grid is exact enough and cannot diverge.
    """
    grid = np.exp(np.linspace(np.log(0.05), np.log(5.0), 600))
    nll = [-np.log(softmax(logits, t)[np.arange(len(labels)), labels] + 1e-12).mean() for t in grid]
    return float(grid[int(np.argmin(nll))])


def calibration_half(r: utkface.Record) -> bool:
    """Half of the validation files (by another salted hash): temperature is fitted there, ECE reported on the rest."""
    key = ("gan-viz-calibration:" + os.path.basename(r.path)).encode()
    return int(hashlib.sha1(key).hexdigest(), 16) % 2 == 0


def app_path(explainer, recs: list[utkface.Record], pictures: bool, seed: int = 0) -> dict:
    """Gender of each validation face through CAMExplainer.classify_photo (what /classify runs), as a crop or in a
    picture. A face the app does not find gets no answer, and counts as wrong."""
    rng = np.random.default_rng(seed)
    images = utkface.load_images(recs, 200)
    p_female = []
    for img in images:
        img = np.ascontiguousarray(img)
        if pictures:
            img, _ = utkface.in_picture(img, rng)
        try:
            p_female.append(explainer.classify_photo(img)[1]["gender"]["female"])
        except faces.FaceError:
            p_female.append(np.nan)
    p_female = np.array(p_female)
    answered = ~np.isnan(p_female)
    g = np.array([r.gender for r in recs])
    pred = (p_female >= 0.5).astype(int)
    correct = answered & (pred == g)
    p_pred = np.where(pred == 1, p_female, 1 - p_female)
    groups = np.array([utkface.age_group(r.age) for r in recs])
    return {"n": len(recs), "accuracy": float(correct.mean()),
            "accuracy_male": float(correct[g == 0].mean()), "accuracy_female": float(correct[g == 1].mean()),
            "ece": expected_calibration_error(p_pred[answered], correct[answered]),
            "face_found": float(answered.mean()),
            "accuracy_by_age_group": {utkface.AGE_GROUPS[k]: round(float(correct[groups == k].mean()), 4)
                                      for k in sorted(set(groups))}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--weights", default=None, help="folder with config.json + model.safetensors")
    p.add_argument("--app-path", action="store_true", help="also measure through the app's /classify path")
    p.add_argument("--fit-temperature", action="store_true", help="fit T on the calibration half; write config.json")
    p.add_argument("--n", type=int, default=0, help="at most this many validation adults per app-path mode (0: all)")
    p.add_argument("--write-card", action="store_true", help="write the app-path section into the weights' model card")
    args = p.parse_args()
    w = hub.ResolvedWeights(FAMILY, Path(args.weights), "folder", args.weights) if args.weights else hub.resolve(FAMILY)
    config = CAMClassifierConfig.from_dict(w.config)
    model = CAMClassifier(config)
    model.load_state_dict(w.state_dict())
    model = model.to(memory_format=torch.channels_last)
    recs = [r for r in utkface.records(args.data) if r.is_validation]
    images = utkface.load_images(recs, config.image_size)
    report = {"weights": w.detail, **evaluate(model, images, recs)}
    if args.fit_temperature:
        gl, _ = gender_logits(model, images)
        labels = np.array([r.gender for r in recs])
        half = np.array([calibration_half(r) for r in recs])
        t = fit_temperature(gl[half], labels[half])
        config.temperature = t
        (w.folder / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        report["temperature"] = t
    report["temperature_in_use"] = config.temperature
    if args.app_path:
        from gan_viz.models.cam_classifier.visualize import CAMExplainer

        model.config = config
        explainer = CAMExplainer(model, torch.device("cpu"), w)
        adults = [r for r in recs if 18 <= r.age <= 65 and not calibration_half(r)]
        if args.n:  # a sample across all ages (the files are sorted by age)
            keep = np.random.default_rng(0).permutation(len(adults))[:args.n]
            adults = [adults[i] for i in sorted(keep)]
        report["app_path_note"] = "validation adults 18-65 not in the temperature-fitting half"
        report["app_path_crops"] = app_path(explainer, adults, pictures=False)
        report["app_path_pictures"] = app_path(explainer, adults, pictures=True)
    print(json.dumps(report, indent=2))
    if args.write_card and args.app_path:
        card = (w.folder / "README.md").read_text()
        (w.folder / "README.md").write_text(cards.put_evaluation(card, app_path_section(report)))


APP_SECTION = "## Through the app's photo path (what users get)"


def app_path_section(r: dict) -> str:
    rows = []
    for mode, label in (("app_path_crops", "aligned crops as uploaded (200 px files)"),
                        ("app_path_pictures", "faces placed in larger pictures (2-3x, plain background): the app finds them")):
        m = r[mode]
        ages = ", ".join(f"{k}: {v:.3f}" for k, v in m["accuracy_by_age_group"].items())
        rows.append(f"| {label} | {m['n']} | {m['accuracy']:.4f} | {m['accuracy_male']:.4f} | {m['accuracy_female']:.4f} | "
                    f"{m['ece']:.4f} | {m['face_found']:.3f} | {ages} |")
    return f"""{APP_SECTION}
Validation adults 18-65 through `CAMExplainer.classify_photo`, the code behind `/classify` and the tabs (the face
found, confirmed, levelled and cropped to the training framing; a crop the face fills is used whole; a face not
found gets no answer and counts as wrong: "face found" is the share answered; ECE is over the answered), with
probabilities calibrated by temperature scaling: T = {r['temperature_in_use']:.4f}, fitted on the other half of the
validation files (by a salted hash), so the expected calibration error (ECE, 15 bins) below is measured on faces
the fit did not see. Rerun: `python -m gan_viz.models.cam_classifier.evaluate --data DIR
--app-path` (add `--fit-temperature` to refit T).

| input | faces | accuracy | men | women | ECE | face found | accuracy by age group |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}
"""


if __name__ == "__main__":
    main()
