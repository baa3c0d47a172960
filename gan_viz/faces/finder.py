"""Finding the faces of a photo: the strict detector, tilted retries, a lenient pass kept where an eye is found,
boxes on part of a face given way to the face, the fallbacks of /classify, and a cache of recent photos."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import replace

import cv2
import numpy as np

import gan_viz.faces.detector as detector
from gan_viz.faces.crops import FaceCrop, crop_face, is_aligned_crop, whole_image
from gan_viz.faces.detector import MIN_FACE, FaceError

PART_OF_FACE = 0.35  # a first box narrower than this share of the image's shorter side may be part of a face


def _find_tilted(img: np.ndarray, size: int) -> list[FaceCrop]:
    """Heads tilted by more than ~10 degrees escape the upright cascade: retry on the image rotated both ways."""
    h, w = img.shape[:2]
    for angle in (15.0, -15.0, 30.0, -30.0):
        r = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)  # (2, 3) original -> rotated
        rotated = cv2.warpAffine(img, r, (w, h), borderMode=cv2.BORDER_REPLICATE)
        boxes = detector.detect(rotated)
        if not boxes:
            continue
        out = []
        inv = cv2.invertAffineTransform(r)
        for b in boxes:
            fc = crop_face(rotated, b, size)
            r3 = np.vstack([r, [0, 0, 1]])
            fc.matrix = fc.matrix @ r3  # original -> rotated -> crop
            fc.angle += angle
            cx, cy = inv @ np.array([b[0] + b[2] / 2, b[1] + b[3] / 2, 1.0])
            fc.box = (int(cx - b[2] / 2), int(cy - b[3] / 2), b[2], b[3])  # upright box around the face centre
            out.append(fc)
        return out
    return []


_found: OrderedDict[tuple, list[FaceCrop]] = OrderedDict()  # recently seen photos -> their faces
_found_lock = threading.Lock()
FOUND_CACHE = 32
FOUND_MAX_BYTES = 1_500_000


def find_faces(img: np.ndarray, size: int, use_whole_image: bool = False, max_faces: int = 8) -> list[FaceCrop]:
    """Every face, largest first, cropped to the training framing; a clear FaceError when there is none.

    Detection is most of the work of a photo request, and a class
    sends the same photos again and again (the examples): results are kept for the last FOUND_CACHE
    photos, keyed on their pixels, and handed out as copies.
    """
    key = (hashlib.sha1(np.ascontiguousarray(img)).hexdigest(), img.shape, size, use_whole_image, max_faces)
    with _found_lock:
        hit = _found.get(key)
        if hit is not None:
            _found.move_to_end(key)
    if hit is None:
        hit = _find_faces(img, size, use_whole_image, max_faces)  # a FaceError is not cached: it is cheap to redo
        nbytes = sum(f.crop.nbytes + (f.native.nbytes if f.native is not None else 0) for f in hit)
        if nbytes <= FOUND_MAX_BYTES:  # a huge whole-image crop is not kept: the cache stays ~32 x 1.5 MB at most
            with _found_lock:
                _found[key] = hit
                while len(_found) > FOUND_CACHE:
                    _found.popitem(last=False)
    return [replace(f, crop=f.crop.copy(), matrix=f.matrix.copy(), native=None if f.native is None else f.native.copy())
            for f in hit]


def forget() -> None:
    """Drop the remembered detections (benchmarks that time detection itself call this before each run)."""
    with _found_lock:
        _found.clear()


def _find_faces(img: np.ndarray, size: int, use_whole_image: bool, max_faces: int) -> list[FaceCrop]:
    if use_whole_image:
        return [whole_image(img, size)]
    boxes = detector.detect(img)
    if boxes:
        outer = _enclosing_face(img, boxes[0])
        if outer is not None:  # the largest box was part of a face: that face, and the boxes outside it
            boxes = [outer] + [b for b in boxes[1:] if not _centre_inside(b, outer)]
    else:
        tilted = _find_tilted(img, size)
        if tilted:
            outer = _enclosing_face(img, tilted[0].box)
            if outer is None:
                return tilted[:max_faces]
            boxes = [outer]
    if not boxes:
        small = detector.detect(img, min_size=16, neighbors=3, scale_factor=1.05)
        # A lenient pass, kept only where an eye is found in the box's upper half: it finds many of the faces in
        # pictures the strict pass misses, and without the eye check it fires on pictures with no face at all.
        lenient = [b for b in small if b[2] >= MIN_FACE and detector.eyes(img, b, neighbors=3)]
        if lenient:
            if is_aligned_crop(img, lenient[0]):
                return [whole_image(img, size)]
            return [crop_face(img, b, size) for b in lenient[:max_faces]]
        if small and small[0][2] < MIN_FACE:  # a large lenient hit is not a size problem
            raise FaceError(f"The face found is {small[0][2]} px wide; faces need to be at least {MIN_FACE} px. "
                            "Use a closer or larger photo, or tick 'use the whole image'.")
        if detector.looks_like_profile(img):
            raise FaceError("This looks like a side profile; the models need a face seen from the front. "
                            "Or tick 'use the whole image'.")
        raise FaceError("No face found. Use a photo with a face seen from the front, or tick 'use the whole image' "
                        "if the picture already is a face crop.")
    if is_aligned_crop(img, boxes[0]):
        return [whole_image(img, size)]
    return [crop_face(img, b, size) for b in boxes[:max_faces]]


def _centre_inside(box: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return outer[0] <= cx <= outer[0] + outer[2] and outer[1] <= cy <= outer[1] + outer[3]


def _enclosing_face(img: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
    """The face that a small first box is part of, or None.

    The strict cascade (and its tilted retries) sometimes misses a face yet fires on a part of it, an eye or the
    mouth, and that box wins for want of a better one. So a first box narrower than PART_OF_FACE of the image's
    shorter side is checked: a lenient box at least twice as wide around its centre, with an eye in it, replaces it
    (then a crop is used whole again). Larger first boxes, most photos, cost nothing more; a smaller one costs a
    lenient pass over a window around it (benchmarks/gender_flip.py times the whole path).
    """
    x, y, w, h = box
    if w >= PART_OF_FACE * min(img.shape[:2]):
        return None
    # Only faces 2-5x the box's width around its centre qualify: search that window, from that size up (a lenient
    # pass over the whole photo from 16 px up would cost many times more).
    cx, cy, r = x + w / 2, y + h / 2, 5 * w
    x0, y0 = max(0, int(cx - r)), max(0, int(cy - r))
    window = img[y0:int(cy + r), x0:int(cx + r)]
    for bx, by, bw, bh in detector.detect(window, min_size=2 * w, neighbors=3, scale_factor=1.05):  # largest first
        b = (bx + x0, by + y0, bw, bh)
        if bw >= 2 * w and _centre_inside(box, b) and detector.eyes(img, b, neighbors=3):
            return b
    return None


def likeliest_face(img: np.ndarray, size: int) -> FaceCrop | None:
    """For a caller that must answer even when find_faces finds nothing (/classify): the largest box the cascade fires
    on at its most lenient (fewer neighbours, no eye check), in the training framing; None when there is none of
    MIN_FACE. Of the faces in pictures that find_faces misses, it boxes most, and they are then classified right
    more often than from the whole picture (the classifier's card gives the figures)."""
    for neighbors in (3, 2, 1):
        boxes = [b for b in detector.detect(img, min_size=16, neighbors=neighbors, scale_factor=1.05) if b[2] >= MIN_FACE]
        if boxes:
            return whole_image(img, size) if is_aligned_crop(img, boxes[0]) else crop_face(img, boxes[0], size)
    return None


def face_to_classify(img: np.ndarray, size: int) -> FaceCrop:
    """What /classify classifies in a photo: the largest face found (or the image itself when it is a crop), else the
    likeliest face at the detector's most lenient, else the whole image. Never raises: an API caller cannot tick
    "use the whole image", so it gets an answer whenever there is an image (most inputs with no box at all are tight
    crops the detector misses). The classifier's training crops are made by this same function (app_crops.py)."""
    try:
        return find_faces(img, size, max_faces=1)[0]
    except FaceError:
        return likeliest_face(img, size) or find_faces(img, size, use_whole_image=True)[0]
