"""Gradio glue shared by the tabs: user-facing errors, payload conversion, per-session download files."""
from __future__ import annotations

import functools
import inspect
import logging
import tempfile
import time
from pathlib import Path

import gradio as gr
import numpy as np

from gan_viz.faces import FaceError
from gan_viz.hub import WeightsNotFound
from gan_viz.imaging import ImageError, load_image
from gan_viz.ui import examples
from gan_viz.ui.zerogpu import on_gpu

log = logging.getLogger("gan_viz")

# Problems the user can fix: their message is shown as it is.
USER_ERRORS = (ImageError, FaceError, WeightsNotFound, ValueError)


def model_handler(fn, gpu_work: str):
    """A handler that runs the models: on a ZeroGPU Space inside spaces.GPU for `gpu_work` (zerogpu.DURATIONS),
    elsewhere the handler itself; its failures become gr.Error as with user_errors."""
    return user_errors(on_gpu(fn, gpu_work))


def user_errors(fn):
    """Turn every failure of a handler into a gr.Error: a short message, never a stack trace in the UI."""
    if inspect.isasyncgenfunction(fn):  # a stream that only waits on other threads' work (the GAN lab)
        @functools.wraps(fn)
        async def agen(*args, **kwargs):
            try:
                async for item in fn(*args, **kwargs):
                    yield item
            except Exception as e:  # noqa: BLE001
                raise _user_error(fn, e) from None

        return agen
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def coro(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001
                raise _user_error(fn, e) from None

        return coro
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except USER_ERRORS as e:
            raise gr.Error(str(e)) from None
        except MemoryError:
            raise gr.Error("The server ran out of memory for this input; try a smaller image.") from None
        except Exception as e:  # noqa: BLE001 - logged in full for the operator, summarised for the user
            log.exception("handler %s failed", fn.__name__)
            raise gr.Error(f"Something went wrong ({type(e).__name__}); the app is still running. "
                           "Try another image or settings.") from None

    return wrapper


def says_no_face(fn, images: int):
    """An API endpoint whose answer, for a picture with no face, is its JSON saying so (and `images` empty images)
    rather than an error: {"face_found": false, "message": why}. Found faces add "face_found": true to the JSON."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            out = fn(*args, **kwargs)
        except FaceError as e:
            return (*[None] * images, {"face_found": False, "message": str(e)}) if images else \
                {"face_found": False, "message": str(e)}
        if not images:
            return {"face_found": True, **out}
        return (*out[:-1], {"face_found": True, **out[-1]})

    return wrapper


def _user_error(fn, e: Exception) -> gr.Error:
    """The gr.Error a failure becomes (the same rules as the synchronous wrapper above)."""
    if isinstance(e, gr.Error):
        return e
    if isinstance(e, USER_ERRORS):
        return gr.Error(str(e))
    if isinstance(e, MemoryError):
        return gr.Error("The server ran out of memory for this input; try a smaller image.")
    log.error("handler %s failed", fn.__name__, exc_info=e)
    return gr.Error(f"Something went wrong ({type(e).__name__}); the app is still running. Try other settings.")


def image_input(value, what: str = "image") -> np.ndarray:
    """A gr.Image value (file path, array or PIL) -> uint8 (H, W, 3) RGB, via gan_viz.imaging."""
    return load_image(value, what)


def click_xy(evt: gr.SelectData) -> tuple[int, int]:
    """SelectData from a click on a gr.Image -> (x, y) pixel in the original image."""
    x, y = evt.index
    return int(x), int(y)


DOWNLOADS = Path(tempfile.gettempdir()) / "gan-viz-downloads"
DOWNLOAD_TTL_S = 3600


def session_file(data: bytes, suffix: str) -> str:
    """Write a download into a fresh temp file (one per call, so sessions never share a path).

    Files older than an hour are removed on the way, so a long-running Space does not fill its disk.
    """
    DOWNLOADS.mkdir(exist_ok=True)
    now = time.time()
    for old in DOWNLOADS.iterdir():
        try:
            if now - old.stat().st_mtime > DOWNLOAD_TTL_S:
                old.unlink()
        except OSError:  # another request removed it first
            pass
    f = tempfile.NamedTemporaryFile(dir=DOWNLOADS, prefix="gan-viz-", suffix=suffix, delete=False)
    f.write(data)
    f.close()
    return f.name


def photo_handlers(fn, n_outputs: int, name: str = "photo"):
    """(on_button, on_change, arrive) for a tab driven by one photo: fn(image, *choices) -> outputs.

    The button insists on a photo; a changed setting with no photo yet stays quiet. All are
    wrapped by user_errors, and they are distinct functions so their events queue independently.
    The model work (fn) runs inside spaces.GPU on a ZeroGPU Space. A bundled example's result is
    computed once for all sessions (examples.CACHE); `arrive` answers from the same cache, to fill
    the tab when the page opens.
    """
    fn = on_gpu(fn, "image", name)

    def arrive(image, *choices):
        i = examples.example_index(image)
        if i is None:
            return fn(image, *choices)
        return examples.CACHE.get((name, i, *choices), lambda: fn(image, *choices))

    def on_button(image, *choices):
        if image is None:
            raise gr.Error("Upload a photo, use the webcam or pick an example first.")
        return arrive(image, *choices)

    def on_change(image, *choices):
        if image is None:
            return [gr.skip()] * n_outputs
        return arrive(image, *choices)

    return user_errors(on_button), user_errors(on_change), user_errors(arrive)
