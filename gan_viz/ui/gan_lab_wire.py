"""The GAN lab's wire format: a pair of runs as the compact JSON the page draws (gan_lab.js), with sequence numbers."""
from __future__ import annotations

import base64
import itertools
import json

import numpy as np

from gan_viz import imaging
from gan_viz.models.gan2d.run import Run
from gan_viz.models.gan2d.spec import RunSpec
from gan_viz.models.gan2d.visualize import ARROW_MAX, ARROW_SCALE, GanLab, heat_unit

SCALE = 4000  # plane coordinates are sent as int16 x SCALE (+-8 fits; 1/4000 is far below a pixel)
# Every value the view gets carries a sequence number taken when its snapshot was taken, and the page draws a value
# only if it is newer than the last one drawn: a stream's frame and a Reset's preview are separate events whose
# messages may reach the page in either order.
_SEQ = itertools.count(1)


def next_seq() -> int:
    return next(_SEQ)


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _i16(points: np.ndarray) -> str:
    p = np.nan_to_num(np.asarray(points, dtype=np.float64), nan=99.0, posinf=99.0, neginf=-99.0)
    return _b64(np.clip(np.round(p * SCALE), -32767, 32767).astype("<i2"))


def _round(x, digits: int = 4):
    if x is None or isinstance(x, bool | int | str):
        return x
    return float(f"{x:.{digits}g}") if np.isfinite(x) else None


def _thin(xs: list, n: int = 300) -> list:
    if len(xs) <= n:
        return list(xs)
    idx = np.linspace(0, len(xs) - 1, n).round().astype(int)
    return [xs[i] for i in idx]


def describe(spec: RunSpec) -> str:
    sn = "spectral norm on" if spec.spectral_norm else "no spectral norm"
    clip = f", c = {spec.clip:g}" if spec.loss == "wgan_clip" else ""
    return (f"{spec.loss.replace('_', '-')}{clip}, {sn}, {spec.d_steps} D step(s) per G step, "
            f"lr G {spec.lr_g:g} / D {spec.lr_d:g}, {spec.optimizer}")


def run_payload(label: str, run: Run, real: np.ndarray) -> dict:
    f = run.frame or {}
    v = f.get("view")
    steps = list(range(1, len(run.trace["g_loss"]) + 1))
    out = {
        "label": label, "title": describe(run.spec), "status": f.get("status", run.status),
        "message": run.message or f.get("message", ""), "step": run.step, "steps": run.spec.steps,
        "metrics": {k: _round(f.get(k)) for k in ("modes_covered", "modes_total", "high_quality_fraction",
                                                   "js_divergence", "d_fake", "d_max_slope")},
        "sigma": [{k: _round(x) for k, x in s.items()} for s in f.get("sigma") or []],
        "curves": {
            "step": _thin(steps), "d_loss": [_round(x) for x in _thin(run.trace["d_loss"])],
            "g_loss": [_round(x) for x in _thin(run.trace["g_loss"])],
            "g_grad_norm": [_round(x) for x in _thin(run.trace["g_grad_norm"])],
            "mstep": [c["step"] for c in run.curve], "d_max_slope": [_round(c["d_max_slope"]) for c in run.curve],
            "modes_covered": [c["modes_covered"] for c in run.curve],
            "js_divergence": [_round(c["js_divergence"]) for c in run.curve],
        },
    }
    out["metrics"]["g_grad_norm"] = _round(run.trace["g_grad_norm"][-1]) if run.trace["g_grad_norm"] else None
    if v is not None:
        heat = np.round(heat_unit(v["heat"], v["critic"]) * 255).astype(np.uint8)
        push = v["arrows"] * np.minimum(ARROW_SCALE, ARROW_MAX / np.maximum(np.linalg.norm(v["arrows"], axis=1,
                                                                                           keepdims=True), 1e-12))
        arrows = np.concatenate([v["arrows_from"], v["arrows_from"] + push], 1)  # (n, 4): x0, y0, x1, y1
        out.update(heat=_b64(heat), heatSize=int(heat.shape[0]), real=_i16(real), fake=_i16(v["fake"]),
                   arrows=_i16(arrows), grid=_i16(v["grid"]), gridShape=list(v["grid"].shape[:2]))
    return out


_LUT = _b64((imaging.colorize(np.linspace(0, 1, 256, dtype=np.float32)[None, :], "cividis")[0]).astype(np.uint8))


def payload(a: Run, b: Run) -> str:
    real = GanLab.real_view(a.points)
    return json.dumps({"scale": SCALE, "lut": _LUT,
                       "runs": [run_payload("A", a, real), run_payload("B", b, real)]})


def stamped(text: str, seq: int | None = None) -> str:
    """The payload with its sequence number first (taken now unless given: the moment its snapshot was taken)."""
    return f'{{"seq": {next_seq() if seq is None else seq}, {text[1:]}'
