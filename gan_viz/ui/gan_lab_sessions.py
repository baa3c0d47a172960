"""The GAN lab's session registry: each visitor's pair of runs (A and B), by the id their gr.State holds."""
from __future__ import annotations

import itertools
import threading

from gan_viz.models.gan2d.run import Run
from gan_viz.models.gan2d.spec import RunSpec
from gan_viz.models.gan2d.visualize import GanLab


class Pair:
    """A visitor's two runs and the settings they came from; the stream that shows them holds the current token."""

    def __init__(self, a: Run, b: Run, key: tuple):
        self.a, self.b, self.key = a, b, key
        self.token = 0
        self.lock = threading.Lock()

    def claim(self) -> int:
        with self.lock:
            self.token += 1
            return self.token


class Sessions:
    """pair id -> Pair, shared by the tab's handlers (gr.State keeps only the id: runs hold locks and threads)."""

    def __init__(self, lab: GanLab):
        self.lab = lab
        self._pairs: dict[int, Pair] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def get(self, pair_id) -> Pair | None:
        with self._lock:
            return self._pairs.get(pair_id) if isinstance(pair_id, int) else None

    def start(self, a: RunSpec, b: RunSpec, points, key: tuple, play: bool) -> int:
        run_a = self.lab.start(a, points, play=play)
        try:
            run_b = self.lab.start(b, points, play=play)
        except Exception:
            self.lab.control(run_a, "stop")
            raise
        with self._lock:
            pid = next(self._ids)
            self._pairs[pid] = Pair(run_a, run_b, key)
        return pid

    def stop(self, pair_id) -> None:
        """Ends both runs and forgets them (Reset, a new pair, or the browser tab closing)."""
        with self._lock:
            pair = self._pairs.pop(pair_id, None) if isinstance(pair_id, int) else None
        if pair is not None:
            pair.claim()  # its stream ends
            for r in (pair.a, pair.b):
                self.lab.control(r, "stop")

    def __len__(self) -> int:
        with self._lock:
            return len(self._pairs)
