"""The process's memory under many requests: glibc's malloc arenas and mmap threshold, and freed pages handed back."""
from __future__ import annotations

import ctypes
import threading
import time

from gan_viz.ui.env import int_env


def configure() -> None:
    """Call once at start-up: few malloc arenas, and a thread that trims the heap every TRIM_SECONDS."""
    _limit_malloc_arenas()
    if TRIM_SECONDS and not any(t.name == "gan-viz-malloc-trim" for t in threading.enumerate()):
        _trim_heap_every(TRIM_SECONDS)


def _limit_malloc_arenas(n: int = 2) -> None:
    """glibc gives each thread that allocates its own malloc arena; with dozens of request threads handling large
    arrays the process keeps growing, and two arenas hold that growth down (benchmarks/load.py measures RSS)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, n)  # M_ARENA_MAX
        if MMAP_THRESHOLD_KB:
            libc.mallopt(-3, MMAP_THRESHOLD_KB * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to tune
        pass


# glibc's own mmap threshold (0) adapts upwards, so large arrays end up in the heap and their pages stay with the
# process after use. A fixed threshold (GAN_VIZ_MMAP_THRESHOLD_KB=1024) keeps RSS flatter but maps and zeroes every
# large array anew, which costs more server CPU than it saves memory: not the default (docs/benchmarks.md).
MMAP_THRESHOLD_KB = int_env("GAN_VIZ_MMAP_THRESHOLD_KB", 0, low=0)
# Hand freed heap pages back to the OS this often (0: never): RSS grows less under a class's load, at the same
# requests/s and click latency (benchmarks/load.py).
TRIM_SECONDS = int_env("GAN_VIZ_TRIM_SECONDS", 2, low=0)


def _trim_heap_every(seconds: int) -> threading.Thread | None:
    """A daemon thread calling glibc's malloc_trim(0) every `seconds`: the pages that the requests' large arrays
    freed go back to the OS instead of counting against the Space's memory. None where there is no glibc."""
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None

    def loop():
        while True:
            time.sleep(seconds)
            trim(0)

    t = threading.Thread(target=loop, name="gan-viz-malloc-trim", daemon=True)
    t.start()
    return t
