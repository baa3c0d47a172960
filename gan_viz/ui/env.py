"""Settings the operator can change without code: integers read from environment variables, with a floor."""
from __future__ import annotations

import os


def int_env(name: str, default: int, low: int = 1) -> int:
    try:
        return max(low, int(os.environ.get(name, default)))
    except ValueError:
        return default
