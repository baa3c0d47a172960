"""CycleGAN nets (Zhu, Park, Isola, Efros, ICCV 2017): ResNet generators and 70x70-style PatchGAN discriminators.

Generators are named by what they do: `male_to_female` (G: X -> Y) and `female_to_male`
(F: Y -> X). Both are fully convolutional, so a net trained at 64 px can be fine-tuned at
96 or 128 px. Discriminators answer per patch (a map of realness scores), which is what
the gender-flip tab shows as "where D finds the result real or fake".
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

DIRECTIONS = ("male_to_female", "female_to_male")


@dataclass
class CycleGANConfig:
    image_size: int = 96  # training resolution; the nets accept any multiple of 4
    ngf: int = 24  # generator width of the first layer
    ndf: int = 32  # discriminator width of the first layer
    n_blocks: int = 6  # residual blocks at 1/4 resolution
    d_layers: int = 3  # PatchGAN depth (3 -> 70x70 receptive field)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CycleGANConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class ResnetBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c))

    def forward(self, x):
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """c7s1-ngf, d2ngf, d4ngf, n_blocks x R4ngf, u2ngf, ungf, c7s1-3 (the paper's appendix), tanh output."""

    def __init__(self, ngf: int, n_blocks: int):
        super().__init__()
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for mult in (1, 2):  # down-sampling: (B, ngf, H, W) -> (B, 4ngf, H/4, W/4)
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1), nn.InstanceNorm2d(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for mult in (4, 2):  # up-sampling back to (B, ngf, H, W)
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1),
                       nn.InstanceNorm2d(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # (B, 3, H, W) in [-1, 1]


class PatchDiscriminator(nn.Module):
    """C64-C128-C256-C512 PatchGAN: image (B, 3, H, W) -> realness per patch (B, 1, h, w), no sigmoid (LSGAN)."""

    def __init__(self, ndf: int, n_layers: int):
        super().__init__()
        layers = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1), nn.InstanceNorm2d(ndf * mult),
                       nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class CycleGAN(nn.Module):
    """The four nets under their names; weights travel as one safetensors file with these prefixes."""

    def __init__(self, cfg: CycleGANConfig | None = None):
        super().__init__()
        self.config = cfg = cfg or CycleGANConfig()
        self.male_to_female = ResnetGenerator(cfg.ngf, cfg.n_blocks)
        self.female_to_male = ResnetGenerator(cfg.ngf, cfg.n_blocks)
        self.D_female = PatchDiscriminator(cfg.ndf, cfg.d_layers)  # judges images in the female domain
        self.D_male = PatchDiscriminator(cfg.ndf, cfg.d_layers)

    def generator(self, direction: str) -> ResnetGenerator:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
        return getattr(self, direction)

    def inverse(self, direction: str) -> ResnetGenerator:
        return self.female_to_male if direction == "male_to_female" else self.male_to_female

    def target_discriminator(self, direction: str) -> PatchDiscriminator:
        return self.D_female if direction == "male_to_female" else self.D_male
