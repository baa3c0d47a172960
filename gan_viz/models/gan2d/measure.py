"""What the lab measures of a stack of runs: mode coverage, JS divergence, sigmas, and the arrays the live view draws."""
from __future__ import annotations

import numpy as np
import torch

from gan_viz.models.gan2d import data, losses, metrics, network
from gan_viz.models.gan2d.run import Run
from gan_viz.models.gan2d.spec import FRAME_GRID, N_ARROWS, VIEW_POINTS
from gan_viz.spectral import power_iteration


def measure(st, ks: list[int], view: bool, full: bool = True) -> list[dict]:
    """The measurements of runs ks (indices into the Stack st); with view, also what the live view draws.

    full=False is a live frame: D's heatmap and slope, 600 generated points, the arrows and the noise grid
    are fresh, the rest (mode coverage, JS, the sigma table) is the run's last full measurement. Measured: a
    full measurement of 20 runs took most of a time slice, and 20 viewers got 3.4 frames a second.
    """
    k = len(ks)
    idx = torch.tensor(ks)
    sub_d = st.d[idx]
    d_layers = network.weights(st.d_shape, sub_d)
    sn = st.sn[idx]
    with torch.no_grad():
        sig_used, _ = network.spectral_sigmas(d_layers, [u[idx] for u in st.u], update=False)
        if full:  # runs without spectral norm never iterate in training: 10 iterations from the start u
            sig_free = [power_iteration(w, u[idx], 10)[0] for (w, _), u in zip(d_layers, st.u)]
            sig_pi = [torch.where(sn, a, b) for a, b in zip(sig_used, sig_free)]
        else:
            sig_pi = sig_used  # only the spectrally normalised runs' sigmas are used below
    eff = network.normalised(d_layers, sig_pi, sn)

    def d_fwd(x):
        return network.forward(eff, x)

    with torch.no_grad():
        z = metrics.eval_noise() if full else metrics.eval_noise()[:VIEW_POINTS]
        g_layers = network.weights(st.g_shape, st.g[idx])
        fake = network.forward(g_layers, z.expand(k, -1, -1))  # (k, N, 2)
    if full:
        d_at_fake, slope_at_fake, grad_at_fake = _d_and_grad(d_fwd, fake)
    else:  # a frame needs D's gradient only where it draws arrows
        with torch.no_grad():
            d_at_fake = d_fwd(fake).squeeze(-1)
        _, _, grad_at_fake = _d_and_grad(d_fwd, fake[:, :N_ARROWS])
    heat, slope = metrics.slope_and_heat(d_fwd, metrics.view_grid(metrics.SLOPE_GRID if full else FRAME_GRID), k)
    if full:
        exact = network.exact_sigmas(d_layers)
        exact_eff = network.exact_sigmas(eff) if bool(sn.any()) else exact
        by_loss = metrics.g_gradient_by_loss(d_at_fake, slope_at_fake)
    if view:
        with torch.no_grad():
            lines = noise_grid_lines(n_points=25 if not full else 41)
            warped = network.forward(g_layers, lines.reshape(1, -1, 2).expand(k, -1, -1))
            warped = warped.reshape(k, *lines.shape).numpy()
    out = []
    fake_np = fake.numpy()
    for j, kk in enumerate(ks):
        r = st.runs[kk]
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
            rec["view"] = view_arrays(r, fake_np[j][:VIEW_POINTS], heat[j], d_at_fake[j], grad_at_fake[j], warped[j])
        out.append(rec)
    return out

def view_arrays(r: Run, fake: np.ndarray, heat: torch.Tensor, d_fake: torch.Tensor, grad: torch.Tensor,
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
