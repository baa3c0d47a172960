"""How well an attention map agrees with what a translator changed: rank correlation and overlap of the top cells.

Shared by the CycleGAN's attention probe and U-GAT-IT, so both translators are judged by the same measure.
"""
from __future__ import annotations

import numpy as np


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two maps of the same shape (Pearson correlation of their ranks)."""
    ra = np.argsort(np.argsort(a.ravel())).astype(np.float64)
    rb = np.argsort(np.argsort(b.ravel())).astype(np.float64)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


def top_overlap(a: np.ndarray, b: np.ndarray, share: float = 0.2) -> float:
    """Intersection over union of the top `share` cells of each map."""
    k = max(1, int(round(a.size * share)))
    ta = set(np.argsort(-a.ravel())[:k].tolist())
    tb = set(np.argsort(-b.ravel())[:k].tolist())
    return len(ta & tb) / len(ta | tb)


def pooled_change(change: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """|G(x) - x| (S, S) averaged over the cells of an attention map's (h, w) grid."""
    (h, w), s = grid, change.shape[0]
    return change[: s // h * h, : s // w * w].reshape(h, s // h, w, s // w).mean((1, 3))
