"""Every user image enters here: validation and conversion to uint8 RGB, plus heatmap overlays and colour bars.

Convention for the whole app: an image that crosses into or out of the UI is a numpy
uint8 array of shape (H, W, 3), RGB. Conversions done here, documented for users in the
README: EXIF orientation is applied; transparency is composited on white; grayscale,
palette, CMYK and 1-bit images become RGB; 16-bit and float images are scaled to 8 bits;
images with a side over MAX_SIDE are downscaled to it (a JPEG to within DRAFT_SLACK of it). Refused with a clear
message: no image, files that are not images, images under MIN_SIDE px, decompression bombs.
"""
from __future__ import annotations

import functools
import io
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MIN_SIDE = 32
MAX_SIDE = 2048  # bigger photos are downscaled: no model here needs more, and it bounds memory per request
# A JPEG over MAX_SIDE may come out this much smaller when its decoder's own scaling gets there: a 4032x3024 phone
# photo is decoded at half scale to 2016 px (a quarter of the work) instead of in full and then resized.
DRAFT_SLACK = 0.9
COLORMAPS = ("viridis", "cividis", "magma", "inferno", "plasma")  # perceptually uniform, colour-blind safe


class ImageError(ValueError):
    """A user-facing problem with an input image; the message is shown as it is."""


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        if im.mode == "F":
            lo, hi = float(a.min()), float(a.max())
            a = (a - lo) / (hi - lo or 1.0) * 255.0
        else:
            a = a / hi * 255.0
        im = Image.fromarray(np.clip(a, 0, 255).round().astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA")  # palettes may carry transparency
    if im.mode in ("RGBA", "LA", "PA", "RGBa"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return im.convert("RGB")


def _array_to_pil(a: np.ndarray) -> Image.Image:
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ImageError(f"expected an image array of shape HxW, HxWx3 or HxWx4, got {a.shape}")
    if a.dtype == np.uint16:
        a = (a.astype(np.float64) / 65535.0 * 255.0).round().astype(np.uint8)
    elif a.dtype.kind == "f":
        a = (np.clip(a, 0.0, 1.0) * 255.0).round().astype(np.uint8) if a.max() <= 1.0 else np.clip(a, 0, 255).astype(np.uint8)
    elif a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    return Image.fromarray(a)


def load_image(value, what: str = "image") -> np.ndarray:
    """A path, bytes, PIL image or array -> uint8 (H, W, 3) RGB, or ImageError with a message for the user."""
    if value is None:
        raise ImageError(f"No {what} given: upload one, use the webcam or pick an example.")
    try:
        if isinstance(value, (str, os.PathLike)):
            if not Path(value).is_file():
                raise ImageError(f"The {what} file could not be found.")
            im = Image.open(value)
        elif isinstance(value, (bytes, bytearray)):
            im = Image.open(io.BytesIO(value))
        elif isinstance(value, Image.Image):
            im = value
        else:
            im = _array_to_pil(np.asarray(value))
        w, h = im.size
        if min(w, h) < MIN_SIDE:
            raise ImageError(f"The {what} is {w}x{h} px; it needs at least {MIN_SIDE}x{MIN_SIDE} px.")
        if max(w, h) > MAX_SIDE:  # a JPEG is decoded at a reduced scale (1/2, 1/4, 1/8) where that is near enough
            k = MAX_SIDE * DRAFT_SLACK / max(w, h)
            im.draft("RGB", (math.ceil(w * k), math.ceil(h * k)))
        im = ImageOps.exif_transpose(im)
        im = _to_rgb(im)
        if max(im.size) > MAX_SIDE:
            im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        return np.asarray(im, dtype=np.uint8).copy()
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(f"The {what} is too large to open safely ({e}). Resize it below 80 megapixels.") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ImageError(f"The {what} could not be read as an image ({type(e).__name__}). "
                         "Use a PNG, JPEG, WebP or BMP file.") from None


def resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 at size (width, height), bicubic."""
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BICUBIC))


@functools.cache
def _colormap_table(cmap: str) -> np.ndarray:
    """A matplotlib colormap's own table as uint8 (N + 1, 3): its N colours, then its colour for NaN."""
    import matplotlib

    cm = matplotlib.colormaps[cmap]
    rgba = cm(np.append(np.arange(cm.N) / cm.N, np.nan))
    table = (rgba[:, :3] * 255).round().astype(np.uint8)
    table.flags.writeable = False  # shared by every request
    return table


def colorize(heat: np.ndarray, cmap: str = "viridis") -> np.ndarray:
    """A map in [0, 1] (h, w) -> uint8 (h, w, 3) through a matplotlib colormap.

    Looked up in the colormap's table as matplotlib indexes it (min(floor(x N), N - 1)), without its float RGBA
    image per call: a click's overlay took 2-3 ms of server CPU in matplotlib (py-spy, 2 vCPU Intel Xeon)."""
    if cmap not in COLORMAPS:
        raise ImageError(f"unknown colormap {cmap!r}; choose one of {', '.join(COLORMAPS)}")
    table = _colormap_table(cmap)
    n = len(table) - 1
    x = np.clip(heat, 0.0, 1.0)
    x = x * (n if x.dtype.kind == "f" else float(n))  # in the map's own precision, as matplotlib multiplies
    with np.errstate(invalid="ignore"):
        idx = np.minimum(x.astype(np.int32), n - 1)  # NaN casts to a negative number: its colour below
    idx[idx < 0] = n
    return np.take(table, idx, axis=0)  # half the time of table[idx] at 256x256


def upsample_map(heat: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float map (h, w) -> (height, width) of size=(width, height), bilinear (pixel centres aligned), as float32.

    Enlarging, OpenCV gives PIL's values (to 1e-7) in a tenth of the time; shrinking, PIL's filter also averages
    what it drops, so it stays."""
    import cv2

    heat = np.ascontiguousarray(heat, dtype=np.float32)
    if size[0] >= heat.shape[1] and size[1] >= heat.shape[0]:
        return cv2.resize(heat, size, interpolation=cv2.INTER_LINEAR)
    return np.asarray(Image.fromarray(heat, mode="F").resize(size, Image.Resampling.BILINEAR))


def overlay(img: np.ndarray, heat: np.ndarray, alpha: float = 0.5, cmap: str = "viridis") -> np.ndarray:
    """Blend a [0, 1] map (any resolution, upsampled bilinearly) over a uint8 RGB image: (1 - alpha) img + alpha map,
    rounded. In OpenCV: a click's overlay took 2.2 ms in numpy and PIL, 0.6 ms here (2 vCPU Intel Xeon)."""
    import cv2

    h, w = img.shape[:2]
    colored = colorize(upsample_map(heat, (w, h)), cmap)
    return cv2.addWeighted(np.ascontiguousarray(img, dtype=np.uint8), 1 - alpha, colored, alpha, 0.0)


def colorbar(cmap: str, vmin: float, vmax: float, label: str, width: int = 360) -> np.ndarray:
    """A horizontal colour bar with its scale, as a uint8 RGB image (rendered by matplotlib)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width / 100, 0.9), dpi=100)
    FigureCanvasAgg(fig)  # an off-screen canvas of its own: no pyplot, no global backend, thread-safe
    ax = fig.add_axes((0.05, 0.4, 0.9, 0.25))
    mappable = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(vmin, vmax), cmap=cmap)
    fig.colorbar(mappable, cax=ax, orientation="horizontal")
    ax.tick_params(labelsize=7)
    ax.set_title(label, fontsize=8)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def bar_chart(values: list[float], labels: list[str], title: str, ylim: tuple[float, float] = (0.0, 1.0),
              size: tuple[int, int] = (360, 200)) -> np.ndarray:
    """A small bar chart as a uint8 RGB image (matplotlib on an off-screen canvas of its own, thread-safe)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.bar(range(len(values)), values, color="#4c72b0")
    ax.set_xticks(range(len(values)), labels, fontsize=7)
    ax.set_ylim(*ylim)
    ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


FAST_PNG = "fast"  # to_png_bytes' level for fpng's encoder (below)


def to_png_bytes(img: np.ndarray, compress_level: int | str = 6) -> bytes:
    """Lossless PNG of a uint8 (H, W, 3 or 4) array.

    compress_level: zlib's 0-9 through PIL (1: fastest, PIL's default 6: 7-10% smaller, 3-4x the CPU), or FAST_PNG:
    fpng's encoder (richgel999/fpng), about a twentieth of PIL's CPU at zlib level 1 for files 8-21% larger
    (benchmarks/png.py). Where fpng is not installed, or for other arrays, FAST_PNG falls back to zlib level 1.
    """
    if compress_level == FAST_PNG:
        fast = _fpng(img)
        if fast is not None:
            return fast
        compress_level = 1
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=int(compress_level))
    return buf.getvalue()


def _fpng(img: np.ndarray) -> bytes | None:
    """fpng's PNG of a uint8 RGB or RGBA array; None for anything else (fpng would encode a float array's bytes as
    they lie) or where fpng is missing."""
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] not in (3, 4):
        return None
    try:
        import fpng
    except ImportError:
        return None
    return fpng.from_ndarray(np.ascontiguousarray(img))


def upscale_nearest(img: np.ndarray, factor: int) -> np.ndarray:
    """uint8 (H, W, 3) -> (H*factor, W*factor, 3), blocky on purpose: every model pixel stays visible."""
    import cv2

    h, w = img.shape[:2]
    return cv2.resize(np.ascontiguousarray(img), (w * factor, h * factor), interpolation=cv2.INTER_NEAREST)


def mark(img: np.ndarray, query: tuple[int, int] | None, others: list[tuple[int, int]] = (),
         radius: int = 6) -> np.ndarray:
    """Draw a crosshair at the query pixel and numbered circles at other points (x, y in img pixels)."""
    import cv2

    out = np.ascontiguousarray(img.copy())
    for n, (x, y) in enumerate(others, start=1):
        cv2.circle(out, (int(x), int(y)), radius, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.circle(out, (int(x), int(y)), radius + 2, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(out, str(n), (int(x) + radius, int(y) - radius), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                    cv2.LINE_AA)
    if query is not None:
        x, y = int(query[0]), int(query[1])
        for color, t in (((0, 0, 0), 4), ((255, 60, 60), 2)):
            cv2.drawMarker(out, (x, y), color, cv2.MARKER_CROSS, 3 * radius, t, cv2.LINE_AA)
    return out
