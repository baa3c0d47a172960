"""Adversarial examples: attack latency (heatmaps included) and the success table of FGSM and PGD on both classifiers.

Run: python benchmarks/adversarial.py [--data DIR] [--n 300] [--repeats 20]
Latency: the tab's whole attack (run_attack: attack, 8-bit rounding, two Grad-CAM heatmaps) on the
portrait's face crop, median over --repeats after warm-up. Success table (needs --data): validation
adults 18-65 at the model's input size (the app's crop of a 200 px file), for each model the clean
accuracy and, among the faces it gets right, the share an untargeted attack fools after rounding
to 8 bits, at epsilon 2, 4 and 8 levels (PGD: 10 steps of eps/4 from a random start).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gan_viz import cards, hub  # noqa: E402
from gan_viz.imaging import load_image  # noqa: E402
from gan_viz.models.cam_classifier import adversarial  # noqa: E402
from gan_viz.models.cam_classifier.visualize import CAMExplainer, run_attack  # noqa: E402

EPSILONS = (2, 4, 8)


def load(family: str, folder: str | None) -> CAMExplainer | None:
    try:
        w = (hub.ResolvedWeights(family, Path(folder), "folder", folder) if folder
             else hub.resolve(family, hub.HubSettings(offline=True)))
    except hub.WeightsNotFound:
        return None
    return CAMExplainer.from_weights(w)


def latency(ex: CAMExplainer, crop: np.ndarray, method: str, repeats: int) -> tuple[float, float]:
    run_attack(ex, crop, method, 4, 10)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run_attack(ex, crop, method, 4, 10)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1000, float(np.percentile(times, 90)) * 1000


def success_table(ex: CAMExplainer, images: np.ndarray, labels: np.ndarray) -> dict:
    """Clean accuracy; per method and epsilon the share of correctly classified faces that the attack fools."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        pred = ex.model(adversarial.to_model(x))["gender"].argmax(1)
    correct = pred.numpy() == labels
    xs, ys = x[correct], pred[correct]
    out = {"clean_accuracy": float(correct.mean()), "n": int(len(labels)), "n_attacked": int(correct.sum())}
    for method in adversarial.METHODS:
        for eps in EPSILONS:
            fooled = 0
            for i in range(0, len(xs), 64):
                xb, yb = xs[i:i + 64], ys[i:i + 64]
                if method == "fgsm":
                    adv = adversarial.fgsm(ex.model, xb, "gender", yb, eps)
                else:
                    adv = adversarial.pgd(ex.model, xb, "gender", yb, eps, steps=10, seed=i)
                adv = adversarial.to_uint8_within(adv, xb, eps)
                with torch.no_grad():
                    fooled += int((ex.model(adversarial.to_model(adv))["gender"].argmax(1) != yb).sum())
            out[f"{method}_eps{eps}"] = fooled / max(1, len(xs))
    return out


SECTION = "## Robustness, measured (python benchmarks/adversarial.py)"


def write_card(folder: Path, table: dict, cols: list[str]) -> None:

    rows = "\n".join(f"| {name} | {t['clean_accuracy']:.3f} | " + " | ".join(f"{t[c]:.3f}" for c in cols) + " |"
                     for name, t in table.items())
    n = next(iter(table.values()))["n"]
    section = (f"{SECTION}\nValidation adults 18-65 (n={n}, a fixed random sample) at the model's input size, as the app crops "
               "a 200 px file. Clean accuracy, then the share of the faces each model gets right that an untargeted "
               "attack fools after rounding to 8 bits, at epsilon 2, 4 and 8 levels out of 255 (PGD: 10 steps of "
               "eps/4 from a random start).\n\n| model | clean accuracy | "
               + " | ".join(c.replace("_eps", " eps ").upper() for c in cols) + " |\n|---|---|" + "---|" * len(cols)
               + "\n" + rows + "\n")
    card = (folder / "README.md").read_text()
    (folder / "README.md").write_text(cards.put_evaluation(card, section))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None)
    p.add_argument("--n", type=int, default=300, help="validation adults (0: all)")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--standard", default=None, help="weights folder (default: as the app resolves them)")
    p.add_argument("--robust", default=None)
    p.add_argument("--json", default=None, help="also write the success table here")
    p.add_argument("--write-card", default=None, metavar="DIR",
                   help="write the table into DIR/README.md (the twin's weights folder) under a section of its own")
    args = p.parse_args()
    torch.set_num_threads(1)  # as the app serves (gan_viz/ui/serving.py)
    models = {"standard": load("cam_classifier", args.standard), "robust": load("cam_classifier_robust", args.robust)}
    models = {k: v for k, v in models.items() if v is not None}
    hopper = load_image(str(ROOT / "assets" / "grace_hopper.jpg"))

    print("| model | attack | median ms | p90 ms |\n|---|---|---|---|")
    for name, ex in models.items():
        crop = ex.model_input(ex.find_face(hopper).crop)
        for method in adversarial.METHODS:
            med, p90 = latency(ex, crop, method, args.repeats)
            label = "FGSM" if method == "fgsm" else "PGD-10"
            print(f"| {name} | {label} (heatmaps included) | {med:.1f} | {p90:.1f} |")

    if args.data:
        from gan_viz import utkface

        recs = [r for r in utkface.records(args.data) if r.is_validation and 18 <= r.age <= 65]
        if args.n:
            keep = np.random.default_rng(0).permutation(len(recs))[:args.n]
            recs = [recs[i] for i in sorted(keep)]
        labels = np.array([r.gender for r in recs])
        table = {}
        cols = [f"{m}_eps{e}" for m in adversarial.METHODS for e in EPSILONS]
        print("\n| model | clean accuracy | " + " | ".join(c.replace("_eps", " eps ").upper() for c in cols) + " |")
        print("|---|---|" + "---|" * len(cols))
        for name, ex in models.items():
            images = utkface.load_images(recs, ex.size)
            t = success_table(ex, images, labels)
            table[name] = t
            print(f"| {name} | {t['clean_accuracy']:.3f} (n={t['n']}) | " + " | ".join(f"{t[c]:.3f}" for c in cols) + " |")
        print("\nShare of correctly classified validation adults fooled (after rounding to 8 bits); eps in levels of 255.")
        if args.json:
            Path(args.json).write_text(json.dumps(table, indent=2) + "\n")
        if args.write_card:
            write_card(Path(args.write_card), table, cols)


if __name__ == "__main__":
    main()
