"""The five GAN objectives of the lab, as D's loss and G's loss on D's raw outputs (logit or critic value).

d_real, d_fake: (K, B) raw outputs for K runs stepped together; every function returns (K,)
losses, one per run (the mean over that run's batch), so the runs' gradients stay apart.
With D(x) = sigmoid(d) for the two log losses (Goodfellow et al., NeurIPS 2014):
  minimax         D: -log D(x) - log(1 - D(G(z)))     G:  log(1 - D(G(z))) = -softplus(d_fake)
  non_saturating  D: as minimax                         G: -log D(G(z))      =  softplus(-d_fake)
  least_squares   D: (d_real - 1)^2/2 + d_fake^2/2      G: (d_fake - 1)^2/2   (Mao et al., ICCV 2017)
  wgan_clip       D: d_fake - d_real (a critic)         G: -d_fake            (Arjovsky et al., ICML 2017;
                  D's weights are clipped to [-c, c] after each step, see stack.py)
  hinge           D: relu(1 - d_real) + relu(1 + d_fake) G: -d_fake           (Lim and Ye 2017; SAGAN's loss)
Why minimax stalls: d/dd of -softplus(d) is -sigmoid(d) = -D(G(z)), which goes to 0 when D
rejects the fakes; the non-saturating loss's is -(1 - D(G(z))), which goes to -1 there.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("minimax", "non_saturating", "least_squares", "wgan_clip", "hinge")
PROBABILITY_LOSSES = ("minimax", "non_saturating")  # D's output is a logit of a probability only for these
CRITIC_LOSSES = ("wgan_clip", "hinge")  # D's output is an unbounded critic value


def index(name: str) -> int:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; use one of {', '.join(LOSSES)}")
    return LOSSES.index(name)


def d_losses(d_real: torch.Tensor, d_fake: torch.Tensor, loss_idx: torch.Tensor, names: set[str]) -> torch.Tensor:
    """(K,): D's loss for every run, each by its own objective; only the objectives in `names` are computed."""
    per = {}
    if names & {"minimax", "non_saturating"}:
        # -log sigmoid(d_r) - log(1 - sigmoid(d_f)), written with softplus for stability
        per["minimax"] = per["non_saturating"] = F.softplus(-d_real).mean(1) + F.softplus(d_fake).mean(1)
    if "least_squares" in names:
        per["least_squares"] = 0.5 * ((d_real - 1) ** 2).mean(1) + 0.5 * (d_fake ** 2).mean(1)
    if "wgan_clip" in names:
        per["wgan_clip"] = d_fake.mean(1) - d_real.mean(1)
    if "hinge" in names:
        per["hinge"] = F.relu(1 - d_real).mean(1) + F.relu(1 + d_fake).mean(1)
    return _select(per, loss_idx)


def g_losses(d_fake: torch.Tensor, loss_idx: torch.Tensor, names: set[str]) -> torch.Tensor:
    """(K, B): G's loss at every generated point, each run by its own objective (per point: its gradient is per point)."""
    per = {}
    if "minimax" in names:
        per["minimax"] = -F.softplus(d_fake)  # log(1 - sigmoid(d))
    if "non_saturating" in names:
        per["non_saturating"] = F.softplus(-d_fake)  # -log sigmoid(d)
    if "least_squares" in names:
        per["least_squares"] = 0.5 * (d_fake - 1) ** 2
    if names & {"wgan_clip", "hinge"}:
        per["wgan_clip"] = per["hinge"] = -d_fake
    return _select(per, loss_idx)


def _select(per: dict[str, torch.Tensor], loss_idx: torch.Tensor) -> torch.Tensor:
    """Each run's own objective out of the computed ones (one objective in the batch: no selection at all)."""
    distinct = {id(v): v for v in per.values()}
    if len(distinct) == 1:
        return next(iter(distinct.values()))
    out = None
    for name, value in per.items():
        here = (loss_idx == index(name)).view(-1, *([1] * (value.dim() - 1)))
        out = value if out is None else torch.where(here, value, out)
    return out
