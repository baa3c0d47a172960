"""LBAM inpainting generator (Xie et al., "Image Inpainting with Learnable Bidirectional Attention Maps", ICCV 2019).

Encoder layer l (forward attention, computed from the mask M by a conv with the same
geometry as the feature conv):
    M_c = k_M * M_{l-1}                       (conv of the mask)
    A_l = g_A(M_c)                            (learnable asymmetric Gaussian activation)
    F_l = act(BN((W_l * F_{l-1}) . A_l))      (features re-normalised by the attention map)
    M_l = g_M(M_c) = ReLU(M_c)^alpha          (learnable mask update)
Decoder layer l (reverse attention, the same computed from 1 - M):
    A^r_l = g_A(k^r_l * M^r_{l-1}),  M^r_l = g_M(k^r_l * M^r_{l-1}),  M^r_0 = 1 - M
    D_l = act(BN([F_l, W^T_l * D_{l+1}] . [A_l, A^r_l]))   (concatenated as in the paper)
M is 1 for known pixels and 0 in the hole. return_maps=True also returns every A_l and A^r_l.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn


@dataclass
class LBAMConfig:
    image_size: int = 128
    channels: list[int] = field(default_factory=lambda: [32, 64, 128, 256, 256, 256])  # encoder widths, each /2 px

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LBAMConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class GaussianActivation(nn.Module):
    """g_A(x) = a exp(-gamma_l (x - mu)^2) for x < mu, 1 + (a - 1) exp(-gamma_r (x - mu)^2) otherwise.

    Initialised as in the paper (a = 1.1, mu = 2, gamma_l = 1, gamma_r = 1); all four are learned.
    """

    def __init__(self, a: float = 1.1, mu: float = 2.0, gamma_l: float = 1.0, gamma_r: float = 1.0):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a))
        self.mu = nn.Parameter(torch.tensor(mu))
        self.gamma_l = nn.Parameter(torch.tensor(gamma_l))
        self.gamma_r = nn.Parameter(torch.tensor(gamma_r))

    def effective(self) -> dict[str, float]:
        """The parameters as forward() uses them (after clamping)."""
        return {"a": self.a.clamp(1.01, 6.0).item(), "mu": self.mu.item(),
                "gamma_l": self.gamma_l.clamp(min=0.01).item(), "gamma_r": self.gamma_r.clamp(min=0.01).item()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.a.clamp(1.01, 6.0)  # keep the peak above 1 and bounded, as the paper's clipping does
        gl, gr = self.gamma_l.clamp(min=0.01), self.gamma_r.clamp(min=0.01)
        d2 = (x - self.mu) ** 2
        left = a * torch.exp(-gl * d2)
        right = 1 + (a - 1) * torch.exp(-gr * d2)
        return torch.where(x < self.mu, left, right)


class MaskUpdate(nn.Module):
    """g_M(M) = ReLU(M)^alpha with a learnable alpha (initialised at 0.8)."""

    def __init__(self, alpha: float = 0.8):
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(alpha))

    def effective_alpha(self) -> float:
        """alpha as forward() uses it (clamped to [0.6, 0.8], the paper's range)."""
        return self.alpha.clamp(0.6, 0.8).item()

    def forward(self, m: torch.Tensor) -> torch.Tensor:
        return torch.pow(torch.relu(m) + 1e-6, self.alpha.clamp(0.6, 0.8))


class MaskAttention(nn.Module):
    """From a mask (or reverse mask) at one scale: the attention map A and the updated mask for the next scale."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False)
        self.g_A = GaussianActivation()
        self.g_M = MaskUpdate()

    def forward(self, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m_c = self.conv(m)  # (B, c_out, H/2, W/2)
        return self.g_A(m_c), self.g_M(m_c)


class LBAMGenerator(nn.Module):
    """(masked image (B, 3, S, S) in [-1, 1], mask (B, 1, S, S), 1 = known) -> image (B, 3, S, S)."""

    def __init__(self, cfg: LBAMConfig | None = None):
        super().__init__()
        self.config = cfg = cfg or LBAMConfig()
        c = cfg.channels
        n = len(c)
        self.enc = nn.ModuleList()
        self.enc_att = nn.ModuleList()
        self.enc_bn = nn.ModuleList()
        for i in range(n):
            c_in = 4 if i == 0 else c[i - 1]  # the first layer sees the masked image and the mask
            self.enc.append(nn.Conv2d(c_in, c[i], 4, 2, 1, bias=False))
            self.enc_att.append(MaskAttention(1 if i == 0 else c[i - 1], c[i]))
            self.enc_bn.append(nn.Identity() if i == 0 else nn.BatchNorm2d(c[i]))
        # Reverse masks run down to the scale of encoder layer n-2 (the deepest decoder output).
        self.rev_att = nn.ModuleList(MaskAttention(1 if i == 0 else c[i - 1], c[i]) for i in range(n - 1))
        self.dec = nn.ModuleList()
        self.dec_bn = nn.ModuleList()
        for i in reversed(range(n - 1)):  # decoder layer i restores encoder layer i's scale
            c_in = c[n - 1] if i == n - 2 else 2 * c[i + 1]
            self.dec.append(nn.ConvTranspose2d(c_in, c[i], 4, 2, 1, bias=False))
            self.dec_bn.append(nn.BatchNorm2d(2 * c[i]))
        self.out = nn.ConvTranspose2d(2 * c[0], 3, 4, 2, 1)

    def forward(self, masked: torch.Tensor, mask: torch.Tensor, return_maps: bool = False):
        n = len(self.enc)
        x, m = torch.cat([masked, mask], 1), mask  # (B, 4, S, S), (B, 1, S, S)
        feats, fwd_maps = [], []
        for i in range(n):
            a, m = self.enc_att[i](m)  # forward attention A_i and the updated mask
            x = self.enc_bn[i](self.enc[i](x) * a)
            x = nn.functional.leaky_relu(x, 0.2)
            feats.append(x)
            fwd_maps.append(a)
        rev_maps, r = [], 1 - mask
        for i in range(n - 1):
            a_r, r = self.rev_att[i](r)
            rev_maps.append(a_r)
        d = feats[-1]
        for k, i in enumerate(reversed(range(n - 1))):
            up = self.dec[k](d)  # (B, c_i, ...) at encoder layer i's scale
            d = torch.cat([feats[i], up], 1) * torch.cat([fwd_maps[i], rev_maps[i]], 1)
            d = nn.functional.leaky_relu(self.dec_bn[k](d), 0.2)
        img = torch.tanh(self.out(d))  # (B, 3, S, S)
        if return_maps:
            return img, {"forward": fwd_maps, "reverse": rev_maps}
        return img
