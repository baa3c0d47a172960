"""Several 2D GAN runs stacked along a first axis K: one batched D or G step with hand-written optimisers, per-run settings inside it."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from gan_viz.models.gan2d import losses, measure, network
from gan_viz.models.gan2d.run import Run
from gan_viz.models.gan2d.spec import ADAM_BETAS, EPS, OPTIMIZERS, RMSPROP_ALPHA

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

        Without spectral normalisation in the stack no power iteration runs in training (it would be a large share
        of a small run's step); the sigmas shown for such runs are computed when measured.
        """
        layers = network.weights(self.d_shape, self.d if d is None else d)
        if not self.any_sn:
            return layers, self.u
        sigmas, us = network.spectral_sigmas(layers, self.u, update=update_u)
        return network.normalised(layers, sigmas, self.sn), us

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
            fake = network.forward(network.weights(self.g_shape, self.g), z)  # (K, B, 2)
        d = self.d.detach().requires_grad_(True)
        layers, us = self.d_layers(d, update_u=True)
        out = network.forward(layers, torch.cat([real, fake], 1)).squeeze(-1)  # (K, 2B)
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
        fake = network.forward(network.weights(self.g_shape, g), z)  # (K, B, 2)
        layers, _ = self.d_layers()
        d_fake = network.forward(layers, fake).squeeze(-1)  # (K, B); D's weights need no gradient here
        loss = losses.g_losses(d_fake, self.loss_idx, self.loss_names).mean(1)  # (K,)
        mt = torch.tensor(mask)
        grad, grad_x = torch.autograd.grad(_masked(loss, mask, mt).sum(), [g, fake])
        # grad_x is d(mean loss)/dx: times B, the gradient of each point's own loss (what pushes that point)
        g_norm = (grad_x.norm(dim=-1) * self.batch).mean(1)
        self.g, self.gm, self.gv, self.tg = self._update(self.g, grad, self.gm, self.gv, self.tg, self.lr_g, mask)
        return loss.detach().tolist(), g_norm.tolist()

    def measure(self, ks: list[int], view: bool, full: bool = True) -> list[dict]:
        """The measurements of runs ks (indices into this stack); with view, also what the live view draws."""
        return measure.measure(self, ks, view, full)


def _masked(loss: torch.Tensor, mask: list[bool], mt: torch.Tensor) -> torch.Tensor:
    """Zero the losses of runs that sit this step out (their gradient is then zero)."""
    return loss if all(mask) else torch.where(mt, loss, torch.zeros_like(loss))
