"""The model card of the SAGAN face generator: settings, loss and gamma curves, samples, measured quality."""
from __future__ import annotations

from gan_viz import cards

from gan_viz.cards import loss_rows

FAMILY = "sagan"

STATIC = {  # the card's fixed sections (gan_viz/cards.py)
    "tags": ["sagan", "unconditional-image-generation", "self-attention"],
    "metrics": ["frechet_distance"],
    "intended": ('Teaching: the SAGAN tab of gan-viz shows its self-attention maps under the pointer and its spectral '
        "normalisation; its faces are the project's own example pictures."),
    "out_of_scope": ('Making faces to pass off as real people; any use where a generated face could deceive.'),
    "limitations": ('64 px faces with visible artefacts; it reproduces the balance and the biases of the faces it was '
        "trained on (the quality table gives the classifier's gender balance of its samples)."),
    "training_command": ("`python -m gan_viz.models.sagan.train --data DIR` (the README's Training section gives the exact "
        'command behind these weights).'),
    "evaluation_default": ('Not measured yet for these weights: `python benchmarks/sagan_quality.py --data DIR --write-card`.'),
    "citation": ('Zhang, Goodfellow, Metaxas, Odena, "Self-Attention Generative Adversarial Networks", ICML 2019; '
        'Miyato et al., ICLR 2018 (spectral normalisation); Brock, Donahue, Simonyan, "Large Scale GAN '
        'Training", ICLR 2019 (standing statistics); Zhang, Song, Qi, CVPR 2017 (UTKFace).'),
    "by_group": False,
}


def _curve(records: list[dict], key: str, every: int) -> list[tuple[int, float]]:
    pts = [(r["step"], r[key]) for r in records if key in r]
    return pts[::max(1, len(pts) // every)] + pts[-1:] if pts else []


HISTORY_FILE = "history.md"  # beside the export: how the weights came to be, session by session (written by hand)


# How the card names the shipped G's batch-norm statistics; standing.py swaps the second for the first.
STANDING_NOTE = ", with batch-norm statistics of its own samples (BigGAN's standing statistics: `standing.py`)"
COPIED_NOTE = " (batch-norm statistics copied from the trained G; `standing.py` re-estimates them)"


def _card_text(config: dict, step: int, records: list[dict], settings: dict, images_seen: int | None = None,
               history: str = "", g_is_ema: bool = True, standing: bool = True) -> str:
    """The card; benchmarks/sagan_quality.py appends the measured quality section to it.

    history: the export's history.md, which every export carries forward, so what earlier sessions
    measured and tried stays on the card when a later run re-exports.
    g_is_ema: False when `G.*` holds the trained G itself rather than its moving average (a choice made by hand,
    measured; the training script always exports the average).
    standing: the average's batch-norm statistics were re-estimated on its own samples (standing.py).
    """
    g_what = "the trained G itself (not its moving average; see below)"
    if g_is_ema:
        g_what = "the exponential moving average of G" + (STANDING_NOTE if standing else COPIED_NOTE)
    rows = "\n".join(f"| {k} | {v} |" for k, v in settings.items())
    curve_rows = []
    for r in loss_rows(records, "loss_g"):
        gam = ", ".join(f"{k} {v:+.3f}" for k, v in r["gamma"].items())
        curve_rows.append(f"| {r['step']} | {r['loss_d_real']:.3f} | {r['loss_d_fake']:.3f} | {r['loss_g']:.3f} | {gam} |")
    curves = "\n".join(curve_rows)
    return f"""---
license: other
license_name: utkface-non-commercial
tags: [gan-viz, sagan, self-attention, spectral-normalization, gan]
---
# gan-viz SAGAN, 64x64 faces

Self-Attention GAN (Zhang, Goodfellow, Metaxas and Odena, ICML 2019) trained by this
project with `python -m gan_viz.models.sagan.train --data DIR`.
Generator: residual up-sampling blocks 4 -> 64 px with self-attention at
{config['g_attention']} px; discriminator: residual down-sampling blocks with self-attention at
{config['d_attention']} px. Spectral normalisation (power iteration) on every conv and linear layer
of both. The weights here are {g_what} (`G.*`) and D (`D.*`),
after {step} training steps{f" ({images_seen:,} images seen by D, counted across every session's run)" if images_seen else ""}.

Training accumulates across runs: `model.safetensors` (`G.*`, where a resumed run starts G's moving
average, and D; float16) and
`resume.safetensors` ({"the raw G, float16, with" if g_is_ema else "no tensors, since `G.*` is the raw G: only"} the step and images seen) are what a run with no state
in `--run-dir` continues from (`--resume-from`, default the export folder; Adam's state restarts),
so each run adds to the last, on a CPU or on a GPU
(`scripts/train_sagan_gpu.sh`).

## Training data and licence
UTKFace aligned crops (Zhang, Song and Qi, CVPR 2017), training split (the validation tenth
chosen by a salted SHA-1 of the file name in `gan_viz/utkface.py` is held out). **UTKFace is for non-commercial research and
education only; so are these weights.** `samples.png` holds faces generated by these
weights from 64 fixed latent vectors (and `samples/stepNNNNNN.png`, where present, the same vectors
at earlier checkpoints): images made by the model, no training pixels.
{history}
## Training settings
| setting | value |
|---|---|
{rows}

## Loss and gamma curves (hinge loss; gamma per attention block; full log in training_log.json)
| step | D loss real | D loss fake | G loss | gamma |
|---|---|---|---|---|
{curves}

## Limits
A small model trained briefly: faces are 64x64 impressions with visible artefacts, not photos.
"""


def model_card(*args, **kwargs) -> str:
    """The card in the Hugging Face form (gan_viz/cards.py); arguments as _card_text's."""
    return cards.restructure(_card_text(*args, **kwargs), STATIC)
