"""Device choice (cuda, then mps, then cpu) and lazy, thread-safe, load-once model holders."""
from __future__ import annotations

import os
import threading
from typing import Callable, Generic, TypeVar

import torch

T = TypeVar("T")

_device_override: str | None = None


def set_device(name: str) -> None:
    """'auto', 'cpu', 'cuda' or 'mps' (the app's --device flag); call before models load."""
    global _device_override
    if name not in ("auto", "cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or mps")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but PyTorch sees no CUDA GPU")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("--device mps asked for, but PyTorch sees no Apple GPU")
    _device_override = None if name == "auto" else name


def get_device() -> torch.device:
    name = _device_override or os.environ.get("GAN_VIZ_DEVICE", "auto")
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class Lazy(Generic[T]):
    """Builds its value on first use, once, even when many request threads ask at the same time."""

    def __init__(self, factory: Callable[[], T]):
        self._factory = factory
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        if self._value is None:
            with self._lock:
                if self._value is None:  # another thread may have built it while we waited
                    self._value = self._factory()
        return self._value

    @property
    def loaded(self) -> bool:
        return self._value is not None
