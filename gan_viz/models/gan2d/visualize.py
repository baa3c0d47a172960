"""Public surface of the 2D GAN lab: train a run to the end (the API), start live runs, draw a run's view as an image.

The view, as the tab and the API show it: D's output over the plane as a heatmap (probability
for the log losses, the critic value squashed around 0 for the others), the real points (white),
the generated points (red), where G's loss pushes some generated points (black arrows), and the
image of a square grid of the noise plane under G (grey lines: how G folds its noise).
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from gan_viz import imaging
from gan_viz.models.gan2d import data, measure
from gan_viz.models.gan2d.run import Run
from gan_viz.models.gan2d.scheduler import Lab, summary
from gan_viz.models.gan2d.spec import RunSpec
from gan_viz.models.gan2d.stack import Stack

VIEW_PX = 360
REAL_RGB, FAKE_RGB, ARROW_RGB, GRID_RGBA = (255, 255, 255), (220, 40, 60), (0, 0, 0), (200, 200, 200, 110)
ARROW_SCALE = 0.08  # plane units of arrow per unit of gradient norm (fixed: a vanishing gradient shows as short arrows)
ARROW_MAX = 0.6


def heat_unit(heat: np.ndarray, critic: bool) -> np.ndarray:
    """D's raw output on the grid -> [0, 1] for the colour map: sigmoid for a logit; for a critic 0.5 + tanh(c / max|c|)/2."""
    if not critic:
        return 1.0 / (1.0 + np.exp(-np.clip(heat, -60, 60)))
    scale = float(np.abs(heat).max()) or 1.0
    return 0.5 + 0.5 * np.tanh(heat / scale * 2)


def to_px(points: np.ndarray, size: int = VIEW_PX) -> np.ndarray:
    """Plane coordinates (N, 2) -> pixel coordinates (x right, y down)."""
    p = np.asarray(points, dtype=np.float64)
    return np.stack([(p[:, 0] + data.VIEW) / (2 * data.VIEW) * size, (data.VIEW - p[:, 1]) / (2 * data.VIEW) * size], 1)


def render(frame: dict, real: np.ndarray, size: int = VIEW_PX) -> np.ndarray:
    """uint8 (size, size, 3): the picture of one frame (the lab's measurement with its "view")."""
    v = frame["view"]
    heat = imaging.colorize(heat_unit(v["heat"], v["critic"]), "cividis")
    img = Image.fromarray(heat).resize((size, size), Image.BILINEAR).convert("RGBA")
    over = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(over)
    for line in v["grid"]:
        pts = to_px(line, size)
        ok = np.isfinite(pts).all(1) & (np.abs(pts) < 10 * size).all(1)
        if ok.sum() > 1:
            draw.line([tuple(p) for p in pts[ok]], fill=GRID_RGBA, width=1)
    img = Image.alpha_composite(img, over).convert("RGB")
    draw = ImageDraw.Draw(img)
    for x, y in to_px(real, size):
        draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=REAL_RGB)
    fake = v["fake"][np.isfinite(v["fake"]).all(1)]
    for x, y in to_px(fake, size):
        draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=FAKE_RGB)
    for start, vec in zip(v["arrows_from"], v["arrows"]):
        n = float(np.linalg.norm(vec))
        if not math.isfinite(n) or n == 0:
            continue
        vec = vec * min(ARROW_SCALE, ARROW_MAX / n)
        (x0, y0), (x1, y1) = to_px(np.stack([start, start + vec]), size)
        draw.line([(x0, y0), (x1, y1)], fill=ARROW_RGB, width=1)
    return np.asarray(img)


class GanLab:
    """The lab of this process (one scheduler thread shared by every visitor and API call)."""

    def __init__(self, scheduler: Lab | None = None):
        self.scheduler = scheduler or Lab()

    def start(self, spec: RunSpec, points: data.PointSet | None = None, play: bool = True,
              watched: bool = True) -> Run:
        """A live run; watched: it makes frames for a viewer (the tab streams them)."""
        return self.scheduler.start(spec, points, play=play, watched=watched)

    def control(self, run: Run, op: str) -> None:
        """play, pause, stop, or one step of D or G ("d", "g")."""
        self.scheduler.control(run, op)

    def touch(self, run: Run) -> None:
        """Someone still looks at this run: keep it from being stopped as abandoned."""
        self.scheduler.touch(run)

    def wait(self, run: Run, timeout: float) -> bool:
        return self.scheduler.wait(run, timeout)

    summary = staticmethod(summary)  # a finished run as the API's JSON
    real_view = staticmethod(measure.real_view)  # the real points a view draws

    def runs(self) -> list[Run]:
        """The runs the scheduler holds now (live or paused)."""
        return self.scheduler.runs()

    def train(self, spec: RunSpec, points: data.PointSet | None = None, timeout: float = 600.0) -> tuple[np.ndarray, dict]:
        """Train to the end (or divergence) beside everyone else's runs; the final view and the summary JSON."""
        run = self.start(spec, points, play=True, watched=False)
        deadline = timeout
        while not self.wait(run, timeout=min(5.0, deadline)):
            deadline -= 5.0
            self.touch(run)  # a one-shot call is its own viewer: keep it from being reaped as abandoned
            if deadline <= 0:
                self.control(run, "stop")
                raise TimeoutError(f"the run did not finish within {timeout:.0f} s")
        return self.view_image(run), summary(run)

    @staticmethod
    def preview(spec: RunSpec, points: data.PointSet | None = None) -> Run:
        """A run at step 0 with its first frame, outside the lab (nothing trains): what the tab shows before Play."""
        spec = spec.validated()
        points = points if spec.distribution == "drawn" else data.preset(spec.distribution)
        if points is None:
            raise ValueError("a drawn distribution needs the drawn points")
        run = Run(spec, points, 0)
        rec = Stack([run]).measure([0], view=True)[0]
        run.frame = {**rec, "status": "ready", "message": "press Play"}
        run.curve.append({k: rec.get(k) for k in ("step", "d_max_slope", "modes_covered", "js_divergence")})
        return run

    @staticmethod
    def view_image(run: Run, size: int = VIEW_PX) -> np.ndarray:
        frame = run.frame
        if frame is None or "view" not in frame:
            return np.zeros((size, size, 3), np.uint8)
        return render(frame, measure.real_view(run.points), size)
