"""How concurrent requests share the machine: one compute budget for heavy events, a free lane for cheap ones.

A free Space has 2 vCPUs. Left alone, PyTorch gives every forward pass all cores while Gradio
runs several requests at once, so N requests fight over 2 cores with 2N threads and every one
of them slows down (oversubscription). Instead:

- every request computes with HEAVY_THREADS torch threads (default 1) and OpenCV single-threaded;
- the heavy events (face detection, the four image models) share one concurrency group of
  HEAVY_SLOTS (default: the number of cores / HEAVY_THREADS), so the cores are busy but never
  oversubscribed, whatever the number of users;
- cheap events (answered from session state or a small cache: a SAGAN click, a slider redraw)
  run in their own group, so Gradio's queue never puts them behind a flip or an inpainting;
- the queue is bounded: past QUEUE_MAX waiting events a newcomer is told the app is busy, and
  everyone in the queue sees their position (Gradio shows it) instead of waiting blind.

The numbers behind these defaults are in the README (benchmarks/load.py); each can be overridden
with an environment variable to measure another choice.
"""
from __future__ import annotations

import os

import cv2
import torch


def _int_env(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
HEAVY_THREADS = _int_env("GAN_VIZ_THREADS", 1)
HEAVY_SLOTS = _int_env("GAN_VIZ_HEAVY_SLOTS", max(1, CORES // HEAVY_THREADS))
LIGHT_SLOTS = _int_env("GAN_VIZ_LIGHT_SLOTS", 16)
QUEUE_MAX = _int_env("GAN_VIZ_QUEUE_MAX", 128)

# Keyword arguments for an event: .click(fn, inputs, outputs, **HEAVY).
HEAVY = {"concurrency_id": "heavy", "concurrency_limit": HEAVY_SLOTS}
LIGHT = {"concurrency_id": "light", "concurrency_limit": LIGHT_SLOTS}


def configure_threads() -> None:
    """Call once at start-up (app.py): per-request thread counts, so concurrent requests do not oversubscribe."""
    if torch.get_num_threads() != HEAVY_THREADS:
        torch.set_num_threads(HEAVY_THREADS)
    cv2.setNumThreads(1)


def queue_settings() -> dict:
    """Arguments of demo.queue(): the bounded queue; events without a group of their own count as heavy."""
    return {"max_size": QUEUE_MAX, "default_concurrency_limit": HEAVY_SLOTS}
