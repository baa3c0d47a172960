"""The one timing helper of every latency benchmark here: median and p90 in milliseconds after a warm-up."""
from __future__ import annotations

import statistics
import time

import numpy as np


def timed(fn, repeats: int, warmup: int = 3) -> tuple[float, float]:
    """Call fn(i) warmup times unmeasured, then repeats times measured; (median ms, p90 ms)."""
    for i in range(warmup):
        fn(i)
    ts = []
    for i in range(repeats):
        t = time.perf_counter()
        fn(i)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1000, float(np.percentile(ts, 90)) * 1000
