"""U-GAT-IT's CAM attention (Kim et al., ICLR 2020) fitted as a probe on the frozen CycleGAN: where the translator looks.

U-GAT-IT puts a class-activation-map module inside its translator: an auxiliary classifier on the
encoder's feature maps E_k(x), fed by global average pooling and by global max pooling, with no
bias, learns weights w_k that tell the source domain from the target:

    eta(x) = sigmoid(sum_k w_k GAP(E_k(x)))        (and the same with GMP and its own weights)

The attention feature maps are w_k E_k(x); their sum over channels, sum_k w_k E_k(x), is a heatmap
of where the domains differ, i.e. where the translator should focus. Its discriminator carries the
same module on its last feature maps (evidence for "real" against "translated").

Here the module is *fitted afterwards* on our trained CycleGAN, which never had it in its loop: a
probe of what the CycleGAN's encoder and discriminators already tell apart, not U-GAT-IT's joint
training. The paper fuses the two branches with a learned 1x1 conv; a probe has none, so the fused
map here is the mean of the two branches' maps.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gan_viz.attention_agreement import rank_correlation, top_overlap  # noqa: F401 - part of the probe's surface
from gan_viz.models.cyclegan.network import DIRECTIONS, CycleGAN

PREFIX = "probe."  # the probe's tensors travel inside the CycleGAN's model.safetensors under this prefix
# (net, what the probe's positive class is): the generators' encoders tell their source domain from the
# target; the discriminators tell a real face of their domain from a translated one.
PROBES = {
    "male_to_female": "source (male)",
    "female_to_male": "source (female)",
    "D_female": "real female face",
    "D_male": "real male face",
}


class CAMProbe(nn.Module):
    """The auxiliary classifiers of U-GAT-IT's CAM module: one bias-free linear unit on GAP(E), one on GMP(E)."""

    def __init__(self, channels: int):
        super().__init__()
        self.gap_fc = nn.Linear(channels, 1, bias=False)
        self.gmp_fc = nn.Linear(channels, 1, bias=False)

    def logits(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """e (B, K, h, w) -> (GAP logit (B,), GMP logit (B,))."""
        return self.gap_fc(e.mean(dim=(2, 3)))[:, 0], self.gmp_fc(e.amax(dim=(2, 3)))[:, 0]

    def maps(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """sum_k w_k E_k(x) for each branch: (B, h, w) each, before any normalisation."""
        return (torch.einsum("k,bkhw->bhw", self.gap_fc.weight[0], e),
                torch.einsum("k,bkhw->bhw", self.gmp_fc.weight[0], e))


def encoder(g: nn.Module) -> nn.Sequential:
    """The generator's layers up to and including its last residual block: E(x), (B, 4 ngf, S/4, S/4)."""
    layers = list(g.model.children())
    last = max(i for i, m in enumerate(layers) if type(m).__name__ == "ResnetBlock")
    return nn.Sequential(*layers[:last + 1])


def d_features(d: nn.Module) -> nn.Sequential:
    """The PatchGAN's layers before its last (scoring) conv: its last feature maps."""
    return nn.Sequential(*list(d.model.children())[:-1])


def feature_net(model: CycleGAN, name: str) -> nn.Sequential:
    return encoder(model.generator(name)) if name in DIRECTIONS else d_features(getattr(model, name))


def channels(model: CycleGAN, name: str) -> int:
    net = feature_net(model, name)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels


def build_probes(model: CycleGAN) -> nn.ModuleDict:
    return nn.ModuleDict({name: CAMProbe(channels(model, name)) for name in PROBES})


def split_state(state: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """A CycleGAN state dict with the probe inside -> (the CycleGAN's own tensors, the probe's)."""
    net = {k: v for k, v in state.items() if not k.startswith(PREFIX)}
    probe = {k[len(PREFIX):]: v for k, v in state.items() if k.startswith(PREFIX)}
    return net, probe


def fit(probe: CAMProbe, pos: torch.Tensor, neg: torch.Tensor, steps: int = 300, weight_decay: float = 1e-3) -> None:
    """Logistic regression of both branches on features (N, K, h, w) of the positive and negative class.

    Full-batch L-BFGS on pooled features: the features are fixed (the CycleGAN is frozen), so this
    is a convex problem that takes seconds, not a training run.
    """
    e = torch.cat([pos, neg])
    y = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))])
    gap, gmp = e.mean(dim=(2, 3)), e.amax(dim=(2, 3))
    opt = torch.optim.LBFGS(probe.parameters(), lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")
    loss_fn = nn.BCEWithLogitsLoss()

    def closure():
        opt.zero_grad()
        loss = loss_fn(probe.gap_fc(gap)[:, 0], y) + loss_fn(probe.gmp_fc(gmp)[:, 0], y)
        loss = loss + weight_decay * sum(p.square().sum() for p in probe.parameters())
        loss.backward()
        return loss

    opt.step(closure)


def accuracy(probe: CAMProbe, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        out = {}
        for branch, idx in (("gap", 0), ("gmp", 1)):
            lp, ln = probe.logits(pos)[idx], probe.logits(neg)[idx]
            out[branch] = float(((lp > 0).float().sum() + (ln <= 0).float().sum()) / (len(lp) + len(ln)))
        return out


def unit(m: np.ndarray) -> np.ndarray:
    """Min-max scaled to [0, 1] (a constant map -> zeros)."""
    lo, hi = float(m.min()), float(m.max())
    return ((m - lo) / (hi - lo)).astype(np.float32) if hi > lo else np.zeros_like(m, dtype=np.float32)


@dataclass
class ProbeReading:
    net: str
    eta_gap: float  # sigmoid(sum_k w_k GAP(E_k(x))): the probe's probability of its positive class
    eta_gmp: float
    gap_map: np.ndarray  # float32 (h, w) sum_k w_k^gap E_k(x), raw
    gmp_map: np.ndarray
    fused: np.ndarray  # mean of the two maps, each scaled to [0, 1] (a probe has no learned 1x1 fusion)
    top_channels: list[tuple[int, float, float]]  # (k, w_k, w_k * GAP(E_k)) largest contributions to the GAP logit


def read(probe: CAMProbe, e: torch.Tensor, net: str, top: int = 5) -> ProbeReading:
    """The module's numbers for one image's features e (1, K, h, w)."""
    with torch.no_grad():
        lg, lm = probe.logits(e)
        mg, mm = probe.maps(e)
        w = probe.gap_fc.weight[0]
        contrib = w * e.mean(dim=(2, 3))[0]  # (K,) each channel's share of the GAP logit
        order = torch.argsort(contrib.abs(), descending=True)[:top]
        w, contrib = w.detach(), contrib.detach()
    gap, gmp = mg[0].float().cpu().numpy(), mm[0].float().cpu().numpy()
    return ProbeReading(net, float(torch.sigmoid(lg[0])), float(torch.sigmoid(lm[0])), gap, gmp,
                        (unit(gap) + unit(gmp)) / 2,
                        [(int(k), float(w[k]), float(contrib[k])) for k in order])
