"""One 2D GAN run's state: weights, optimiser moments, counters, history and its latest view; mutated only by the lab."""
from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np
import torch
import torch.nn.functional as F

from gan_viz.models.gan2d import data, metrics, network
from gan_viz.models.gan2d.spec import RunSpec
from gan_viz.spectral import power_iteration

_REFERENCE: dict[str, np.ndarray] = {}
_REFERENCE_LOCK = threading.Lock()


def reference_histogram(ps: data.PointSet) -> np.ndarray:
    """Presets' reference histograms are computed once per process; a drawn set's once per run."""
    if ps.name == "drawn":
        return metrics.reference_histogram(ps)
    with _REFERENCE_LOCK:
        if ps.name not in _REFERENCE:
            _REFERENCE[ps.name] = metrics.reference_histogram(ps)
        return _REFERENCE[ps.name]


class Run:
    """One GAN: its spec, weights, optimiser state, counters, history and latest view. Mutated only by the lab (scheduler.py)."""

    def __init__(self, spec: RunSpec, points: data.PointSet, run_id: int):
        self.id, self.spec, self.points = run_id, spec, points
        self.g_shape, self.d_shape = spec.shapes()
        gen = torch.Generator().manual_seed(spec.seed)
        self.g = network.init_flat(self.g_shape, gen)  # (P_g,)
        self.d = network.init_flat(self.d_shape, gen)  # (P_d,)
        u0 = [F.normalize(torch.randn(1, o, generator=gen), dim=1) for o, _ in self.d_shape.layers]
        # u starts converged on the initial weights (30 iterations), so one iteration per D step can track W
        # from the first step (from a random u the estimate lagged: sigma as used was up to 1.1 after 300 steps)
        layers = network.weights(self.d_shape, self.d.unsqueeze(0))
        self.u = [power_iteration(w, u, 30)[1][0] for (w, _), u in zip(layers, u0)]
        self.gm, self.gv = torch.zeros_like(self.g), torch.zeros_like(self.g)
        self.dm, self.dv = torch.zeros_like(self.d), torch.zeros_like(self.d)
        self.tg = self.td = 0  # optimiser steps taken (Adam's bias correction)
        self.gen = gen  # every later random draw of this run (batches, noise) comes from here
        self.step = 0  # G steps
        self.d_done = 0  # D steps since the last G step
        self.d_loss = self.g_loss = self.g_grad = float("nan")
        self.trace: dict[str, list[float]] = {"d_loss": [], "g_loss": [], "g_grad_norm": []}  # one entry per step
        self.history: list[dict] = []  # measurements every EVAL_EVERY steps
        self.curve: list[dict] = []  # every measurement shown (history and frames), for the live curves
        self.reference = reference_histogram(points)
        self.status = "paused"  # paused | running | done | diverged | stopped
        self.message = ""
        self.pending: deque[str] = deque()  # single steps asked for while paused: "d" or "g"
        self.frame: dict | None = None  # the latest view (measure.view_arrays inside a measurement), replaced whole
        self.version = 0  # bumped with every new frame
        self.watched = False  # someone streams this run: frames are made for it
        self.run_seconds = 0.0  # wall time spent running (for steps_per_second)
        self.last_frame_at = 0.0
        self.last_seen = time.monotonic()
        self.created = time.monotonic()
        self.done = threading.Event()  # set when it ends (done, diverged or stopped)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "diverged", "stopped")

    def nbytes(self) -> int:
        tensors = [self.g, self.d, self.gm, self.gv, self.dm, self.dv, *self.u]
        return sum(t.numel() * t.element_size() for t in tensors if t is not None) + 24 * sum(map(len, self.trace.values()))
