"""When U-GAT-IT is offered in the app: it flips faces at least as well as the CycleGAN, measured in the same run.

benchmarks/gender_flip_quality.py --translator ugatit --write-card measures both translators on the same validation
faces, through the app's photo path, judged by the same classifier, and writes the verdict into U-GAT-IT's
config.json under "quality" (crops and pictures). A new export rewrites config.json without it, so weights that
have not been measured are not offered. The targets are the issue's: flip rate at least the CycleGAN's in each
direction, SSIM of the 64 px grey faces >= 0.75, and in pictures the detail kept >= 0.9; the project's own rule
adds how many faces a verdict needs (MIN_FACES).
"""
from __future__ import annotations

MODES = ("crops", "pictures")
MIN_SSIM_GREY64 = 0.75
MIN_DETAIL_KEPT = 0.9  # pictures only: on a crop the whole face is redrawn at the model's size
# Faces per direction a verdict needs. In pictures, where each face is placed alone moves 200 men by 2-3 faces
# (docs/benchmarks.md, 2026-12-07), the size of the gap the verdict has to judge, so pictures take 600.
MIN_FACES = {"crops": 200, "pictures": 600}


def verdict(mode: str, ugatit: dict[str, dict], cyclegan: dict[str, dict]) -> list[str]:
    """What U-GAT-IT misses in one mode (empty: nothing); rows per direction as the benchmark writes them."""
    failed = []
    for d, r in ugatit.items():
        if r["flip_rate"] < cyclegan[d]["flip_rate"]:
            failed.append(f"{d} flips {r['flip_rate']:.1%} of {mode}, the CycleGAN {cyclegan[d]['flip_rate']:.1%}")
        if r["ssim_grey64"] < MIN_SSIM_GREY64:
            failed.append(f"{d} keeps SSIM {r['ssim_grey64']:.3f} of the face's structure in {mode} (< {MIN_SSIM_GREY64})")
        if mode == "pictures" and r["detail_kept_median"] < MIN_DETAIL_KEPT:
            failed.append(f"{d} keeps {r['detail_kept_median']:.2f} of the detail in pictures (< {MIN_DETAIL_KEPT})")
    return failed


def not_offered(config: dict) -> str | None:
    """Why these weights are not offered (None: they are), from the verdicts in their config.json."""
    quality = config.get("quality", {})
    missing = [m for m in MODES if m not in quality]
    if missing:
        return (f"not yet measured against the CycleGAN on {' and '.join(missing)} (python "
                f"benchmarks/gender_flip_quality.py --data DIR --translator ugatit --n {MIN_FACES['crops']} "
                f"--write-card, and --pictures --n {MIN_FACES['pictures']})")
    failed = [f for m in MODES for f in quality[m]["failed"]]
    failed += [f"{m} measured on {quality[m].get('faces_per_direction', 0)} faces per direction, fewer than the "
               f"{MIN_FACES[m]} a verdict needs (--n {MIN_FACES[m]})"
               for m in MODES if quality[m].get("faces_per_direction", 0) < MIN_FACES[m]]
    return "; ".join(failed) if failed else None


def status(config: dict) -> str:
    """The card's first words under Evaluation: measured or not, offered or not, and why."""
    reason = not_offered(config)
    if reason is None:
        return ("Measured against the CycleGAN on the same faces (below): it flips as many and keeps the face, in "
                "crops and in pictures, so the app offers it.")
    if any(m not in config.get("quality", {}) for m in MODES):
        return f"Not offered in the app: {reason}."
    return f"Measured against the CycleGAN on the same faces (below); not offered in the app: {reason}."
