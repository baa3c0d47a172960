"""Measure where eyes and mouth sit in the UTKFace framing (numbers only), for the inpainting tab's face-part masks.

Run: python scripts/calibrate_face_parts.py --data DIR [--n 400]
Prints median centres and sizes as fractions of the crop side; gan_viz/models/lbam/masks.py keeps the result.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from gan_viz import utkface  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, default=400)
    args = p.parse_args()
    eye_c = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_eye.xml")
    smile_c = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_smile.xml")
    recs = [r for r in utkface.records(args.data) if not r.is_validation][:: 10][: args.n]
    eyes, mouths = [], []
    for r in recs:
        g = cv2.cvtColor(cv2.imread(str(r.path)), cv2.COLOR_BGR2GRAY)
        s = g.shape[0]
        found = eye_c.detectMultiScale(g[: s // 2 + s // 10], 1.1, 5, minSize=(s // 12, s // 12))
        if len(found) >= 2:
            two = sorted(sorted(found, key=lambda e: -e[2] * e[3])[:2], key=lambda e: e[0])
            if two[1][0] - two[0][0] > s * 0.15:
                eyes.append([(x + w / 2) / s for x, y, w, h in two] + [(y + h / 2) / s for x, y, w, h in two]
                            + [np.mean([w for _, _, w, _ in two]) / s])
        y0 = int(s * 0.6)
        sm = smile_c.detectMultiScale(g[y0:], 1.1, 20, minSize=(s // 6, s // 14))
        if len(sm):
            x, y, w, h = max(sm, key=lambda e: e[2] * e[3])
            mouths.append([(x + w / 2) / s, (y0 + y + h / 2) / s, w / s, h / s])
    e, m = np.median(eyes, 0), np.median(mouths, 0)
    print(f"faces {len(recs)}: eye pairs {len(eyes)}, mouths {len(mouths)}")
    print(f"left eye centre ({e[0]:.3f}, {e[2]:.3f}), right eye centre ({e[1]:.3f}, {e[3]:.3f}), eye box {e[4]:.3f}")
    print(f"mouth centre ({m[0]:.3f}, {m[1]:.3f}), size {m[2]:.3f} x {m[3]:.3f}")


if __name__ == "__main__":
    main()
