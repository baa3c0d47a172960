"""The lab's lesson presets: two runs A and B that differ in one idea, what to predict, and the claim each makes.

Every claim is a function of the two runs' summaries; `python benchmarks/gan_lab.py` runs each preset over
seeds 0-4 and prints the evidence (a table per preset), and a preset claims only what that table shows.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from gan_viz.models.gan2d.spec import RunSpec


@dataclass(frozen=True)
class Preset:
    title: str
    a: RunSpec
    b: RunSpec
    predict: str  # before pressing Play
    look: str  # what to watch, and what it shows
    claims: dict = field(default_factory=dict)  # name -> (text, check(summary_a, summary_b) -> bool)


def _max_slope(s: dict) -> float:
    return max(h["d_max_slope"] for h in s["history"])


BASE = RunSpec(distribution="ring8", loss="non_saturating", steps=2000)
D_AHEAD = replace(BASE, d_steps=5, lr_d=0.01, lr_g=1e-4)  # D trained five times as often, 100x G's learning rate

PRESETS: dict[str, Preset] = {
    "vanishing_gradient": Preset(
        title="Why G's gradient vanishes under the minimax loss",
        a=replace(D_AHEAD, loss="minimax"), b=replace(D_AHEAD, loss="non_saturating"),
        predict=("D gets five steps and a 100x larger learning rate for each G step, so it soon rejects every "
                 "generated point. Both G's see the same D's. Predict: which G still gets pushed towards the ring?"),
        look=("Watch the black arrows and the curve of G's gradient norm. Under the minimax loss log(1 - D(G(z))) "
              "the gradient is D(G(z)) times D's slope: once D(G(z)) is near 0 the arrows vanish and G stays put (on seeds "
              "1-4 G never reaches the ring in 2,000 steps; on seed 0 it escapes late). "
              "The non-saturating loss -log D(G(z)) pushes hardest exactly there, so B's points reach the ring "
              "(though, with D this far ahead, onto few modes: see the mode-collapse preset)."),
        claims={
            "a_d_separates": ("A: D rejects G's points, mean D(G(z)) < 0.05 at the end",
                              lambda a, b: a["d_fake"] < 0.05),
            "a_gradient_tenth": ("at A's final state, the minimax loss's gradient at G's points is at most a tenth "
                                 "of the non-saturating loss's",
                                 lambda a, b: a["g_grad_norm_by_loss"]["minimax"]
                                 <= 0.1 * a["g_grad_norm_by_loss"]["non_saturating"]),
            "b_reaches_data": ("B puts more of its points on the ring (high-quality fraction) than A",
                               lambda a, b: b["high_quality_fraction"] > a["high_quality_fraction"]),
        }),
    "mode_collapse": Preset(
        title="Mode collapse, and a balanced D that reduces it",
        a=replace(BASE, d_steps=5, lr_d=0.01), b=BASE,
        predict=("A trains D five times per G step with a 10x learning rate; B keeps the two players level. "
                 "Predict: does a stronger critic make G cover the ring better, or worse?"),
        look=("Watch the mode counter and where the red points gather. A's G chases whichever spot D currently "
              "rates highest and piles onto one or two of the 8 modes; B's G spreads over the ring."),
        claims={
            "b_more_modes": ("B covers more of the 8 modes than A",
                             lambda a, b: b["modes_covered"] > a["modes_covered"]),
            "a_collapses": ("A covers at most 2 of the 8 modes", lambda a, b: a["modes_covered"] <= 2),
        }),
    "spectral_norm": Preset(
        title="What spectral normalisation does to D's slope",
        a=BASE, b=replace(BASE, spectral_norm=True),
        predict=("B divides each of D's weight matrices by its largest singular value (from power iteration), "
                 "so every layer has sigma 1. Predict: how steep can D's output get over the plane in A, and in B? "
                 "And does the capped D teach G faster or slower here?"),
        look=("Watch 'D's steepest slope' and the sigma table (power iteration next to the exact SVD). A's slope "
              "grows well past 1 as D sharpens; B's stays below 1 (a LeakyReLU net whose layers all have sigma <= 1 is "
              "1-Lipschitz). B's gentler D gives G a fainter signal: in this small lab its points reach the modes "
              "less in 2,000 steps."),
        claims={
            "b_slope_at_most_1": ("B: D's steepest slope stays <= 1.05 at every measurement",
                                  lambda a, b: _max_slope(b) <= 1.05),
            "a_slope_above_5": ("A: D's steepest slope passes 5", lambda a, b: _max_slope(a) > 5),
            "a_more_high_quality": ("A has the larger high-quality fraction after 2,000 steps",
                                    lambda a, b: a["high_quality_fraction"] > b["high_quality_fraction"]),
        }),
    "clipping_vs_sn": Preset(
        title="Weight clipping versus spectral normalisation",
        a=replace(BASE, loss="wgan_clip", clip=0.01), b=replace(BASE, spectral_norm=True),
        predict=("Both keep D's slope bounded. A clips every parameter of the Wasserstein critic to [-0.01, 0.01] "
                 "after each step (the WGAN paper's c); B normalises each layer by its sigma. "
                 "Predict: which D is flatter, and which G gets somewhere?"),
        look=("Watch the slope curve and the heatmap. Clipping caps the slope far below what the critic needs "
              "(about a thousandth here): the critic is almost flat, the arrows barely move G. "
              "Spectral normalisation allows slopes up to 1 and B's G reaches the ring."),
        claims={
            "a_flat": ("A: D's steepest slope stays below 0.01 at every measurement", lambda a, b: _max_slope(a) < 0.01),
            "b_steeper": ("B's final slope is more than 10x A's", lambda a, b: b["d_max_slope"] > 10 * a["d_max_slope"]),
            "b_more_high_quality": ("B has the larger high-quality fraction",
                                    lambda a, b: b["high_quality_fraction"] > a["high_quality_fraction"]),
        }),
}


def specs(name: str, seed: int = 0) -> tuple[RunSpec, RunSpec]:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}")
    p = PRESETS[name]
    return replace(p.a, seed=seed), replace(p.b, seed=seed)
