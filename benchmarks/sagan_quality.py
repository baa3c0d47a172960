"""SAGAN sample quality judged by the project's CAM classifier: gender balance, confidence, feature-space distance.

Run: python benchmarks/sagan_quality.py --data DIR [--n 1000] [--psi 1.0] [--weights DIR]
     [--classifier DIR] [--raw-g] [--write-card]
The distance is the Frechet distance between Gaussians fitted to the classifier's pooled
conv5 features (an FID computed with this project's own face classifier instead of
Inception). References in the same run: real training faces vs the validation split (a reference, not a floor: the
classifier was trained on those faces, which can set their features apart from unseen faces'),
and validation faces blurred with sigma 2 px at 64 px (a visibly degraded real set to beat).
Diversity: mean pairwise distance between the samples' features, as a share of the real faces'.
Samples come from --weights (default: the app's SAGAN) at truncation --psi; the classifier from
--classifier (default: the app's), so runs judged by the same classifier can be compared. --raw-g judges the
export's trained G (its resume file) in place of the G it ships, usually G's moving average.
--write-card stores the table in checkpoints/sagan.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy import linalg  # noqa: E402

from gan_viz import cards, hub, utkface  # noqa: E402
from gan_viz.imaging import resize  # noqa: E402
from gan_viz.models.cam_classifier.visualize import CAMExplainer  # noqa: E402
from gan_viz.models.sagan.visualize import SAGANExplorer, to_uint8  # noqa: E402


def classify(ex: CAMExplainer, images: np.ndarray, batch: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, H, W, 3) faces -> (gender probabilities (N, 2), pooled features (N, K))."""
    probs, feats = [], []
    for i in range(0, len(images), batch):
        x = torch.stack([ex._tensor(im)[0] for im in images[i:i + batch]])
        with torch.inference_mode():
            logits, acts = ex.model.activations(x)
        probs.append(torch.softmax(logits["gender"], 1).numpy())
        feats.append(acts[ex.model.last_layer].mean(dim=(2, 3)).numpy())
    return np.concatenate(probs), np.concatenate(feats)


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean.real))


def mean_pairwise_distance(f: np.ndarray, n: int = 500) -> float:
    f = f[:n]
    d = np.sqrt(((f[:, None, :] - f[None, :, :]) ** 2).sum(-1))
    return float(d[np.triu_indices(len(f), 1)].mean())


def load_raw_g(gan: SAGANExplorer, folder: Path) -> None:
    """Put the trained G of an export (resume.safetensors) in place of the G it ships (usually G's moving average)."""
    from safetensors.torch import load_file

    raw = {k[2:]: v.float() for k, v in load_file(folder / "resume.safetensors").items() if k.startswith("G.")}
    if not raw:
        raise SystemExit(f"{folder}: the resume file holds no G, so the shipped G is the trained G itself")
    gan.g.load_state_dict(raw)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--psi", type=float, default=1.0)
    p.add_argument("--weights", default=None, help="a SAGAN export folder (default: the app's)")
    p.add_argument("--classifier", default=None, help="a CAM classifier folder (default: the app's)")
    p.add_argument("--raw-g", action="store_true",
                   help="judge the export's trained G (from its resume.safetensors) instead of the G it ships")
    p.add_argument("--write-card", action="store_true")
    args = p.parse_args()
    if args.raw_g and args.write_card:
        p.error("--write-card describes the G that ships; judge the trained G without it")
    weights_at = lambda fam, d: hub.ResolvedWeights(fam, Path(d), "folder", d)  # noqa: E731
    cam = CAMExplainer.from_weights(weights_at("cam_classifier", args.classifier)) if args.classifier else CAMExplainer.load()
    gan = SAGANExplorer.from_weights(weights_at("sagan", args.weights)) if args.weights else SAGANExplorer.load()
    size = cam.size
    if args.raw_g:
        load_raw_g(gan, Path(args.weights) if args.weights else gan.source.folder)

    zs = args.psi * torch.randn(args.n, gan.cfg.z_dim, generator=torch.Generator().manual_seed(2024))
    with torch.inference_mode():
        fake = np.stack([to_uint8(x) for i in range(0, args.n, 100) for x in gan.g(zs[i:i + 100])])
    fake = np.stack([resize(im, (size, size)) for im in fake])
    recs = utkface.records(args.data)
    val = [r for r in recs if r.is_validation][: args.n]
    train = [r for r in recs if not r.is_validation]
    train = [train[i] for i in np.random.default_rng(0).choice(len(train), len(val), replace=False)]
    val_x, train_x = utkface.load_images(val, size), utkface.load_images(train, size)

    fp, ff = classify(cam, fake)
    vp, vf = classify(cam, np.asarray(val_x))
    _, tf = classify(cam, np.asarray(train_x))
    # Blurred at the generator's 64 px, then brought to the classifier's size like the samples.
    blurred = np.stack([resize(cv2.GaussianBlur(resize(np.ascontiguousarray(im), (64, 64)), (0, 0), 2.0), (size, size))
                        for im in np.asarray(val_x)])
    _, bf = classify(cam, blurred)
    result = {
        "samples": args.n,
        "truncation psi": args.psi,
        "classifier": cam.source.detail if cam.source else "?",
        "classified female (samples)": round(float((fp[:, 1] > 0.5).mean()), 3),
        "classified female (real validation faces)": round(float((vp[:, 1] > 0.5).mean()), 3),
        "mean top-class confidence (samples)": round(float(fp.max(1).mean()), 3),
        "mean top-class confidence (real validation faces)": round(float(vp.max(1).mean()), 3),
        "Frechet distance, classifier features: samples vs real validation": round(frechet(ff, vf), 3),
        "Frechet distance, classifier features: real training vs real validation (reference)": round(frechet(tf, vf), 3),
        "Frechet distance, classifier features: validation blurred (sigma 2 at 64 px) vs validation": round(frechet(bf, vf), 3),
        "diversity: mean pairwise feature distance, samples / real": round(mean_pairwise_distance(ff) /
                                                                        mean_pairwise_distance(vf), 3),
        "gamma (attention blocks)": ", ".join(f"{k} {gan.gamma(k):+.4f}" for k in gan.g_layers + gan.d_layers),
    }
    print("| measure | value |\n|---|---|")
    for k, v in result.items():
        print(f"| {k} | {v} |")
    if args.write_card:
        folder = ROOT / "checkpoints" / "sagan"
        (folder / "quality.json").write_text(json.dumps(result, indent=2) + "\n")
        card = cards.put_evaluation((folder / "README.md").read_text(),
                                    "## Quality (python benchmarks/sagan_quality.py)\n| measure | value |\n|---|---|\n"
                                    + "\n".join(f"| {k} | {v} |" for k, v in result.items()))
        (folder / "README.md").write_text(card)


if __name__ == "__main__":
    main()
