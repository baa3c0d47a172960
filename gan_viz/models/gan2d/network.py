"""The lab's G and D: small MLPs whose weights for K runs live stacked in one flat (K, P) tensor per network.

G maps 2D noise z ~ N(0, I) to a point; D maps a point to one raw output (a logit, or a critic
value for the Wasserstein and hinge losses). Hidden layers are `width` wide, LeakyReLU(0.2)
(slope at most 1, so D is 1-Lipschitz when every layer's sigma is at most 1: what spectral
normalisation enforces).

Why flat and stacked: a classroom runs many tiny GANs at once; one batched matmul (torch.baddbmm)
over all runs that share a shape costs little more than one run's, where running them one by one
costs the Python overhead of every run. Each run's slice of the stack is exactly the network it
would be alone (checked bit for bit in tests/test_gan_lab.py), so results do not depend on who
else is training.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gan_viz.spectral import power_iteration

NEGATIVE_SLOPE = 0.2


@dataclass(frozen=True)
class MLPShape:
    """Layer sizes of one MLP: d_in -> width x depth hidden layers -> d_out."""

    d_in: int
    d_out: int
    width: int
    depth: int

    @property
    def layers(self) -> list[tuple[int, int]]:
        """(out, in) of each linear layer, in forward order."""
        sizes = [self.d_in] + [self.width] * self.depth + [self.d_out]
        return [(o, i) for i, o in zip(sizes[:-1], sizes[1:])]

    @property
    def n_params(self) -> int:
        return sum(o * i + o for o, i in self.layers)

    def slices(self) -> list[tuple[slice, slice]]:
        """Where each layer's weight (out*in) and bias (out) sit in the flat vector."""
        out, at = [], 0
        for o, i in self.layers:
            out.append((slice(at, at + o * i), slice(at + o * i, at + o * i + o)))
            at += o * i + o
        return out


def init_flat(shape: MLPShape, generator: torch.Generator) -> torch.Tensor:
    """One run's parameters (P,), as nn.Linear initialises them: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias."""
    parts = []
    for o, i in shape.layers:
        bound = 1.0 / math.sqrt(i)
        parts.append((torch.rand(o * i, generator=generator) * 2 - 1) * bound)
        parts.append((torch.rand(o, generator=generator) * 2 - 1) * bound)
    return torch.cat(parts)


def weights(shape: MLPShape, flat: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Views of the stacked flat parameters (K, P): per layer W (K, out, in) and b (K, 1, out)."""
    k = flat.shape[0]
    return [(flat[:, ws].view(k, o, i), flat[:, bs].view(k, 1, o))
            for (ws, bs), (o, i) in zip(shape.slices(), shape.layers)]


def forward(layers: list[tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor) -> torch.Tensor:
    """x (K, N, d_in) -> (K, N, d_out) through every run's own layers at once."""
    for n, (w, b) in enumerate(layers):
        if w.shape[1] == 1:
            # one output (D's last layer): a product and a sum. bmm with K = 1 and one output column takes
            # another kernel than K > 1 and rounds differently; this way a run's numbers never depend on K.
            x = (x * w).sum(-1, keepdim=True) + b  # (K, N, 1)
        else:
            x = torch.baddbmm(b, x, w.transpose(1, 2))  # (K, N, out)
        if n < len(layers) - 1:
            x = F.leaky_relu(x, NEGATIVE_SLOPE)
    return x


def spectral_sigmas(layers: list[tuple[torch.Tensor, torch.Tensor]], us: list[torch.Tensor],
                    update: bool) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """sigma(W) of each layer by power iteration from the stored u (K, out) (gan_viz.spectral, batched).

    update=True (a D step): one more iteration, u moves on, and sigma = u^T W v keeps its gradient
    through W (u and v held fixed), as in Miyato et al. Otherwise sigma is what the stored u gives,
    without a gradient (G's step and the measurements do not train D).
    Returns ([sigma (K,) per layer], [u (K, out) per layer]).
    """
    sigmas, new_us = [], []
    for (w, _), u in zip(layers, us):
        with torch.no_grad():
            if update:
                _, u, v = power_iteration(w, u, 1)
            else:
                v = F.normalize((w * u.unsqueeze(-1)).sum(-2), dim=-1)  # W^T u (multiply-and-sum: see spectral.py)
        wv = (w * v.unsqueeze(-2)).sum(-1)  # W v: (K, out)
        sigma = (u * wv).sum(-1) if update else (u * wv).sum(-1).detach()
        sigmas.append(sigma)
        new_us.append(u)
    return sigmas, new_us


def normalised(layers: list[tuple[torch.Tensor, torch.Tensor]], sigmas: list[torch.Tensor],
               sn_mask: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """W / sigma(W) for the runs with spectral normalisation on (sn_mask (K,) bool), W for the others."""
    if not bool(sn_mask.any()):
        return layers
    out = []
    for (w, b), s in zip(layers, sigmas):
        scale = torch.where(sn_mask, s, torch.ones_like(s)).view(-1, 1, 1)
        out.append((w / scale, b))
    return out


def exact_sigmas(layers: list[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    """The largest singular value of each layer's W by SVD (K,): what power iteration estimates."""
    return [torch.linalg.matrix_norm(w.detach(), ord=2) for w, _ in layers]
