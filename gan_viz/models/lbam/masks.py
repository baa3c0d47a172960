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
