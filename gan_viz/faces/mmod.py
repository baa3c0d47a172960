"""The last opinion on a doubted candidate: dlib's CNN face detector (max-margin object detection; King, 2015).

Where no candidate passes the HOG detector, the few best are shown to this small convolutional detector, which
sees faces turned half away or cut off by a tight crop that HOG misses, and fired on none of the project's non-face
pictures. It costs about 0.13 s a candidate on one CPU core, so it only ever judges the candidates HOG doubted.
Its weights are `mmod_human_face_detector.dat` from the pip package face-recognition-models (dlib's own file format,
read by dlib: no pickle), found on disk without importing that package (its __init__ needs the retired
pkg_resources).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import dlib
import numpy as np

import gan_viz.faces.hog as hog
from gan_viz.faces.pool import Pool

MODEL = "mmod_human_face_detector.dat"
FIND_AT = 0.0  # the detector's own threshold: on the non-face set nothing reached it, most faces score near 1
VIEW = 160  # px of the view it judges: the face about 100 px wide, above the 80 px it was trained to find



def model_path() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face-recognition-models is not installed: pip install -r requirements.txt")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / MODEL


NETWORKS = Pool(lambda: dlib.cnn_face_detection_model_v1(str(model_path())))  # one per thread at a time, as dlib's HOG


def is_face(img: np.ndarray, matrix: np.ndarray, size: int) -> bool:
    """Whether the CNN detector finds a face in a candidate's view (matrix: original -> its size px crop)."""
    view = hog.view(img, matrix, size, VIEW)
    with NETWORKS.lend() as net:
        return any(d.confidence >= FIND_AT for d in net(view, 0))
