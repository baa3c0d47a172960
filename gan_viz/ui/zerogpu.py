"""ZeroGPU (Hugging Face's shared Space GPU): the heavy handlers run inside `spaces.GPU`; nothing changes elsewhere.

On a ZeroGPU Space a GPU is attached to the process only while a function decorated with
`spaces.GPU` runs, and models must already sit on "cuda" when the app starts (ZeroGPU moves
them onto the GPU it attaches). Outside such a Space (this machine, a CPU Space, a dedicated
GPU) `spaces.GPU(f)` returns f itself, and without the package installed we do the same, so the
decorated handlers are the plain ones there.

Durations are upper bounds ZeroGPU reserves per call (seconds): the work here takes well under
a second on a GPU (benchmarks/gpu.py), and a short reservation keeps a user's queue priority.
"""
from __future__ import annotations

import functools
import os
from typing import Callable

try:
    import spaces  # the Spaces helper package; a no-op decorator outside a ZeroGPU Space
except ImportError:  # not installed: the same as outside a Space
    spaces = None

# Seconds reserved per call, by kind of work.
DURATIONS = {"image": 20, "attack": 30, "curve": 60}
DECORATED: dict[str, int] = {}  # handler name -> duration, for the About panel and the tests


def active() -> bool:
    """True on a ZeroGPU Space (the platform sets SPACES_ZERO_GPU there)."""
    return spaces is not None and os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")


def on_gpu(fn: Callable, kind: str = "image", name: str | None = None) -> Callable:
    """fn, run inside spaces.GPU(duration=...) where ZeroGPU is present; fn itself everywhere else."""
    duration = DURATIONS[kind]
    DECORATED[name or fn.__name__] = duration
    if spaces is None:
        return fn
    wrapped = spaces.GPU(duration=duration)(fn)
    return wrapped if wrapped is fn else functools.wraps(fn)(wrapped)  # keep the name: the API shows it
