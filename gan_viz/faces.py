"""Find faces (and eyes, to level them) with OpenCV's bundled Haar cascades; crop to the UTKFace training framing.

The framing was calibrated on 300 UTKFace aligned crops (numbers only): with the image
replicate-padded by 50 px, the frontal-face cascade's box has median width 204 px on the
200 px crop and its centre sits 17 px above the crop's centre. So a training-like crop is
a square of side CROP_SCALE * box width centred CROP_DY * box width below the box centre.
opencv-python 4.x ships these cascades (cv2.data.haarcascades); 5.0 does not, hence the pin.
"""
from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

import cv2
import numpy as np

CROP_SCALE = 200 / 204
CROP_DY = 17 / 204
# The same framing from the eyes (faces.framing), calibrated on 1,158 UTKFace training crops placed in pictures
# (numbers only): the square's side is EYE_SCALE x the distance between the Haar eye boxes' centres, its centre
# EYE_DX along and EYE_DY across the eye line (in eye distances) from their midpoint.
EYE_SCALE = 2.53
EYE_DX, EYE_DY = 0.05, 0.54
EYES_AGREE = 0.2  # |log(side from the eyes / side from the box)| beyond which one of them is wrong
PART_OF_FACE = 0.35  # a first box narrower than this share of the image's shorter side may be part of a face
MIN_FACE = 40  # px; smaller faces carry too little detail for 64-128 px models
PAD = 50  # replicate padding so faces touching the border (tight crops) are still found

# cv2.CascadeClassifier.detectMultiScale is not safe to call on one instance from two threads
# (seen under the classroom load test: vector::_M_range_check in eye_angle). Each request thread
# gets its own instances, built once per thread from the files OpenCV ships.
_local = threading.local()


class FaceError(ValueError):
    """A user-facing problem with the faces in an image; the message is shown as it is."""


def _cascade(name: str) -> cv2.CascadeClassifier:
    per_thread = _local.__dict__.setdefault("cascades", {})
    if name not in per_thread:
        c = cv2.CascadeClassifier(cv2.data.haarcascades + name)
        if c.empty():
            raise RuntimeError(f"OpenCV cascade {name} is missing: install opencv-python 4.x (it ships them)")
        per_thread[name] = c
    return per_thread[name]


@dataclass
class FaceCrop:
    crop: np.ndarray  # uint8 (size, size, 3) RGB in the training framing
    box: tuple[int, int, int, int]  # (x, y, w, h) of the detected face in the original image
    angle: float  # degrees the image was rotated to level the eyes
    matrix: np.ndarray  # (2, 3) affine map original -> crop pixels (invert it to paste back)
    whole_image: bool  # True when the image was used as it is (already a crop, or on request)
    native: np.ndarray | None = None  # whole-image case: the square region at its own resolution, so a
    # model can resize it in one step exactly as its training data was resized


def detect(img: np.ndarray, min_size: int = MIN_FACE, neighbors: int = 5,
           scale_factor: float = 1.1) -> list[tuple[int, int, int, int]]:
    """Frontal face boxes (x, y, w, h) in image pixels, largest first."""
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    scale = 1.0
    if max(gray.shape) > 1024:  # detection does not need full resolution; it dominates the time otherwise
        scale = 1024 / max(gray.shape)
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    # No histogram equalisation: the framing was calibrated without it, and it hides small faces.
    gray = cv2.copyMakeBorder(gray, PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE)
    boxes = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        gray, scaleFactor=scale_factor, minNeighbors=neighbors, minSize=(max(8, int(min_size * scale * 0.75)),) * 2)
    out = []
    for x, y, w, h in boxes:
        box = (int((x - PAD) / scale), int((y - PAD) / scale), int(w / scale), int(h / scale))
        if box[2] >= min_size * 0.75:
            out.append(box)
    return sorted(out, key=lambda b: -b[2] * b[3])


def looks_like_profile(img: np.ndarray) -> bool:
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    c = _cascade("haarcascade_profileface.xml")
    return len(c.detectMultiScale(gray, 1.1, 5, minSize=(MIN_FACE, MIN_FACE))) > 0 or \
        len(c.detectMultiScale(np.ascontiguousarray(gray[:, ::-1]), 1.1, 5, minSize=(MIN_FACE, MIN_FACE))) > 0


def _eyes(img: np.ndarray, box: tuple[int, int, int, int], neighbors: int = 5) -> list:
    """Eye boxes (x, y, w, h) in the upper half of a face box, relative to the box."""
    x, y, w, h = box
    x0, y0 = max(0, x), max(0, y)
    upper = img[y0:y0 + h // 2 + h // 8, x0:x0 + w]
    if upper.size == 0:
        return []
    upper = cv2.cvtColor(np.ascontiguousarray(upper), cv2.COLOR_RGB2GRAY)
    return list(_cascade("haarcascade_eye.xml").detectMultiScale(upper, 1.1, neighbors, minSize=(max(8, w // 10),) * 2))


def eye_pair(img: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """Centres (x, y) in image pixels of the two eyes found in a face box, left to right; None without a plausible pair."""
    x, y, w, _ = box
    eyes = _eyes(img, box)
    if len(eyes) < 2:
        return None
    eyes = sorted(sorted(eyes, key=lambda e: -e[2] * e[3])[:2], key=lambda e: e[0])  # two largest, left to right
    origin = np.array([max(0, x), max(0, y)], float)  # _eyes searched from here
    left, right = (origin + np.array([ex + ew / 2, ey + eh / 2]) for ex, ey, ew, eh in eyes)
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


def framing(img: np.ndarray, box: tuple[int, int, int, int], level_eyes: bool = True) -> tuple[float, float, float, float]:
    """(centre x, centre y, side, eye angle) of the training-framing square around a detected face.

    The face box alone sets the side with a spread of about 11% (log s.d., training faces placed in pictures), enough
    to move 10% of faces in pictures out of the framing the models were trained on. Where both eyes are found (93% of
    those faces) their distance estimates the side with a spread of 8.4%, nearly independent of the box's: the two
    estimates' geometric mean spreads 6.3%. So when the two agree within EYES_AGREE, side and centre are the means of
    both; when they do not, one of them is wrong and the box is kept (its failures are the rarer ones). Measured on
    842 validation adults placed in pictures: framings off by more than 15% in size or 10% in centre 10.1% -> 8.1%.
    """
    x, y, w, h = box
    cx, cy, side = x + w / 2, y + h / 2 + CROP_DY * w, CROP_SCALE * w
    pair = eye_pair(img, box) if level_eyes else None
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
    return FaceCrop(crop, box, angle, rot, whole_image=False)


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


def _find_tilted(img: np.ndarray, size: int) -> list[FaceCrop]:
    """Heads tilted by more than ~10 degrees escape the upright cascade: retry on the image rotated both ways."""
    h, w = img.shape[:2]
    for angle in (15.0, -15.0, 30.0, -30.0):
        r = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)  # (2, 3) original -> rotated
        rotated = cv2.warpAffine(img, r, (w, h), borderMode=cv2.BORDER_REPLICATE)
        boxes = detect(rotated)
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

    Detection is most of the work of a photo request (~90 ms of a 600x512 portrait), and a class
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
    boxes = detect(img)
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
        small = detect(img, min_size=16, neighbors=3, scale_factor=1.05)
        # A lenient pass, kept only where an eye is found in the box's upper half: of the validation faces placed in
        # pictures that the strict pass missed (29 of 842), it finds 16, 13 of them classified right (whole image:
        # about half), and it accepted none of 42 non-face images (matplotlib's samples, noise) that it fired on twice
        # without the eye check.
        lenient = [b for b in small if b[2] >= MIN_FACE and _eyes(img, b, neighbors=3)]
        if lenient:
            if is_aligned_crop(img, lenient[0]):
                return [whole_image(img, size)]
            return [crop_face(img, b, size) for b in lenient[:max_faces]]
        if small and small[0][2] < MIN_FACE:  # a large lenient hit is not a size problem
            raise FaceError(f"The face found is {small[0][2]} px wide; faces need to be at least {MIN_FACE} px. "
                            "Use a closer or larger photo, or tick 'use the whole image'.")
        if looks_like_profile(img):
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
    mouth, and that box wins for want of a better one. Of 842 validation adults placed in pictures, 7 were framed so
    (a box a quarter to a third of the face's width) while the lenient pass found the whole face around it; of the
    same faces as 200 px crops, 2 (a 59 and a 65 px box). So a first box narrower than PART_OF_FACE of the image's
    shorter side is checked: a lenient box at least twice as wide around its centre, with an eye in it, replaces it
    (then a crop is used whole again). Larger first boxes, most photos, cost nothing more; a smaller one costs a
    lenient pass over a window around it (Grace Hopper's portrait in a 1200x1024 picture: 63 -> 71 ms). With the eye framing,
    the classifier of session 9 went from 94.18% to 94.77% right on those pictures and from 95.25% to 95.49% on crops.
    """
    x, y, w, h = box
    if w >= PART_OF_FACE * min(img.shape[:2]):
        return None
    # Only faces 2-5x the box's width around its centre qualify: search that window, from that size up (the lenient
    # pass over the whole of a 1200x1024 photo from 16 px up added 130 ms; this window, from 2x up, adds 7).
    cx, cy, r = x + w / 2, y + h / 2, 5 * w
    x0, y0 = max(0, int(cx - r)), max(0, int(cy - r))
    window = img[y0:int(cy + r), x0:int(cx + r)]
    for bx, by, bw, bh in detect(window, min_size=2 * w, neighbors=3, scale_factor=1.05):  # largest first
        b = (bx + x0, by + y0, bw, bh)
        if bw >= 2 * w and _centre_inside(box, b) and _eyes(img, b, neighbors=3):
            return b
    return None


def likeliest_face(img: np.ndarray, size: int) -> FaceCrop | None:
    """For a caller that must answer even when find_faces finds nothing (/classify): the largest box the cascade fires
    on at its most lenient (fewer neighbours, no eye check), in the training framing; None when there is none of
    MIN_FACE. Of the validation faces placed in pictures that find_faces missed (16 of 842), it boxed 13, 11 of them
    then classified right, against 9 of the 16 from the whole picture. Through /classify's path (842 validation
    adults each) pictures went from 93.59% to 94.18% and crops from 95.49% to 95.25%: of the tight crops the detector
    misses, it boxes a small region in 5, and 2 more of those are then called wrong than when classified whole."""
    for neighbors in (3, 2, 1):
        boxes = [b for b in detect(img, min_size=16, neighbors=neighbors, scale_factor=1.05) if b[2] >= MIN_FACE]
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


def _crop_to_photo(face: FaceCrop, patch_size: int) -> np.ndarray:
    """(2, 3) affine map from pixels of a patch_size square in the crop's framing back to the photo."""
    m = face.matrix * (patch_size / face.crop.shape[0])  # original -> patch pixels (scales both rows)
    return cv2.invertAffineTransform(m)


MASKS = ("ellipse", "square", "change")  # the shape a face's change is added under (face_alpha)
CHANGE_FROM, CHANGE_FULL = 0.03, 0.08  # "change" mask: mean |G(x) - x| (0-1 units) where it starts, where it is 1


def crop_alpha(s: int, whole_image: bool = False, feather: float = 0.08, mask: str = "ellipse",
               change: np.ndarray | None = None) -> np.ndarray:
    """float32 (s, s): face_alpha in the crop's own framing (what the gender tab shows as the blend).

    "ellipse": face and hairline; "square": the whole crop (face, hair, neck), feathered only at its border;
    "change": the ellipse, widened to wherever the model changed the crop clearly (`change`: (S, S) mean
    |G(x) - x| in [0, 1] units), e.g. long hair, but not the background it left alone; feathered at the border.
    """
    if mask not in MASKS:
        raise ValueError(f"mask must be one of {', '.join(MASKS)}, got {mask!r}")
    if mask == "change" and change is None:
        raise ValueError("the 'change' mask needs the model's change map")
    a = np.zeros((s, s), np.float32)
    if whole_image:
        a[:] = 1.0
        return a
    band = max(1, int(s * feather))
    ramp = np.minimum(np.arange(s) + 0.5, s - np.arange(s) - 0.5) / band  # 0 at the border, 1 inside the band
    r = np.clip(ramp, 0, 1).astype(np.float32)
    square = np.minimum(r[:, None], r[None, :])
    if mask == "square":
        return square
    if mask == "change":
        c = cv2.resize(change.astype(np.float32), (s, s), interpolation=cv2.INTER_LINEAR)
        c = cv2.GaussianBlur(c, (0, 0), sigmaX=s * 0.02)  # regions, not single pixels
        grown = np.clip((c - CHANGE_FROM) / (CHANGE_FULL - CHANGE_FROM), 0, 1)
        return np.maximum(crop_alpha(s, False, feather, "ellipse"), grown * square)
    # The crop's face occupies about the middle 80%: the ellipse covers it and the hairline.
    cv2.ellipse(a, (s // 2, int(s * 0.47)), (int(s * 0.40), int(s * 0.47)), 0, 0, 360, 1.0, -1)
    k = int(s * feather) | 1
    return cv2.GaussianBlur(a, (0, 0), sigmaX=k / 2)


def face_alpha(face: FaceCrop, shape: tuple[int, int], feather: float = 0.08, mask: str = "ellipse",
               change: np.ndarray | None = None) -> np.ndarray:
    """float32 (H, W) weight in [0, 1] of where a face crop lands in the photo.

    A feathered ellipse over the face and hair, or the crop's square (a whole-image crop: its whole
    square), so that an edited face meets the untouched photo without a seam.
    """
    s = 256
    a = crop_alpha(s, face.whole_image, feather, mask, change)
    a = cv2.warpAffine(a, _crop_to_photo(face, s), (shape[1], shape[0]), flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.clip(a, 0.0, 1.0)  # interpolation can overshoot 1 by a rounding error


def add_to_photo(photo: np.ndarray, face: FaceCrop, delta: np.ndarray, keep_detail: np.ndarray | None = None,
                 mask: str = "ellipse", change_map: np.ndarray | None = None) -> np.ndarray:
    """photo (H, W, 3) float + delta (S, S, 3) float, a change drawn in the crop's framing at any S.

    The change is warped back through the inverse alignment (which also upsamples it) and
    added under face_alpha: pixels the change does not touch keep the photo's full resolution.
    keep_detail (S, S) in [0, 1], optional: where it is 0 the model redrew that part, so the
    photo's detail finer than one model pixel is dropped there too (otherwise, say, a beard's
    texture would survive under a translated chin).
    """
    h, w = photo.shape[:2]
    s = delta.shape[0]
    inv = _crop_to_photo(face, s)
    change = cv2.warpAffine(delta.astype(np.float32), inv, (w, h), flags=cv2.INTER_CUBIC,
                            borderMode=cv2.BORDER_REPLICATE)  # replicate: no ringing at the edge
    if keep_detail is not None:
        model_px = float(np.hypot(*inv[0, :2]))  # photo pixels per model pixel
        low = cv2.GaussianBlur(photo, (0, 0), sigmaX=max(0.5, 0.5 * model_px))
        drop = 1.0 - cv2.warpAffine(keep_detail.astype(np.float32), inv, (w, h), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
        change = change - np.clip(drop, 0.0, 1.0)[..., None] * (photo - low)
    return photo + change * face_alpha(face, (h, w), mask=mask, change=change_map)[..., None]
