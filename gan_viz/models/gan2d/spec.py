"""A 2D GAN run's settings: the spec that decides it bit for bit, the limits the UI's sliders share, the lab's constants."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

from gan_viz.models.gan2d import data, losses, network

OPTIMIZERS = ("adam", "sgd", "rmsprop")
LAB_NICE = int(os.environ.get("GAN_VIZ_LAB_NICE", "10"))  # the scheduler thread's niceness (benchmarks/load.py --lab)
ADAM_BETAS = (0.5, 0.999)  # the GAN habit since DCGAN (Radford et al. 2016): less momentum than the default 0.9
RMSPROP_ALPHA = 0.99
EPS = 1e-8
VIEW_POINTS = 600  # generated points drawn in a frame
N_ARROWS = 64  # of them, with the push of G's loss drawn
FRAME_GRID = 32  # a live frame reads D on 32x32 points (the page smooths it); full measurements on metrics.SLOPE_GRID
EVAL_EVERY = 100  # steps between the measurements kept in a run's history (deterministic: by step, not by time)
LIMITS = {  # name: (lowest, highest); the UI's sliders use the same bounds
    "d_steps": (1, 10), "lr_g": (1e-5, 0.1), "lr_d": (1e-5, 0.1), "steps": (1, 20_000), "seed": (0, 2 ** 31 - 1),
    "batch_size": (8, 512), "width": (4, 128), "depth": (1, 4), "clip": (1e-3, 1.0),
}


@dataclass(frozen=True)
class RunSpec:
    """Everything that decides a run; the same spec (and drawn points) gives the same run, bit for bit."""

    distribution: str = "ring8"
    loss: str = "non_saturating"
    spectral_norm: bool = False
    d_steps: int = 1
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    steps: int = 2000
    seed: int = 0
    optimizer: str = "adam"
    batch_size: int = 128
    width: int = 64
    depth: int = 2
    clip: float = 0.01  # wgan_clip's c (Arjovsky et al. used 0.01)

    def validated(self) -> "RunSpec":
        """The spec with its numbers as the right types, or ValueError naming the setting and its range."""
        if self.distribution not in data.PRESETS + ("drawn",):
            raise ValueError(f"unknown distribution {self.distribution!r}; use one of {', '.join(data.PRESETS)}")
        losses.index(self.loss)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
        out = {}
        for name, (lo, hi) in LIMITS.items():
            raw = getattr(self, name)
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a number, got {raw!r}") from None
            if not math.isfinite(value) or not lo <= value <= hi:
                raise ValueError(f"{name} must be between {lo:g} and {hi:g}, got {raw!r}")
            if isinstance(lo, int) and name not in ("lr_g", "lr_d", "clip"):
                if value != int(value):
                    raise ValueError(f"{name} must be a whole number, got {raw!r}")
                value = int(value)
            out[name] = value
        return replace(self, spectral_norm=bool(self.spectral_norm), **out)

    @property
    def key(self) -> tuple[int, int, int]:
        """Runs with the same key share tensor shapes and are stepped together."""
        return (self.width, self.depth, self.batch_size)

    def shapes(self) -> tuple[network.MLPShape, network.MLPShape]:
        return (network.MLPShape(2, 2, self.width, self.depth), network.MLPShape(2, 1, self.width, self.depth))


class LabFull(ValueError):
    """Too many runs at once: the user is told to try again (a ValueError, so the UI shows it as it is)."""
