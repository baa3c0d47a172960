"""Whether a candidate is a face: dlib's HOG face detector (Dalal and Triggs, 2005; King, 2015) as a second opinion.

OpenCV's Haar cascade finds boxes the models' framing was calibrated on, but it also fires on cats, cups and printed
pages. dlib's HOG detector (compiled into dlib, so nothing is downloaded) rarely does. Each candidate is therefore
levelled and cropped as the models would see it, with a margin, and kept only where the HOG detector scores a face
in that view. The thresholds were chosen with `python benchmarks/face_finding.py --data DIR` (faces placed in
pictures against the project's non-face set; the figures are in docs/benchmarks.md).
"""
from __future__ import annotations

import cv2
import dlib
import numpy as np

from gan_viz.faces.pool import Pool

VIEW = 200  # px of the view a candidate is judged in: its framing square enlarged by ZOOM
ZOOM = 1.6  # the HOG detector needs some context around the face, which the framing square cuts off
VERIFY_AT = -0.3  # a strict cascade's candidate is a face when the detector scores it this (its own threshold: 0)
FIND_AT = 0.0  # a face the HOG detector finds on its own, where the cascade found none, needs its usual score
# The HOG box is tighter than the cascade's: measured on 193 faces in pictures where both fire, the cascade's box is
# 1.15x as wide with its centre 0.086 of the HOG width higher (spread 0.12 and 0.04). Mapping a HOG box this way puts
# its face into the framing the models were trained on (gan_viz/faces/crops.py).
HAAR_WIDTH, HAAR_DY = 1.15, -0.086

DETECTORS = Pool(dlib.get_frontal_face_detector)  # dlib does not promise that one detector is thread-safe


def scores(img: np.ndarray, upsample: int = 0) -> list[tuple[float, tuple[int, int, int, int]]]:
    """(score, (x, y, w, h)) of every window the detector scores above -1, best first."""
    with DETECTORS.lend() as detector:
        rects, found, _ = detector.run(np.ascontiguousarray(img), upsample, -1.0)
    out = [(float(s), (r.left(), r.top(), r.width(), r.height())) for r, s in zip(rects, found)]
    return sorted(out, key=lambda t: -t[0])


def view(img: np.ndarray, matrix: np.ndarray, size: int, out: int = VIEW) -> np.ndarray:
    """The framing square that matrix (original -> size px crop) cuts, enlarged ZOOM x about its centre, at out px."""
    k = out / (size * ZOOM)
    shift = out / 2 - k * size / 2
    m = np.array([[k, 0, shift], [0, k, shift], [0, 0, 1]]) @ np.vstack([matrix, [0, 0, 1]])
    return cv2.warpAffine(img, m[:2], (out, out), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def score(img: np.ndarray, matrix: np.ndarray, size: int) -> float:
    """The detector's best score in the candidate's view (matrix: original -> its size px crop); -1 for none."""
    found = scores(view(img, matrix, size))
    return found[0][0] if found else -1.0


def is_face(img: np.ndarray, matrix: np.ndarray, size: int, at: float = VERIFY_AT) -> bool:
    """Whether the detector sees a face in the candidate's view, scoring it at least `at`."""
    return score(img, matrix, size) >= at


def find(img: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Faces the HOG detector finds on its own, as cascade-like boxes (x, y, w, h) in image pixels, best first."""
    scale = min(1.0, 1024 / max(img.shape[:2]))  # as the cascade: detection does not need full resolution
    small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else img
    out = []
    for s, (x, y, w, h) in scores(small):
        if s < FIND_AT:
            break
        cx, cy = (x + w / 2) / scale, (y + h / 2 + HAAR_DY * w) / scale
        side = HAAR_WIDTH * w / scale
        out.append((int(cx - side / 2), int(cy - side / 2), int(side), int(side)))
    return out
