"""The photo path both gender translators share: faces found and levelled, each translated, the change blended back.

A translator (the CycleGAN, U-GAT-IT) only says how one aligned face crop runs through its cycle (`translate`, a
`Cycle`); this module turns that into a flipped photo. A face is flipped by adding the change G(x) - x, warped back
through the face's alignment, to the original pixels under a feathered mask: the face changes, the photo keeps its
resolution; where G redrew a part of the face, the photo's finer detail there is dropped with it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np
import torch

from gan_viz import faces
from gan_viz.imaging import resize

DIRECTIONS = ("male_to_female", "female_to_male")
TARGET = {"male_to_female": "female", "female_to_male": "male"}
CHANGED = 0.15  # a mean |G(x) - x| (in [0, 1] pixel units) this large means G redrew that pixel
MAX_STRENGTH = 2.0  # flip_photo's strength: how far along G(x) - x the photo is moved
DEFAULT_MASK = "change"
DEFAULT_STRENGTH = None  # None: the translator's calibrated strength for the face's direction
BLENDS = ("model", "photo")  # whose fine detail a redrawn part of the face keeps (flip_photo)
MAX_FACES = 8  # more than this in one photo: the largest eight are flipped and the user is told


@dataclass
class Cycle:
    direction: str
    x: np.ndarray  # uint8 (S, S, 3) the aligned face at the model's resolution
    fake: np.ndarray  # G(x)
    rec: np.ndarray  # F(G(x))
    identity: np.ndarray  # F(x)
    change: np.ndarray  # float32 (S, S) mean over RGB of |G(x) - x|, in [0, 1] pixel units
    cycle_error: np.ndarray  # float32 (S, S) mean over RGB of |x - F(G(x))|, in [0, 1] pixel units
    patch_map: np.ndarray  # float32 (h, w) D_target(G(x)), LSGAN score per patch (1 real, 0 fake)
    delta: np.ndarray  # float32 (S, S, 3) G(x) - x in [-1, 1] units, what is added to the photo
    cycle_l1: float  # mean |x - F(G(x))| in [0, 1] pixel units
    identity_l1: float  # mean |x - F(x)| in [0, 1] pixel units
    seconds: float


@dataclass
class FlippedFace:
    face: faces.FaceCrop
    cycle: Cycle
    p_female: float | None  # the deciding classifier's probability, when the direction was "auto"
    strength: float = 1.0  # the change added to the photo was strength x (G(x) - x)


@dataclass
class FlippedPhoto:
    result: np.ndarray  # uint8 (H, W, 3), the whole photo with every face flipped
    faces: list[FlippedFace] = field(default_factory=list)
    skipped: int = 0  # faces beyond MAX_FACES left as they were
    seconds: float = 0.0
    detail: str = "model"  # the blend used (flip_photo's `detail` and `mask`)
    mask: str = "change"


def to_tensor(face: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (S, S, 3) -> (1, 3, S, S) in [-1, 1] on device."""
    return torch.from_numpy(np.array(face, dtype=np.uint8)).permute(2, 0, 1).float().div(127.5).sub(1.0).unsqueeze(0).to(device)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """(3, S, S) in [-1, 1] -> uint8 (S, S, 3)."""
    return ((t.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def make_cycle(direction: str, x: torch.Tensor, fake: torch.Tensor, rec: torch.Tensor, idt: torch.Tensor,
               patch: torch.Tensor, seconds: float) -> Cycle:
    """The Cycle of one face from its tensors: x, G(x), F(G(x)), F(x) as (1, 3, S, S), D_target(G(x)) as (1, 1, h, w)."""
    change = (fake - x).abs().mean(1)[0] / 2  # /2: [-1, 1] differences -> [0, 1] pixel units
    cyc = (x - rec).abs().mean(1)[0] / 2
    return Cycle(
        direction=direction, x=to_uint8(x[0]), fake=to_uint8(fake[0]), rec=to_uint8(rec[0]), identity=to_uint8(idt[0]),
        change=change.float().cpu().numpy(), cycle_error=cyc.float().cpu().numpy(),
        patch_map=patch[0, 0].float().cpu().numpy(), delta=(fake - x)[0].permute(1, 2, 0).float().cpu().numpy(),
        cycle_l1=float(cyc.mean()), identity_l1=float((x - idt).abs().mean() / 2), seconds=seconds)


def check_direction(direction: str, allow_auto: bool = False) -> None:
    allowed = ("auto", *DIRECTIONS) if allow_auto else DIRECTIONS
    if direction not in allowed:
        either = "'auto' or " if allow_auto else ""
        raise ValueError(f"direction must be {either}one of {', '.join(DIRECTIONS)}, got {direction!r}")


class PhotoFlipper:
    """What a translator adds to become a photo flipper: `translate(crop, direction) -> Cycle`, `size` (the model's
    input in px) and CALIBRATED_STRENGTH (per direction: the strongest flip that keeps the face's structure)."""

    size: int
    CALIBRATED_STRENGTH: dict[str, float] = {"male_to_female": 1.0, "female_to_male": 1.0}
    DETAIL = "model"  # flip_photo's blend by default (BLENDS), measured per translator
    # Per direction, how much closer than the face finder's framing a face is cut for translate (faces.closer). Both
    # translators trained on random 96 px cuts of faces at 108 px (training.load_gender_domains), 9/8 closer; the
    # CycleGAN keeps the finder's framing, at which its strength was chosen: cut closer it kept more of each face and
    # flipped fewer (docs/benchmarks.md, "The translators' framing").
    FRAMING_ZOOM: dict[str, float] = {"male_to_female": 1.0, "female_to_male": 1.0}

    def translate(self, crop: np.ndarray, direction: str) -> Cycle:
        raise NotImplementedError

    def model_input(self, crop: np.ndarray) -> np.ndarray:
        """A square face crop in the training framing -> uint8 (S, S, 3) at the model's resolution."""
        return crop if crop.shape[0] == self.size else resize(crop, (self.size, self.size))

    def flip_photo(self, img: np.ndarray, direction: str = "auto",
                   p_female: Callable[[np.ndarray], float] | None = None, use_whole_image: bool = False,
                   face_index: int | None = None, crop_size: int = 256, detail: str | None = None,
                   mask: str = DEFAULT_MASK, strength: float | None = DEFAULT_STRENGTH) -> FlippedPhoto:
        """Find the faces, translate each (or only face_index), and blend the changes back into the photo.

        direction "auto" asks p_female(face crop) -> probability the face is female (the app passes the
        CAM classifier) and translates towards the other gender.
        detail "model": where G redrew a part of the face its own (coarser) detail replaces the photo's there;
        "photo": the change G(x) - x is added to the photo everywhere, so the photo's finer detail stays;
        None: the translator's DETAIL.
        mask: where the change is added (faces.MASKS): "ellipse" over face and hairline, the "square" crop, or
        "change": the ellipse widened to wherever G changed the crop clearly (hair), not the background.
        strength: the change added is strength x (G(x) - x): 1 is the translation itself, above 1 goes further
        along the same direction (a stronger flip at some cost in faithfulness, measured in the card); None:
        each face at CALIBRATED_STRENGTH for its direction.
        """
        detail = detail or self.DETAIL
        _check_blend(detail, mask, strength)
        check_direction(direction, allow_auto=True)
        if direction == "auto" and p_female is None:
            raise ValueError("'auto' needs the gender classifier, which is not loaded; pick a direction")
        t0 = time.perf_counter()
        found, skipped = _faces_to_flip(img, crop_size, use_whole_image, face_index)
        out = img.astype(np.float32)
        flipped = []
        for fc in found:
            p, d = None, direction
            if direction == "auto":
                p = float(p_female(fc.native if fc.native is not None else fc.crop))
                d = "female_to_male" if p >= 0.5 else "male_to_female"
            fc = faces.closer(img, fc, self.FRAMING_ZOOM[d])
            cyc = self.translate(fc.crop, d)
            k = self.CALIBRATED_STRENGTH[d] if strength is None else strength
            keep = keep_detail(cyc.change, strength=k) if detail == "model" else None
            out = faces.add_to_photo(out, fc, cyc.delta * (127.5 * k), keep, mask, cyc.change)  # -> pixel units
            flipped.append(FlippedFace(fc, cyc, p, k))
        result = np.clip(out, 0, 255).round().astype(np.uint8)
        return FlippedPhoto(result, flipped, skipped, time.perf_counter() - t0, detail, mask)


def _check_blend(detail: str, mask: str, strength: float | None) -> None:
    if strength is not None and not 0.0 <= strength <= MAX_STRENGTH:
        raise ValueError(f"strength must be between 0 and {MAX_STRENGTH:g}, got {strength!r}")
    if mask not in faces.MASKS:
        raise ValueError(f"mask must be one of {', '.join(faces.MASKS)}, got {mask!r}")
    if detail not in BLENDS:
        raise ValueError(f"detail must be one of {', '.join(BLENDS)}, got {detail!r}")


def _faces_to_flip(img: np.ndarray, crop_size: int, use_whole_image: bool,
                   face_index: int | None) -> tuple[list[faces.FaceCrop], int]:
    """The faces flip_photo translates (the MAX_FACES largest, or the one picked) and how many it leaves alone."""
    found = faces.find_faces(img, crop_size, use_whole_image=use_whole_image, max_faces=1000)
    skipped = max(0, len(found) - MAX_FACES)
    found = found[:MAX_FACES]
    if face_index is None:
        return found, skipped
    if not 0 <= face_index < len(found):
        n = len(found)
        raise ValueError(f"{'There is 1 face' if n == 1 else f'There are {n} faces'} in this photo; "
                         f"pick a face from 1 to {n} (numbered on 'Faces found'), or 'all faces'")
    return [found[face_index]], skipped + len(found) - 1


def keep_detail(change: np.ndarray, full_change: float = CHANGED, strength: float = 1.0) -> np.ndarray:
    """1 where G left the face alone (keep the photo's fine detail), falling to 0 where it changed by full_change.

    Below strength 1 only that share of the detail is dropped, so strength 0 gives the photo back unchanged."""
    k = 1.0 - min(1.0, max(0.0, strength)) * np.clip(change / full_change, 0.0, 1.0)
    return cv2.GaussianBlur(k.astype(np.float32), (0, 0), sigmaX=1.0)  # no blotches at the edges of changed areas


def blend_maps(ph: FlippedPhoto, which: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """How face `which` went back into the photo, in the crop's framing at size: (weight of G(x) - x, share of the
    photo's fine detail replaced by the model's), both float32 in [0, 1]."""
    f = ph.faces[which]
    alpha = faces.crop_alpha(size, f.face.whole_image, mask=ph.mask, change=f.cycle.change)
    if ph.detail == "model":
        dropped = 1.0 - cv2.resize(keep_detail(f.cycle.change, strength=f.strength), (size, size), interpolation=cv2.INTER_LINEAR)
    else:
        dropped = np.zeros((size, size), np.float32)
    return alpha, np.clip(dropped, 0, 1) * alpha


def patch_realness(patch_map: np.ndarray, size: int) -> np.ndarray:
    """The discriminator's patch scores clipped to [0, 1] and resized (nearest: one block per patch) to size."""
    return cv2.resize(np.clip(patch_map, 0, 1).astype(np.float32), (size, size), interpolation=cv2.INTER_NEAREST)
