"""Training augmentation of the CAM classifier: what the app's detect-level-crop path and real photos do to a face.

The app never feeds the classifier a perfect UTKFace crop when a user uploads a photo: the
Haar detector's box wanders in position and size, eye levelling leaves a few degrees, the
crop may reach past the photo (a plain or replicated border), and the photo itself differs
in exposure, white balance, sharpness and JPEG quality; glasses, hats and hands hide parts of
the face. Each function below imitates one of those, per sample, with numpy/OpenCV on uint8.
"""
from __future__ import annotations

import cv2
import numpy as np

from gan_viz.imaging import resize

# Each call here works on one small image: OpenCV's own thread pool would only compete with torch's threads.
cv2.setNumThreads(1)

# Spread of the detector's framing, measured as the app would see it: the Haar box of a face
# varies by roughly +-8% in width and +-5% in centre between detections of similar faces.
SCALE_RANGE = (0.88, 1.14)  # crop side / calibrated side
SHIFT = 0.07  # of the crop side, each axis
ROTATE_DEG = 8.0  # residual roll after eye levelling (eyes not found: 0 correction)


def detector_jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Re-crop an aligned face as a detector would: shifted, scaled and slightly rotated, same size out.

    Where the new crop reaches outside the source, half the time the edge is replicated (a
    face near the photo's border) and half the time filled with a plain colour (a face in a
    larger picture whose background shows around the head).
    """
    s = img.shape[0]
    scale = rng.uniform(*SCALE_RANGE)
    angle = rng.uniform(-ROTATE_DEG, ROTATE_DEG)
    dx, dy = rng.uniform(-SHIFT, SHIFT, 2) * s
    m = cv2.getRotationMatrix2D((s / 2 + dx, s / 2 + dy), angle, 1.0 / scale)  # (2, 3) source -> crop
    m[:, 2] += np.array([-dx, -dy])
    if rng.random() < 0.5:
        return cv2.warpAffine(img, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    return cv2.warpAffine(img, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=colour)


def photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exposure, contrast, colour cast and saturation as cameras and lighting change them (float math, uint8 out)."""
    x = img.astype(np.float32)
    mean = x.mean()
    contrast = rng.uniform(0.7, 1.3)
    brightness = rng.uniform(-30, 30)
    cast = rng.uniform(-18, 18, 3)  # per-channel offset: warm/cool white balance
    x = (x - mean) * contrast + mean + brightness + cast
    if rng.random() < 0.3:  # desaturate, sometimes fully (black-and-white photos exist)
        grey = x.mean(axis=2, keepdims=True)
        k = rng.uniform(0.0, 1.0) if rng.random() < 0.7 else 1.0
        x = grey + (x - grey) * (1 - k)
    return np.clip(x, 0, 255).astype(np.uint8)


def degrade(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur (focus, upscaled small faces) and JPEG artefacts (every shared photo)."""
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=rng.uniform(0.4, 1.6))
    if rng.random() < 0.4:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return img


def occlude(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cutout shaped like what hides faces: a dark band over the eyes (glasses), a band over the top (hat), a patch."""
    s = img.shape[0]
    out = img.copy()
    kind = rng.integers(0, 3)
    colour = rng.integers(0, 256, 3).astype(np.uint8)
    if kind == 0:  # sunglasses: the eye band sits ~40% down the training framing
        y = int(s * rng.uniform(0.33, 0.45))
        out[y:y + int(s * rng.uniform(0.08, 0.14)), int(s * 0.18):int(s * 0.82)] = colour // 4
    elif kind == 1:  # hat brim / fringe
        out[: int(s * rng.uniform(0.12, 0.3))] = colour
    else:
        h, w = (rng.uniform(0.15, 0.35, 2) * s).astype(int)
        y, x = rng.integers(0, s - h), rng.integers(0, s - w)
        out[y:y + h, x:x + w] = colour
    return out


def augment_batch(batch: np.ndarray, out_size: int, rng: np.random.Generator, p_occlude: float = 0.25,
                  framed: np.ndarray | None = None) -> np.ndarray:
    """uint8 (B, S, S, 3) aligned crops -> uint8 (B, out_size, out_size, 3) as the app would hand them to the net.

    framed: bool (B,), True where a sample already is the app's own crop of a face in a picture (app_crops.py): the
    detector framed it for real, so it gets no imitation of that on top.
    """
    out = np.empty((len(batch), out_size, out_size, 3), np.uint8)
    for i, img in enumerate(batch):
        img = np.ascontiguousarray(img)
        if rng.random() < 0.5:
            img = np.ascontiguousarray(img[:, ::-1])
        if (framed is None or not framed[i]) and rng.random() < 0.85:
            img = detector_jitter(img, rng)
        img = photometric(img, rng)
        if rng.random() < p_occlude:
            img = occlude(img, rng)
        # The app resizes its 256 px crop to the input size with PIL's bicubic; do the same before degrading.
        img = resize(img, (out_size, out_size))
        out[i] = degrade(img, rng)
    return out
