"""The 2D GAN lab's benchmark: the lesson presets' claims over seeds 0-4, and the speed table (python benchmarks/gan_lab.py).

Speed rows (one torch thread, as the app serves):
  bare loop      the same G and D (nn.Linear MLPs), batch and Adam, non-saturating loss, plain PyTorch
  lab, 1 run     one run through the lab's scheduler (batched step, measurements every 100 steps, no viewer)
  ring8 preset   wall time of a 2,000-step run with a viewer (frames made as the tab streams them)
  stream         frames per second a viewer gets, and the time from start to the first frame
  N at once      N runs started together: total steps/s, and the slowest run's share of the mean
Run it on an idle machine: anything else on the cores changes every number.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_viz.models.gan2d import data  # noqa: E402
from gan_viz.models.gan2d.scheduler import Lab, summary  # noqa: E402
from gan_viz.models.gan2d.spec import RunSpec  # noqa: E402
from gan_viz.models.gan2d.presets import PRESETS, specs  # noqa: E402


def bare_loop(spec: RunSpec, steps: int) -> float:
    """Steps per second of a plain PyTorch loop of the same networks and batch."""
    torch.manual_seed(0)

    def mlp(d_out):
        layers, d = [], 2
        for _ in range(spec.depth):
            layers += [nn.Linear(d, spec.width), nn.LeakyReLU(0.2)]
            d = spec.width
        return nn.Sequential(*layers, nn.Linear(d, d_out))

    g, d = mlp(2), mlp(1)
    opt_g = torch.optim.Adam(g.parameters(), spec.lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), spec.lr_d, betas=(0.5, 0.999))
    ps, gen, b = data.preset(spec.distribution), torch.Generator().manual_seed(0), spec.batch_size
    bce = nn.functional.binary_cross_entropy_with_logits
    ones, zeros = torch.ones(b, 1), torch.zeros(b, 1)
    t0 = time.perf_counter()
    for _ in range(steps):
        real, z = ps.sample(b, gen), torch.randn(b, 2, generator=gen)
        with torch.no_grad():
            fake = g(z)
        out = d(torch.cat([real, fake]))
        loss_d = bce(out[:b], ones) + bce(out[b:], zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = bce(d(g(torch.randn(b, 2, generator=gen))), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return steps / (time.perf_counter() - t0)


def lessons(seeds: range) -> list[str]:
    lab = Lab(max_runs=200)
    runs = {}
    for name in PRESETS:
        for seed in seeds:
            a, b = specs(name, seed)
            runs[(name, seed)] = (lab.start(a), lab.start(b))
    for pair in runs.values():
        for r in pair:
            lab.wait(r)
    lines = ["| preset | claim | holds on seeds | A per seed | B per seed |", "|---|---|---|---|---|"]
    show = {"vanishing_gradient": ("d_fake", "high_quality_fraction"), "mode_collapse": ("modes_covered",),
            "spectral_norm": ("max_slope", "high_quality_fraction"), "clipping_vs_sn": ("max_slope", "high_quality_fraction")}
    for name, p in PRESETS.items():
        sums = {s: tuple(summary(r) for r in runs[(name, s)]) for s in seeds}
        for key, (text, check) in p.claims.items():
            ok = [s for s in seeds if check(*sums[s])]
            lines.append(f"| {name} | {text} | {len(ok)}/{len(seeds)} | "
                         f"{_values(sums, 0, show[name], seeds)} | {_values(sums, 1, show[name], seeds)} |")
        if name == "vanishing_gradient":
            ratio = [sums[s][0]["g_grad_norm_by_loss"]["minimax"] / max(sums[s][0]["g_grad_norm_by_loss"]["non_saturating"], 1e-12)
                     for s in seeds]
            lines.append(f"| {name} | (evidence) minimax / non-saturating gradient at A's final state | - | "
                         f"{', '.join(f'{x:.2g}' for x in ratio)} | - |")
        if name == "clipping_vs_sn":
            at = [sums[s][0]["d_params_at_clip"] for s in seeds]
            lines.append(f"| {name} | (evidence) fraction of A's critic parameters at +-c | - | "
                         f"{', '.join(f'{x:.2f}' for x in at)} | - |")
    lab.close()
    return lines


def _values(sums, side, keys, seeds) -> str:
    out = []
    for k in keys:
        vals = []
        for s in seeds:
            x = sums[s][side]
            v = max(h["d_max_slope"] for h in x["history"]) if k == "max_slope" else x[k]
            vals.append("-" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v)))
        out.append(f"{k}: {' '.join(vals)}")
    return "; ".join(out)


def speed(concurrent: list[int]) -> list[str]:
    spec = RunSpec(steps=2000)
    bare = max(bare_loop(spec, 1000) for _ in range(2))
    lab = Lab(max_runs=200)
    rows = ["| measurement | value |", "|---|---|", f"| bare PyTorch loop, steps/s | {bare:.0f} |"]
    one = []
    for _ in range(2):
        r = lab.start(RunSpec(steps=2000))
        lab.wait(r)
        one.append(summary(r)["steps_per_second"])
    rows.append(f"| lab, 1 run, steps/s (share of the bare loop) | {max(one):.0f} ({max(one) / bare:.0%}) |")
    # one viewer: a 2,000-step preset with frames
    t0 = time.perf_counter()
    r = lab.start(RunSpec(steps=2000), watched=True)
    first = time.perf_counter() - t0 if r.frame is not None else None
    seen, last_v = 0, r.version
    while not r.done.is_set():
        time.sleep(0.01)
        lab.touch(r)
        if r.version != last_v:
            seen, last_v = seen + 1, r.version
    wall = time.perf_counter() - t0
    rows.append(f"| ring8, 2,000 steps with a viewer, wall s | {wall:.2f} |")
    rows.append(f"| stream: frames/s, first frame after s | {seen / wall:.1f}, {first:.3f} |")
    rows.append(f"| one run's state, bytes (2,000 steps) | {r.nbytes():,} |")
    # a classroom watching: n runs each with a viewer, frames per second each viewer gets
    n = max(concurrent) if concurrent else 20
    rs = [lab.start(RunSpec(steps=20_000, seed=i), watched=True) for i in range(n)]
    v0, t0 = [x.version for x in rs], time.perf_counter()
    while time.perf_counter() - t0 < 5:
        time.sleep(0.05)
        for x in rs:
            lab.touch(x)
    fps = [(x.version - v) / (time.perf_counter() - t0) for x, v in zip(rs, v0)]
    rows.append(f"| {n} watched runs at once: frames/s per viewer, slowest / median | {min(fps):.1f} / {np.median(fps):.1f} |")
    for x in rs:
        lab.control(x, "stop")
    for n in concurrent:
        rs = [lab.start(RunSpec(steps=1000, seed=i)) for i in range(n)]
        t0 = time.perf_counter()
        for x in rs:
            lab.wait(x)
        el = time.perf_counter() - t0
        sps = [summary(x)["steps_per_second"] for x in rs]
        mean = sum(sps) / len(sps)
        rows.append(f"| {n} runs at once: total steps/s (x one run alone); slowest / mean | "
                    f"{sum(x.step for x in rs) / el:.0f} (x{sum(x.step for x in rs) / el / max(one):.1f}); "
                    f"{min(sps) / mean:.2f} |")
    lab.close()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skip-lessons", action="store_true")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--concurrent", type=int, nargs="*", default=[5, 20])
    args = p.parse_args()
    torch.set_num_threads(1)
    if not args.skip_lessons:
        print("## Lesson presets: claims over seeds 0-4\n")
        print("\n".join(lessons(range(5))))
    if not args.skip_speed:
        print("\n## Speed (one torch thread)\n")
        print("\n".join(speed(args.concurrent)))


if __name__ == "__main__":
    main()
