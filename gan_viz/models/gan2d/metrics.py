"""What the lab measures on a run: mode coverage, a grid Jensen-Shannon divergence, D's slope, G's gradient per loss.

Mode coverage on the Gaussian mixtures, in the usual way (VEEGAN, Srivastava et al. 2017;
PacGAN, Lin et al. 2018): a generated point is *high quality* when it lies within 3 standard
deviations of its nearest mode; a mode is *covered* when it holds at least a quarter of its fair
share of the generated points as high-quality points (2,500 points: 78 for each of 8 modes, 25
for each of 25).
"""
from __future__ import annotations

import numpy as np
import torch

from gan_viz.models.gan2d.data import VIEW, PointSet

N_EVAL = 2500  # generated points measured (fixed noise, the same for every run and step)
HIST_BINS = 50  # the JS divergence's grid over the view (0.12 x 0.12 cells)
N_REFERENCE = 20_000  # real points for the reference histogram
COVER_SHARE = 0.25  # a mode is covered with at least this fraction of its fair share of high-quality points
SLOPE_GRID = 48  # D's heatmap and slope are read on this many points per side of the view


def eval_noise() -> torch.Tensor:
    """(N_EVAL, 2): the fixed noise every measurement uses, so two runs are compared on the same z."""
    return torch.randn(N_EVAL, 2, generator=torch.Generator().manual_seed(2718))


def view_grid(n: int = SLOPE_GRID) -> torch.Tensor:
    """(n*n, 2): cell centres over the view, row by row from the top (y = +VIEW) down, x left to right."""
    c = (torch.arange(n, dtype=torch.float32) + 0.5) / n * 2 * VIEW - VIEW
    yy, xx = torch.meshgrid(c.flip(0), c, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)


def mode_coverage(points: np.ndarray, ps: PointSet) -> dict:
    """For a Gaussian mixture: modes covered, their total, the high-quality fraction and each mode's count."""
    if ps.modes is None:
        return {"modes_covered": None, "modes_total": None, "high_quality_fraction": None, "mode_counts": None}
    ok = np.isfinite(points).all(1)
    d = np.linalg.norm(points[ok, None, :] - ps.modes[None, :, :], axis=-1)  # (N, M)
    nearest, dist = d.argmin(1), d.min(1)
    hq = dist < 3 * ps.std
    counts = np.bincount(nearest[hq], minlength=len(ps.modes))
    need = COVER_SHARE * len(points) / len(ps.modes)
    return {"modes_covered": int((counts >= need).sum()), "modes_total": int(len(ps.modes)),
            "high_quality_fraction": float(hq.sum() / len(points)), "mode_counts": counts.tolist()}


def histogram(points: np.ndarray) -> np.ndarray:
    """Normalised counts on the HIST_BINS^2 grid plus one cell for everything outside the view (or not finite)."""
    ok = np.isfinite(points).all(1)
    p = points[ok]
    inside = (np.abs(p) < VIEW).all(1)
    h, _, _ = np.histogram2d(p[inside, 0], p[inside, 1], bins=HIST_BINS, range=[[-VIEW, VIEW], [-VIEW, VIEW]])
    out = np.append(h.ravel(), (~inside).sum() + (~ok).sum())
    return out / max(out.sum(), 1)


def reference_histogram(ps: PointSet) -> np.ndarray:
    return histogram(ps.sample(N_REFERENCE, torch.Generator().manual_seed(31415)).numpy())


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (0: the same histogram, 1: no cell shared)."""
    m = 0.5 * (p + q)

    def kl(a):
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / m[nz])).sum())

    return 0.5 * kl(p) + 0.5 * kl(q)


def slope_and_heat(d_forward, grid: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """D's raw output on the grid (K, n) and the norm of its input gradient there (K, n); d_forward: (K, N, 2) -> (K, N, 1)."""
    x = grid.expand(k, -1, -1).clone().requires_grad_(True)
    with torch.enable_grad():
        out = d_forward(x)
        (g,) = torch.autograd.grad(out.sum(), x)
    return out.detach().squeeze(-1), g.norm(dim=-1)


def g_gradient_by_loss(d_out: torch.Tensor, d_grad_norm: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean per-point norm of grad_x l(D(x)) for each loss at the same points: |l'(d)| * |grad_x d|.

    d_out, d_grad_norm: (K, N) D's raw output at the generated points and |grad_x d| there.
    l'(d): minimax -sigmoid(d) (vanishes as D rejects the point), non-saturating -sigmoid(-d),
    least squares d - 1, Wasserstein and hinge -1.
    """
    s = torch.sigmoid(d_out)
    return {"minimax": (s * d_grad_norm).mean(1), "non_saturating": ((1 - s) * d_grad_norm).mean(1),
            "least_squares": ((d_out - 1).abs() * d_grad_norm).mean(1), "wgan_clip": d_grad_norm.mean(1),
            "hinge": d_grad_norm.mean(1)}
