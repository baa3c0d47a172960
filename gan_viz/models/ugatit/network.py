"""U-GAT-IT nets (Kim, Kim, Kang, Lee, ICLR 2020), light mode, at the CycleGAN's scale: CAM attention inside G and D.

Each generator is an encoder (down-sampling and residual blocks), the CAM attention module (bias-free
GAP and GMP auxiliary classifiers whose weights w_k re-weight the encoder's maps, w_k E_k(x), then a
1x1 conv over both), a decoder of AdaLIN residual blocks whose gamma and beta come from an MLP on the
pooled attention features (the paper's light mode), and up-sampling blocks with LIN. Each domain has a
global and a local discriminator (spectral norm, their own CAM). Names follow the paper's code.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gan_viz.spectral import SpectralNorm

DIRECTIONS = ("male_to_female", "female_to_male")


@dataclass
class UGATITConfig:
    image_size: int = 96  # training resolution; the nets accept any multiple of 16
    ngf: int = 24  # generator width of the first layer (the CycleGAN's, so its weights can start ours)
    ndf: int = 32  # discriminator width of the first layer
    n_res: int = 3  # residual blocks in the encoder and AdaLIN blocks in the decoder (the CycleGAN's 6, split)
    global_layers: int = 6  # 4 stride-2 convs: a 142 px receptive field, the whole 96 px face
    local_layers: int = 5  # 3 stride-2 convs: 70 px patches
    max_mult: int = 8  # discriminator widths stop at ndf * max_mult

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "UGATITConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _instance_and_layer_norm(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B, C, H, W) normalised per channel (instance norm) and per sample (layer norm)."""
    x_in = (x - x.mean((2, 3), keepdim=True)) / torch.sqrt(x.var((2, 3), keepdim=True) + eps)
    x_ln = (x - x.mean((1, 2, 3), keepdim=True)) / torch.sqrt(x.var((1, 2, 3), keepdim=True) + eps)
    return x_in, x_ln


class AdaLIN(nn.Module):
    """rho * IN(x) + (1 - rho) * LN(x), scaled by gamma and shifted by beta that come from outside (the MLP).

    rho is learned per channel and clipped to [0, 1] after each step (clip_rho): near 1 the layer keeps
    instance statistics (textures, colours), near 0 it mixes over channels (shapes).
    """

    def __init__(self, c: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.rho = nn.Parameter(torch.full((1, c, 1, 1), 0.9))

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        x_in, x_ln = _instance_and_layer_norm(x, self.eps)
        out = self.rho * x_in + (1 - self.rho) * x_ln
        return out * gamma[:, :, None, None] + beta[:, :, None, None]  # gamma, beta: (B, C)


class LIN(nn.Module):
    """Layer-instance norm with its own gamma and beta (the up-sampling blocks); rho starts at 0 (layer norm)."""

    def __init__(self, c: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.rho = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.ones(1, c, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in, x_ln = _instance_and_layer_norm(x, self.eps)
        return (self.rho * x_in + (1 - self.rho) * x_ln) * self.gamma + self.beta


class ResnetBlock(nn.Module):
    """conv-IN-ReLU-conv-IN with a skip; the layer indices match the CycleGAN's block, so its weights load."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetAdaLINBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.pad1, self.conv1, self.norm1 = nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), AdaLIN(c)
        self.pad2, self.conv2, self.norm2 = nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), AdaLIN(c)

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(self.pad1(x)), gamma, beta))
        return x + self.norm2(self.conv2(self.pad2(out)), gamma, beta)


class Generator(nn.Module):
    """x (B, 3, H, W) in [-1, 1] -> (fake, cam_logit (B, 2): GAP and GMP 'is it the source domain', heatmap)."""

    def __init__(self, ngf: int, n_res: int):
        super().__init__()
        c = ngf * 4
        enc = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for mult in (1, 2):  # (B, ngf, H, W) -> (B, 4ngf, H/4, W/4)
            enc += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1), nn.InstanceNorm2d(ngf * mult * 2), nn.ReLU(True)]
        self.encoder = nn.Sequential(*enc, *[ResnetBlock(c) for _ in range(n_res)])
        self.gap_fc = nn.Linear(c, 1, bias=False)  # auxiliary classifiers: their weights are the attention w_k
        self.gmp_fc = nn.Linear(c, 1, bias=False)
        self.conv1x1 = nn.Conv2d(2 * c, c, 1)
        self.mlp = nn.Sequential(nn.Linear(c, c), nn.ReLU(True), nn.Linear(c, c), nn.ReLU(True))
        self.gamma, self.beta = nn.Linear(c, c), nn.Linear(c, c)
        self.decoder = nn.ModuleList([ResnetAdaLINBlock(c) for _ in range(n_res)])
        up = []
        for mult in (4, 2):  # nearest up-sampling then a conv (the paper's; no checkerboard from strided transposes)
            up += [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                   nn.Conv2d(ngf * mult, ngf * mult // 2, 3), LIN(ngf * mult // 2), nn.ReLU(True)]
        self.up = nn.Sequential(*up, nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh())

    def attend(self, x: torch.Tensor, attention: bool = True) -> dict[str, torch.Tensor]:
        """The encoder and the CAM module. attention=False replaces each w_k by the mean of w (the 'attention off' lesson)."""
        e = self.encoder(x)  # (B, C, H/4, W/4)
        gap_logit = self.gap_fc(e.mean((2, 3)))  # (B, 1)
        gmp_logit = self.gmp_fc(e.amax((2, 3)))
        w_gap, w_gmp = self.gap_fc.weight, self.gmp_fc.weight  # (1, C)
        if not attention:
            w_gap, w_gmp = w_gap.mean().expand_as(w_gap), w_gmp.mean().expand_as(w_gmp)
        a_gap = e * w_gap[:, :, None, None]  # w_k E_k(x): (B, C, H/4, W/4)
        a_gmp = e * w_gmp[:, :, None, None]
        h = F.relu(self.conv1x1(torch.cat([a_gap, a_gmp], 1)))  # (B, C, H/4, W/4)
        return {"h": h, "cam_logit": torch.cat([gap_logit, gmp_logit], 1),
                "gap_map": a_gap.sum(1), "gmp_map": a_gmp.sum(1), "heatmap": h.sum(1)}  # maps: (B, H/4, W/4)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        z = self.mlp(h.mean((2, 3)))  # light mode: gamma and beta from the pooled features, (B, C)
        gamma, beta = self.gamma(z), self.beta(z)
        for block in self.decoder:
            h = block(h, gamma, beta)
        return self.up(h)  # (B, 3, H, W) in [-1, 1]

    def forward(self, x: torch.Tensor, attention: bool = True):
        a = self.attend(x, attention)
        return self.decode(a["h"]), a["cam_logit"], a["heatmap"]

    def adalin_layers(self) -> list[AdaLIN]:
        return [n for block in self.decoder for n in (block.norm1, block.norm2)]


class Discriminator(nn.Module):
    """image (B, 3, H, W) -> (realness per patch (B, 1, h, w), cam_logit (B, 2), heatmap (B, h', w'))."""

    def __init__(self, ndf: int, n_layers: int, max_mult: int = 8):
        super().__init__()
        layers, c = [nn.ReflectionPad2d(1), SpectralNorm(nn.Conv2d(3, ndf, 4, 2)), nn.LeakyReLU(0.2, True)], ndf
        for i in range(1, n_layers - 1):
            stride, c_out = (2 if i < n_layers - 2 else 1), min(c * 2, ndf * max_mult)
            layers += [nn.ReflectionPad2d(1), SpectralNorm(nn.Conv2d(c, c_out, 4, stride)), nn.LeakyReLU(0.2, True)]
            c = c_out
        self.model = nn.Sequential(*layers)
        # A (1, C) matrix's largest singular value is its norm, so these are spectrally normalised exactly (_cam)
        self.gap_fc, self.gmp_fc = nn.Linear(c, 1, bias=False), nn.Linear(c, 1, bias=False)
        self.conv1x1 = nn.Conv2d(2 * c, c, 1)
        self.conv = nn.Sequential(nn.ReflectionPad2d(1), SpectralNorm(nn.Conv2d(c, 1, 4, bias=False)))

    @staticmethod
    def _cam(fc: nn.Linear, e: torch.Tensor, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = fc.weight / fc.weight.norm().clamp_min(1e-12)  # (1, C)
        return F.linear(pooled, w), e * w[:, :, None, None]

    def forward(self, x: torch.Tensor):
        e = self.model(x)  # (B, C, h, w)
        gap_logit, a_gap = self._cam(self.gap_fc, e, e.mean((2, 3)))
        gmp_logit, a_gmp = self._cam(self.gmp_fc, e, e.amax((2, 3)))
        h = F.leaky_relu(self.conv1x1(torch.cat([a_gap, a_gmp], 1)), 0.2)
        return self.conv(h), torch.cat([gap_logit, gmp_logit], 1), h.sum(1)


class UGATIT(nn.Module):
    """Two generators and four discriminators under their names; one safetensors file with these prefixes."""

    def __init__(self, cfg: UGATITConfig | None = None):
        super().__init__()
        self.config = cfg = cfg or UGATITConfig()
        self.male_to_female = Generator(cfg.ngf, cfg.n_res)
        self.female_to_male = Generator(cfg.ngf, cfg.n_res)
        for domain in ("female", "male"):  # D_female_* judge images in the female domain
            setattr(self, f"D_{domain}_global", Discriminator(cfg.ndf, cfg.global_layers, cfg.max_mult))
            setattr(self, f"D_{domain}_local", Discriminator(cfg.ndf, cfg.local_layers, cfg.max_mult))

    def generator(self, direction: str) -> Generator:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
        return getattr(self, direction)

    def target_discriminators(self, direction: str) -> dict[str, Discriminator]:
        domain = "female" if direction == "male_to_female" else "male"
        return {"global": getattr(self, f"D_{domain}_global"), "local": getattr(self, f"D_{domain}_local")}

    def clip_rho(self) -> None:
        """The paper's RhoClipper: keep every rho in [0, 1] after each generator step."""
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, (AdaLIN, LIN)):
                    m.rho.clamp_(0.0, 1.0)
