"""Finding the faces of a photo: the cascade's candidates (strict, tilted, lenient), each confirmed by the HOG
detector, the HOG detector's own finds, the CNN detector's word on the nearest misses and its own look, and a cache of
recent photos."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import replace

import cv2
import numpy as np

import gan_viz.faces.detector as detector
import gan_viz.faces.hog as hog
import gan_viz.faces.mmod as mmod
from gan_viz.faces.crops import FaceCrop, crop_face, inside, is_aligned_crop, whole_image
from gan_viz.faces.detector import MIN_FACE, FaceError

MMOD_CANDIDATES = 4  # doubted candidates (HOG's nearest misses) the CNN detector judges, about 0.13 s each
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
            fc.box = inside((int(cx - b[2] / 2), int(cy - b[3] / 2), b[2], b[3]), img.shape)  # upright, about the centre
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


def warm() -> None:
    """Build one of each detector now (about 0.3 s in all), so that the first visitor does not wait for them."""
    for pool in (*detector.CASCADES.values(), hog.DETECTORS, mmod.NETWORKS):
        pool.warm()


def _find_faces(img: np.ndarray, size: int, use_whole_image: bool, max_faces: int) -> list[FaceCrop]:
    """The first of these passes that finds a face confirmed by the HOG detector: the strict cascade, the cascade on
    the picture turned both ways, the HOG detector on its own, the cascade at its most lenient, the picture itself as a
    face crop. Then the CNN detector's opinion on the best few candidates HOG doubted, then its own look over the whole
    picture. Else a FaceError saying why.

    Only the strict cascade's few candidates are confirmed at the lower VERIFY_AT; the later passes offer many more
    candidates (every round coin turned 15 degrees), so each needs the HOG detector's own threshold."""
    if use_whole_image:
        return [whole_image(img, size)]
    doubted: list[tuple[float, FaceCrop]] = []
    passes = ((lambda: _cascade_faces(img, size, max_faces), hog.VERIFY_AT),
              (lambda: _find_tilted(img, size), hog.FIND_AT),
              (lambda: [_crop(img, b, size) for b in hog.find(img)[:max_faces]], None),
              (lambda: _lenient(img, size, max_faces), hog.FIND_AT),
              (lambda: _as_crop(img, size), hog.FIND_AT))
    for candidates, at in passes:
        if at is None:  # the HOG detector's own finds need no second look
            found = candidates()
        else:
            scored = [(hog.score(img, f.matrix, size), f) for f in candidates()]
            found = [f for s, f in scored if s >= at]
            doubted += scored
        if found:
            return found[:max_faces]
    best = sorted(doubted, key=lambda t: -t[0])[:MMOD_CANDIDATES]  # the nearest misses first
    found = [f for _, f in best if mmod.is_face(img, f.matrix, size)]
    if found:
        return found[:1]  # the CNN judges only the best few: one face, the first it confirms
    found = [_crop(img, b, size) for b in mmod.find(img)[:max_faces]]
    if found:
        return found
    raise _no_face(img)


def _lenient(img: np.ndarray, size: int, max_faces: int) -> list[FaceCrop]:
    """The cascade at its most lenient (one neighbour, no eye check), its largest boxes of at least MIN_FACE."""
    boxes = detector.detect(img, min_size=16, neighbors=1, scale_factor=1.05)
    return [_crop(img, b, size) for b in boxes if b[2] >= MIN_FACE][:max_faces]


def _crop(img: np.ndarray, box: tuple[int, int, int, int], size: int) -> FaceCrop:
    return whole_image(img, size) if is_aligned_crop(img, box) else crop_face(img, box, size)


def _cascade_faces(img: np.ndarray, size: int, max_faces: int) -> list[FaceCrop]:
    """The strict cascade's faces, largest first; a first box on part of a face gives way to the face."""
    boxes = detector.detect(img, coarse=True, largest=max_faces == 1)
    if boxes:
        outer = _enclosing_face(img, boxes[0])
        if outer is not None:  # the largest box was part of a face: that face, and the boxes outside it
            boxes = [outer] + [b for b in boxes[1:] if not detector.centre_inside(b, outer)]
    return [_crop(img, b, size) for b in boxes[:max_faces]]


def _as_crop(img: np.ndarray, size: int) -> list[FaceCrop]:
    """The image itself when it is nearly square: perhaps a face crop the cascade missed (tight, or generated)."""
    h, w = img.shape[:2]
    return [whole_image(img, size)] if 0.8 <= w / h <= 1.25 else []


def _no_face(img: np.ndarray) -> FaceError:
    """One message for every picture without a face the models can use. It names the two reasons a real face is
    missed (turned away, too small) without claiming either: the cascades that told them apart fire on cats and
    gravel as readily as on faces (benchmarks/face_finding.py)."""
    h, w = img.shape[:2]
    return FaceError(f"No face found in this {w}x{h} picture. The models need a face seen from the front and at least "
                     f"{MIN_FACE} px wide: try a closer or larger photo, or tick 'use the whole image' if the picture "
                     "already is a face crop.")


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
        if bw >= 2 * w and detector.centre_inside(box, b) and detector.eyes(img, b, neighbors=3):
            return b
    return None
