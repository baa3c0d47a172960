"""Spectral normalisation by power iteration (Miyato et al., ICLR 2018), written out because the app shows it.

Shared by the families whose nets use it (SAGAN's G and D, LBAM's patch discriminator, the 2D GAN lab's D, whose
many small nets are stacked: power_iteration also takes a stack).
sigma(W) is the largest singular value of the weight reshaped to (out, in * kh * kw); each
layer divides its weight by an estimate of it kept up to date by power iteration.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def power_iteration(w_mat: torch.Tensor, u: torch.Tensor, n_iter: int, eps: float = 1e-12):
    """n_iter steps of v = W^T u / |W^T u|, u = W v / |W v|; returns (sigma = u^T W v, u, v).

    w_mat: (out, in) the weight reshaped to a matrix; u: (out,). Or a stack of them: w_mat
    (K, out, in) and u (K, out) give sigma (K,) (the 2D GAN lab steps many small nets at once).
    """
    if w_mat.dim() == 2:
        v = None
        for _ in range(max(n_iter, 1)):
            v = F.normalize(w_mat.t() @ u, dim=0, eps=eps)  # (in,)
            u = F.normalize(w_mat @ v, dim=0, eps=eps)  # (out,)
        return torch.dot(u, w_mat @ v), u, v
    # Products written as multiply-and-sum: a batched matrix-vector product picks its kernel by batch size and
    # rounds differently for K = 1, and the lab promises a run the same numbers whoever it is batched with.
    v = None
    for _ in range(max(n_iter, 1)):
        v = F.normalize((w_mat * u.unsqueeze(-1)).sum(-2), dim=-1, eps=eps)  # W^T u: (K, in)
        u = F.normalize((w_mat * v.unsqueeze(-2)).sum(-1), dim=-1, eps=eps)  # W v: (K, out)
    return (u * (w_mat * v.unsqueeze(-2)).sum(-1)).sum(-1), u, v


class SpectralNorm(nn.Module):
    """Wraps a conv or linear layer: its weight is used as W / sigma(W).

    sigma is estimated by power iteration with a persistent vector u (a buffer): one step per
    forward pass in training (u carries over, so the estimate improves as W drifts slowly),
    none at inference, where the stored u gives the sigma the network actually uses.
    """

    def __init__(self, layer: nn.Conv2d | nn.Linear, n_power_iterations: int = 1):
        super().__init__()
        self.layer = layer
        self.n_power_iterations = n_power_iterations
        w = layer.weight
        self.register_buffer("u", F.normalize(torch.randn(w.shape[0]), dim=0))
        self.register_buffer("sigma", torch.ones(()))  # the sigma used by the last training step

    def weight_matrix(self) -> torch.Tensor:
        w = self.layer.weight
        return w.reshape(w.shape[0], -1)  # (out, in * kh * kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w_mat = self.weight_matrix()
        if self.training:
            with torch.no_grad():
                _, u, v = power_iteration(w_mat, self.u, self.n_power_iterations)
                self.u.copy_(u)
            # sigma depends on W (u, v held fixed), so the gradient sees the normalisation.
            sigma = torch.dot(u, w_mat @ v)
        else:
            with torch.no_grad():
                v = F.normalize(w_mat.t() @ self.u, dim=0)
            sigma = torch.dot(self.u, w_mat @ v)
        if self.training:  # at inference nothing is written, so concurrent requests share the layer safely
            self.sigma.copy_(sigma.detach())
        w = self.layer.weight / sigma
        if isinstance(self.layer, nn.Conv2d):
            return F.conv2d(x, w, self.layer.bias, self.layer.stride, self.layer.padding)
        return F.linear(x, w, self.layer.bias)


def sn_conv(c_in: int, c_out: int, k: int = 3, stride: int = 1, padding: int | None = None, bias: bool = True):
    return SpectralNorm(nn.Conv2d(c_in, c_out, k, stride, k // 2 if padding is None else padding, bias=bias))


def sn_linear(d_in: int, d_out: int):
    return SpectralNorm(nn.Linear(d_in, d_out))


def spectral_layers(module: nn.Module) -> dict[str, SpectralNorm]:
    """Every spectrally normalised layer by its dotted name, in forward order."""
    return {name: m for name, m in module.named_modules() if isinstance(m, SpectralNorm)}
