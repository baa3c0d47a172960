"""The 2D GAN lab: its formulas, its batched step, its scheduler under many callers, and the API's promises."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan_viz.models.gan2d import data, losses, metrics, network
from gan_viz.models.gan2d.run import Run
from gan_viz.models.gan2d.scheduler import Lab, summary
from gan_viz.models.gan2d.spec import LabFull, RunSpec
from gan_viz.models.gan2d.stack import Stack
from gan_viz.models.gan2d.presets import PRESETS, specs
from gan_viz.models.gan2d.visualize import GanLab, render
from gan_viz.spectral import power_iteration


@pytest.fixture
def lab():
    lab = Lab()
    yield lab
    lab.close()


def run_to_end(lab: Lab, spec: RunSpec, points=None) -> dict:
    """Start a run and wait for its end, touching it as a viewer does (on a busy machine a run can outlast the
    scheduler's patience for runs nobody watches, and would then be stopped half-way)."""
    r = lab.start(spec, points)
    deadline = time.monotonic() + 300
    while not lab.wait(r, timeout=5):
        lab.touch(r)
        assert time.monotonic() < deadline, "the run did not end"
    return summary(r)


def without_timing(s: dict) -> dict:
    return {k: v for k, v in s.items() if k != "steps_per_second"}


# ------------------------------------------------------------------ formulas


def test_losses_follow_their_formulas():
    d_real, d_fake = torch.randn(5, 7), torch.randn(5, 7)
    idx = torch.arange(5)  # run k uses loss k
    got_d = losses.d_losses(d_real, d_fake, idx, set(losses.LOSSES))
    got_g = losses.g_losses(d_fake, idx, set(losses.LOSSES)).mean(1)
    s_r, s_f = torch.sigmoid(d_real), torch.sigmoid(d_fake)
    log_d = -(torch.log(s_r) + torch.log(1 - s_f)).mean(1)
    want_d = [log_d[0], log_d[1], (0.5 * (d_real[2] - 1) ** 2 + 0.5 * d_fake[2] ** 2).mean(),
              (d_fake[3] - d_real[3]).mean(), (F.relu(1 - d_real[4]) + F.relu(1 + d_fake[4])).mean()]
    want_g = [torch.log(1 - s_f[0]).mean(), -torch.log(s_f[1]).mean(), (0.5 * (d_fake[2] - 1) ** 2).mean(),
              -d_fake[3].mean(), -d_fake[4].mean()]
    assert torch.allclose(got_d, torch.stack(want_d), atol=1e-5)
    assert torch.allclose(got_g, torch.stack(want_g), atol=1e-5)


def test_gradient_by_loss_is_the_derivative_times_ds_slope():
    # a one-layer "D": d(x) = w . x, so grad_x d = w everywhere
    w = torch.tensor([3.0, 4.0])
    x = torch.randn(1, 50, 2)
    d = (x * w).sum(-1)
    by = metrics.g_gradient_by_loss(d, torch.full_like(d, 5.0))
    for name, loss_fn in (("minimax", lambda v: -F.softplus(v)), ("non_saturating", lambda v: F.softplus(-v))):
        xx = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss_fn((xx * w).sum(-1)).sum(), xx)
        assert by[name].item() == pytest.approx(g.norm(dim=-1).mean().item(), rel=1e-5)


def test_batched_power_iteration_matches_one_matrix_at_a_time_and_svd():
    w = torch.randn(4, 16, 9)
    u = F.normalize(torch.randn(4, 16), dim=1)
    sig, _, _ = power_iteration(w, u, 200)
    for k in range(4):
        one, _, _ = power_iteration(w[k], u[k], 200)
        assert sig[k].item() == pytest.approx(one.item(), rel=1e-5)
        assert sig[k].item() == pytest.approx(torch.linalg.matrix_norm(w[k], ord=2).item(), rel=1e-3)


def test_stacked_forward_is_each_runs_own_network_bit_for_bit():
    shape = network.MLPShape(2, 1, 16, 2)
    flats = torch.stack([network.init_flat(shape, torch.Generator().manual_seed(s)) for s in range(5)])
    x = torch.randn(5, 33, 2)
    together = network.forward(network.weights(shape, flats), x)
    for k in range(5):
        alone = network.forward(network.weights(shape, flats[k:k + 1]), x[k:k + 1])
        assert torch.equal(together[k:k + 1], alone)
        # and the same as an nn.Linear MLP with those weights
        h = x[k]
        for n, (w, b) in enumerate(network.weights(shape, flats[k:k + 1])):
            h = F.linear(h, w[0], b[0, 0])
            h = F.leaky_relu(h, 0.2) if n < 2 else h
        assert torch.allclose(together[k], h, atol=1e-6)


def test_mode_coverage_counts_points_near_modes():
    ps = data.ring8()
    pts = np.repeat(ps.modes[:3], 1000, axis=0)[:2500] + 0.01  # all on 3 modes, within 3 std
    m = metrics.mode_coverage(pts, ps)
    assert (m["modes_covered"], m["modes_total"], m["high_quality_fraction"]) == (3, 8, 1.0)
    far = metrics.mode_coverage(np.zeros((2500, 2)), ps)  # the centre is 2 away from every mode
    assert far["modes_covered"] == 0 and far["high_quality_fraction"] == 0
    ref = metrics.reference_histogram(ps)
    assert metrics.js_divergence(ref, ref) == pytest.approx(0, abs=1e-12)
    assert metrics.js_divergence(ref, metrics.histogram(np.zeros((100, 2)))) > 0.9


def test_drawn_strokes_become_points_in_the_view():
    mask = np.zeros((300, 300), bool)
    mask[150, 30:270] = True  # a horizontal stroke across the middle
    pts = data.strokes_to_points(mask)
    assert np.allclose(pts[:, 1], 0, atol=0.02) and pts[:, 0].min() < -2 and pts[:, 0].max() > 2
    with pytest.raises(ValueError, match="at least 20"):
        data.drawn(pts[:5])


# ------------------------------------------------------------------ training through the public surface


def test_spectral_norm_keeps_ds_slope_at_most_one_and_without_it_the_slope_grows(lab):
    on = run_to_end(lab, RunSpec(spectral_norm=True, steps=1000))
    off = run_to_end(lab, RunSpec(spectral_norm=False, steps=1000))
    assert max(h["d_max_slope"] for h in on["history"]) <= 1.05
    assert off["history"][-1]["d_max_slope"] > 2 * off["history"][0]["d_max_slope"]
    assert off["d_max_slope"] > 1.05
    assert all(abs(s["effective"] - 1) < 0.1 for s in on["sigma"])  # W / sigma as used: about 1 per layer


def test_minimax_gradient_vanishes_where_d_separates(lab):
    a, _ = specs("vanishing_gradient", seed=1)
    s = run_to_end(lab, RunSpec(**{**a.__dict__, "steps": 200}))
    assert s["d_fake"] < 0.05
    by = s["g_grad_norm_by_loss"]
    assert by["minimax"] <= 0.1 * by["non_saturating"]


def test_same_settings_same_json_alone_or_beside_other_runs(lab):
    spec = RunSpec(loss="hinge", spectral_norm=True, d_steps=2, steps=300, seed=3)
    alone = run_to_end(lab, spec)
    # the same run again, batched with runs of other losses, optimisers and seeds
    others = [lab.start(RunSpec(loss=l, optimizer=o, steps=400, seed=9)) for l, o in
              (("minimax", "sgd"), ("least_squares", "rmsprop"), ("wgan_clip", "adam"))]
    again = run_to_end(lab, spec)
    for r in others:
        lab.wait(r)
    assert without_timing(again) == without_timing(alone)


def test_runs_from_many_threads_match_the_same_runs_alone():
    seeds = list(range(6))
    gl = GanLab()
    ref = {s: without_timing(gl.train(RunSpec(steps=150, seed=s))[1]) for s in seeds}
    got, errors = {}, []

    def worker(s):
        try:
            got[s] = without_timing(gl.train(RunSpec(steps=150, seed=s))[1])
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s,)) for s in seeds for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gl.scheduler.close()
    assert not errors
    assert got == ref


def test_one_slice_gives_every_running_run_the_same_steps_whatever_its_group():
    """The scheduler's fairness, as a rule rather than a timing: in a slice every running run, batched in any group
    (widths differ, so these are three stacks), takes the same number of ticks (how many runs finish on a busy
    machine is the benchmark's business: benchmarks/gan_lab.py, 'N at once')."""
    lab = Lab(slice_seconds=0.05)
    try:
        specs_ = [RunSpec(width=w, loss=l, seed=s, steps=20_000) for w in (32, 64, 128)
                  for l, s in (("hinge", 0), ("minimax", 1), ("least_squares", 2))[: 1 + w // 64]]
        runs = [Run(sp.validated(), data.preset(sp.distribution), k) for k, sp in enumerate(specs_)]
        assert len(lab._groups(runs)) == 3 and len(runs) == 6
        for expected_slices in (1, 2, 3):
            lab._slice(runs)
            steps = {r.step for r in runs}
            assert len(steps) == 1 and steps.pop() > 0, [r.step for r in runs]
        assert lab.stats["slices"] == expected_slices
    finally:
        lab.close()


def test_a_diverging_run_stops_with_its_step_and_others_go_on(lab):
    bad = lab.start(RunSpec(loss="least_squares", optimizer="rmsprop", lr_g=0.1, lr_d=0.1, width=128, depth=4,
                            steps=500))
    good = lab.start(RunSpec(steps=300))
    lab.wait(bad, 60)
    lab.wait(good, 60)
    s = summary(bad)
    assert s["diverged"] and s["message"].startswith(f"diverged at step {s['steps']}")
    assert s["steps"] < 500
    assert summary(good)["status"] == "done" and summary(good)["steps"] == 300


@pytest.mark.parametrize("field,value,message", [
    ("steps", 0, "steps must be between"), ("lr_g", -1, "lr_g must be between"), ("d_steps", 11, "d_steps must be"),
    ("distribution", "ring9", "unknown distribution"), ("loss", "kl", "unknown loss"), ("seed", 1.5, "whole number"),
    ("lr_d", float("nan"), "lr_d must be between"),
])
def test_bad_settings_are_refused_with_the_setting_named(lab, field, value, message):
    with pytest.raises(ValueError, match=message):
        lab.start(RunSpec(**{field: value}))
    assert lab.active() == 0


def test_a_run_is_small_and_freed_when_stopped_or_abandoned():
    lab = Lab(idle_seconds=0.3)
    r = lab.start(RunSpec(steps=20_000), watched=True)
    assert r.nbytes() < 2_000_000
    r2 = lab.start(RunSpec(steps=20_000))
    lab.control(r2, "stop")
    assert r2.status == "stopped" and r2 not in lab.runs()
    assert lab.wait(r, timeout=10)  # nobody looked at it: reaped
    assert "nobody watched" in r.message and lab.active() == 0
    lab.close()


def test_full_lab_says_so():
    lab = Lab(max_runs=2)
    lab.start(RunSpec(steps=20_000), play=False)
    lab.start(RunSpec(steps=20_000), play=False)
    with pytest.raises(LabFull, match="the lab is full"):
        lab.start(RunSpec())
    lab.close()


def test_single_steps_while_paused(lab):
    r = lab.start(RunSpec(d_steps=2), play=False, watched=True)
    assert r.frame is not None and r.frame["step"] == 0  # the first frame is there before any step
    for op in ("d", "d", "g"):
        lab.control(r, op)
    for _ in range(200):
        if r.frame["step"] == 1:  # published after the step's state is written back
            break
        threading.Event().wait(0.02)
    assert r.step == 1 and r.td == 2 and r.tg == 1 and r.status == "paused"


def test_render_draws_the_view(lab):
    gl = GanLab(lab)
    img, s = gl.train(RunSpec(steps=100))
    assert img.shape == (360, 360, 3) and img.dtype == np.uint8
    assert img.std() > 10  # a heatmap with points on it, not a blank
    assert s["steps"] == 100 and set(s) >= {"modes_covered", "modes_total", "high_quality_fraction", "js_divergence",
                                             "d_loss", "g_loss", "g_grad_norm", "d_max_slope", "sigma", "d_fake",
                                             "diverged", "steps_per_second"}
    preview = GanLab.preview(RunSpec())
    assert render(preview.frame, np.zeros((1, 2))).shape == (360, 360, 3)


def test_presets_differ_in_what_they_teach_and_are_valid():
    for name, p in PRESETS.items():
        a, b = specs(name)
        assert a != b and a.distribution == b.distribution and a.seed == b.seed
        assert p.predict and p.look and p.claims
        a.validated(), b.validated()


def test_stack_write_back_round_trips_state():
    r = Run(RunSpec(), data.ring8(), 1)
    before = r.g.clone()
    st = Stack([r])
    st.write_back()
    assert torch.equal(r.g, before)
