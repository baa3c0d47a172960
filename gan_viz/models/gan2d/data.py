"""The lab's point sets: five presets (two of them Gaussian mixtures with known modes) and sets drawn by the user.

Everything lives in one square view, [-VIEW, VIEW]^2, so D's heatmap, G's arrows and the
divergence grid cover the same plane whatever the set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

VIEW = 3.0  # the plane shown and measured: [-3, 3] x [-3, 3]
PRESETS = ("ring8", "grid25", "spiral", "two_moons", "line")
MIN_DRAWN_POINTS = 20


@dataclass(frozen=True)
class PointSet:
    """Where real points come from. `modes`/`std` are set for the Gaussian mixtures (mode coverage is defined there)."""

    name: str
    modes: np.ndarray | None = None  # (M, 2) centres of equally weighted isotropic Gaussians
    std: float = 0.0
    points: np.ndarray | None = None  # (N, 2) a finite set to resample from (spiral, moons, line, drawn)
    jitter: float = 0.0  # std of the noise added to each resampled point

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n real points (n, 2), drawn with the run's own generator (so a run is reproducible from its seed)."""
        if self.modes is not None:
            modes = torch.from_numpy(self.modes).float()
            pick = torch.randint(0, len(modes), (n,), generator=generator)
            return modes[pick] + self.std * torch.randn(n, 2, generator=generator)
        pts = torch.from_numpy(self.points).float()
        pick = torch.randint(0, len(pts), (n,), generator=generator)
        return pts[pick] + self.jitter * torch.randn(n, 2, generator=generator)


def ring8() -> PointSet:
    """8 Gaussians evenly spaced on a circle of radius 2, std 0.05 (the classic mode-collapse test)."""
    a = np.arange(8) * 2 * math.pi / 8
    return PointSet("ring8", modes=np.stack([2 * np.cos(a), 2 * np.sin(a)], 1), std=0.05)


def grid25() -> PointSet:
    """A 5x5 grid of Gaussians at -2..2 in steps of 1, std 0.05."""
    g = np.arange(-2, 3, dtype=np.float64)
    xx, yy = np.meshgrid(g, g)
    return PointSet("grid25", modes=np.stack([xx.ravel(), yy.ravel()], 1), std=0.05)


def spiral(n: int = 2000) -> PointSet:
    """One arm of an Archimedean spiral, 1.75 turns, radius 0.3 to 2.5."""
    t = np.linspace(0, 1, n)
    r, a = 0.3 + 2.2 * t, 1.75 * 2 * math.pi * t
    return PointSet("spiral", points=np.stack([r * np.cos(a), r * np.sin(a)], 1), jitter=0.04)


def two_moons(n: int = 2000) -> PointSet:
    """Two interleaved half circles, centred in the view."""
    t = np.linspace(0, math.pi, n // 2)
    upper = np.stack([np.cos(t), np.sin(t)], 1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    pts = (np.concatenate([upper, lower]) - [0.5, 0.25]) * 1.6
    return PointSet("two_moons", points=pts, jitter=0.05)


def line() -> PointSet:
    """A segment from (-2, -1) to (2, 1): a one-dimensional set G must fold its 2D noise onto."""
    t = np.linspace(-1, 1, 2000)[:, None]
    return PointSet("line", points=np.concatenate([2 * t, t], 1), jitter=0.02)


def preset(name: str) -> PointSet:
    makers = {"ring8": ring8, "grid25": grid25, "spiral": spiral, "two_moons": two_moons, "line": line}
    if name not in makers:
        raise ValueError(f"unknown distribution {name!r}; use one of {', '.join(PRESETS)}")
    return makers[name]()


def drawn(points: np.ndarray, jitter: float = 0.03) -> PointSet:
    """A set from the user's strokes, given as points in the plane's coordinates (N, 2)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(1)]
    if len(pts) < MIN_DRAWN_POINTS:
        raise ValueError(f"the drawing gives {len(pts)} points; draw at least {MIN_DRAWN_POINTS} "
                         "(a few strokes across the canvas)")
    return PointSet("drawn", points=np.clip(pts, -VIEW, VIEW), jitter=jitter)


def strokes_to_points(mask: np.ndarray, max_points: int = 4000) -> np.ndarray:
    """Pixels drawn on a square canvas (H, W bool) to points of the plane: x right, y up, the canvas spans the view."""
    ys, xs = np.nonzero(mask)
    if len(xs) > max_points:  # thick strokes give many pixels; an even subsample keeps the shape
        keep = np.linspace(0, len(xs) - 1, max_points).round().astype(int)
        ys, xs = ys[keep], xs[keep]
    h, w = mask.shape
    px = (xs + 0.5) / w * 2 * VIEW - VIEW
    py = VIEW - (ys + 0.5) / h * 2 * VIEW
    return np.stack([px, py], 1)
