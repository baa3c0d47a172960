"""Settings the operator can change without code: integers (with a floor) and the PNG level, read from environment
variables."""
from __future__ import annotations

import os

from gan_viz.imaging import FAST_PNG


def int_env(name: str, default: int, low: int = 1) -> int:
    try:
        return max(low, int(os.environ.get(name, default)))
    except ValueError:
        return default


def png_level_env(name: str) -> int | str:
    """imaging.FAST_PNG (unset, or "fast") or a zlib level 0-9 (PIL's PNG)."""
    value = os.environ.get(name, FAST_PNG).strip().lower()
    if value == FAST_PNG:
        return FAST_PNG
    try:
        return min(9, max(0, int(value)))
    except ValueError:
        return FAST_PNG


# torch threads each request computes with (serving.py explains why one); read here so that code without Gradio
# (benchmarks/gpu.py, on a machine with only the models' packages) uses the app's count.
HEAVY_THREADS = int_env("GAN_VIZ_THREADS", 1)
