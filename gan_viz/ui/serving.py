"""How concurrent requests share the machine: one compute budget for heavy events, a free lane for cheap ones.

A free Space has 2 vCPUs. Left alone, PyTorch gives every forward pass all cores while Gradio
runs several requests at once, so N requests fight over 2 cores with 2N threads and every one
of them slows down (oversubscription). Instead:

- every request computes with HEAVY_THREADS torch threads (default 1) and OpenCV single-threaded;
- the heavy events (face detection, the four image models) share one concurrency group of
  HEAVY_SLOTS (default: the number of cores / HEAVY_THREADS), so the cores are busy but never
  oversubscribed, whatever the number of users;
- cheap events (answered from session state or a small cache: a SAGAN click, a slider redraw)
  run in their own group, so Gradio's queue never puts them behind a flip or an inpainting, and those whose
  inputs are plain values skip Gradio's per-input preprocessing (LIGHT_RAW);
- the queue is bounded: past QUEUE_MAX waiting events a newcomer is told the app is busy, and
  everyone in the queue sees their position (Gradio shows it) instead of waiting blind;
- a heavy event's output images are encoded on its own nice thread, not on Gradio's shared ones;
- a newcomer's session costs the event loop next to nothing (LazySessionState), so a class arriving at once
  does not hold up the clicks already under way;
- freed heap pages go back to the OS every TRIM_SECONDS, so the process does not keep its peak.

The numbers behind these defaults are in the README (benchmarks/load.py); each can be overridden
with an environment variable to measure another choice.
"""
from __future__ import annotations

import asyncio
import contextvars
import ctypes
import functools
import inspect
import io
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import cv2
import torch
from gradio import processing_utils, state_holder


def _int_env(name: str, default: int, low: int = 1) -> int:
    try:
        return max(low, int(os.environ.get(name, default)))
    except ValueError:
        return default


CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
HEAVY_THREADS = _int_env("GAN_VIZ_THREADS", 1)
HEAVY_SLOTS = _int_env("GAN_VIZ_HEAVY_SLOTS", max(1, CORES // HEAVY_THREADS))
LIGHT_SLOTS = _int_env("GAN_VIZ_LIGHT_SLOTS", 16)
QUEUE_MAX = _int_env("GAN_VIZ_QUEUE_MAX", 128)
# zlib level of every PNG the app sends. PIL's default (6) spent 3-4x the CPU of level 1 for files 7-10% smaller
# (a 600x512 photo: 190 vs 55 ms; the 256 px attention overlay: 44 vs 13 ms, this CPU with a training run beside
# it): on 2 cores serving a class, CPU is what is short, not bytes on the wire. Lossless at every level.
PNG_LEVEL = min(9, _int_env("GAN_VIZ_PNG_LEVEL", 1))

# Niceness added to the threads that run heavy events (see lower_heavy_priority): when the cores are busy, the OS
# gives a click, a redraw and the queue's own bookkeeping the CPU first, and the heavy work everything left over.
HEAVY_NICE = min(19, _int_env("GAN_VIZ_HEAVY_NICE", 5, low=0))

# Keyword arguments for an event: .click(fn, inputs, outputs, **HEAVY).
HEAVY = {"concurrency_id": "heavy", "concurrency_limit": HEAVY_SLOTS}
LIGHT = {"concurrency_id": "light", "concurrency_limit": LIGHT_SLOTS}
# Light events whose inputs are only numbers, strings, choices and session state: their values go to the function as
# the browser sent them, without Gradio's per-input preprocess (each input a round trip through a worker thread and
# the event loop; under benchmarks/load.py the slowest SAGAN clicks spent 190-330 ms there, inside the server, for five
# numbers and strings). The functions convert and check their inputs themselves.
LIGHT_RAW = {**LIGHT, "preprocess": False}
# The GAN lab's streams and one-shot runs only wait (async) on the lab's own scheduler thread, which does the
# computing for every run together; so many may be open at once without taking a heavy slot.
LAB = {"concurrency_id": "lab", "concurrency_limit": _int_env("GAN_VIZ_LAB_SLOTS", 64)}


def configure_threads() -> None:
    """Call once at start-up (app.py): per-request thread counts, so concurrent requests do not oversubscribe; the
    allocator's settings and heap trimming; atomic PNG writes at PNG_LEVEL; Gradio's sessions made lazily."""
    if torch.get_num_threads() != HEAVY_THREADS:
        torch.set_num_threads(HEAVY_THREADS)
    cv2.setNumThreads(1)
    _limit_malloc_arenas()
    if TRIM_SECONDS and not any(t.name == "gan-viz-malloc-trim" for t in threading.enumerate()):
        _trim_heap_every(TRIM_SECONDS)
    processing_utils.save_pil_to_cache = _save_pil_to_cache_atomically
    state_holder.SessionState = LazySessionState


class LazySessionState(state_holder.SessionState):
    """Gradio's per-visitor state, without a copy of every component's config made when the visitor arrives.

    Gradio 6.31 builds that copy (for its deep links) on the event loop, at a visitor's first event: 15-35 ms for
    this app's ~300 components, so a class arriving at once (benchmarks/load.py starts its 20 users together) held
    the loop for 0.3-0.7 s while the first clicks waited. Here each component's entry is made when an event first
    changes it, as Gradio already does for components added later (_update_value_in_config); a component no event
    has touched keeps its default, which is what its entry would have said. Only the constructor's argument differs.
    """

    def __init__(self, blocks):
        super().__init__(SimpleNamespace(default_config=blocks.default_config, blocks={}))


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


def _encoded_images(result, outputs: list):
    """result with every array or PIL image bound for a gr.Image output already saved as Gradio would save it (the
    component's own postprocess: its format, PNG_LEVEL, the file cache), replaced by the file's path.

    Run on the heavy thread that computed it: Gradio postprocesses outputs on its shared worker threads, at the
    priority of a click, and encoding a flip's 600x512 results was most of what those threads did under
    benchmarks/load.py (py-spy: 797 of their 1,263 busy samples). Given a path, Gradio's
    postprocess only records it. Anything else (updates, galleries, a dict of outputs) is left as it is.
    """
    import gradio as gr
    import numpy as np
    from PIL import Image as PILImage

    single = len(outputs) == 1
    values = [result] if single else result
    if isinstance(values, dict) or not isinstance(values, (list, tuple)) or len(values) != len(outputs):
        return result
    out = list(values)
    for i, (block, value) in enumerate(zip(outputs, values)):
        if type(block) is gr.Image and isinstance(value, (np.ndarray, PILImage.Image)) \
                and getattr(block.watermark, "watermark", None) is None:  # Gradio would watermark a path again
            out[i] = block.postprocess(value).path
    if single:
        return out[0]
    return tuple(out) if isinstance(values, tuple) else out


def _on_heavy_threads(fn, outputs: list | None = None):
    def compute(*args, **kwargs):
        result = fn(*args, **kwargs)
        return _encoded_images(result, outputs) if outputs else result

    @functools.wraps(fn)
    async def run(*args, **kwargs):
        ctx = contextvars.copy_context()  # Gradio's per-request context (gr.Info, progress) goes along
        return await asyncio.wrap_future(_heavy_threads().submit(ctx.run, compute, *args, **kwargs))

    return run


def lower_heavy_priority(demo) -> int:
    """Run every heavy event's handler, and the encoding of its output images, on HEAVY_SLOTS threads of their own at
    niceness +HEAVY_NICE; returns how many.

    Gradio runs every event on one pool of threads at the same priority, so on 2 busy cores a click waited behind
    flips and inpaintings for its share of CPU (410-621 ms p95 inside the server for 0.25 ms of work). Threads can
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


def _limit_malloc_arenas(n: int = 2) -> None:
    """glibc gives each thread that allocates its own malloc arena; with dozens of request threads handling large
    arrays the process kept growing (+9% RSS in the third round of benchmarks/load.py). Two arenas: +2%."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, n)  # M_ARENA_MAX
        if MMAP_THRESHOLD_KB:
            libc.mallopt(-3, MMAP_THRESHOLD_KB * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to tune
        pass


# glibc's own mmap threshold (0) adapts upwards, so large arrays end up in the heap and their pages stay with the
# process after use. A fixed 1 MB (GAN_VIZ_MMAP_THRESHOLD_KB=1024) kept RSS flat under benchmarks/load.py (+0.1% in
# round 3) but cost 15% more server CPU per round (every large array mapped and zeroed anew): not the default.
MMAP_THRESHOLD_KB = _int_env("GAN_VIZ_MMAP_THRESHOLD_KB", 0, low=0)
# Hand freed heap pages back to the OS this often (0: never). Under benchmarks/load.py RSS grew 1.1-2.4% in round 3
# with a trim every 2 s, 2.0-3.7% without (same session, 2 runs each), at the same requests/s and click latency.
TRIM_SECONDS = _int_env("GAN_VIZ_TRIM_SECONDS", 2, low=0)


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


def _save_pil_to_cache_atomically(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    """Gradio's save_pil_to_cache, written to a temporary name and renamed into place.

    Gradio stores an output image under a hash of its bytes and rewrites that file in place, so two
    users who get the same image (a classroom on the same example) race: one download read a file
    while the other request truncated it ("peer closed connection", seen in benchmarks/load.py).
    Its save_file_to_cache already writes this way; this does the same for images.
    """
    data = encode(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    target = (folder / f"{name}.{format}").resolve()
    if not target.exists():
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return str(target)


def encode(img, format: str) -> bytes:
    """Gradio's encode_pil_to_bytes (the same PNG metadata), with PNGs compressed at PNG_LEVEL."""
    if format.lower() != "png":
        return processing_utils.encode_pil_to_bytes(img, format)
    with io.BytesIO() as out:
        img.save(out, format="png", pnginfo=processing_utils.get_pil_metadata(img), compress_level=PNG_LEVEL)
        return out.getvalue()


def queue_settings() -> dict:
    """Arguments of demo.queue(): the bounded queue; events without a group of their own count as heavy."""
    return {"max_size": QUEUE_MAX, "default_concurrency_limit": HEAVY_SLOTS}
