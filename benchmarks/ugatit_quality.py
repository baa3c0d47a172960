"""U-GAT-IT against the bundled CycleGAN on the same validation faces: flip rate, structure, and what attention does.

Run: python benchmarks/ugatit_quality.py --data DIR [--n 100] [--weights checkpoints/ugatit] [--write-card]
Validation adults (18-65, the salted-hash split of gan_viz/utkface.py), as the aligned 200 px crops, each translated
towards the other gender by both translators at their own size (the raw translation G(x), no blending), then judged
by the project's CAM classifier. Reported per direction: flip rate of U-GAT-IT, of U-GAT-IT with attention off (every
w_k replaced by the mean of w) and of the CycleGAN; SSIM of 64 px grey faces (input vs output); the agreement of the
generator's attention (GAP, GMP, fused) with what it changed (Spearman over the 24x24 grid; the CycleGAN's probe
scored +0.07 / -0.21); the mean |G(x) - G_off(x)|; the auxiliary classifier's accuracy at telling the source domain.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402

from gan_viz import cards, utkface  # noqa: E402
from gan_viz.hub import ResolvedWeights  # noqa: E402
from gan_viz.models.cam_classifier.visualize import CAMExplainer  # noqa: E402
from gan_viz.models.cyclegan.visualize import GenderFlipper  # noqa: E402
from gan_viz.models.ugatit.visualize import UGATITTranslator, agreement  # noqa: E402
from gender_flip_quality import ssim_grey64  # noqa: E402  (the same measure as the flip-rate benchmark)

DIRECTION = {0: "male_to_female", 1: "female_to_male"}


def load(cls, family: str, folder: Path):
    return cls.from_weights(ResolvedWeights(family, folder, "local", str(folder)))


def measure(ugatit, cyclegan, judge, faces: np.ndarray, gender: int) -> dict:
    d = DIRECTION[gender]
    flipped = lambda img: (judge.classify(img)["gender"]["female"] >= 0.5) != bool(gender)  # noqa: E731
    rows = {k: [] for k in ("ugatit", "off", "cyclegan", "ssim", "ssim_cyclegan", "gap", "gmp", "fused", "off_change",
                            "aux_right")}
    for face in faces:
        t = ugatit.translate(np.ascontiguousarray(face), d)
        a = ugatit.attention(t)
        c = cyclegan.translate(np.ascontiguousarray(face), d)
        rows["ugatit"].append(flipped(t.fake))
        rows["off"].append(flipped(a.fake_attention_off))
        rows["cyclegan"].append(flipped(c.fake))
        rows["ssim"].append(ssim_grey64(t.x, t.fake))
        rows["ssim_cyclegan"].append(ssim_grey64(c.x, c.fake))
        for m in ("gap", "gmp", "fused"):
            rows[m].append(agreement(a.maps[m], t.change))
        rows["off_change"].append(a.attention_off_change)
        rows["aux_right"].append(a.p_source["gap"] >= 0.5)
    return {"direction": d, "n": len(faces), **{k: float(np.mean(v)) for k, v in rows.items()}}


def table(results: list[dict]) -> str:
    lines = ["| direction | faces | flip U-GAT-IT | with attention off | flip CycleGAN | SSIM grey 64 (U-GAT-IT / "
             "CycleGAN) | Spearman GAP / GMP / fused | mean change from attention | aux. classifier right |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['direction']} | {r['n']} | {r['ugatit']:.1%} | {r['off']:.1%} | {r['cyclegan']:.1%} | "
                     f"{r['ssim']:.3f} / {r['ssim_cyclegan']:.3f} | {r['gap']:+.2f} / {r['gmp']:+.2f} / "
                     f"{r['fused']:+.2f} | {r['off_change']:.4f} | {r['aux_right']:.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="UTKFace's folder of aligned crops")
    p.add_argument("--n", type=int, default=100, help="faces per direction")
    p.add_argument("--weights", default=str(ROOT / "checkpoints" / "ugatit"))
    p.add_argument("--write-card", action="store_true")
    args = p.parse_args(argv)
    ugatit = load(UGATITTranslator, "ugatit", Path(args.weights))
    cyclegan = load(GenderFlipper, "cyclegan", ROOT / "checkpoints" / "cyclegan")
    judge = load(CAMExplainer, "cam_classifier", ROOT / "checkpoints" / "cam_classifier")
    recs = [r for r in utkface.records(args.data) if r.is_validation and 18 <= r.age <= 65]
    results = []
    for g in (0, 1):
        rs = [r for r in recs if r.gender == g][: args.n]
        results.append(measure(ugatit, cyclegan, judge, utkface.load_images(rs, 200), g))
    md = table(results)
    print(md)
    if args.write_card:
        card = Path(args.weights) / "README.md"
        card.write_text(cards.put_evaluation(card.read_text(), (
            "## Against the CycleGAN, on crops (python benchmarks/ugatit_quality.py --data DIR)\n"
            "Validation adults as aligned crops, both translators' raw G(x) at their own size, judged by the "
            "project's CAM classifier.\n\n" + md)))


if __name__ == "__main__":
    main()
