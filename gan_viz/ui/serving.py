"""How concurrent requests share the machine: one compute budget for heavy events, a free lane for cheap ones.

A free Space has 2 vCPUs. Left alone, PyTorch gives every forward pass all cores while Gradio
runs several requests at once, so N requests fight over 2 cores with 2N threads and every one
of them slows down (oversubscription). Instead:

- every request computes with HEAVY_THREADS torch threads (default 1) and OpenCV single-threaded;
- the heavy events (face detection, the four image models) share one concurrency group of
  HEAVY_SLOTS (default: the cores this process may use, cores.py, / HEAVY_THREADS), so the cores are busy but never
  oversubscribed, whatever the number of users (replicas sharing a machine split them: scripts/serve_replicas.sh);
- cheap events (answered from session state or a small cache: a SAGAN click, a slider redraw)
  run in their own group, so Gradio's queue never puts them behind a flip or an inpainting, and those whose
  inputs are plain values skip Gradio's per-input preprocessing (LIGHT_RAW);
- the queue is bounded: past QUEUE_MAX waiting events a newcomer is told the app is busy, and
  everyone in the queue sees their position (Gradio shows it) instead of waiting blind;
- a heavy event's output images are encoded on its own nice thread, not on Gradio's shared ones;
- a newcomer's session costs the event loop next to nothing (gradio_patches.LazySessionState), so a class arriving at once
  does not hold up the clicks already under way;
- freed heap pages go back to the OS every few seconds, so the process does not keep its peak (memory.py);
- on a CUDA GPU, the passes of concurrent requests through one network run as one batch (gan_viz/batching.py).

The numbers behind these defaults are in docs/benchmarks.md (benchmarks/load.py); each can be overridden
with an environment variable to measure another choice.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import torch

from gan_viz.ui import gradio_patches, memory
from gan_viz.ui.cores import available_cores
from gan_viz.ui.env import HEAVY_THREADS, int_env, png_level_env

CORES = available_cores()  # the affinity's, capped by a container's CPU quota
HEAVY_SLOTS = int_env("GAN_VIZ_HEAVY_SLOTS", max(1, CORES // HEAVY_THREADS))
LIGHT_SLOTS = int_env("GAN_VIZ_LIGHT_SLOTS", 16)
QUEUE_MAX = int_env("GAN_VIZ_QUEUE_MAX", 128)
WARM_UP_DELAY_S = 10.0  # app.py computes the worked examples this long after start-up, not before its first answer
# How every PNG the app sends is compressed: imaging.FAST_PNG (fpng, the default) or a zlib level 0-9. On 2 cores
# serving a class, CPU is what is short, not bytes on the wire: fpng spends a twentieth of zlib level 1's CPU for
# files 8-21% larger, and PIL's default level 6 several times level 1's for files a little smaller. Lossless always.
PNG_LEVEL = png_level_env("GAN_VIZ_PNG_LEVEL")

# Niceness added to the threads that run heavy events (see lower_heavy_priority): when the cores are busy, the OS
# gives a click, a redraw and the queue's own bookkeeping the CPU first, and the heavy work everything left over.
HEAVY_NICE = min(19, int_env("GAN_VIZ_HEAVY_NICE", 5, low=0))

# How often the queue looks for an event to start when it has none it can start (seconds; Gradio's own is 1 ms, which
# keeps an idle app busy): a new event waits at most this long for its slot. Progress messages: every QUEUE_PROGRESS_S.
QUEUE_POLL_S = int_env("GAN_VIZ_QUEUE_POLL_MS", 10) / 1000
QUEUE_PROGRESS_S = 0.1

# Keyword arguments for an event: .click(fn, inputs, outputs, **HEAVY).
HEAVY = {"concurrency_id": "heavy", "concurrency_limit": HEAVY_SLOTS}
LIGHT = {"concurrency_id": "light", "concurrency_limit": LIGHT_SLOTS}
# Light events whose inputs are only numbers, strings, choices and session state: their values go to the function as
# the browser sent them, without Gradio's per-input preprocess (each input a round trip through a worker thread and
# the event loop, slow under load for a few numbers and strings). The functions convert and check their inputs.
LIGHT_RAW = {**LIGHT, "preprocess": False}
# The GAN lab's streams and one-shot runs only wait (async) on the lab's own scheduler thread, which does the
# computing for every run together; so many may be open at once without taking a heavy slot.
LAB = {"concurrency_id": "lab", "concurrency_limit": int_env("GAN_VIZ_LAB_SLOTS", 64)}


def configure_threads() -> None:
    """Call once at start-up (app.py): per-request thread counts, so concurrent requests do not oversubscribe; the
    allocator's settings and heap trimming; atomic PNG writes at PNG_LEVEL; Gradio's sessions made lazily."""
    if torch.get_num_threads() != HEAVY_THREADS:
        torch.set_num_threads(HEAVY_THREADS)
    cv2.setNumThreads(1)
    memory.configure()
    gradio_patches.install(PNG_LEVEL)


def _nice_this_thread() -> None:
    """Raise the calling thread's niceness by HEAVY_NICE (Linux schedules threads one by one; elsewhere a no-op)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + HEAVY_NICE))
    except (AttributeError, OSError):  # not Linux, or not allowed: the work runs at normal priority
        pass


_heavy_pool: ThreadPoolExecutor | None = None
_heavy_pool_lock = threading.Lock()


def _heavy_threads() -> ThreadPoolExecutor:
    global _heavy_pool
    with _heavy_pool_lock:
        if _heavy_pool is None:  # HEAVY_SLOTS threads: the heavy group never runs more events at once
            _heavy_pool = ThreadPoolExecutor(HEAVY_SLOTS, thread_name_prefix="gan-viz-heavy",
                                             initializer=_nice_this_thread)
        return _heavy_pool


def _on_heavy_threads(fn, outputs: list | None = None):
    def compute(*args, **kwargs):
        result = fn(*args, **kwargs)
        return gradio_patches.encoded_images(result, outputs) if outputs else result

    @functools.wraps(fn)
    async def run(*args, **kwargs):
        ctx = contextvars.copy_context()  # Gradio's per-request context (gr.Info, progress) goes along
        return await asyncio.wrap_future(_heavy_threads().submit(ctx.run, compute, *args, **kwargs))

    return run


def lower_heavy_priority(demo) -> int:
    """Run every heavy event's handler, and the encoding of its output images, on HEAVY_SLOTS threads of their own at
    niceness +HEAVY_NICE; returns how many.

    Gradio runs every event on one pool of threads at the same priority, so on 2 busy cores a click would wait behind
    flips and inpaintings for its share of CPU, for a fraction of a millisecond of work. Threads can
    only be made nicer, never less nice, without privileges a Space does not have, so the heavy work gets threads
    that are nice for their whole life instead of borrowing Gradio's. Not on ZeroGPU, where spaces.GPU runs it.
    """
    from gan_viz.ui import zerogpu

    if HEAVY_NICE == 0 or zerogpu.active():
        return 0
    n = 0
    for block_fn in demo.fns.values():
        fn = block_fn.fn
        if block_fn.concurrency_id != HEAVY["concurrency_id"] or fn is None or inspect.iscoroutinefunction(fn) \
                or inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            continue
        # Outputs are encoded on the heavy thread too, unless Gradio is told to leave them alone or batches them.
        pre_encode = block_fn.postprocess and not block_fn.batch
        block_fn.fn = _on_heavy_threads(fn, list(block_fn.outputs) if pre_encode else None)
        n += 1
    return n


def calm_queue(demo) -> None:
    """After demo.queue(): the queue polls every QUEUE_POLL_S, not every millisecond (gradio_patches.calm_queue)."""
    gradio_patches.calm_queue(demo, QUEUE_POLL_S, QUEUE_PROGRESS_S)


def queue_settings() -> dict:
    """Arguments of demo.queue(): the bounded queue; events without a group of their own count as heavy."""
    return {"max_size": QUEUE_MAX, "default_concurrency_limit": HEAVY_SLOTS}
