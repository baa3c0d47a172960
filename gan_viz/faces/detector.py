"""Faces and eyes by OpenCV's bundled Haar cascades (Viola and Jones, 2001): boxes, eye pairs, the eye line's angle.

opencv-python 4.x ships these cascades (cv2.data.haarcascades); 5.0 does not, hence the pin.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from gan_viz.faces.pool import Pool

MIN_FACE = 40  # px; smaller faces carry too little detail for 64-128 px models
PAD = 50  # replicate padding so faces touching the border (tight crops) are still found
COARSE = 1.25  # step between window sizes of a coarse first look (detect(coarse=True)); the full search steps 1.1
COARSE_NEIGHBORS = 1  # candidates of the coarse look need this many neighbours; their second search needs the caller's
REFINE = 1.5  # a coarse candidate is searched again for faces from 1/REFINE to REFINE x its size
SMALL_BAND = 48  # px (twice the cascade's 24 px model): the coarse look's windows below this come last
BACKGROUND = 4  # ... and are skipped beside a face found this many times SMALL_BAND wide


class FaceError(ValueError):
    """A user-facing problem with the faces in an image; the message is shown as it is."""


def _load(name: str) -> cv2.CascadeClassifier:
    c = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    if c.empty():
        raise RuntimeError(f"OpenCV cascade {name} is missing: install opencv-python 4.x (it ships them)")
    return c


# cv2.CascadeClassifier.detectMultiScale is not safe to call on one instance from two threads (it can fail
# with vector::_M_range_check): each call borrows an instance no other thread is using.
CASCADES = {name: Pool(lambda name=name: _load(name))
            for name in ("haarcascade_frontalface_default.xml", "haarcascade_eye.xml")}


def detect(img: np.ndarray, min_size: int = MIN_FACE, neighbors: int = 5, scale_factor: float = 1.1,
           coarse: bool = False, largest: bool = False) -> list[tuple[int, int, int, int]]:
    """Frontal face boxes (x, y, w, h) in image pixels, largest first.

    coarse: look first with COARSE steps between window sizes, then run the search asked for only at the window sizes
    near the candidates' (_coarse_to_fine): the strict pass's boxes at two thirds of the cost.
    largest (with coarse): only the first box is wanted; it is the first box of coarse=True, the rest may be missing.
    """
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    scale = 1.0
    if max(gray.shape) > 1024:  # detection does not need full resolution; it dominates the time otherwise
        scale = 1024 / max(gray.shape)
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    # No histogram equalisation: the framing was calibrated without it, and it hides small faces.
    gray = cv2.copyMakeBorder(gray, PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE)
    smallest = max(8, int(min_size * scale * 0.75))
    with CASCADES["haarcascade_frontalface_default.xml"].lend() as cascade:
        if coarse:
            boxes = _coarse_to_fine(cascade, gray, smallest, neighbors, scale_factor, largest)
        else:
            boxes = cascade.detectMultiScale(gray, scaleFactor=scale_factor, minNeighbors=neighbors,
                                             minSize=(smallest,) * 2)
    out = []
    for x, y, w, h in boxes:
        box = (int((x - PAD) / scale), int((y - PAD) / scale), int(w / scale), int(h / scale))
        if box[2] >= min_size * 0.75:
            out.append(box)
    return sorted(out, key=lambda b: -b[2] * b[3])


def _coarse_to_fine(cascade: cv2.CascadeClassifier, gray: np.ndarray, smallest: int, neighbors: int,
                    scale_factor: float, largest: bool = False) -> list[tuple[int, int, int, int]]:
    """What the full search finds, at less cost where faces are large.

    Most of a search is its smallest windows over the whole picture. So a first look with COARSE steps between window
    sizes, at COARSE_NEIGHBORS, says which sizes hold candidates; then the full search runs only at the window sizes
    within REFINE x of a candidate's. Those are the full search's own windows (its sizes step from 24 px whatever the
    smallest asked), so a face whose boxes fall in them gets the very box the full search gives it.

    The look goes down to SMALL_BAND first. Its windows below SMALL_BAND (a third of the portrait's look) are skipped
    when a face BACKGROUND x wider is found: beside it, a face under SMALL_BAND is a passer-by far behind.
    largest: the ranges are searched largest first, down to the first that holds a face (_largest_range).
    """
    searched: dict[tuple[int, int], list] = {}  # each range's boxes: a range in both searches below is searched once
    sizes = _look(cascade, gray, max(smallest, SMALL_BAND), None)
    if largest:
        found = _largest_range(cascade, gray, _ranges(sizes, smallest), neighbors, scale_factor, searched,
                               final=smallest >= SMALL_BAND)
        if found:
            return found
    if smallest < SMALL_BAND:
        if any(w * REFINE >= BACKGROUND * SMALL_BAND for w in sizes):  # perhaps a face that large: refine and see
            found = _refine(cascade, gray, _ranges(sizes, smallest), neighbors, scale_factor, searched)
            if any(w >= BACKGROUND * SMALL_BAND for _, _, w, _ in found):
                return found
        sizes = sorted(_look(cascade, gray, smallest, SMALL_BAND) + sizes)
    return _refine(cascade, gray, _ranges(sizes, smallest), neighbors, scale_factor, searched)


def _largest_range(cascade: cv2.CascadeClassifier, gray: np.ndarray, ranges: list[list[int]], neighbors: int,
                   scale_factor: float, searched: dict, final: bool) -> list[tuple[int, int, int, int]]:
    """The boxes of the largest range that holds a face, or [] when the small band may still change the answer.

    Ranges do not overlap, so the largest box of the whole search lies in the largest range holding any. The small
    band's candidates (none wider than SMALL_BAND) reach ranges up to SMALL_BAND x REFINE only: a range starting above
    that is the one the whole search would refine, so its boxes are the answer even before the small band is looked
    at (final: there is no small band).
    """
    for lo, hi in reversed(ranges):
        found = _refine(cascade, gray, [[lo, hi]], neighbors, scale_factor, searched)
        if found:
            return found if final or lo > int(SMALL_BAND * REFINE) + 1 else []
    return []


def _look(cascade: cv2.CascadeClassifier, gray: np.ndarray, look_from: int, look_to: int | None) -> list[int]:
    """Widths of the coarse look's candidates at window sizes look_from..look_to (None: no upper bound), smallest
    first."""
    bounds = {"maxSize": (look_to,) * 2} if look_to else {}
    return sorted(int(w) for _, _, w, _ in cascade.detectMultiScale(gray, scaleFactor=COARSE,
                                                                   minNeighbors=COARSE_NEIGHBORS,
                                                                   minSize=(look_from,) * 2, **bounds))


def _ranges(sizes: list[int], smallest: int) -> list[list[int]]:
    """Window sizes within REFINE x of each candidate's (never below smallest), overlapping ranges merged."""
    ranges: list[list[int]] = []
    for w in sizes:  # smallest first
        lo, hi = max(smallest, int(w / REFINE)), int(w * REFINE) + 1
        if ranges and lo <= ranges[-1][1]:
            ranges[-1][1] = max(ranges[-1][1], hi)
        else:
            ranges.append([lo, hi])
    return ranges


def _refine(cascade: cv2.CascadeClassifier, gray: np.ndarray, ranges: list[list[int]], neighbors: int,
            scale_factor: float, searched: dict | None = None) -> list[tuple[int, int, int, int]]:
    """The full search at the window sizes of each range; a face found in two ranges keeps the larger of its boxes.
    searched: boxes of ranges already searched (read and filled)."""
    searched = {} if searched is None else searched
    found: list[tuple[int, int, int, int]] = []
    for lo, hi in ranges:
        if (lo, hi) not in searched:
            searched[lo, hi] = [tuple(int(v) for v in b) for b in cascade.detectMultiScale(
                gray, scaleFactor=scale_factor, minNeighbors=neighbors, minSize=(lo, lo), maxSize=(hi, hi))]
        found += searched[lo, hi]
    if len(ranges) < 2:
        return found
    kept: list[tuple[int, int, int, int]] = []
    for box in sorted(found, key=lambda b: -b[2] * b[3]):
        if not any(centre_inside(box, k) or centre_inside(k, box) for k in kept):
            kept.append(box)
    return kept


def centre_inside(box: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    """Whether the centre of box lies in outer (both (x, y, w, h))."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return outer[0] <= cx <= outer[0] + outer[2] and outer[1] <= cy <= outer[1] + outer[3]


def eyes(img: np.ndarray, box: tuple[int, int, int, int], neighbors: int = 5) -> list:
    """Eye boxes (x, y, w, h) in the upper half of a face box, relative to the box."""
    x, y, w, h = box
    x0, y0 = max(0, x), max(0, y)
    upper = img[y0:y0 + h // 2 + h // 8, x0:x0 + w]
    if upper.size == 0:
        return []
    upper = cv2.cvtColor(np.ascontiguousarray(upper), cv2.COLOR_RGB2GRAY)
    with CASCADES["haarcascade_eye.xml"].lend() as cascade:
        return list(cascade.detectMultiScale(upper, 1.1, neighbors, minSize=(max(8, w // 10),) * 2))


def eye_pair(img: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """Centres (x, y) in image pixels of the two eyes found in a face box, left to right; None without a plausible pair."""
    x, y, w, _ = box
    found = eyes(img, box)
    if len(found) < 2:
        return None
    found = sorted(sorted(found, key=lambda e: -e[2] * e[3])[:2], key=lambda e: e[0])  # two largest, left to right
    origin = np.array([max(0, x), max(0, y)], float)  # eyes() searched from here
    left, right = (origin + np.array([ex + ew / 2, ey + eh / 2]) for ex, ey, ew, eh in found)
    dx, dy = right - left
    if dx < w * 0.2:  # both boxes on one eye, or a nostril: not a pair
        return None
    if abs(math.degrees(math.atan2(dy, dx))) > 30:
        return None
    return left, right


def eye_angle(img: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Degrees of the line through the two eyes (0 when they are not both found)."""
    pair = eye_pair(img, box)
    if pair is None:
        return 0.0
    dx, dy = pair[1] - pair[0]
    return math.degrees(math.atan2(dy, dx))
