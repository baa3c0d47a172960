"""The lab: every run of a process and the one scheduler thread that steps them fairly, stops them and publishes frames."""
from __future__ import annotations

import atexit
import math
import os
import threading
import time
from dataclasses import asdict

import numpy as np

from gan_viz.models.gan2d import data
from gan_viz.models.gan2d.run import Run
from gan_viz.models.gan2d.spec import EVAL_EVERY, LAB_NICE, LabFull, RunSpec
from gan_viz.models.gan2d.stack import Stack

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

    # ------------------------------------------------------------- the scheduler thread

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
