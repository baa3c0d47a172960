"""SAGAN for 64x64 faces (Zhang, Goodfellow, Metaxas, Odena, ICML 2019): self-attention and spectral norm in G and D.

Notation follows the paper. For a feature map x with N = h*w locations,
    f(x) = W_f x,  g(x) = W_g x   (1x1 convs, C/8 channels)
    s_ij = f(x_i)^T g(x_j)
    beta_{j,i} = exp(s_ij) / sum_i exp(s_ij)      softmax over i, the *attended* location,
                                                   separately for every query location j
    o_j = v( sum_i beta_{j,i} h(x_i) )
    y_j = gamma * o_j + x_j                        gamma is learned and starts at 0.
So row j of beta (length N, sums to 1) is "where location j looks". Spectral normalisation
(Miyato et al., ICLR 2018) divides every conv and linear weight by its largest singular
value sigma(W), estimated by one step of power iteration per training step.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class SAGANConfig:
    image_size: int = 64
    z_dim: int = 128
    g_channels: int = 32  # G's width at 32x32; it doubles towards 4x4
    d_channels: int = 16  # D's width at 32x32; it doubles towards 4x4
    g_attention: tuple[int, ...] = (32,)  # resolutions of G's attention blocks
    d_attention: tuple[int, ...] = (16,)  # resolutions of D's attention blocks

    def to_dict(self) -> dict:
        d = asdict(self)
        d["g_attention"], d["d_attention"] = list(self.g_attention), list(self.d_attention)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SAGANConfig":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("g_attention", "d_attention"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


# ---------------------------------------------------------------- spectral normalisation


def power_iteration(w_mat: torch.Tensor, u: torch.Tensor, n_iter: int, eps: float = 1e-12):
    """n_iter steps of v = W^T u / |W^T u|, u = W v / |W v|; returns (sigma = u^T W v, u, v).

    w_mat: (out, in) the weight reshaped to a matrix; u: (out,).
    """
    v = None
    for _ in range(max(n_iter, 1)):
        v = F.normalize(w_mat.t() @ u, dim=0, eps=eps)  # (in,)
        u = F.normalize(w_mat @ v, dim=0, eps=eps)  # (out,)
    sigma = torch.dot(u, w_mat @ v)
    return sigma, u, v


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
        self.register_buffer("sigma", torch.ones(()))  # the sigma used by the last forward pass

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
        self.sigma.copy_(sigma.detach())
        w = self.layer.weight / sigma
        if isinstance(self.layer, nn.Conv2d):
            return F.conv2d(x, w, self.layer.bias, self.layer.stride, self.layer.padding)
        return F.linear(x, w, self.layer.bias)


def sn_conv(c_in: int, c_out: int, k: int = 3, stride: int = 1, padding: int | None = None, bias: bool = True):
    return SpectralNorm(nn.Conv2d(c_in, c_out, k, stride, k // 2 if padding is None else padding, bias=bias))


def sn_linear(d_in: int, d_out: int):
    return SpectralNorm(nn.Linear(d_in, d_out))


# ---------------------------------------------------------------- self-attention


class SelfAttention(nn.Module):
    """The SAGAN attention block; forward(..., return_maps=True) also returns beta (B, N, N), rows = queries j."""

    def __init__(self, channels: int):
        super().__init__()
        self.f = sn_conv(channels, channels // 8, 1, bias=False)  # query of location j ... (see module doc)
        self.g = sn_conv(channels, channels // 8, 1, bias=False)
        self.h = sn_conv(channels, channels // 2, 1, bias=False)
        self.v = sn_conv(channels // 2, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))  # starts at 0: the block begins as the identity

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """beta (B, N, N) with beta[b, j, i] = softmax_i(s_ij); each row j sums to 1."""
        fx = self.f(x).flatten(2)  # (B, C/8, N): f(x_i)
        gx = self.g(x).flatten(2)  # (B, C/8, N): g(x_j)
        s = torch.bmm(gx.transpose(1, 2), fx)  # (B, N_j, N_i): s[b, j, i] = f(x_i)^T g(x_j)
        return torch.softmax(s, dim=-1)  # softmax over i, the attended location

    def forward(self, x: torch.Tensor, return_maps: bool = False):
        b, c, hh, ww = x.shape
        beta = self.attention(x)  # (B, N, N)
        hx = self.h(x).flatten(2)  # (B, C/2, N)
        o = torch.bmm(hx, beta.transpose(1, 2))  # (B, C/2, N_j): sum_i beta_{j,i} h(x_i)
        o = self.v(o.view(b, c // 2, hh, ww))  # (B, C, h, w)
        y = self.gamma * o + x
        return (y, beta) if return_maps else y


# ---------------------------------------------------------------- G and D


class _GBlock(nn.Module):
    """Upsample x2, then two spectrally normalised 3x3 convs with a residual path (as in SAGAN's G)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1, self.conv2 = sn_conv(c_in, c_out), sn_conv(c_out, c_out)
        self.skip = sn_conv(c_in, c_out, 1)

    def forward(self, x):
        up = F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv1(F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest"))
        h = self.conv2(F.relu(self.bn2(h)))
        return h + self.skip(up)


class _DBlock(nn.Module):
    """Two spectrally normalised 3x3 convs then average-pool x2, with a residual path."""

    def __init__(self, c_in: int, c_out: int, first: bool = False):
        super().__init__()
        self.first = first
        self.conv1, self.conv2 = sn_conv(c_in, c_out), sn_conv(c_out, c_out)
        self.skip = sn_conv(c_in, c_out, 1)

    def forward(self, x):
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        return F.avg_pool2d(h, 2) + F.avg_pool2d(self.skip(x), 2)


class Generator(nn.Module):
    """z (B, z_dim) -> image (B, 3, 64, 64) in [-1, 1]; attention blocks after the named resolutions."""

    def __init__(self, cfg: SAGANConfig):
        super().__init__()
        c = cfg.g_channels
        chans = {4: 4 * c, 8: 4 * c, 16: 2 * c, 32: c, 64: c // 2}
        self.fc = sn_linear(cfg.z_dim, 4 * 4 * chans[4])
        self.blocks = nn.ModuleDict()
        self.attn = nn.ModuleDict()
        res = 4
        while res < cfg.image_size:
            self.blocks[str(res * 2)] = _GBlock(chans[res], chans[res * 2])
            res *= 2
            if res in cfg.g_attention:
                self.attn[f"attn{res}"] = SelfAttention(chans[res])
        self.bn_out = nn.BatchNorm2d(chans[cfg.image_size])
        self.to_rgb = sn_conv(chans[cfg.image_size], 3)
        self.c4 = chans[4]

    def forward(self, z: torch.Tensor, return_maps: bool = False):
        x = self.fc(z).view(z.shape[0], self.c4, 4, 4)  # (B, 8c, 4, 4)
        maps = {}
        for res, block in self.blocks.items():
            x = block(x)  # (B, C_res, res, res)
            if f"attn{res}" in self.attn:
                x, maps[f"G.attn{res}"] = self.attn[f"attn{res}"](x, return_maps=True)
        img = torch.tanh(self.to_rgb(F.relu(self.bn_out(x))))  # (B, 3, 64, 64)
        return (img, maps) if return_maps else img


class Discriminator(nn.Module):
    """image (B, 3, 64, 64) -> realness score (B,) for the hinge loss; attention at the named resolutions."""

    def __init__(self, cfg: SAGANConfig):
        super().__init__()
        c = cfg.d_channels
        chans = {32: c, 16: 2 * c, 8: 4 * c, 4: 8 * c}
        self.blocks = nn.ModuleDict()
        self.attn = nn.ModuleDict()
        res, c_in = cfg.image_size, 3
        while res > 4:
            res //= 2
            self.blocks[str(res)] = _DBlock(c_in, chans[res], first=(c_in == 3))
            c_in = chans[res]
            if res in cfg.d_attention:
                self.attn[f"attn{res}"] = SelfAttention(chans[res])
        self.fc = sn_linear(chans[4], 1)

    def forward(self, x: torch.Tensor, return_maps: bool = False):
        maps = {}
        for res, block in self.blocks.items():
            x = block(x)
            if f"attn{res}" in self.attn:
                x, maps[f"D.attn{res}"] = self.attn[f"attn{res}"](x, return_maps=True)
        score = self.fc(F.relu(x).sum(dim=(2, 3))).squeeze(1)  # (B,)
        return (score, maps) if return_maps else score


def spectral_layers(module: nn.Module) -> dict[str, SpectralNorm]:
    """Every spectrally normalised layer by its dotted name, in forward order."""
    return {name: m for name, m in module.named_modules() if isinstance(m, SpectralNorm)}
