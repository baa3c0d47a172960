"""LBAM inpainting quality against OpenCV (Navier-Stokes and Telea): PSNR and SSIM per hole-size bucket on validation faces.

Run: python benchmarks/inpainting_quality.py --data DIR [--n 200] [--size 128] [--write-card]
Every validation face gets, per bucket, one free-form stroke mask (seeded by the face's
index, so reruns and other methods see the same masks). The composite goes through the
same Inpainter.inpaint the app's /inpaint uses; PSNR and SSIM are over the whole image
against the original pixels. --size 200 measures the faces at UTKFace's own resolution
(the app resizes to the model's 128 and back). --write-card stores the table in checkpoints/lbam.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from gan_viz import cards, image_quality, utkface  # noqa: E402
from gan_viz.hub import ResolvedWeights  # noqa: E402
from gan_viz.models.lbam import masks  # noqa: E402
from gan_viz.models.lbam.visualize import Inpainter  # noqa: E402

METHODS = ("LBAM composite", "OpenCV Navier-Stokes", "OpenCV Telea")


def evaluate(inp: Inpainter, images: np.ndarray, seed: int = 0) -> tuple[dict, float]:
    """{bucket: {method: (PSNR mean, SSIM mean)}} and the median LBAM network time in seconds."""
    table, times = {}, []
    size = images.shape[1]
    for b, (lo, hi) in enumerate(masks.BUCKETS):
        scores = {m: ([], []) for m in METHODS}
        for i, img in enumerate(images):
            img = np.ascontiguousarray(img)
            hole = masks.free_form(size, np.random.default_rng([seed, b, i]), lo, hi).astype(bool)
            res = inp.inpaint(img, hole)
            times.append(res.seconds)
            for m, out in zip(METHODS, (res.composite, image_quality.classical_inpaint(img, hole, "ns"),
                                        image_quality.classical_inpaint(img, hole, "telea"))):
                scores[m][0].append(image_quality.psnr(out, img))
                scores[m][1].append(image_quality.ssim(out, img))
        table[f"{int(lo * 100)}-{int(hi * 100)}%"] = {m: (float(np.mean(p)), float(np.mean(s))) for m, (p, s) in scores.items()}
    return table, float(np.median(times))


def markdown(table: dict, n: int, size: int) -> str:
    lines = [f"{n} validation faces at {size}x{size} px, one free-form stroke mask per face and bucket; PSNR (dB) and "
             "SSIM over the whole image against the original. LBAM as the app runs it (mirror-averaged fill, known "
             "pixels kept).\n",
             "| hole | " + " | ".join(f"{m} PSNR | SSIM" for m in METHODS) + " | LBAM - NS (dB) |",
             "|---|" + "---|---|" * len(METHODS) + "---|"]
    for bucket, row in table.items():
        cells = " | ".join(f"{row[m][0]:.2f} | {row[m][1]:.4f}" for m in METHODS)
        lines.append(f"| {bucket} | {cells} | {row[METHODS[0]][0] - row[METHODS[1]][0]:+.2f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, default=200, help="validation faces per bucket")
    p.add_argument("--size", type=int, default=128, help="pixel size the faces are measured at")
    p.add_argument("--weights", default=str(ROOT / "checkpoints" / "lbam"))
    p.add_argument("--write-card", action="store_true")
    args = p.parse_args()
    recs = [r for r in utkface.records(args.data) if r.is_validation][: args.n]
    images = utkface.load_images(recs, args.size)
    inp = Inpainter.from_weights(ResolvedWeights("lbam", Path(args.weights), "local", args.weights))
    t0 = time.perf_counter()
    table, median_s = evaluate(inp, images)
    md = markdown(table, len(recs), args.size)
    print(md)
    print(f"\nmedian LBAM network time {median_s * 1000:.1f} ms; whole benchmark {time.perf_counter() - t0:.0f} s")
    if args.write_card:
        folder = Path(args.weights)
        q = folder / "quality.json"
        result = json.loads(q.read_text()) if q.exists() else {}
        result[f"{args.size}px"] = {"n": len(recs), "table": table, "median_network_ms": median_s * 1000}
        q.write_text(json.dumps(result, indent=2) + "\n")
        sections = [f"### {k}\n\n" + markdown(v["table"], v["n"], int(k[:-2])) for k, v in sorted(result.items())]
        card = cards.put_evaluation((folder / "README.md").read_text(),
                                    "## Quality (python benchmarks/inpainting_quality.py --data DIR --size S)\n\n"
                                    + "\n\n".join(sections))
        (folder / "README.md").write_text(card)


if __name__ == "__main__":
    main()
