"""The last word on a picture: dlib's CNN face detector (max-margin object detection; King, 2015).

Where no candidate passes the HOG detector, the few best are shown to this small convolutional detector, which
sees faces turned half away or cut off by a tight crop that HOG misses, and fired on none of the project's non-face
pictures. It costs about 0.13 s a candidate on one CPU core, so it judges only the candidates HOG doubted, and looks
over the whole picture (at CNN_SIDE px, about 0.45 s) only when every other pass found nothing: there it finds most
of the faces the cascades miss, most often faces UTKFace labels Black (docs/benchmarks.md).
Its weights are `mmod_human_face_detector.dat` from the pip package face-recognition-models (dlib's own file format,
read by dlib: no pickle), found on disk without importing that package (its __init__ needs the retired
pkg_resources).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import dlib
import numpy as np

import gan_viz.faces.hog as hog
from gan_viz.faces.pool import Pool

MODEL = "mmod_human_face_detector.dat"
FIND_AT = 0.0  # the detector's own threshold: on the non-face set nothing reached it, most faces score near 1
VIEW = 160  # px of the view it judges: the face about 100 px wide, above the 80 px it was trained to find
CNN_SIDE = 320  # px of a picture's longer side when it looks on its own: a face of a quarter of that side is 80 px
# Its box is tighter than the cascade's (scripts/calibrate_cnn_box.py): on 145 training faces in pictures where both
# fire, the cascade's box is 1.15x as wide (quartiles 1.09-1.24), its centre 0.04 of the CNN's width to the right and
# 0.01 higher.
HAAR_WIDTH, HAAR_DX, HAAR_DY = 1.15, 0.04, -0.01


def model_path() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face-recognition-models is not installed: pip install -r requirements.txt")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / MODEL


NETWORKS = Pool(lambda: dlib.cnn_face_detection_model_v1(str(model_path())))  # one per thread at a time, as dlib's HOG


def find(img: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Faces the CNN detector finds over the whole picture, as cascade-like boxes (x, y, w, h), surest first."""
    scale = min(1.0, CNN_SIDE / max(img.shape[:2]))
    small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else img
    with NETWORKS.lend() as net:
        found = sorted((d for d in net(np.ascontiguousarray(small), 0) if d.confidence >= FIND_AT),
                       key=lambda d: -d.confidence)
    out = []
    for d in found:
        r = d.rect
        w = r.width() / scale
        cx, cy = (r.left() + r.width() / 2) / scale + HAAR_DX * w, (r.top() + r.height() / 2) / scale + HAAR_DY * w
        side = HAAR_WIDTH * w
        out.append((int(cx - side / 2), int(cy - side / 2), int(side), int(side)))
    return out


def is_face(img: np.ndarray, matrix: np.ndarray, size: int) -> bool:
    """Whether the CNN detector finds a face in a candidate's view (matrix: original -> its size px crop)."""
    view = hog.view(img, matrix, size, VIEW)
    with NETWORKS.lend() as net:
        return any(d.confidence >= FIND_AT for d in net(view, 0))
