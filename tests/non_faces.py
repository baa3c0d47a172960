"""Pictures with no face in them, which face finding must refuse: installed packages' sample pictures and synthetic ones.

Nothing here is stored: every picture is made when asked for, from files that scikit-image and matplotlib ship (their
provenance is in SAMPLES) or from numpy with a fixed seed. Each sample is used as it is, rotated a quarter and an
eighth turn, at twice its size and as a random crop, so the detector is tried at several scales and angles.
`python benchmarks/face_finding.py` measures face finding on them; tests/unit/test_faces.py checks that none is
taken for a face.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib
import numpy as np
import skimage.data
from PIL import Image

# The licence of each as the function's docstring in skimage.data gives it ("sample": scikit-image's own sample,
# no licence stated beyond the package's BSD), and matplotlib's sample pictures without a face.
SAMPLES = {
    "brick": "scikit-image: brick wall texture, CC0", "cat": "scikit-image: Chelsea the cat, CC0",
    "cell": "scikit-image: cell microscopy, CC0", "checkerboard": "scikit-image: checkerboard, sample",
    "clock": "scikit-image: clock in motion, public domain", "coffee": "scikit-image: cup of coffee, CC0",
    "coins": "scikit-image: Greek coins, no known copyright restrictions", "colorwheel": "scikit-image: sample",
    "grass": "scikit-image: grass, CC0", "gravel": "scikit-image: gravel, CC0", "horse": "scikit-image: horse, CC0",
    "hubble_deep_field": "scikit-image: NASA, public domain",
    "immunohistochemistry": "scikit-image: stained tissue, no known copyright restrictions",
    "logo": "scikit-image: its logo, sample", "microaneurysms": "scikit-image: retina detail, CC0",
    "moon": "scikit-image: the moon, sample", "page": "scikit-image: printed page, sample",
    "retina": "scikit-image: retina, CC0", "rocket": "scikit-image: SpaceX launch, public domain",
    "text": "scikit-image: text photo, public domain", "shepp_logan_phantom": "scikit-image: head phantom, sample",
    "binary_blobs": "scikit-image: generated blobs",
    "logo2.png": "matplotlib: sample_data/logo2.png",
    "Minduka_Present_Blue_Pack.png": "matplotlib: sample_data/Minduka_Present_Blue_Pack.png",
}


def _rgb(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = img.astype(np.float64)
        img = (255 * (img - img.min()) / (img.max() - img.min() + 1e-9)).astype(np.uint8)
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    return np.ascontiguousarray(img[..., :3])


def _sample(name: str) -> np.ndarray:
    if name.endswith(".png"):
        path = Path(matplotlib.get_data_path()) / "sample_data" / name
        return _rgb(np.asarray(Image.open(path).convert("RGB")))
    return _rgb(getattr(skimage.data, name)())


def _variants(name: str, img: np.ndarray, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    h, w = img.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), 45, 1.0)
    s = int(min(h, w) * rng.uniform(0.4, 0.8))
    y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
    return [(name, img), (f"{name}, quarter turn", np.ascontiguousarray(np.rot90(img))),
            (f"{name}, eighth turn", cv2.warpAffine(img, turn, (w, h), borderMode=cv2.BORDER_REFLECT)),
            (f"{name}, twice the size", cv2.resize(img, (2 * w, 2 * h), interpolation=cv2.INTER_CUBIC)),
            (f"{name}, crop", cv2.resize(np.ascontiguousarray(img[y:y + s, x:x + s]), (300, 300)))]


def synthetic(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Textures and shapes drawn with numpy and OpenCV: noise, stripes, rings, ellipses, gradients, a plain grey."""
    yy, xx = np.mgrid[0:320, 0:400]
    out = [("grey", np.full((300, 400, 3), 128, np.uint8)),
           ("gradient", _rgb(xx + yy)), ("stripes", _rgb(np.sin(xx / 6.0))), ("rings", _rgb(np.sin(np.hypot(xx - 200, yy - 160) / 5)))]
    for i in range(4):
        out.append((f"noise {i}", rng.integers(0, 256, (240 + 40 * i, 400, 3), dtype=np.uint8)))
        smooth = cv2.GaussianBlur(rng.normal(size=(320, 400)), (0, 0), 4 + 4 * i)
        out.append((f"smooth noise {i}", _rgb(smooth)))
        canvas = np.full((320, 400, 3), rng.integers(0, 256, 3), np.uint8)
        for _ in range(12):  # ellipses of random colour, size and angle
            centre = (int(rng.integers(0, 400)), int(rng.integers(0, 320)))
            axes = (int(rng.integers(10, 80)), int(rng.integers(10, 80)))
            cv2.ellipse(canvas, centre, axes, float(rng.uniform(0, 180)), 0, 360, rng.integers(0, 256, 3).tolist(), -1)
        out.append((f"ellipses {i}", canvas))
    return out


def non_faces() -> list[tuple[str, np.ndarray]]:
    """(name, RGB uint8 picture) for every picture of the set, the same on every machine."""
    rng = np.random.default_rng(0)
    out = []
    for name in SAMPLES:
        out += _variants(name, _sample(name), rng)
    return out + synthetic(rng)
