"""The common start of a family's inference surface: one nn.Module built from resolved weights, in eval mode on the app's device."""
from __future__ import annotations

import torch
from torch import nn

from gan_viz import hub
from gan_viz.device import get_device


class ModelSurface:
    """Subclasses name their FAMILY and say how to build the module from config.json (build_model)."""

    FAMILY: str = ""

    def __init__(self, model: nn.Module, device: torch.device, source: hub.ResolvedWeights | None = None):
        self.model = model.to(device).eval()
        self.device = device
        self.source = source

    @classmethod
    def build_model(cls, config: dict) -> nn.Module:
        raise NotImplementedError

    @classmethod
    def from_weights(cls, w: hub.ResolvedWeights):
        model = cls.build_model(w.config)
        model.load_state_dict(w.state_dict())  # safetensors only (hub.ResolvedWeights.state_dict)
        return cls(model, get_device(), w)

    @classmethod
    def load(cls, settings: hub.HubSettings | None = None):
        return cls.from_weights(hub.resolve(cls.FAMILY, settings))
