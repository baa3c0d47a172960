"""Every place gan-viz reaches into Gradio's internals, each checked against Gradio 6.31.0 (requirements.txt).

- processing_utils.save_pil_to_cache: written atomically, PNGs by fpng or at the app's zlib level (install);
- processing_utils.save_img_array_to_cache: a read-only array (a view shared by every visitor) saved once, compressed
  harder (install);
- state_holder.SessionState: a visitor's session made lazily (LazySessionState, install);
- Image.postprocess called on a heavy thread so Gradio's shared threads only record a path (encoded_images);
- the queue's polling interval when it has nothing to start (calm_queue);
- brotli_middleware.BrotliMiddleware: the page and its config compressed too (install).
A Gradio upgrade must re-check each of these (tests/test_classroom.py and tests/test_concurrency.py exercise them).
"""
from __future__ import annotations

import functools
import io
import os
import threading
import uuid
import weakref
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from gradio import brotli_middleware, processing_utils, state_holder
from PIL import Image

from gan_viz import imaging


def install(png_level: int | str) -> None:
    """Call once at start-up (serving.configure_threads)."""
    processing_utils.save_pil_to_cache = functools.partial(_save_pil_to_cache_atomically, png_level=png_level)
    processing_utils.save_img_array_to_cache = functools.partial(_save_array_once,
                                                                 save=processing_utils.save_img_array_to_cache)
    state_holder.SessionState = LazySessionState
    middleware = brotli_middleware.BrotliMiddleware
    if not getattr(middleware._is_compressible_file_type, "gan_viz", False):
        middleware._is_compressible_file_type = _also_the_page(middleware._is_compressible_file_type)


# The last part of the paths that answer with the page or its config, which Gradio's middleware leaves uncompressed.
PAGE_PATHS = ("", "config", "info")


def _also_the_page(is_compressible):
    """Gradio compresses only paths that end in a text file's extension (.js, .css, ...), so the page itself, which
    carries the whole config (576 KB for this app, 54 KB compressed), /config (gradio_client reads it on connecting)
    and /gradio_api/info went out uncompressed to every visitor. Those three are compressed too, for clients that
    ask; event streams and files are left as Gradio leaves them."""
    def compressible(self, scope) -> bool:
        return is_compressible(self, scope) or scope.get("path", "").rstrip("/").rsplit("/", 1)[-1] in PAGE_PATHS

    compressible.gan_viz = True
    return compressible


_saved: dict[tuple[int, str, str], tuple[weakref.ref, str]] = {}  # (id(array), cache dir, format) -> (array, file)
_saved_lock = threading.RLock()  # re-entrant: a garbage collection inside the lock may run _forget


SHARED_PNG_LEVEL = 6  # zlib level of a view shared by every visitor: encoded once, downloaded by each


def _save_array_once(arr, cache_dir: str, format: str = "webp", *, save):
    """Gradio's save_img_array_to_cache, but an array made read-only (examples.CACHE freezes the views it shares) is
    encoded only the first time: every visitor's page load answers with the same worked examples, and encoding their
    images again for each visitor was most of what an arrival cost the server (docs/benchmarks.md). Encoded once and
    downloaded by every visitor, such a PNG is compressed at SHARED_PNG_LEVEL instead of by fpng (whose files are
    8-21% larger, benchmarks/png.py)."""
    if getattr(arr, "flags", None) is None or arr.flags.writeable or arr.dtype != np.uint8:
        return save(arr, cache_dir, format=format)
    key = (id(arr), str(cache_dir), format)
    with _saved_lock:
        hit = _saved.get(key)
    if hit is not None and hit[0]() is arr and os.path.exists(hit[1]):
        return hit[1]
    path = _save_pil_to_cache_atomically(Image.fromarray(arr), cache_dir, format=format, png_level=SHARED_PNG_LEVEL)
    with _saved_lock:  # forgotten with the array (the id may then be reused by another)
        _saved[key] = (weakref.ref(arr, lambda _, key=key: _forget(key)), path)
    return path


def _forget(key) -> None:
    with _saved_lock:
        _saved.pop(key, None)


class LazySessionState(state_holder.SessionState):
    """Gradio's per-visitor state, without a copy of every component's config made when the visitor arrives.

    Gradio builds that copy (for its deep links) on the event loop, at a visitor's first event, for every one of
    this app's ~300 components, so a class arriving at once would hold the loop while the first clicks wait. Here each component's entry is made when an event first
    changes it, as Gradio already does for components added later (_update_value_in_config); a component no event
    has touched keeps its default, which is what its entry would have said. Only the constructor's argument differs.
    """

    def __init__(self, blocks):
        super().__init__(SimpleNamespace(default_config=blocks.default_config, blocks={}))


def encoded_images(result, outputs: list):
    """result with every array or PIL image bound for a gr.Image output already saved as Gradio would save it (the
    component's own postprocess: its format, PNG_LEVEL, the file cache), replaced by the file's path.

    Run on the heavy thread that computed it: Gradio postprocesses outputs on its shared worker threads, at the
    priority of a click, and encoding a flip's large results would otherwise be most of what those threads do.
    Given a path, Gradio's postprocess only records it. Anything else (updates, galleries, a dict) is left as it is.
    """
    import gradio as gr
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


def _save_pil_to_cache_atomically(img, cache_dir: str, name: str = "image", format: str = "webp",
                                  png_level: int | str = imaging.FAST_PNG) -> str:
    """Gradio's save_pil_to_cache, written to a temporary name and renamed into place.

    Gradio stores an output image under a hash of its bytes and rewrites that file in place, so two
    users who get the same image (a classroom on the same example) race: one download can read a file
    while the other request truncates it ("peer closed connection").
    Its save_file_to_cache already writes this way; this does the same for images.
    """
    data = encode(img, format, png_level)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    target = (folder / f"{name}.{format}").resolve()
    if not target.exists():
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return str(target)


JPEG_QUALITY = 92  # Gradio's own JPEGs are PIL's 75: blocks show around the marks drawn on a view


def encode(img, format: str, png_level: int | str) -> bytes:
    """Gradio's encode_pil_to_bytes (the same PNG metadata), with PNGs compressed at png_level (imaging.to_png_bytes:
    a zlib level, or FAST_PNG), JPEGs at JPEG_QUALITY."""
    if format.lower() in ("jpeg", "jpg"):
        with io.BytesIO() as out:
            img.convert("RGB").save(out, format="jpeg", quality=JPEG_QUALITY)
            return out.getvalue()
    if format.lower() != "png":
        return processing_utils.encode_pil_to_bytes(img, format)
    metadata = processing_utils.get_pil_metadata(img)
    if img.mode in ("RGB", "RGBA") and not metadata.chunks:  # every image the app makes: an array's pixels only
        return imaging.to_png_bytes(np.asarray(img), png_level)
    with io.BytesIO() as out:  # text to keep, or a palette, grey levels...: PIL, at zlib level 1 for FAST_PNG
        img.save(out, format="png", pnginfo=metadata, compress_level=1 if png_level == imaging.FAST_PNG else png_level)
        return out.getvalue()


def calm_queue(demo, poll_s: float, progress_s: float) -> None:
    """Gradio's queue looks for an event it can start every 1 ms on Linux while it has none it can start (and for
    progress to send every 10 ms): an app nobody uses spent 0.03 of a core on those wake-ups. Every poll_s instead
    (an event that arrives waits at most that long for its slot), and progress every progress_s."""
    queue = demo._queue
    queue.sleep_when_free = poll_s
    queue.progress_update_sleep_when_free = progress_s
