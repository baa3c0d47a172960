"""Public inference surface of the gender CycleGAN: a face crop in, the whole cycle out; photos flipped face by face.

For a face x and a direction G (say male_to_female, with F = female_to_male):
    G(x)      the translation,
    F(G(x))   the cycle reconstruction (the cycle loss asks it to equal x),
    F(x)      the identity output (x already is in F's target domain, so F should leave it alone),
    D_Y(G(x)) the target-domain discriminator's patch map: LSGAN scores, 1 = "real", 0 = "fake".
A photo is flipped by adding the change G(x) - x, warped back through the face's alignment, to
the original pixels under a feathered ellipse: the face changes, the photo keeps its resolution;
where G redrew a part of the face, the photo's finer detail there is dropped with it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np
import torch

from gan_viz import faces, hub
from gan_viz.imaging import resize
from gan_viz.device import get_device
from gan_viz.models.cyclegan import attention_probe as ap
from gan_viz.models.cyclegan.attention_probe import unit  # noqa: F401 (maps are shown scaled to [0, 1])
from gan_viz.models.cyclegan.card import FAMILY
from gan_viz.models.cyclegan.network import DIRECTIONS, CycleGAN, CycleGANConfig
from gan_viz.models.surface import ModelSurface

TARGET = {"male_to_female": "female", "female_to_male": "male"}
CHANGED = 0.15  # a mean |G(x) - x| (in [0, 1] pixel units) this large means G redrew that pixel
MAX_STRENGTH = 2.0  # flip_photo's strength: how far along G(x) - x the photo is moved
# The blend the app uses, chosen on faces placed in larger pictures (checkpoints/cyclegan/README.md): the "change" mask
# and a strength per direction (the two generators are not equally strong): the largest that keeps the face's
# structure (SSIM of 64 px grey faces >= 0.75 on crops); 1.4 took female -> male faces to 0.736.
DEFAULT_MASK = "change"
CALIBRATED_STRENGTH = {"male_to_female": 1.4, "female_to_male": 1.3}
DEFAULT_STRENGTH = None  # None: CALIBRATED_STRENGTH for the face's direction
BLENDS = ("model", "photo")  # whose fine detail a redrawn part of the face keeps (flip_photo)
MAX_FACES = 8  # more than this in one photo: the largest eight are flipped and the user is told
# A probe shown as attention must beat chance clearly: on 600 validation faces 0.55 is 2.4 standard errors above 0.5.
PROBE_MIN = 0.55


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
class TranslatorAttention:
    encoder: ap.ProbeReading  # the generator's encoder on x: evidence for the source domain
    discriminator: ap.ProbeReading  # the target discriminator on G(x): evidence for "real"
    change_on_grid: np.ndarray  # float32 mean |G(x) - x| pooled to the encoder map's grid
    spearman: float  # rank correlation of the encoder's fused map with the change
    top20_iou: float  # overlap of their top 20% cells
    encoder_usable: bool  # its probe beats chance on validation faces (else it is not shown as attention)
    discriminator_usable: bool
    accuracy: dict  # net -> {"gap", "gmp"} validation accuracy of its probe
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


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    """(3, S, S) in [-1, 1] -> uint8 (S, S, 3)."""
    return ((t.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


class GenderFlipper(ModelSurface):
    """The loaded CycleGAN (generators and discriminators); re-entrant, nothing is kept between calls."""

    FAMILY = FAMILY

    def __init__(self, model: CycleGAN, device: torch.device, source: hub.ResolvedWeights | None = None,
                 probes: torch.nn.ModuleDict | None = None, probe_report: dict | None = None):
        super().__init__(model, device, source)
        self.size = model.config.image_size
        self.probes = probes.to(device).eval() if probes is not None else None
        self.probe_report = probe_report or {}
        if self.probes is not None:
            self._features = {name: ap.feature_net(model, name) for name in ap.PROBES}  # views of the same layers

    @classmethod
    def build_model(cls, config: dict) -> CycleGAN:
        return CycleGAN(CycleGANConfig.from_dict(config))

    @classmethod
    def from_weights(cls, w: hub.ResolvedWeights) -> "GenderFlipper":
        """The CycleGAN, and U-GAT-IT's CAM probe when the checkpoint carries one (tensors prefixed 'probe.')."""
        model = cls.build_model(w.config)
        net_state, probe_state = ap.split_state(w.state_dict())
        model.load_state_dict(net_state)
        probes = None
        if probe_state and "probe" in w.config:
            probes = ap.build_probes(model)
            probes.load_state_dict({k: v.float() for k, v in probe_state.items()})
        return cls(model, get_device(), w, probes, w.config.get("probe"))

    def probe_usable(self, net: str) -> bool:
        """A probe no better than chance is not attention: both branches must beat PROBE_MIN on validation faces."""
        acc = self.probe_report.get("probes", {}).get(net, {}).get("val_accuracy", {})
        return self.probes is not None and min(acc.get("gap", 0.0), acc.get("gmp", 0.0)) >= PROBE_MIN

    def attention(self, cycle: Cycle) -> TranslatorAttention:
        """U-GAT-IT's CAM module (probe) for one translated face: the encoder of G on x, D_target on G(x)."""
        if self.probes is None:
            raise ValueError("this CycleGAN checkpoint carries no attention probe; fit one with "
                             "python -m gan_viz.models.cyclegan.fit_probe")
        d = cycle.direction
        d_name = "D_female" if d == "male_to_female" else "D_male"
        x = torch.from_numpy(np.array(cycle.x, dtype=np.uint8)).permute(2, 0, 1).float().div(127.5).sub(1.0)
        x = x.unsqueeze(0).to(self.device)
        fake = (x + torch.from_numpy(cycle.delta).permute(2, 0, 1).unsqueeze(0).to(self.device)).clamp(-1, 1)
        t0 = time.perf_counter()
        with torch.inference_mode():
            enc = ap.read(self.probes[d], self._features[d](x), d)
            dis = ap.read(self.probes[d_name], self._features[d_name](fake), d_name)
        grid = enc.fused.shape
        change = cv2.resize(cycle.change, grid[::-1], interpolation=cv2.INTER_AREA)  # |G(x) - x| on the same grid
        return TranslatorAttention(
            encoder=enc, discriminator=dis, change_on_grid=change,
            spearman=ap.rank_correlation(enc.fused, change), top20_iou=ap.top_overlap(enc.fused, change),
            encoder_usable=self.probe_usable(d), discriminator_usable=self.probe_usable(d_name),
            accuracy={n: self.probe_report["probes"][n]["val_accuracy"] for n in (d, d_name)},
            seconds=time.perf_counter() - t0)

    def model_input(self, crop: np.ndarray) -> np.ndarray:
        """A square face crop in the training framing -> uint8 (S, S, 3) at the model's resolution."""
        return crop if crop.shape[0] == self.size else resize(crop, (self.size, self.size))

    def translate(self, crop: np.ndarray, direction: str) -> Cycle:
        """Run the whole cycle on one aligned face crop (any square size; resized to the model's)."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'auto' or one of {', '.join(DIRECTIONS)}, got {direction!r}")
        x_np = self.model_input(crop)
        x = torch.from_numpy(np.array(x_np, dtype=np.uint8)).permute(2, 0, 1).float().div(127.5).sub(1.0)
        x = x.unsqueeze(0).to(self.device)  # (1, 3, S, S)
        g, f = self.model.generator(direction), self.model.inverse(direction)
        t0 = time.perf_counter()
        with torch.inference_mode():
            fake = g(x)
            rec = f(fake)
            idt = f(x)
            patch = self.model.target_discriminator(direction)(fake)  # (1, 1, h, w)
        seconds = time.perf_counter() - t0
        change = (fake - x).abs().mean(1)[0] / 2  # /2: [-1, 1] differences -> [0, 1] pixel units
        cyc = (x - rec).abs().mean(1)[0] / 2
        return Cycle(
            direction=direction, x=x_np, fake=_to_uint8(fake[0]), rec=_to_uint8(rec[0]), identity=_to_uint8(idt[0]),
            change=change.float().cpu().numpy(), cycle_error=cyc.float().cpu().numpy(),
            patch_map=patch[0, 0].float().cpu().numpy(),
            delta=(fake - x)[0].permute(1, 2, 0).float().cpu().numpy(),
            cycle_l1=float(cyc.mean()), identity_l1=float((x - idt).abs().mean() / 2), seconds=seconds)

    def flip_photo(self, img: np.ndarray, direction: str = "auto",
                   p_female: Callable[[np.ndarray], float] | None = None, use_whole_image: bool = False,
                   face_index: int | None = None, crop_size: int = 256, detail: str = "model",
                   mask: str = DEFAULT_MASK, strength: float | None = DEFAULT_STRENGTH) -> FlippedPhoto:
        """Find the faces, translate each (or only face_index), and blend the changes back into the photo.

        direction "auto" asks p_female(face crop) -> probability the face is female (the app passes the
        CAM classifier) and translates towards the other gender.
        detail "model": where G redrew a part of the face its own (coarser) detail replaces the photo's there;
        "photo": the change G(x) - x is added to the photo everywhere, so the photo's finer detail stays.
        mask: where the change is added (faces.MASKS): "ellipse" over face and hairline, the "square" crop, or
        "change": the ellipse widened to wherever G changed the crop clearly (hair), not the background.
        strength: the change added is strength x (G(x) - x): 1 is the translation itself, above 1 goes further
        along the same direction (a stronger flip at some cost in faithfulness, measured in the card); None:
        each face at CALIBRATED_STRENGTH for its direction.
        """
        if strength is not None and not 0.0 <= strength <= MAX_STRENGTH:
            raise ValueError(f"strength must be between 0 and {MAX_STRENGTH:g}, got {strength!r}")
        if mask not in faces.MASKS:
            raise ValueError(f"mask must be one of {', '.join(faces.MASKS)}, got {mask!r}")
        if detail not in BLENDS:
            raise ValueError(f"detail must be one of {', '.join(BLENDS)}, got {detail!r}")
        if direction not in ("auto", *DIRECTIONS):
            raise ValueError(f"direction must be 'auto' or one of {', '.join(DIRECTIONS)}, got {direction!r}")
        if direction == "auto" and p_female is None:
            raise ValueError("'auto' needs the gender classifier, which is not loaded; pick a direction")
        t0 = time.perf_counter()
        found = faces.find_faces(img, crop_size, use_whole_image=use_whole_image, max_faces=1000)
        skipped = max(0, len(found) - MAX_FACES)
        found = found[:MAX_FACES]
        if face_index is not None:
            if not 0 <= face_index < len(found):
                n = len(found)
                raise ValueError(f"{'There is 1 face' if n == 1 else f'There are {n} faces'} in this photo; "
                                 f"pick a face from 1 to {n} (numbered on 'Faces found'), or 'all faces'")
            skipped += len(found) - 1
            found = [found[face_index]]
        out = img.astype(np.float32)
        flipped = []
        for fc in found:
            p = None
            d = direction
            if direction == "auto":
                p = float(p_female(fc.native if fc.native is not None else fc.crop))
                d = "female_to_male" if p >= 0.5 else "male_to_female"
            cyc = self.translate(fc.crop, d)
            k = CALIBRATED_STRENGTH[d] if strength is None else strength
            keep = keep_detail(cyc.change, strength=k) if detail == "model" else None
            out = faces.add_to_photo(out, fc, cyc.delta * (127.5 * k), keep, mask, cyc.change)  # -> pixel units
            flipped.append(FlippedFace(fc, cyc, p, k))
        result = np.clip(out, 0, 255).round().astype(np.uint8)
        return FlippedPhoto(result, flipped, skipped, time.perf_counter() - t0, detail, mask)


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
