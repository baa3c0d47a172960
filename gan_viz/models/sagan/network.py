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

from gan_viz.spectral import SpectralNorm, power_iteration, sn_conv, sn_linear, spectral_layers  # noqa: F401


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
