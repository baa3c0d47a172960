"""Settings the operator can change without code: integers read from environment variables, with a floor."""
from __future__ import annotations

import os


def int_env(name: str, default: int, low: int = 1) -> int:
    try:
        return max(low, int(os.environ.get(name, default)))
    except ValueError:
        return default


# torch threads each request computes with (serving.py explains why one); read here so that code without Gradio
# (benchmarks/gpu.py, on a machine with only the models' packages) uses the app's count.
HEAVY_THREADS = int_env("GAN_VIZ_THREADS", 1)
