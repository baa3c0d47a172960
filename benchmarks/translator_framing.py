"""How a translator's flip depends on the framing of the face it is given: validation crops cut closer or looser.

Run: python benchmarks/translator_framing.py --data DIR [--n 100] [--direction female_to_male] [--zooms 0.9 1 1.1]
Each validation crop (adults 18-65, the first --n of the gender the direction starts from) is zoomed about its
centre (below 1: looser, the face smaller, the border replicated), flipped whole at each translator's calibrated
strength (flip_photo with use_whole_image, so nothing else moves the framing), zoomed back and judged by the CAM
classifier at the validation crop's framing (gender_flip_quality.p_female_framed). The translators trained on random
96 px cuts of faces at 108 px, zoom 9/8 (training.load_gender_domains), which is why the app cuts faces 9/8 closer
than the face finder's framing (PhotoFlipper.FRAMING_ZOOM). Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gender_flip_quality as q  # noqa: E402

from gan_viz import utkface  # noqa: E402
from gan_viz.hub import ResolvedWeights  # noqa: E402


def zoom(img: np.ndarray, z: float, back: bool = False) -> np.ndarray:
    """The square image scaled z x about its centre (back: the inverse), same size, border replicated."""
    s = img.shape[0]
    m = cv2.getRotationMatrix2D((s / 2, s / 2), 0, z)
    if back:
        m = cv2.invertAffineTransform(m)
    return cv2.warpAffine(img, m, (s, s), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


GENDER = {d: g for g, d in q.DIRECTION.items()}  # the gender a direction starts from


def flip_rate(flipper, cam, images: list[np.ndarray], direction: str, z: float) -> float:
    g = GENDER[direction]
    flips = [(q.p_female_framed(cam, zoom(flipper.flip_photo(zoom(im, z), direction, use_whole_image=True).result,
                                         z, back=True)) >= 0.5) != bool(g) for im in images]
    return float(np.mean(flips))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--direction", default="female_to_male", choices=tuple(q.DIRECTION.values()))
    p.add_argument("--zooms", type=float, nargs="+", default=[0.9, 1.0, 1.1])
    args = p.parse_args(argv)
    ck = q.ROOT / "checkpoints"
    cam = q.CAMExplainer.from_weights(ResolvedWeights("cam_classifier", ck / "cam_classifier", "local", ""))
    g = GENDER[args.direction]
    recs = [r for r in utkface.records(args.data) if r.is_validation and 18 <= r.age <= 65 and r.gender == g][:args.n]
    images = [np.ascontiguousarray(im) for im in utkface.load_images(recs, 200)]
    print(f"{args.direction}, first {len(images)} validation crops\n")
    print("| translator | " + " | ".join(f"zoom {z:g}" for z in args.zooms) + " |")
    print("|---|" + "---|" * len(args.zooms))
    for name, cls in q.TRANSLATORS.items():
        flipper = cls.from_weights(ResolvedWeights(name, ck / name, "local", ""))
        rates = [flip_rate(flipper, cam, images, args.direction, z) for z in args.zooms]
        print(f"| {name} | " + " | ".join(f"{r:.0%}" for r in rates) + " |", flush=True)


if __name__ == "__main__":
    main()
