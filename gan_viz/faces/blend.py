"""Pasting a face's change back into the photo: the blend masks (ellipse, square, change) warped through the alignment."""
from __future__ import annotations

import cv2
import numpy as np

from gan_viz.faces.crops import FaceCrop


def _crop_to_photo(face: FaceCrop, patch_size: int) -> np.ndarray:
    """(2, 3) affine map from pixels of a patch_size square in the crop's framing back to the photo."""
    m = face.matrix * (patch_size / face.crop.shape[0])  # original -> patch pixels (scales both rows)
    return cv2.invertAffineTransform(m)


MASKS = ("ellipse", "square", "change")  # the shape a face's change is added under (face_alpha)
CHANGE_FROM, CHANGE_FULL = 0.03, 0.08  # "change" mask: mean |G(x) - x| (0-1 units) where it starts, where it is 1
ALPHA_SIZE = 256  # px of the square face_alpha draws its weight in, before warping it into the photo


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
               change: np.ndarray | None = None, region: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """float32 (H, W) weight in [0, 1] of where a face crop lands in the photo.

    A feathered ellipse over the face and hair, or the crop's square (a whole-image crop: its whole
    square), so that an edited face meets the untouched photo without a seam. region (x0, y0, x1, y1): only that
    part of the photo, (y1 - y0, x1 - x0).
    """
    s = ALPHA_SIZE
    a = crop_alpha(s, face.whole_image, feather, mask, change)
    x0, y0, x1, y1 = region or (0, 0, shape[1], shape[0])
    a = cv2.warpAffine(a, _into(_crop_to_photo(face, s), x0, y0), (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.clip(a, 0.0, 1.0)  # interpolation can overshoot 1 by a rounding error


def _into(m: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """The affine map m into the photo, then into its part whose top-left corner is (x0, y0)."""
    out = m.copy()
    out[:, 2] -= (x0, y0)
    return out


def landing_region(face: FaceCrop, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the part of the photo the face's crop square lands on (so the only part a change to the
    crop can touch), inside the photo."""
    s = ALPHA_SIZE
    inv = _crop_to_photo(face, s)
    corners = inv @ np.array([[-1, -1, 1], [s, -1, 1], [-1, s, 1], [s, s, 1]], float).T  # (2, 4): the square, and
    lo = np.floor(corners.min(axis=1)).astype(int) - 2  # the weight's pixel beyond it that interpolation reads
    hi = np.ceil(corners.max(axis=1)).astype(int) + 3
    return max(0, lo[0]), max(0, lo[1]), min(shape[1], hi[0]), min(shape[0], hi[1])


def add_to_photo(photo: np.ndarray, face: FaceCrop, delta: np.ndarray, keep_detail: np.ndarray | None = None,
                 mask: str = "ellipse", change_map: np.ndarray | None = None) -> np.ndarray:
    """photo (H, W, 3) float + delta (S, S, 3) float, a change drawn in the crop's framing at any S.

    The change is warped back through the inverse alignment (which also upsamples it) and
    added under face_alpha: pixels the change does not touch keep the photo's full resolution.
    keep_detail (S, S) in [0, 1], optional: where it is 0 the model redrew that part, so the
    photo's detail finer than one model pixel is dropped there too (otherwise, say, a beard's
    texture would survive under a translated chin).
    Only the part of the photo under the crop's square is computed (landing_region): outside it the weight is 0, and
    a small face in a large photo costs what the face costs, not what the photo does.
    """
    h, w = photo.shape[:2]
    s = delta.shape[0]
    inv = _crop_to_photo(face, s)
    x0, y0, x1, y1 = landing_region(face, photo.shape)
    part = photo[y0:y1, x0:x1]
    change = cv2.warpAffine(delta.astype(np.float32), _into(inv, x0, y0), (x1 - x0, y1 - y0), flags=cv2.INTER_CUBIC,
                            borderMode=cv2.BORDER_REPLICATE)  # replicate: no ringing at the edge
    if keep_detail is not None:
        change = change - _detail_dropped(photo, inv, keep_detail, (x0, y0, x1, y1))
    out = photo.copy()
    out[y0:y1, x0:x1] = part + change * face_alpha(face, (h, w), mask=mask, change=change_map,
                                                   region=(x0, y0, x1, y1))[..., None]
    return out


def _detail_dropped(photo: np.ndarray, inv: np.ndarray, keep_detail: np.ndarray,
                    region: tuple[int, int, int, int]) -> np.ndarray:
    """(y1 - y0, x1 - x0, 3): the photo's detail finer than one model pixel, where keep_detail says the model redrew
    it. The blur reads a margin of photo around the region, so the region's values are the whole photo's."""
    x0, y0, x1, y1 = region
    h, w = photo.shape[:2]
    model_px = float(np.hypot(*inv[0, :2]))  # photo pixels per model pixel
    sigma = max(0.5, 0.5 * model_px)
    r = int(np.ceil(4 * sigma)) + 1  # OpenCV's float kernel reaches 4 sigma
    bx0, by0, bx1, by1 = max(0, x0 - r), max(0, y0 - r), min(w, x1 + r), min(h, y1 + r)
    low = cv2.GaussianBlur(photo[by0:by1, bx0:bx1], (0, 0), sigmaX=sigma)[y0 - by0:y1 - by0, x0 - bx0:x1 - bx0]
    drop = 1.0 - cv2.warpAffine(keep_detail.astype(np.float32), _into(inv, x0, y0), (x1 - x0, y1 - y0),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.clip(drop, 0.0, 1.0)[..., None] * (photo[y0:y1, x0:x1] - low)
