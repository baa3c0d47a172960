"""Validation metrics of the CAM classifier: gender accuracy (ages 18-65 and all) and age-group accuracy.

Run: python -m gan_viz.models.cam_classifier.evaluate --data ../shared/data/utkface
(evaluates the weights the app would load; --weights DIR for another export folder).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gan_viz import hub, utkface
from gan_viz.models.cam_classifier.card import FAMILY
from gan_viz.models.cam_classifier.network import CAMClassifier, CAMClassifierConfig


@torch.inference_mode()
def evaluate(model: nn.Module, images: np.ndarray, recs: list[utkface.Record], batch: int = 256) -> dict:
    model.eval()
    g_pred, a_pred = [], []
    for i in range(0, len(recs), batch):
        x = utkface.to_input(torch.from_numpy(np.ascontiguousarray(images[i:i + batch]))).contiguous(memory_format=torch.channels_last)
        out = model(x)
        g_pred.append(out["gender"].argmax(1))
        a_pred.append(out["age_group"].argmax(1))
    g_pred, a_pred = torch.cat(g_pred).numpy(), torch.cat(a_pred).numpy()
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--weights", default=None, help="folder with config.json + model.safetensors")
    args = p.parse_args()
    w = hub.ResolvedWeights(FAMILY, Path(args.weights), "folder", args.weights) if args.weights else hub.resolve(FAMILY)
    model = CAMClassifier(CAMClassifierConfig.from_dict(w.config))
    model.load_state_dict(w.state_dict())
    model = model.to(memory_format=torch.channels_last)
    recs = [r for r in utkface.records(args.data) if r.is_validation]
    metrics = evaluate(model, utkface.load_images(recs, model.config.image_size), recs)
    print(json.dumps({"weights": w.detail, **metrics}, indent=2))


if __name__ == "__main__":
    main()
