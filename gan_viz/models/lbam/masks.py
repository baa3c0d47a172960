"""Free-form brush-stroke masks for training and for the tab's presets, bucketed by hole ratio (1 = hole)."""
from __future__ import annotations

import math

import cv2
import numpy as np

BUCKETS = ((0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5))  # the hole-size buckets the card reports


def strokes(size: int, rng: np.random.Generator, max_strokes: int = 6) -> np.ndarray:
    """Random brush strokes (random walks of thick lines with round joints): uint8 (size, size), 1 = hole."""
    m = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(1, max_strokes + 1))):
        x, y = rng.integers(0, size, 2)
        width = int(rng.integers(max(2, size // 24), max(3, size // 7)))
        angle = rng.uniform(0, 2 * math.pi)
        for _ in range(int(rng.integers(3, 10))):
            angle += rng.uniform(-1.2, 1.2)
            length = rng.uniform(size / 12, size / 4)
            nx = int(np.clip(x + length * math.cos(angle), 0, size - 1))
            ny = int(np.clip(y + length * math.sin(angle), 0, size - 1))
            cv2.line(m, (int(x), int(y)), (nx, ny), 1, width)
            cv2.circle(m, (nx, ny), width // 2, 1, -1)
            x, y = nx, ny
    return m


def free_form(size: int, rng: np.random.Generator, low: float, high: float, tries: int = 200) -> np.ndarray:
    """A stroke mask whose hole ratio lies in [low, high): strokes are added or the mask redrawn until it does."""
    for _ in range(tries):
        m = strokes(size, rng)
        while m.mean() < low:
            m = np.maximum(m, strokes(size, rng, max_strokes=2))
        if m.mean() < high:
            return m
    raise RuntimeError(f"could not draw a mask with a hole ratio in [{low}, {high})")


def centre_box(size: int, ratio: float = 0.25) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    side = int(round(size * math.sqrt(ratio)))
    o = (size - side) // 2
    m[o:o + side, o:o + side] = 1
    return m


# Face parts in the UTKFace framing, as fractions of the crop side: medians measured by
# scripts/calibrate_face_parts.py on 300 training crops (OpenCV eye and smile cascades);
# the nose lies between them. (centre x, centre y, radius x, radius y) of an ellipse.
FACE_PARTS = {
    "eyes": ((0.278, 0.292, 0.14, 0.09), (0.685, 0.295, 0.14, 0.09)),
    "nose": ((0.49, 0.52, 0.11, 0.14),),
    "mouth": ((0.492, 0.749, 0.23, 0.11),),
}


def face_part(size: int, part: str) -> np.ndarray:
    """An elliptical hole over the eyes, the nose or the mouth of a face in the training framing: uint8, 1 = hole."""
    if part not in FACE_PARTS:
        raise ValueError(f"unknown face part {part!r}; use one of {', '.join(FACE_PARTS)}")
    m = np.zeros((size, size), np.uint8)
    for cx, cy, rx, ry in FACE_PARTS[part]:
        cv2.ellipse(m, (round(cx * size), round(cy * size)), (round(rx * size), round(ry * size)), 0, 0, 360, 1, -1)
    return m


def dilate(hole: np.ndarray, px: int) -> np.ndarray:
    """Grow a hole mask by px pixels (a round structuring element), as the tab's dilation slider does."""
    if px <= 0:
        return hole
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(hole.astype(np.uint8), k).astype(hole.dtype)
