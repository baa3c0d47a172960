"""LBAM's perceptual and style losses, with this project's face classifier (its wide teacher) as the feature network.

The paper (Xie et al. 2019, after Liu et al. 2018) adds to the pixel loss
    L_perc  = sum_l || phi_l(I_out) - phi_l(I_gt) ||_1 + || phi_l(I_comp) - phi_l(I_gt) ||_1
    L_style = sum_l || G(phi_l(I_out)) - G(phi_l(I_gt)) ||_1 + the same for I_comp,   G(f) = f f^T / (C H W)
with phi_l the first pooling stages of an ImageNet VGG16. This project ships no VGG; its classifier's teacher has seen
nothing but faces, at TEACHER_SIZE px. Its first FEATURE_LAYERS stages stand in for VGG's pool1-3. Off by default
(weights 0): the train script's --perceptual and --style turn them on, to be measured against the pixel loss alone.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from gan_viz.models.cam_classifier.network import CAMClassifier, CAMClassifierConfig
from gan_viz.quantize import dequantise_state

FEATURE_LAYERS = 3  # conv1 (stride 2), conv2, conv3 (stride 4): edges to parts, as VGG's pool1-3
FEATURE_SIZE = 160  # the faces are shown to the teacher at twice the 80 px it was trained at: finer texture, same parts


def gram(f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C): the feature correlations f f^T / (C H W) that the style loss compares."""
    b, c, h, w = f.shape
    flat = f.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


class FeatureLoss(nn.Module):
    """Frozen feature network; forward(out, comp, real) -> (perceptual, style), both scalars."""

    def __init__(self, net: CAMClassifier, size: int = FEATURE_SIZE, layers: int = FEATURE_LAYERS):
        super().__init__()
        self.stages = nn.Sequential(*list(net.features.children())[:layers]).eval()
        self.stages.requires_grad_(False)
        self.size = size

    @classmethod
    def from_folder(cls, folder: str | Path) -> "FeatureLoss":
        """A classifier export (config.json + model.safetensors, int8 or float), e.g. checkpoints/cam_classifier/teacher."""
        folder = Path(folder)
        net = CAMClassifier(CAMClassifierConfig.from_dict(json.loads((folder / "config.json").read_text())))
        net.load_state_dict({k: v.float() for k, v in dequantise_state(load_file(folder / "model.safetensors")).items()})
        return cls(net)

    def train(self, mode: bool = True) -> "FeatureLoss":
        super().train(mode)
        self.stages.eval()  # its batch norms keep their statistics
        return self

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out

    def forward(self, out: torch.Tensor, comp: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            target = self.features(real)
        perceptual = style = out.new_zeros(())
        for img in (out, comp):
            for f, t in zip(self.features(img), target):
                perceptual = perceptual + (f - t).abs().mean()
                style = style + (gram(f) - gram(t)).abs().mean()
        return perceptual, style
