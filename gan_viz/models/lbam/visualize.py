"""Public inference surface of the LBAM inpainter: image and hole mask in, raw output, composite and attention maps out.

Any image size is accepted: the image is resized to the model's S x S, a pixel of the small
mask is a hole if any of its source pixels is, the output is resized back, and the composite
keeps every known pixel of the input exactly (only hole pixels come from the network).
Pixels under the hole are never read: they are zeroed before the network sees them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from gan_viz import batching, hub
from gan_viz.models.lbam.card import FAMILY
from gan_viz.models.lbam.network import LBAMConfig, LBAMGenerator
from gan_viz.models.surface import ModelSurface
MAX_HOLE = 0.9  # beyond this there is too little face left to inpaint from


@dataclass
class Inpainting:
    raw: np.ndarray  # uint8 (H, W, 3) the generator's output at the input's size
    composite: np.ndarray  # uint8 (H, W, 3) input where known, raw in the hole
    hole: np.ndarray  # bool (H, W) True = hole
    hole_ratio: float
    seconds: float  # the network alone (resizing and compositing excluded)
    forward_maps: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (layer, float32 (h, w)) mean over channels
    reverse_maps: list[tuple[str, np.ndarray]] = field(default_factory=list)


def reconcile_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A bool hole mask of any size -> shape (H, W); a mask of another aspect ratio is refused with a clear message."""
    if mask.shape[:2] == tuple(shape):
        return mask
    (mh, mw), (h, w) = mask.shape[:2], shape
    if abs(mw / mh - w / h) > 0.02 * (w / h):
        raise ValueError(f"The mask is {mw}x{mh} px but the image is {w}x{h} px, a different shape; "
                         "send a mask of the image's size (white = hole).")
    return cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)


def hole_at(hole: np.ndarray, size: int) -> np.ndarray:
    """A bool hole mask at any size -> (size, size); a pixel there is a hole if any of its source pixels is."""
    if hole.shape == (size, size):
        return hole
    return cv2.resize(hole.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) > 0


def mask_from_image(mask_img: np.ndarray) -> np.ndarray:
    """A mask picture (grey or RGB(A), white = hole) -> bool hole mask; mid-grey and brighter counts as hole."""
    m = mask_img.astype(np.float32)
    if m.ndim == 3:
        m = m[..., :3].mean(2)
    return m >= 128


class Inpainter(ModelSurface):
    """The loaded LBAM generator; re-entrant (no state is kept between calls)."""

    FAMILY = FAMILY

    def __init__(self, model: LBAMGenerator, device: torch.device, source: hub.ResolvedWeights | None = None):
        super().__init__(model, device, source)
        self.size = model.config.image_size

    @classmethod
    def build_model(cls, config: dict) -> LBAMGenerator:
        return LBAMGenerator(LBAMConfig.from_dict(config))

    @property
    def layer_names(self) -> tuple[list[str], list[str]]:
        """Names of the forward (encoder) and reverse (decoder) attention layers, input side first."""
        n, s = len(self.model.enc), self.size
        return ([f"encoder {i + 1} ({s >> (i + 1)} px)" for i in range(n)],
                [f"decoder {i + 1} ({s >> (i + 1)} px)" for i in range(n - 1)])

    def inpaint(self, img: np.ndarray, hole: np.ndarray, with_maps: bool = False, mirror: bool = True) -> Inpainting:
        """img uint8 (H, W, 3), hole bool (H, W) of the same size (see reconcile_mask).

        mirror: also fill the mirrored face (one batch of two) and average the two fills, flipped
        back. Faces are nearly symmetric and training saw mirrored faces, so the two fills err
        differently; on validation faces this gained 0.15-0.3 dB PSNR and 0.01 SSIM at 30-50% holes.
        The attention maps shown are those of the unmirrored pass.
        """
        h, w = img.shape[:2]
        if hole.shape != (h, w):
            raise ValueError(f"mask {hole.shape[1]}x{hole.shape[0]} and image {w}x{h} differ; reconcile them first")
        ratio = float(hole.mean())
        if ratio == 0.0:  # nothing to fill: the input is the answer
            return Inpainting(img.copy(), img.copy(), hole, 0.0, 0.0)
        if ratio > MAX_HOLE:
            raise ValueError(f"The mask covers {ratio:.0%} of the image; leave at least {1 - MAX_HOLE:.0%} of the "
                             "face visible so there is something to inpaint from.")
        s = self.size
        small = cv2.resize(img, (s, s), interpolation=cv2.INTER_AREA) if (h, w) != (s, s) else img
        hole_s = hole_at(hole, s)
        known = torch.from_numpy((~hole_s).astype(np.float32))[None, None].to(self.device)  # (1, 1, S, S), 1 = known
        x = torch.from_numpy(np.array(small, dtype=np.uint8)).permute(2, 0, 1).float().div(127.5).sub(1.0)
        x = x[None].to(self.device) * known  # hole pixels zeroed: whatever arrived there cannot matter
        if mirror:
            x, known = torch.cat([x, x.flip(3)]), torch.cat([known, known.flip(3)])  # (2, C, S, S)
        t0 = time.perf_counter()
        with torch.inference_mode():  # batched with other requests' when batching is on (gan_viz/batching.py)
            out, maps = batching.run(self.model, x, known, return_maps=True)
            if mirror:
                out = (out[:1] + out[1:].flip(3)) / 2
        seconds = time.perf_counter() - t0
        raw_s = ((out[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
        raw = cv2.resize(raw_s, (w, h), interpolation=cv2.INTER_CUBIC) if (h, w) != (s, s) else raw_s
        composite = np.where(hole[..., None], raw, img)
        res = Inpainting(raw, composite, hole, ratio, seconds)
        if with_maps:
            fwd, rev = self.layer_names
            res.forward_maps = [(n, a[0].mean(0).float().cpu().numpy()) for n, a in zip(fwd, maps["forward"])]
            res.reverse_maps = [(n, a[0].mean(0).float().cpu().numpy()) for n, a in zip(rev, maps["reverse"])]
        return res

    def activations(self) -> list[dict]:
        """Every layer's learned g_A (a, mu, gamma_l, gamma_r) and g_M (alpha), as the forward pass uses them."""
        fwd, rev = self.layer_names
        rows = []
        for kind, names, mods in (("forward", fwd, self.model.enc_att), ("reverse", rev, self.model.rev_att)):
            for name, m in zip(names, mods):
                p = m.g_A.effective()
                rows.append({"kind": kind, "layer": name, **p, "alpha": float(m.g_M.effective_alpha())})
        return rows

    def activation_curves(self, x: np.ndarray) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
        """(kind, layer, g_A(x), g_M(x)) evaluated by the modules themselves on the points x."""
        t = torch.from_numpy(x.astype(np.float32)).to(self.device)
        fwd, rev = self.layer_names
        out = []
        with torch.inference_mode():
            for kind, names, mods in (("forward", fwd, self.model.enc_att), ("reverse", rev, self.model.rev_att)):
                for name, m in zip(names, mods):
                    out.append((kind, name, m.g_A(t).cpu().numpy(), m.g_M(t).cpu().numpy()))
        return out
