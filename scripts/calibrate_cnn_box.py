"""Measure how dlib's CNN face box sits against the Haar cascade's, for gan_viz/faces/mmod.py's HAAR_* constants.

Run: python scripts/calibrate_cnn_box.py --data DIR [--n 150]
Training adults (never validation faces) are placed in pictures as the benchmarks place them; where both detectors
fire, it prints the median and quartiles of the cascade's width over the CNN's and of the cascade's centre minus the
CNN's (x, y), in CNN widths, with the CNN looking at the picture scaled to mmod.CNN_SIDE as the finder does.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from gan_viz import utkface  # noqa: E402
from gan_viz.faces import detector, mmod  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, default=150)
    args = p.parse_args()
    recs = [r for r in utkface.records(args.data) if not r.is_validation and 18 <= r.age <= 65][::40][:args.n]
    rng = np.random.default_rng(5)
    rows = []
    for img in utkface.load_images(recs, 200):
        pic, _ = utkface.in_picture(np.ascontiguousarray(img), rng)
        boxes = detector.detect(pic, coarse=True)
        k = min(1.0, mmod.CNN_SIDE / max(pic.shape[:2]))
        small = cv2.resize(pic, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        with mmod.NETWORKS.lend() as net:
            found = net(small, 0)
        if not boxes or not found:
            continue
        x, y, w, h = boxes[0]
        r = max(found, key=lambda d: d.confidence).rect
        cw, cx, cy = r.width() / k, (r.left() + r.width() / 2) / k, (r.top() + r.height() / 2) / k
        rows.append((w / cw, (x + w / 2 - cx) / cw, (y + h / 2 - cy) / cw))
    a = np.array(rows)
    print(f"{len(a)} of {len(recs)} pictures where both fire")
    for i, name in enumerate(("width, cascade / CNN", "centre x, cascade - CNN", "centre y, cascade - CNN")):
        q1, med, q3 = np.percentile(a[:, i], [25, 50, 75])
        print(f"{name}: median {med:.3f} (quartiles {q1:.3f} .. {q3:.3f})")


if __name__ == "__main__":
    main()
