"""The bundled examples as captioned thumbnails, and their results computed once for every visitor (a worked example on arrival).

A tab opens filled: its outputs for the first example come from a cache shared by all sessions,
so twenty students opening the page cost one computation, not twenty. The cache is single-flight
(visitors arriving together wait for the one computation), keyed on the example and the tab's
settings, and forgets entries after CACHE_TTL_S so the download files they name (which expire
after an hour, widgets.DOWNLOAD_TTL_S) are always there. A chosen example with the default
settings is answered from the same cache.
"""
from __future__ import annotations

import hashlib
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable

import gradio as gr
import numpy as np

ASSETS = Path(__file__).resolve().parents[2] / "assets"
CACHE_TTL_S = 1800  # half the life of a download file (widgets.DOWNLOAD_TTL_S): a cached result never names a gone file


def example_rows() -> list[list]:
    """[image path, use the whole image]: photos go through face detection, the project's generated faces are crops,
    and last a picture with no face in it, which the face tabs refuse (its index is NO_FACE_EXAMPLE)."""
    return [[str(p), False] for p in sorted(ASSETS.glob("*.jpg"))] + \
        [[str(p), True] for p in sorted(ASSETS.glob("sagan_face_*.png"))] + \
        [[str(p), False] for p in sorted(ASSETS.glob("no_face_*.png"))]


@lru_cache(maxsize=1)
def _digests() -> dict[str, int]:
    return {hashlib.sha1(Path(row[0]).read_bytes()).hexdigest(): i for i, row in enumerate(example_rows())}


def example_index(path) -> int | None:
    """Which bundled example a gr.Image's file is (Gradio hands a copy: compare contents), or None for an upload."""
    if not path or not isinstance(path, str | Path):
        return None
    try:
        return _digests().get(hashlib.sha1(Path(path).read_bytes()).hexdigest())
    except OSError:
        return None


def caption(path: str, whole: bool) -> str:
    """What a person reads under a thumbnail (instead of a true/false 'use the whole image' column)."""
    name = Path(path).name
    if whole:
        seed = name.split("seed")[-1].split(".")[0]
        return f"generated face (our SAGAN, seed {seed}), already a crop"
    if "hopper" in name:
        return "Grace Hopper, public-domain portrait: the face is found in the photo"
    if name.startswith("no_face_"):
        return "no face here (a cup of coffee): see what the app says"
    return "photo: the face is found in it"


def gallery(label: str = "Examples: click one") -> gr.Gallery:
    """Thumbnails of the bundled examples with captions; pair it with on_select."""
    return gr.Gallery([(p, caption(p, w)) for p, w in example_rows()], label=label, columns=5, height=150,
                      allow_preview=False, format="png", elem_classes=["gv-examples"])


def on_select(evt: gr.SelectData):
    """(image path, use the whole image) of the clicked example: the whole-image choice comes with the example."""
    path, whole = example_rows()[evt.index]
    return path, whole


class ExampleCache:
    """Results of (example, settings), computed once for every visitor; thread-safe and single-flight."""

    def __init__(self, ttl_s: float = CACHE_TTL_S):
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._entries: dict[tuple, tuple[float, object]] = {}
        self._flights: dict[tuple, threading.Lock] = {}
        self.computed: dict[tuple, int] = {}  # key -> times computed (the tests and benchmarks count these)

    def _fresh(self, key: tuple):
        hit = self._entries.get(key)
        return hit if hit and time.monotonic() - hit[0] < self.ttl_s else None

    def get(self, key: tuple, compute: Callable[[], object]):
        with self._lock:
            hit = self._fresh(key)
            if hit:
                return hit[1]
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:  # one computation per key; the others wait for it, then read the entry
            with self._lock:
                hit = self._fresh(key)
                if hit:
                    return hit[1]
            value = frozen(compute())  # an exception reaches this caller and nothing is stored
            with self._lock:
                self._entries[key] = (time.monotonic(), value)
                self.computed[key] = self.computed.get(key, 0) + 1
            return value


def frozen(value):
    """value with the arrays it holds made read-only (in tuples, lists and dicts, as outputs, galleries and editors
    hold them): every visitor is handed these same arrays, so none may change them, and Gradio encodes a read-only
    array's image only once for all of them (gradio_patches._save_array_once)."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, (tuple, list, dict)):
        for v in (value.values() if isinstance(value, dict) else value):
            frozen(v)
    return value


CACHE = ExampleCache()
