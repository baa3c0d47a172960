"""The training framing of a face: the square the UTKFace crops were cut to, found from the face box and the eyes.

The framing was calibrated on 300 UTKFace aligned crops (numbers only): with the image
replicate-padded by 50 px, the frontal-face cascade's box has median width 204 px on the
200 px crop and its centre sits 17 px above the crop's centre. So a training-like crop is
a square of side CROP_SCALE * box width centred CROP_DY * box width below the box centre.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

import gan_viz.faces.detector as detector

CROP_SCALE = 200 / 204
CROP_DY = 17 / 204
# The same framing from the eyes (framing()), calibrated on 1,158 UTKFace training crops placed in pictures
# (numbers only; scripts/calibrate_framing.py measures it again): the square's side is EYE_SCALE x the distance
# between the Haar eye boxes' centres, its centre EYE_DX along and EYE_DY across the eye line (in eye distances) from
# their midpoint.
EYE_SCALE = 2.53
EYE_DX, EYE_DY = 0.05, 0.54
EYES_AGREE = 0.2  # |log(side from the eyes / side from the box)| beyond which one of them is wrong


@dataclass
class FaceCrop:
    crop: np.ndarray  # uint8 (size, size, 3) RGB in the training framing
    box: tuple[int, int, int, int]  # (x, y, w, h) of the detected face in the original image
    angle: float  # degrees the image was rotated to level the eyes
    matrix: np.ndarray  # (2, 3) affine map original -> crop pixels (invert it to paste back)
    whole_image: bool  # True when the image was used as it is (already a crop, or on request)
    native: np.ndarray | None = None  # whole-image case: the square region at its own resolution, so a
    # model can resize it in one step exactly as its training data was resized


def framing(img: np.ndarray, box: tuple[int, int, int, int], level_eyes: bool = True) -> tuple[float, float, float, float]:
    """(centre x, centre y, side, eye angle) of the training-framing square around a detected face.

    The face box alone sets the side with a spread of about 11% (log s.d., training faces placed in pictures), enough
    to move 10% of faces in pictures out of the framing the models were trained on. Where both eyes are found (93% of
    those faces) their distance estimates the side with a spread of 8.4%, nearly independent of the box's: the two
    estimates' geometric mean spreads 6.3%. So when the two agree within EYES_AGREE, side and centre are the means of
    both; when they do not, one of them is wrong and the box is kept (its failures are the rarer ones).
    """
    x, y, w, h = box
    cx, cy, side = x + w / 2, y + h / 2 + CROP_DY * w, CROP_SCALE * w
    pair = detector.eye_pair(img, box) if level_eyes else None
    if pair is None:
        return cx, cy, side, 0.0
    left, right = pair
    d = float(np.linalg.norm(right - left))
    u = (right - left) / d  # along the eye line
    v = np.array([-u[1], u[0]])  # down the face
    side_eyes = EYE_SCALE * d
    centre_eyes = (left + right) / 2 + EYE_DX * d * u + EYE_DY * d * v
    if abs(math.log(side_eyes / side)) <= EYES_AGREE:
        side = math.sqrt(side * side_eyes)
        cx, cy = (cx + centre_eyes[0]) / 2, (cy + centre_eyes[1]) / 2
    return cx, cy, side, math.degrees(math.atan2(u[1], u[0]))


def crop_face(img: np.ndarray, box: tuple[int, int, int, int], size: int, level_eyes: bool = True) -> FaceCrop:
    """Rotate about the face centre to level the eyes, then cut the training-framing square, resized to size."""
    cx, cy, side, angle = framing(img, box, level_eyes)
    # original -> crop: rotate by angle about (cx, cy), then scale side -> size with (cx, cy) -> centre.
    rot = cv2.getRotationMatrix2D((cx, cy), angle, size / side)  # (2, 3)
    rot[:, 2] += np.array([size / 2 - cx, size / 2 - cy])
    crop = cv2.warpAffine(img, rot, (size, size), flags=cv2.INTER_AREA if side > size else cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)
    return FaceCrop(crop, inside(box, img.shape), angle, rot, whole_image=False)


def inside(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The part of a box (x, y, w, h) inside a picture of this shape: the cascade's boxes are found on a padded
    picture (detector.PAD) and can reach past its border, which a box handed to a user never does."""
    x0, y0 = max(0, box[0]), max(0, box[1])
    x1, y1 = min(shape[1], box[0] + box[2]), min(shape[0], box[1] + box[3])
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def whole_image(img: np.ndarray, size: int) -> FaceCrop:
    """The image as it is (centre-cropped to a square), for inputs that already are aligned face crops."""
    h, w = img.shape[:2]
    s = min(h, w)
    x0, y0 = (w - s) // 2, (h - s) // 2
    m = np.array([[size / s, 0, -x0 * size / s], [0, size / s, -y0 * size / s]])
    crop = cv2.resize(img[y0:y0 + s, x0:x0 + s], (size, size), interpolation=cv2.INTER_AREA if s > size else cv2.INTER_CUBIC)
    return FaceCrop(crop, (x0, y0, s, s), 0.0, m, whole_image=True, native=img[y0:y0 + s, x0:x0 + s])


def is_aligned_crop(img: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """The image already is a training-like crop: nearly square and the face fills it."""
    h, w = img.shape[:2]
    return 0.8 <= w / h <= 1.25 and CROP_SCALE * box[2] >= 0.65 * min(h, w)


def closer(img: np.ndarray, face: FaceCrop, zoom: float) -> FaceCrop:
    """The same face at the same size, framed zoom x closer about the crop's centre: the framing of a model trained
    on random size-px cuts of faces enlarged to zoom x size (the translators' training, gan_viz/training.py).

    Cut as that training data was: the face at round(zoom x size) px, then its middle size px (below 1 the face
    smaller, the photo around it filling the rest). A whole-image crop is given back as it is: nothing lies around
    it, so a closer cut would leave a ring of it that no model sees."""
    s = face.crop.shape[0]
    big = int(round(s * zoom))
    if big == s or face.whole_image:
        return face
    m = face.matrix * (big / s)  # original -> pixels of the enlarged crop
    m[:, 2] -= (big - s) // 2  # -> pixels of its middle s px, warped directly
    cut = cv2.warpAffine(img, m, (s, s), borderMode=cv2.BORDER_REPLICATE,
                         flags=cv2.INTER_AREA if np.hypot(*m[0, :2]) < 1 else cv2.INTER_CUBIC)
    return FaceCrop(cut, face.box, face.angle, m, whole_image=False)
