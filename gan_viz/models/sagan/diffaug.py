"""Differentiable augmentation for GAN training on small data (DiffAugment, Zhao et al., NeurIPS 2020): colour, translation, cutout.

D overfits ~20k faces: it memorises the real set, its judgement of fakes stops carrying
information, and G's samples degrade (artefacts, less variety). DiffAugment applies the *same
kind* of random transformation to real and fake images every time D sees them, in D's step and
in G's step, with operations that are differentiable so G's gradient passes through them. D can
no longer tell real from fake by the augmentation, and it never sees a fixed image twice.
Policy 'color,translation,cutout' as in the paper's 64-256 px experiments.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def color(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """Random brightness (+-0.5), saturation (x0-2) and contrast (x0.5-1.5) per sample; x in [-1, 1]."""
    b = x.shape[0]
    r = lambda: torch.rand(b, 1, 1, 1, generator=gen, device="cpu").to(x.device)  # noqa: E731
    x = x + (r() - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (r() * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (r() + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125, gen: torch.Generator | None = None) -> torch.Tensor:
    """Shift each sample by up to ratio of its size, filling with zeros (a gather: differentiable in x)."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), generator=gen).to(x.device)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), generator=gen).to(x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = (gy.unsqueeze(0) + ty + 1).clamp(0, h + 1)  # (B, H, W) index into the 1-px zero-padded image
    gx = (gx.unsqueeze(0) + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1))  # (B, C, H+2, W+2)
    flat = padded.flatten(2)  # (B, C, (H+2)(W+2))
    idx = (gy * (w + 2) + gx).flatten(1).unsqueeze(1).expand(-1, x.shape[1], -1)
    return flat.gather(2, idx).view_as(x)


def cutout(x: torch.Tensor, ratio: float = 0.5, gen: torch.Generator | None = None) -> torch.Tensor:
    """Zero a square of ratio x size at a random place per sample (a mask multiply: differentiable)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h, (b, 1, 1), generator=gen).to(x.device)
    ox = torch.randint(0, w, (b, 1, 1), generator=gen).to(x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    # A square of side ch x cw centred on (oy, ox), clipped where it leaves the image.
    dy, dx = 2 * (gy.unsqueeze(0) - oy), 2 * (gx.unsqueeze(0) - ox)
    inside = (dy >= -ch) & (dy < ch) & (dx >= -cw) & (dx < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICY = ("color", "translation", "cutout")
_OPS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...] = POLICY, gen: torch.Generator | None = None) -> torch.Tensor:
    """Apply every operation of the policy, each with fresh randomness per sample."""
    for name in policy:
        x = _OPS[name](x, gen=gen)
    return x
