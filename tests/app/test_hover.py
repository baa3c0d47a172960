"""The packing behind attention under the pointer: compact, and what the page decodes is read_attention within 1%."""
import base64
import io
import json

import numpy as np
from PIL import Image

import app
from gan_viz.models.sagan.visualize import read_attention
from gan_viz.ui import hover


def _decode(payload: dict, key: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(payload[key]))))


def test_payload_is_at_most_1_5_mb_and_decodes_to_read_attention_within_1_percent():
    ex = app.CONTEXT.families["sagan"].get()
    for seed in (3, 27):
        g = ex.generate(seed)
        layer = next(iter(g.maps))
        text = hover.payload(g.image, g.maps[layer], layer, g.gammas[layer])
        assert len(text.encode()) <= 1.5e6
        p = json.loads(text)
        rows = hover.dequantise(_decode(p, "rows"), np.frombuffer(base64.b64decode(p["rowScale"]), "<f4"))
        cols = hover.dequantise(_decode(p, "cols"), np.frombuffer(base64.b64decode(p["colScale"]), "<f4"))
        assert np.array_equal(_decode(p, "face"), g.image)
        res = p["res"]
        for x, y in ((0, 0), (13, 40), (63, 63), (31, 7)):
            j = (y * res // 64) * res + (x * res // 64)
            for reading, table in (("query", rows), ("key", cols)):
                truth = read_attention(g.maps[layer], layer, x, y, reading, 0.0).map.ravel()
                assert np.abs(table[j] - truth).max() <= 0.01 * truth.max()


def test_quantisation_error_bound_holds_for_any_table():
    rng = np.random.default_rng(0)
    beta = rng.random((64, 64)) ** 6
    beta /= beta.sum(1, keepdims=True)
    for axis in (1, 0):
        q, s = hover.quantise(beta, axis)
        back = hover.dequantise(q, s)
        truth = beta if axis == 1 else beta.T
        assert (np.abs(back - truth).max(1) <= 0.5 / hover.LEVELS * truth.max(1) + 1e-9).all()
