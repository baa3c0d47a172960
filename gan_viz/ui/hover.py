"""Attention under the pointer: beta packed once per face and layer for the page, which draws the map as the pointer moves.

beta (N x N for an N-cell attention layer) is a fixed table once a face exists, so the page gets
it once and answers every pointer move itself: no request per move, drawn within the frame.
Packing, for the current 32x32 layer (N = 1024):
  - rows quantised to LEVELS steps of their own maximum (query reading: row j, where pixel j looks),
    and columns the same way (key reading: column i, who looks at i), since slicing columns out of
    row-quantised data would be off by up to ~15% of a column's maximum;
  - each as an 8-bit grey PNG (its filters and deflate compress neighbouring rows, which are alike;
    the browser decodes PNG natively), plus the float32 scales. Error: at most 0.8% of a map's max.
  - about 1 MB per face as base64 in the page's JSON, packed in a fraction of a second (benchmarks/hover.py).
A 64x64 layer (N = 4096) would be 16x that (~20 MB): there we would send rows for a 32x32 grid of
query cells only (~5 MB) or answer moves from the server per cell, cached; not needed today.
"""
from __future__ import annotations

import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from gan_viz import imaging

_ENCODER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gan-viz-png")
LEVELS = 64  # quantisation steps per row/column maximum: error <= 0.5/64 = 0.8% of that map's maximum (issue bar: 1%)
JS = (Path(__file__).with_name("hover.js")).read_text()
TEMPLATE = """
<div class="gv-hover">
  <canvas class="gv-canvas" width="256" height="256" style="touch-action: none"></canvas>
  <div class="gv-controls">
    <select class="gv-reading" aria-label="reading">
      <option value="query">where this pixel looks (row of beta)</option>
      <option value="key">who looks at this pixel (column of beta)</option>
    </select>
    <label>opacity <input type="range" class="gv-alpha" min="0" max="1" step="0.05" value="0.6"></label>
  </div>
  <div class="gv-info">Move the pointer over the face (drag on a touch screen); click to pin.</div>
</div>
"""
CSS = """
.gv-hover { display: flex; flex-direction: column; gap: 6px; }
.gv-canvas { width: 256px; height: 256px; image-rendering: pixelated; cursor: crosshair; border-radius: 4px; }
.gv-controls { display: flex; flex-wrap: wrap; gap: 10px; font-size: 0.85em; }
.gv-info { font-size: 0.85em; min-height: 3.2em; }
"""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", compress_level=4)  # nearly level 9's size at a fraction of its time
    return buf.getvalue()


def quantise(beta: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 levels of beta / its max along rows (axis=1) or columns (axis=0), and those maxima (float32)."""
    scale = beta.max(axis=axis, keepdims=True).astype(np.float32)
    safe = np.where(scale > 0, scale, 1.0)
    q = np.round(beta / safe * LEVELS).astype(np.uint8)
    return (q if axis == 1 else q.T.copy()), scale.ravel()


def dequantise(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """What the page computes: map k = q[k] * scale[k] / LEVELS (rows for queries, transposed columns for keys)."""
    return q.astype(np.float32) * scale[:, None] / LEVELS


def component(elem_id: str):
    """The gr.HTML that shows it (gradio is imported here only, inside the UI layer)."""
    import gradio as gr

    return gr.HTML(value="", html_template=TEMPLATE, css_template=CSS, js_on_load=JS, elem_id=elem_id)


def payload(image: np.ndarray, beta: np.ndarray, layer: str, gamma: float, cmap: str = "magma") -> str:
    """The JSON the gr.HTML component receives: the face, beta packed both ways, the colour map, gamma."""
    rows, row_scale = quantise(beta, axis=1)
    cols, col_scale = quantise(beta, axis=0)
    rows_png, cols_png = _ENCODER.map(_png, (rows, cols))  # zlib lets go of the GIL: the two encode in parallel
    lut = (imaging.colorize(np.linspace(0, 1, 256, dtype=np.float32)[None, :], cmap)[0]).astype(np.uint8)  # (256, 3)
    return json.dumps({
        "layer": layer, "gamma": gamma, "res": int(round(beta.shape[0] ** 0.5)), "size": int(image.shape[0]),
        "levels": LEVELS, "face": _b64(_png(np.ascontiguousarray(image))),
        "rows": _b64(rows_png), "rowScale": _b64(row_scale.astype("<f4").tobytes()),
        "cols": _b64(cols_png), "colScale": _b64(col_scale.astype("<f4").tobytes()),
        "lut": _b64(lut.tobytes()),
    })
