"""Concurrent inference calls of one network run as one batch: a GPU does a batch of N for about the price of one.

Twenty students asking for a flip at once are twenty forward passes of the same generator, one face each. `run(net,
x)` hands x to that network's batcher instead: while the network is busy, the calls that arrive wait together, and
the next pass takes all of them (up to MAX_BATCH) as one batch, each caller getting back its own rows. Nothing waits
for company (a lone call runs at once, unless GAN_VIZ_BATCH_WAIT_MS asks for a window); batches form because a busy
GPU makes callers queue.

On by default only on CUDA (GAN_VIZ_BATCH: "auto", "1" or "0"): on the CPU a batch of N costs about N single passes,
and one batched pass at a time would take away what the app's parallel heavy slots give (gan_viz/ui/serving.py).
Only for calls that need no gradient: the worker runs them under torch.inference_mode().
"""
from __future__ import annotations

import collections
import os
import threading
import weakref
from concurrent.futures import Future

import torch

from gan_viz.device import get_device

MAX_BATCH = int(os.environ.get("GAN_VIZ_MAX_BATCH", "32"))
IDLE_EXIT_S = 30.0  # a worker with nothing to do for this long ends; the next call starts another


def enabled() -> bool:
    """GAN_VIZ_BATCH: "1" on, "0" off, "auto" (default) on when the models are on a CUDA GPU of the process's own.
    Not on ZeroGPU by default: there the GPU is attached only inside each request's own decorated call, and the
    batcher's pass runs on its worker thread."""
    flag = os.environ.get("GAN_VIZ_BATCH", "auto").lower()
    if flag in ("1", "true", "on"):
        return True
    if flag in ("0", "false", "off"):
        return False
    zero_gpu = os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")
    return get_device().type == "cuda" and not zero_gpu


def run(net, *inputs: torch.Tensor, **options):
    """net(*inputs, **options), through the network's batcher when batching is on: the inputs share their first
    (batch) dimension; calls are batched together only with calls of the same options (plain values)."""
    if not enabled():
        return net(*inputs, **options)
    return batcher_for(net)(*inputs, **options)


_batchers: "weakref.WeakKeyDictionary[object, MicroBatcher]" = weakref.WeakKeyDictionary()
_batchers_lock = threading.Lock()


def batcher_for(net) -> "MicroBatcher":
    """The one batcher of this network (made on first use), so every request thread joins the same queue."""
    with _batchers_lock:
        b = _batchers.get(net)
        if b is None:
            ref = weakref.ref(net)  # the batcher must not keep the network (the key) alive
            b = _batchers[net] = MicroBatcher(lambda *inputs, **options: ref()(*inputs, **options))
        return b


class MicroBatcher:
    """Calls of fn(*tensors, **options) from many threads, run by one worker thread as concatenated batches."""

    def __init__(self, fn, max_batch: int = MAX_BATCH, wait_s: float | None = None):
        self._fn = fn
        self.max_batch = max_batch
        self.wait_s = float(os.environ.get("GAN_VIZ_BATCH_WAIT_MS", "0")) / 1000 if wait_s is None else wait_s
        self._cond = threading.Condition()
        self._pending: list[tuple[tuple[torch.Tensor, ...], dict, Future]] = []
        self._worker: threading.Thread | None = None
        self.sizes: collections.deque[int] = collections.deque(maxlen=1000)  # rows of the last passes (tests read it)

    def __call__(self, *inputs: torch.Tensor, **options):
        done: Future = Future()
        with self._cond:
            self._pending.append((inputs, options, done))
            if self._worker is None:
                self._worker = threading.Thread(target=self._serve, name="gan-viz-batcher", daemon=True)
                self._worker.start()
            self._cond.notify()
        return done.result()

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def _take(self) -> list | None:
        """The next batch: what is pending (after the wait window), or None when idle long enough to end."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._pending, timeout=IDLE_EXIT_S):
                self._worker = None
                return None
            if self.wait_s > 0:
                self._cond.wait_for(lambda: len(self._pending) >= self.max_batch, timeout=self.wait_s)
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            return batch

    def _serve(self) -> None:
        while (batch := self._take()) is not None:
            for group in _same_shapes(batch):
                self._run(group)

    def _run(self, group: list[tuple[tuple[torch.Tensor, ...], dict, Future]]) -> None:
        sizes = [inputs[0].shape[0] for inputs, _, _ in group]
        try:
            joined = [torch.cat(parts) for parts in zip(*(inputs for inputs, _, _ in group))]
            with torch.inference_mode():
                out = self._fn(*joined, **group[0][1])
            self.sizes.append(sum(sizes))
            rows = split(out, sizes)
        except Exception as e:  # noqa: BLE001 - every caller of this pass gets the error; the worker goes on
            for _, _, done in group:
                done.set_exception(e)
            return
        for (_, _, done), mine in zip(group, rows):
            done.set_result(mine)


def _same_shapes(batch: list) -> list[list]:
    """Calls that can run as one pass (inputs of the same shapes after the batch dimension, dtypes and devices, and
    the same options), grouped."""
    groups: dict[tuple, list] = {}
    for inputs, options, done in batch:
        key = (tuple((tuple(t.shape[1:]), t.dtype, t.device) for t in inputs), tuple(sorted(options.items())))
        groups.setdefault(key, []).append((inputs, options, done))
    return list(groups.values())


def split(out, sizes: list[int]) -> list:
    """A batched output (a tensor, or tuples, lists and dicts of them, batch dimension first) cut back into each
    caller's rows."""
    if isinstance(out, torch.Tensor):
        return list(out.split(sizes))
    if isinstance(out, dict):
        parts = {k: split(v, sizes) for k, v in out.items()}
        return [{k: parts[k][i] for k in out} for i in range(len(sizes))]
    if isinstance(out, (tuple, list)):
        parts = [split(v, sizes) for v in out]
        return [type(out)(p[i] for p in parts) for i in range(len(sizes))]
    raise TypeError(f"cannot split a batched {type(out).__name__} between its callers")
