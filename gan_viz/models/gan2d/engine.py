"""Training many small 2D GANs at once: one run's settings and state, the batched step, and the scheduler thread.

A run alternates D steps and G steps (d_steps D steps, then one G step = one training step).
Every run that shares a network shape (width, depth, batch size) is stepped in one batched
pass; everything else that differs between runs (loss, spectral norm, optimiser, learning
rates, clipping, d_steps, point set) is a per-run value inside that pass. One scheduler thread
owns all runs: it gives every active run the same number of ticks per time slice (fair), stops
a run at its step limit, on NaN/inf (diverged at step k), when nobody has looked at it for a
while or when it is too old, and measures what the live view shows.
"""
from __future__ import annotations

import atexit
import math
import os
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from gan_viz.models.gan2d import data, losses, metrics, networks
from gan_viz.spectral import power_iteration

OPTIMIZERS = ("adam", "sgd", "rmsprop")
LAB_NICE = int(os.environ.get("GAN_VIZ_LAB_NICE", "10"))  # the scheduler thread's niceness (benchmarks/load.py --lab)
ADAM_BETAS = (0.5, 0.999)  # the GAN habit since DCGAN (Radford et al. 2016): less momentum than the default 0.9
RMSPROP_ALPHA = 0.99
EPS = 1e-8
VIEW_POINTS = 600  # generated points drawn in a frame
N_ARROWS = 64  # of them, with the push of G's loss drawn
FRAME_GRID = 32  # a live frame reads D on 32x32 points (the page smooths it); full measurements on metrics.SLOPE_GRID
EVAL_EVERY = 100  # steps between the measurements kept in a run's history (deterministic: by step, not by time)
LIMITS = {  # name: (lowest, highest); the UI's sliders use the same bounds
    "d_steps": (1, 10), "lr_g": (1e-5, 0.1), "lr_d": (1e-5, 0.1), "steps": (1, 20_000), "seed": (0, 2 ** 31 - 1),
    "batch_size": (8, 512), "width": (4, 128), "depth": (1, 4), "clip": (1e-3, 1.0),
}


@dataclass(frozen=True)
class RunSpec:
    """Everything that decides a run; the same spec (and drawn points) gives the same run, bit for bit."""

    distribution: str = "ring8"
    loss: str = "non_saturating"
    spectral_norm: bool = False
    d_steps: int = 1
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    steps: int = 2000
    seed: int = 0
    optimizer: str = "adam"
    batch_size: int = 128
    width: int = 64
    depth: int = 2
    clip: float = 0.01  # wgan_clip's c (Arjovsky et al. used 0.01)

    def validated(self) -> "RunSpec":
        """The spec with its numbers as the right types, or ValueError naming the setting and its range."""
        if self.distribution not in data.PRESETS + ("drawn",):
            raise ValueError(f"unknown distribution {self.distribution!r}; use one of {', '.join(data.PRESETS)}")
        losses.index(self.loss)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
        out = {}
        for name, (lo, hi) in LIMITS.items():
            raw = getattr(self, name)
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a number, got {raw!r}") from None
            if not math.isfinite(value) or not lo <= value <= hi:
                raise ValueError(f"{name} must be between {lo:g} and {hi:g}, got {raw!r}")
            if isinstance(lo, int) and name not in ("lr_g", "lr_d", "clip"):
                if value != int(value):
                    raise ValueError(f"{name} must be a whole number, got {raw!r}")
                value = int(value)
            out[name] = value
        return replace(self, spectral_norm=bool(self.spectral_norm), **out)

    @property
    def key(self) -> tuple[int, int, int]:
        """Runs with the same key share tensor shapes and are stepped together."""
        return (self.width, self.depth, self.batch_size)

    def shapes(self) -> tuple[networks.MLPShape, networks.MLPShape]:
        return (networks.MLPShape(2, 2, self.width, self.depth), networks.MLPShape(2, 1, self.width, self.depth))


class LabFull(ValueError):
    """Too many runs at once: the user is told to try again (a ValueError, so the UI shows it as it is)."""


_REFERENCE: dict[str, np.ndarray] = {}
_REFERENCE_LOCK = threading.Lock()


def reference_histogram(ps: data.PointSet) -> np.ndarray:
    """Presets' reference histograms are computed once per process; a drawn set's once per run."""
    if ps.name == "drawn":
        return metrics.reference_histogram(ps)
    with _REFERENCE_LOCK:
        if ps.name not in _REFERENCE:
            _REFERENCE[ps.name] = metrics.reference_histogram(ps)
        return _REFERENCE[ps.name]


class Run:
    """One GAN: its spec, weights, optimiser state, counters, history and latest view. Mutated only by the engine."""

    def __init__(self, spec: RunSpec, points: data.PointSet, run_id: int):
        self.id, self.spec, self.points = run_id, spec, points
        self.g_shape, self.d_shape = spec.shapes()
        gen = torch.Generator().manual_seed(spec.seed)
        self.g = networks.init_flat(self.g_shape, gen)  # (P_g,)
        self.d = networks.init_flat(self.d_shape, gen)  # (P_d,)
        u0 = [F.normalize(torch.randn(1, o, generator=gen), dim=1) for o, _ in self.d_shape.layers]
        # u starts converged on the initial weights (30 iterations), so one iteration per D step can track W
        # from the first step (from a random u the estimate lagged: sigma as used was up to 1.1 after 300 steps)
        layers = networks.weights(self.d_shape, self.d.unsqueeze(0))
        self.u = [power_iteration(w, u, 30)[1][0] for (w, _), u in zip(layers, u0)]
        self.gm, self.gv = torch.zeros_like(self.g), torch.zeros_like(self.g)
        self.dm, self.dv = torch.zeros_like(self.d), torch.zeros_like(self.d)
        self.tg = self.td = 0  # optimiser steps taken (Adam's bias correction)
        self.gen = gen  # every later random draw of this run (batches, noise) comes from here
        self.step = 0  # G steps
        self.d_done = 0  # D steps since the last G step
        self.d_loss = self.g_loss = self.g_grad = float("nan")
        self.trace: dict[str, list[float]] = {"d_loss": [], "g_loss": [], "g_grad_norm": []}  # one entry per step
        self.history: list[dict] = []  # measurements every EVAL_EVERY steps
        self.curve: list[dict] = []  # every measurement shown (history and frames), for the live curves
        self.reference = reference_histogram(points)
        self.status = "paused"  # paused | running | done | diverged | stopped
        self.message = ""
        self.pending: deque[str] = deque()  # single steps asked for while paused: "d" or "g"
        self.frame: dict | None = None  # the latest view (engine.view), replaced whole
        self.version = 0  # bumped with every new frame
        self.watched = False  # someone streams this run: frames are made for it
        self.run_seconds = 0.0  # wall time spent running (for steps_per_second)
        self.last_frame_at = 0.0
        self.last_seen = time.monotonic()
        self.created = time.monotonic()
        self.done = threading.Event()  # set when it ends (done, diverged or stopped)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "diverged", "stopped")

    def nbytes(self) -> int:
        tensors = [self.g, self.d, self.gm, self.gv, self.dm, self.dv, *self.u]
        return sum(t.numel() * t.element_size() for t in tensors if t is not None) + 24 * sum(map(len, self.trace.values()))


@dataclass
class Stack:
    """Several runs' state stacked along a first axis K, for one batched pass; written back after."""

    runs: list[Run]
    g: torch.Tensor = field(init=False)

    def __post_init__(self):
        rs = self.runs
        self.g_shape, self.d_shape = rs[0].g_shape, rs[0].d_shape
        self.batch = rs[0].spec.batch_size
        self.g, self.d = torch.stack([r.g for r in rs]), torch.stack([r.d for r in rs])  # (K, P)
        self.gm, self.gv = torch.stack([r.gm for r in rs]), torch.stack([r.gv for r in rs])
        self.dm, self.dv = torch.stack([r.dm for r in rs]), torch.stack([r.dv for r in rs])
        self.u = [torch.stack([r.u[n] for r in rs]) for n in range(len(rs[0].u))]  # (K, out) per D layer
        self.tg = torch.tensor([float(r.tg) for r in rs])
        self.td = torch.tensor([float(r.td) for r in rs])
        self.loss_idx = torch.tensor([losses.index(r.spec.loss) for r in rs])
        self.sn = torch.tensor([r.spec.spectral_norm for r in rs])
        self.opt = [r.spec.optimizer for r in rs]
        self.opt_idx = torch.tensor([OPTIMIZERS.index(o) for o in self.opt])
        self.lr_g = torch.tensor([[r.spec.lr_g] for r in rs])  # (K, 1)
        self.lr_d = torch.tensor([[r.spec.lr_d] for r in rs])
        self.clip = torch.tensor([[r.spec.clip] for r in rs])
        self.clipped = torch.tensor([r.spec.loss == "wgan_clip" for r in rs])
        self.loss_names = {r.spec.loss for r in rs}
        self.any_sn = bool(self.sn.any())

    def write_back(self) -> None:
        for k, r in enumerate(self.runs):
            r.g, r.d = self.g[k].clone(), self.d[k].clone()
            r.gm, r.gv, r.dm, r.dv = self.gm[k].clone(), self.gv[k].clone(), self.dm[k].clone(), self.dv[k].clone()
            r.u = [u[k].clone() for u in self.u]
            r.tg, r.td = int(self.tg[k]), int(self.td[k])

    # ------------------------------------------------------------- the step

    def d_layers(self, d: torch.Tensor | None = None, update_u: bool = False):
        """D's layers as used: W / sigma for spectrally normalised runs. Returns (layers, u after).

        Without spectral normalisation in the stack no power iteration runs in training (measured:
        a third of a small run's step); the sigmas shown for such runs are computed when measured.
        """
        layers = networks.weights(self.d_shape, self.d if d is None else d)
        if not self.any_sn:
            return layers, self.u
        sigmas, us = networks.spectral_sigmas(layers, self.u, update=update_u)
        return networks.normalised(layers, sigmas, self.sn), us

    def _draw(self, mask: list[bool], real: bool) -> torch.Tensor:
        """(K, B, 2): each masked run's own random draw (noise, or also real points), zeros for the others."""
        b = self.batch
        rows = []
        for r, m in zip(self.runs, mask):
            if not m:
                rows.append(torch.zeros(b, 2))
            elif real:
                rows.append(r.points.sample(b, r.gen))
            else:
                rows.append(torch.randn(b, 2, generator=r.gen))
        return torch.stack(rows)

    def _update(self, p, grad, m, v, t, lr, mask: list[bool]):
        """One optimiser step per run (Adam, SGD or RMSprop, each run its own), only where mask is true."""
        mt = torch.tensor(mask)
        t_new = t + mt.float()
        kinds = {o for o, k in zip(self.opt, mask) if k}
        new_m, new_v, step = m, v, None
        if "adam" in kinds:
            b1, b2 = ADAM_BETAS
            m_a = b1 * m + (1 - b1) * grad
            v_a = b2 * v + (1 - b2) * grad * grad
            bc1 = (1 - b1 ** t_new).clamp_min(EPS).unsqueeze(1)
            bc2 = (1 - b2 ** t_new).clamp_min(EPS).unsqueeze(1)
            step_a = lr * (m_a / bc1) / ((v_a / bc2).sqrt() + EPS)
            new_m, new_v, step = m_a, v_a, step_a
        if "rmsprop" in kinds:
            v_r = RMSPROP_ALPHA * v + (1 - RMSPROP_ALPHA) * grad * grad
            step_r = lr * grad / (v_r.sqrt() + EPS)
            if step is None:
                new_v, step = v_r, step_r
            else:
                is_r = (self.opt_idx == OPTIMIZERS.index("rmsprop")).unsqueeze(1)
                new_v, step = torch.where(is_r, v_r, new_v), torch.where(is_r, step_r, step)
        if "sgd" in kinds:
            step_s = lr * grad
            if step is None:
                step = step_s
            else:
                is_s = (self.opt_idx == OPTIMIZERS.index("sgd")).unsqueeze(1)
                step, new_v = torch.where(is_s, step_s, step), torch.where(is_s, v, new_v)
                new_m = torch.where(is_s, m, new_m)
        new_p = p - step
        if not all(mask):
            keep = mt.unsqueeze(1)
            new_p, new_m, new_v = torch.where(keep, new_p, p), torch.where(keep, new_m, m), torch.where(keep, new_v, v)
        return new_p.detach(), new_m.detach(), new_v.detach(), t_new

    def d_step(self, mask: list[bool]) -> list[float]:
        real = self._draw(mask, True)  # (K, B, 2)
        z = self._draw(mask, False)
        with torch.no_grad():
            fake = networks.forward(networks.weights(self.g_shape, self.g), z)  # (K, B, 2)
        d = self.d.detach().requires_grad_(True)
        layers, us = self.d_layers(d, update_u=True)
        out = networks.forward(layers, torch.cat([real, fake], 1)).squeeze(-1)  # (K, 2B)
        b = self.batch
        loss = losses.d_losses(out[:, :b], out[:, b:], self.loss_idx, self.loss_names)  # (K,)
        mt = torch.tensor(mask)
        (grad,) = torch.autograd.grad(_masked(loss, mask, mt).sum(), d)
        self.d, self.dm, self.dv, self.td = self._update(self.d, grad, self.dm, self.dv, self.td, self.lr_d, mask)
        clip = self.clipped & mt
        if bool(clip.any()):  # WGAN's crude Lipschitz constraint: every parameter of D into [-c, c]
            c = self.clip
            self.d = torch.where(clip.unsqueeze(1), self.d.clamp(-c, c), self.d)
        if self.any_sn:
            self.u = [torch.where(mt.unsqueeze(1), nu, u) for nu, u in zip(us, self.u)]
        return loss.detach().tolist()

    def g_step(self, mask: list[bool]) -> tuple[list[float], list[float]]:
        z = self._draw(mask, False)
        g = self.g.detach().requires_grad_(True)
        fake = networks.forward(networks.weights(self.g_shape, g), z)  # (K, B, 2)
        layers, _ = self.d_layers()
        d_fake = networks.forward(layers, fake).squeeze(-1)  # (K, B); D's weights need no gradient here
        loss = losses.g_losses(d_fake, self.loss_idx, self.loss_names).mean(1)  # (K,)
        mt = torch.tensor(mask)
        grad, grad_x = torch.autograd.grad(_masked(loss, mask, mt).sum(), [g, fake])
        # grad_x is d(mean loss)/dx: times B, the gradient of each point's own loss (what pushes that point)
        g_norm = (grad_x.norm(dim=-1) * self.batch).mean(1)
        self.g, self.gm, self.gv, self.tg = self._update(self.g, grad, self.gm, self.gv, self.tg, self.lr_g, mask)
        return loss.detach().tolist(), g_norm.tolist()

    # ------------------------------------------------------------- measuring

    def measure(self, ks: list[int], view: bool, full: bool = True) -> list[dict]:
        """The measurements of runs ks (indices into this stack); with view, also what the live view draws.

        full=False is a live frame: D's heatmap and slope, 600 generated points, the arrows and the noise grid
        are fresh, the rest (mode coverage, JS, the sigma table) is the run's last full measurement. Measured: a
        full measurement of 20 runs took most of a time slice, and 20 viewers got 3.4 frames a second.
        """
        k = len(ks)
        idx = torch.tensor(ks)
        sub_d = self.d[idx]
        d_layers = networks.weights(self.d_shape, sub_d)
        sn = self.sn[idx]
        with torch.no_grad():
            sig_used, _ = networks.spectral_sigmas(d_layers, [u[idx] for u in self.u], update=False)
            if full:  # runs without spectral norm never iterate in training: 10 iterations from the start u
                sig_free = [power_iteration(w, u[idx], 10)[0] for (w, _), u in zip(d_layers, self.u)]
                sig_pi = [torch.where(sn, a, b) for a, b in zip(sig_used, sig_free)]
            else:
                sig_pi = sig_used  # only the spectrally normalised runs' sigmas are used below
        eff = networks.normalised(d_layers, sig_pi, sn)

        def d_fwd(x):
            return networks.forward(eff, x)

        with torch.no_grad():
            z = metrics.eval_noise() if full else metrics.eval_noise()[:VIEW_POINTS]
            g_layers = networks.weights(self.g_shape, self.g[idx])
            fake = networks.forward(g_layers, z.expand(k, -1, -1))  # (k, N, 2)
        if full:
            d_at_fake, slope_at_fake, grad_at_fake = _d_and_grad(d_fwd, fake)
        else:  # a frame needs D's gradient only where it draws arrows
            with torch.no_grad():
                d_at_fake = d_fwd(fake).squeeze(-1)
            _, _, grad_at_fake = _d_and_grad(d_fwd, fake[:, :N_ARROWS])
        heat, slope = metrics.slope_and_heat(d_fwd, metrics.view_grid(metrics.SLOPE_GRID if full else FRAME_GRID), k)
        if full:
            exact = networks.exact_sigmas(d_layers)
            exact_eff = networks.exact_sigmas(eff) if bool(sn.any()) else exact
            by_loss = metrics.g_gradient_by_loss(d_at_fake, slope_at_fake)
        if view:
            with torch.no_grad():
                lines = noise_grid_lines(n_points=25 if not full else 41)
                warped = networks.forward(g_layers, lines.reshape(1, -1, 2).expand(k, -1, -1))
                warped = warped.reshape(k, *lines.shape).numpy()
        out = []
        fake_np = fake.numpy()
        for j, kk in enumerate(ks):
            r = self.runs[kk]
            pts = fake_np[j]
            if full:
                rec = {"step": r.step}
                rec.update({n: v for n, v in metrics.mode_coverage(pts, r.points).items() if n != "mode_counts"})
                rec["js_divergence"] = metrics.js_divergence(metrics.histogram(pts), r.reference)
                rec["sigma"] = [{"power_iteration": float(s[j]), "exact": float(e[j]), "effective": float(f[j])}
                                for s, e, f in zip(sig_pi, exact, exact_eff)]
                rec["g_grad_norm_by_loss"] = {n: float(v[j]) for n, v in by_loss.items()}
                # weight clipping's tell (Gulrajani et al. 2017): the critic's parameters pile up at +-c
                rec["d_params_at_clip"] = (float((sub_d[j].abs() >= 0.99 * r.spec.clip).float().mean())
                                           if r.spec.loss == "wgan_clip" else None)
                rec["finite"] = bool(np.isfinite(pts).all())
            else:
                last = r.history[-1] if r.history else {k: v for k, v in (r.frame or {}).items() if k != "view"}
                rec = {**last, "step": r.step}
            rec["d_max_slope"] = float(slope[j].max())
            rec["d_fake"] = (float(torch.sigmoid(d_at_fake[j]).mean()) if r.spec.loss in losses.PROBABILITY_LOSSES
                             else None)
            if view:
                rec["view"] = self._view(r, fake_np[j][:VIEW_POINTS], heat[j], d_at_fake[j], grad_at_fake[j], warped[j])
            out.append(rec)
        return out

    @staticmethod
    def _view(r: Run, fake: np.ndarray, heat: torch.Tensor, d_fake: torch.Tensor, grad: torch.Tensor,
              warped: np.ndarray) -> dict:
        """Arrays for the picture: generated points, D over the plane, G's push on some points, the warped noise grid."""
        n_arrows = N_ARROWS
        # where G's loss sends a point: -grad_x l(D(x)) = -l'(d) grad_x d, with l' of this run's loss
        d = d_fake[:n_arrows]
        dl = {"minimax": -torch.sigmoid(d), "non_saturating": -torch.sigmoid(-d), "least_squares": d - 1,
              "wgan_clip": -torch.ones_like(d), "hinge": -torch.ones_like(d)}[r.spec.loss]
        push = -(dl.unsqueeze(-1) * grad[:n_arrows])
        side = int(round(heat.numel() ** 0.5))
        return {"fake": fake, "heat": heat.reshape(side, side).numpy(),
                "arrows_from": fake[:n_arrows], "arrows": push.numpy(), "grid": warped,
                "critic": r.spec.loss not in losses.PROBABILITY_LOSSES, "loss": r.spec.loss}


def _masked(loss: torch.Tensor, mask: list[bool], mt: torch.Tensor) -> torch.Tensor:
    """Zero the losses of runs that sit this step out (their gradient is then zero)."""
    return loss if all(mask) else torch.where(mt, loss, torch.zeros_like(loss))


def _d_and_grad(d_fwd, x: torch.Tensor):
    """D's raw output at x (K, N), |grad_x D| (K, N) and grad_x D (K, N, 2)."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = d_fwd(x).squeeze(-1)
        (g,) = torch.autograd.grad(out.sum(), x)
    return out.detach(), g.norm(dim=-1), g


def noise_grid_lines(n_lines: int = 13, n_points: int = 41, extent: float = 2.5) -> torch.Tensor:
    """(2 * n_lines, n_points, 2): horizontal and vertical lines of the noise plane, whose image under G is drawn."""
    t = torch.linspace(-extent, extent, n_points)
    c = torch.linspace(-extent, extent, n_lines)
    horiz = torch.stack([t.expand(n_lines, -1), c[:, None].expand(-1, n_points)], -1)
    vert = torch.stack([c[:, None].expand(-1, n_points), t.expand(n_lines, -1)], -1)
    return torch.cat([horiz, vert])


def real_view(ps: data.PointSet, n: int = 600) -> np.ndarray:
    """Real points to draw (a fixed sample)."""
    return ps.sample(n, torch.Generator().manual_seed(7)).numpy()


class Lab:
    """All runs of a process and the one thread that steps them; thread-safe for any number of callers."""

    def __init__(self, max_runs: int = 96, slice_seconds: float = 0.1, frame_interval: float = 0.08,
                 idle_seconds: float = 30.0, max_age_seconds: float = 1800.0):
        self.max_runs, self.slice_seconds, self.frame_interval = max_runs, slice_seconds, frame_interval
        self.idle_seconds, self.max_age_seconds = idle_seconds, max_age_seconds
        self._runs: dict[int, Run] = {}
        self._next_id = 0
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._tick_seconds: dict[tuple, float] = {}  # measured cost of one tick per group shape and size
        self._frame_seconds: dict[tuple, float] = {}  # measured cost of a group's frames, per shape and viewers
        self._closed = False
        self.stats = {"ticks": 0, "slices": 0}
        atexit.register(self.close)  # a daemon thread inside a torch op at interpreter exit aborts the process

    def close(self) -> None:
        """Stop every run and the thread (at exit, or when a test is done with its lab)."""
        with self._cv:
            self._closed = True
            for r in list(self._runs.values()):
                self._end_locked(r, "stopped", "stopped: the lab closed")
            self._cv.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    # ------------------------------------------------------------- callers

    def start(self, spec: RunSpec, points: data.PointSet | None = None, play: bool = True, watched: bool = False) -> Run:
        spec = spec.validated()
        if spec.distribution == "drawn":
            if points is None:
                raise ValueError("a drawn distribution needs the drawn points")
        else:
            points = data.preset(spec.distribution)
        with self._cv:
            if self._closed:
                raise RuntimeError("the lab is closed")
            self._reap_locked()
            if len(self._runs) >= self.max_runs:
                raise LabFull(f"the lab is full ({self.max_runs} runs are training); try again in a minute")
            self._next_id += 1
            run = Run(spec, points, self._next_id)
            run.watched = watched
            run.status = "running" if play else "paused"
            self._runs[run.id] = run
            self._ensure_thread()
            self._cv.notify_all()
        if not play or watched:
            self._first_frame(run)
        return run

    def control(self, run: Run, action: str) -> None:
        """play | pause | d (one D step) | g (one G step) | stop."""
        with self._cv:
            run.last_seen = time.monotonic()
            if run.finished:
                return
            if action == "play":
                run.status = "running"
            elif action == "pause":
                run.status = "paused"
            elif action in ("d", "g"):
                run.status = "paused"
                run.pending.append(action)
            elif action == "stop":
                self._end_locked(run, "stopped", "stopped")
            else:
                raise ValueError(f"unknown action {action!r}")
            self._cv.notify_all()

    def touch(self, run: Run) -> None:
        run.last_seen = time.monotonic()

    def wait(self, run: Run, timeout: float | None = None) -> bool:
        """Block until the run ends (for the one-shot API); True if it did."""
        return run.done.wait(timeout)

    def active(self) -> int:
        with self._cv:
            return sum(not r.finished for r in self._runs.values())

    def runs(self) -> list[Run]:
        with self._cv:
            return list(self._runs.values())

    # ------------------------------------------------------------- engine

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="gan-viz-lab", daemon=True)
            self._thread.start()

    def _first_frame(self, run: Run) -> None:
        """A view of the initial state, made by the caller at once (the first frame must not wait for a slice)."""
        with self._cv:
            if run.frame is not None or run.finished:
                return
        st = Stack([run])
        rec = st.measure([0], view=True)[0]
        with self._cv:
            if run.frame is None:
                self._publish(run, rec)

    def _end_locked(self, run: Run, status: str, message: str) -> None:
        run.status, run.message = status, message
        run.pending.clear()
        run.done.set()
        self._runs.pop(run.id, None)

    def _reap_locked(self) -> None:
        now = time.monotonic()
        for r in list(self._runs.values()):
            if now - r.last_seen > self.idle_seconds:
                self._end_locked(r, "stopped", f"stopped: nobody watched it for {self.idle_seconds:.0f} s")
            elif now - r.created > self.max_age_seconds:
                self._end_locked(r, "stopped", f"stopped: runs last at most {self.max_age_seconds / 60:.0f} min")

    def _loop(self) -> None:
        try:  # Linux: this thread alone at a lower priority, so the image tabs' requests go first on a busy machine
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LAB_NICE)
        except (AttributeError, OSError):  # not Linux, or not allowed: the lab simply shares the CPU evenly
            pass
        while True:
            with self._cv:
                if self._closed:
                    return
                self._reap_locked()
                running = [r for r in self._runs.values() if r.status == "running"]
                manual = [r for r in self._runs.values() if r.status == "paused" and r.pending]
                if not running and not manual:
                    self._cv.wait(timeout=1.0)
                    continue
                ops = {r.id: r.pending.popleft() for r in manual}
            try:
                for r in manual:
                    self._manual(r, ops[r.id])
                if running:
                    self._slice(running)
            except Exception as e:  # noqa: BLE001 - a bug in one slice must not kill the lab for everyone
                with self._cv:
                    for r in running + manual:
                        if not r.finished:
                            self._end_locked(r, "stopped", f"stopped by an internal error: {e}")

    def _groups(self, runs: list[Run]) -> list[list[Run]]:
        groups: dict[tuple, list[Run]] = {}
        for r in runs:
            groups.setdefault(r.spec.key, []).append(r)
        return list(groups.values())

    def _slice(self, runs: list[Run]) -> None:
        """Every running run gets the same number of ticks; the number is chosen to fill slice_seconds."""
        groups = self._groups(runs)
        cost = sum(self._tick_seconds.get((g[0].spec.key, len(g)), 0.002) for g in groups)
        # the frames made after the ticks count against the slice too, so that viewers get them in time
        frames = sum(self._frame_seconds.get((g[0].spec.key, sum(r.watched for r in g)), 0.0) for g in groups)
        budget = max(self.slice_seconds - frames, 0.25 * self.slice_seconds)
        n_ticks = max(1, min(200, int(budget / max(cost, 1e-5))))
        for group in groups:
            t0 = time.perf_counter()
            st = Stack(group)
            ended = self._ticks(st, n_ticks)
            spent = time.perf_counter() - t0
            key = (group[0].spec.key, len(group))
            self._tick_seconds[key] = 0.7 * self._tick_seconds.get(key, spent / n_ticks) + 0.3 * spent / n_ticks
            for r in group:
                r.run_seconds += spent
            now = time.monotonic()
            want = [k for k, r in enumerate(group) if r.watched and k not in ended
                    and now - r.last_frame_at >= self.frame_interval]
            t1 = time.perf_counter()
            recs = st.measure(want, view=True, full=False) if want else []
            if want:
                fk = (group[0].spec.key, sum(r.watched for r in group))
                self._frame_seconds[fk] = 0.7 * self._frame_seconds.get(fk, 0.0) + 0.3 * (time.perf_counter() - t1)
            st.write_back()
            with self._cv:
                for k, rec in zip(want, recs):
                    self._publish(group[k], rec)
        self.stats["slices"] += 1

    def _ticks(self, st: Stack, n: int) -> set[int]:
        """n ticks of a stack; returns the indices of runs that ended (their last state already measured)."""
        runs = st.runs
        alive = [True] * len(runs)
        ended: set[int] = set()
        for _ in range(n):
            if not any(alive):
                break
            d_mask = [a and r.d_done < r.spec.d_steps for a, r in zip(alive, runs)]
            d_loss = st.d_step(d_mask) if any(d_mask) else None
            for k, r in enumerate(runs):
                if d_mask[k]:
                    r.d_done += 1
                    r.d_loss = d_loss[k]
            g_mask = [a and r.d_done >= r.spec.d_steps for a, r in zip(alive, runs)]
            if any(g_mask):
                g_loss, g_grad = st.g_step(g_mask)
                due = []
                for k, r in enumerate(runs):
                    if not g_mask[k]:
                        continue
                    r.d_done, r.step = 0, r.step + 1
                    r.g_loss, r.g_grad = g_loss[k], g_grad[k]
                    for name, v in (("d_loss", r.d_loss), ("g_loss", r.g_loss), ("g_grad_norm", r.g_grad)):
                        r.trace[name].append(v)
                    if not all(map(math.isfinite, (r.d_loss, r.g_loss, r.g_grad))):
                        alive[k] = False
                        ended.add(k)
                        self._finish(r, "diverged", f"diverged at step {r.step}: a loss became NaN or infinite")
                    elif r.step % EVAL_EVERY == 0 or r.step == r.spec.steps:
                        due.append(k)
                if due:
                    # measured with the view, which becomes the run's frame: an unwatched run (the API) ends with
                    # a picture of its last state, and a diverged one with its last finite state
                    for k, rec in zip(due, st.measure(due, view=True)):
                        r = runs[k]
                        view = rec.pop("view")
                        rec.pop("finite")
                        r.history.append(rec)
                        with self._cv:
                            self._publish(r, {**rec, "view": view})
                        if r.step >= r.spec.steps:
                            alive[k] = False
                            ended.add(k)
                            self._finish(r, "done", f"finished {r.step} steps")
            self.stats["ticks"] += 1
        return ended

    def _manual(self, run: Run, op: str) -> None:
        st = Stack([run])
        if op == "d":
            loss = st.d_step([True])
            run.d_done += 1
            run.d_loss = loss[0]
        else:
            g_loss, g_grad = st.g_step([True])
            run.d_done, run.step = 0, run.step + 1
            run.g_loss, run.g_grad = g_loss[0], g_grad[0]
            for name, v in (("d_loss", run.d_loss), ("g_loss", run.g_loss), ("g_grad_norm", run.g_grad)):
                run.trace[name].append(v)
        rec = st.measure([0], view=True)[0]
        st.write_back()
        with self._cv:
            self._publish(run, rec)
        checked = (run.d_loss,) if op == "d" else (run.g_loss, run.g_grad)
        if not all(map(math.isfinite, checked)):
            self._finish(run, "diverged", f"diverged at step {run.step}: a loss became NaN or infinite")

    def _publish(self, run: Run, rec: dict) -> None:
        """Called with the lock held: the run's latest frame, replaced whole (readers never see half a frame)."""
        rec = dict(rec)
        if not run.curve or run.curve[-1]["step"] != rec["step"]:
            run.curve.append({k: rec.get(k) for k in ("step", "d_max_slope", "modes_covered", "js_divergence")})
            if len(run.curve) > 1000:  # thin out, keeping the shape of a long run's curve
                run.curve = run.curve[::2]
        rec["status"], rec["message"] = run.status, run.message
        rec["d_steps_done"] = run.d_done
        run.frame = rec
        run.version += 1
        run.last_frame_at = time.monotonic()
        self._cv.notify_all()

    def _finish(self, run: Run, status: str, message: str) -> None:
        with self._cv:
            if run.frame is not None:
                run.frame = {**run.frame, "status": status, "message": message}
                run.version += 1
            self._end_locked(run, status, message)


def summary(run: Run) -> dict:
    """The JSON of a finished (or current) run: the issue's fields, the settings and the measured history."""
    last = run.history[-1] if run.history else (run.frame or {})
    tail = {n: v[-100:] for n, v in run.trace.items()}

    def mean(xs):
        xs = [x for x in xs if math.isfinite(x)]
        return float(np.mean(xs)) if xs else None

    out = {
        "steps": run.step,
        "status": run.status,
        "message": run.message,
        "diverged": run.status == "diverged",
        "modes_covered": last.get("modes_covered"),
        "modes_total": last.get("modes_total"),
        "high_quality_fraction": last.get("high_quality_fraction"),
        "js_divergence": last.get("js_divergence"),
        "d_loss": mean(tail["d_loss"]),
        "g_loss": mean(tail["g_loss"]),
        "g_grad_norm": mean(tail["g_grad_norm"]),
        "d_max_slope": last.get("d_max_slope"),
        "sigma": last.get("sigma"),
        "d_fake": last.get("d_fake"),
        "g_grad_norm_by_loss": last.get("g_grad_norm_by_loss"),
        "d_params_at_clip": last.get("d_params_at_clip"),
        "steps_per_second": round(run.step / run.run_seconds, 1) if run.run_seconds > 0 else None,
        "settings": asdict(run.spec),
        "history": [{k: v for k, v in h.items() if k != "g_grad_norm_by_loss"} for h in run.history],
    }
    return out
