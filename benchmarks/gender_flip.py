"""Benchmark of the gender-flip tab on this machine: one photo, detection and blending included, and its parts.

Run: python benchmarks/gender_flip.py [--repeats 20] [--translator cyclegan|ugatit]
Prints a Markdown table (median and p90 after warm-up). Target: a whole flip well under 1 s (U-GAT-IT: 400 ms).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from gan_viz import faces  # noqa: E402
from gan_viz.imaging import MAX_SIDE, load_image  # noqa: E402
from gan_viz.models.cam_classifier.visualize import CAMExplainer  # noqa: E402
from gan_viz.models.cyclegan.visualize import GenderFlipper  # noqa: E402
from gan_viz.models.ugatit.visualize import UGATITTranslator  # noqa: E402
from timing import timed  # noqa: E402

PHOTO = ROOT / "assets" / "grace_hopper.jpg"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: as the app serves each request)")
    p.add_argument("--translator", default="cyclegan", choices=("cyclegan", "ugatit"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    flipper = (GenderFlipper if args.translator == "cyclegan" else UGATITTranslator).load()
    cam = CAMExplainer.load()
    img = load_image(str(PHOTO))
    fc = faces.find_faces(img, 256)[0]
    delta = flipper.translate(fc.crop, "male_to_female").delta * 127.5
    p_female = lambda crop: cam.classify(crop)["gender"]["female"]  # noqa: E731
    scale = MAX_SIDE / max(img.shape[:2])  # a phone's photo, as the app keeps it (imaging.MAX_SIDE)
    big = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    rows = [
        (f"whole flip of a {img.shape[1]}x{img.shape[0]} photo, explicit direction",
         *timed(lambda _: (faces.forget(), flipper.flip_photo(img, "male_to_female")), args.repeats)),
        ("whole flip, direction 'auto' (CAM classifier decides)",
         *timed(lambda _: (faces.forget(), flipper.flip_photo(img, "auto", p_female)), args.repeats)),
        ("whole flip of a photo seen before (detection remembered, as for the examples)",
         *timed(lambda _: flipper.flip_photo(img, "male_to_female"), args.repeats)),
        (f"whole flip of the photo enlarged to {big.shape[1]}x{big.shape[0]}, seen before",
         *timed(lambda _: flipper.flip_photo(big, "male_to_female"), args.repeats)),
        ("  face detection + eye levelling + crop", *timed(lambda _: (faces.forget(), faces.find_faces(img, 256)),
                                                             args.repeats)),
        (f"  the four nets on one {flipper.size} px face (G, F(G), F, D)",
         *timed(lambda _: flipper.translate(fc.crop, "male_to_female"), args.repeats)),
        ("  blending the change back into the photo",
         *timed(lambda _: faces.add_to_photo(img.astype(np.float32), fc, delta), args.repeats)),
    ]
    cycle = flipper.translate(fc.crop, "male_to_female")
    if args.translator == "ugatit":  # what the tab adds: the maps, G with attention off, both Ds' CAMs, agreement
        rows.append(("  + U-GAT-IT's attention (encoder and CAM module, G with attention off, global and local D)",
                     *timed(lambda _: flipper.attention(cycle), args.repeats)))
    elif flipper.probes is not None:  # what the tab adds to a flip for U-GAT-IT's CAM attention (target: < 30 ms)
        rows.append(("  + translator attention (CAM probe: encoder on x, D on G(x), agreement)",
                     *timed(lambda _: flipper.attention(cycle), args.repeats)))
    print(f"{args.translator} gender flip on {flipper.device}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| what | median ms | p90 ms |\n|---|---|---|")
    for name, med, p90 in rows:
        print(f"| {name} | {med:.1f} | {p90:.1f} |")


if __name__ == "__main__":
    main()
