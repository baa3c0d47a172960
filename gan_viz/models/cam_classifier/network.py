"""The face classifier built for class activation mapping (Zhou et al., CVPR 2016): convs -> GAP -> linear heads.

CAM needs exactly this shape: the class score is a linear function of the globally
average-pooled last feature map, y^c = sum_k w_k^c * mean_xy f_k(x, y), so the map
M_c(x, y) = sum_k w_k^c f_k(x, y) says where the evidence for class c lies.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

GENDER_CLASSES = ("male", "female")  # index = UTKFace gender label
LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")  # the conv stages, input to output
AGE_CLASSES = ("0-12", "13-19", "20-39", "40-59", "60+")


@dataclass
class CAMClassifierConfig:
    image_size: int = 64  # input crop is image_size x image_size RGB
    width: int = 24  # channels of the first stage; later stages double it
    # Dilations of the residual context convs inside conv4 (see ContextBlock); () = the plain five-conv net of earlier
    # exports, whose last map sees only a 27 px window of an 80 px face.
    context_dilations: tuple[int, ...] = ()
    temperature: float = 1.0  # softmax(logits / T): fitted on validation faces after training so probabilities are calibrated
    heads: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {"gender": GENDER_CLASSES, "age_group": AGE_CLASSES}
    )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["heads"] = {k: list(v) for k, v in self.heads.items()}
        d["context_dilations"] = list(self.context_dilations)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CAMClassifierConfig":
        d = dict(d)
        d["heads"] = {k: tuple(v) for k, v in d.get("heads", {}).items()} or None
        if d["heads"] is None:
            del d["heads"]
        d["context_dilations"] = tuple(d.get("context_dilations", ()))
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


class ContextBlock(nn.Module):
    """A residual pair of dilated 3x3 convs (dilated residual networks, Yu et al., CVPR 2017) at the last resolution.

    Why: CAM needs a fine last map (stride 4, 20x20 at 80 px), and five plain 3x3 convs at that stride give each
    position of it a 27 px window: the net could only add up local cues. Dilations 2 and 4 widen the window to
    75 px (the whole face: jaw line, hair length) without pooling the map. The second BN starts at zero scale, so a
    new block is the identity and a trained five-conv net can be extended and fine-tuned from its own weights.
    """

    def __init__(self, c: int, dilations: tuple[int, ...]):
        super().__init__()
        layers = []
        for i, d in enumerate(dilations):
            layers += [nn.Conv2d(c, c, 3, 1, d, dilation=d, bias=False), nn.BatchNorm2d(c)]
            if i < len(dilations) - 1:
                layers.append(nn.ReLU(inplace=True))
        self.residual = nn.Sequential(*layers)
        nn.init.zeros_(self.residual[-1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.residual(x))


def receptive_field(config: "CAMClassifierConfig") -> int:
    """Input pixels one position of the last map sees: 3x3 convs at strides 2,1,2,1,1, plus the context convs."""
    rf, jump = 1, 1
    for stride in (2, 1, 2):
        rf, jump = rf + 2 * jump, jump * stride
    rf += 2 * jump * (1 + sum(config.context_dilations))  # conv4's own conv, its context convs
    return rf + 2 * jump  # conv5


class CAMClassifier(nn.Module):
    """Five conv stages, total stride 4, so a 64x64 crop gives a 16x16 last feature map (not blocky)."""

    def __init__(self, config: CAMClassifierConfig | None = None):
        super().__init__()
        self.config = config = config or CAMClassifierConfig()
        w = config.width
        # Named stages: these names are the layers a user can pick for Grad-CAM.
        stages = (
            _conv(3, w, stride=2),  # (B, w, S/2, S/2)
            _conv(w, 2 * w),  # (B, 2w, S/2, S/2)
            _conv(2 * w, 4 * w, stride=2),  # (B, 4w, S/4, S/4)
            _conv(4 * w, 4 * w),  # (B, 4w, S/4, S/4)
            _conv(4 * w, 8 * w),  # (B, 8w, S/4, S/4): CAM's f_k
        )
        self.features = nn.Sequential()
        if config.context_dilations:  # conv4 = its conv + the context block, so old weights keep their names
            stages[3].append(ContextBlock(4 * w, config.context_dilations))
        for name, stage in zip(LAYERS, stages):
            self.features.add_module(name, stage)
        self.dropout = nn.Dropout(0.2)
        # One linear layer per head on the pooled features: the w_k^c of CAM.
        self.heads = nn.ModuleDict({name: nn.Linear(8 * w, len(cls)) for name, cls in config.heads.items()})

    @property
    def layer_names(self) -> list[str]:
        return [name for name, _ in self.features.named_children()]

    @property
    def last_layer(self) -> str:
        return self.layer_names[-1]

    def pooled(self, f: torch.Tensor) -> torch.Tensor:
        return f.mean(dim=(2, 3))  # global average pooling: (B, K, h, w) -> (B, K)

    def activations(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(logits per head, the output of every named conv stage). No hooks: safe under concurrent requests."""
        acts = {}
        for name, stage in self.features.named_children():
            x = stage(x)
            acts[name] = x  # (B, C_layer, h_layer, w_layer)
        z = self.dropout(self.pooled(x))
        return {name: head(z) for name, head in self.heads.items()}, acts

    def forward(self, x: torch.Tensor, return_maps: bool = False):
        """x: (B, 3, S, S) in [-1, 1]. Returns {head: logits (B, n_classes)} and, on request, the last map."""
        f = self.features(x)  # (B, K, S/4, S/4)
        z = self.dropout(self.pooled(f))  # (B, K)
        logits = {name: head(z) for name, head in self.heads.items()}
        return (logits, f) if return_maps else logits
