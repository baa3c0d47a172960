"""The model card of the LBAM face inpainter: architecture, settings, loss curve; the benchmark adds the measured quality."""
from __future__ import annotations

from gan_viz import cards

from gan_viz.cards import loss_rows

FAMILY = "lbam"

STATIC = {  # the card's fixed sections (gan_viz/cards.py)
    "tags": ["lbam", "image-inpainting"],
    "metrics": ["psnr", "ssim"],
    "intended": ("Teaching: the inpainting tab of gan-viz fills holes painted in a face and shows LBAM's learned "
        'forward and reverse attention maps and activation functions.'),
    "out_of_scope": ('Restoring evidence or identity (the fill is a plausible guess, not what was there); editing photos '
        'of people who have not agreed to it.'),
    "limitations": ('Trained on aligned adult and child faces from UTKFace; larger holes and faces unlike the '
        'training framing come out blurrier. A fill is an invention of the model, biased towards the faces it'
        ' saw.'),
    "training_command": ('`python -m gan_viz.models.lbam.train --data DIR --max-minutes 120`.'),
    "evaluation_default": ('Not measured yet for these weights: `python benchmarks/inpainting_quality.py --data DIR --write-'
        'card`.'),
    "citation": ('Xie, Liu, Zhou, Liu, Zuo, Ding, "Image Inpainting with Learnable Bidirectional Attention Maps", ICCV'
        ' 2019; Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018; '
        'Zhang, Song, Qi, CVPR 2017 (UTKFace).'),
    "by_group": False,
}


def _card_text(config: dict, step: int, records: list[dict], settings: dict) -> str:
    """The card; benchmarks/inpainting_quality.py --write-card appends the measured quality section."""
    rows = "\n".join(f"| {k} | {v} |" for k, v in settings.items())
    picked = loss_rows(records, "loss_hole")
    curve = "\n".join(f"| {r['step']} | {r['loss_hole']:.4f} | {r['loss_valid']:.4f} | {r['loss_adv']:.3f} | "
                      f"{r['loss_d']:.3f} |" for r in picked)
    s = config["image_size"]
    return f"""---
license: other
license_name: utkface-non-commercial
tags: [gan-viz, lbam, inpainting, attention]
---
# gan-viz LBAM inpainter, {s}x{s} faces

Learnable Bidirectional Attention Maps (Xie et al., ICCV 2019) trained by this project with
`python -m gan_viz.models.lbam.train --data DIR`, for {step} steps.
U-Net-like encoder-decoder with encoder widths {config['channels']}; every encoder layer
multiplies its features by a forward attention map g_A(k * M) computed from the mask and
passes on the updated mask g_M(k * M) = ReLU(k * M)^alpha; every decoder layer multiplies
the concatenated skip and up-sampled features by [forward map, reverse map], the reverse maps
computed the same way from 1 - M. g_A is the paper's learnable asymmetric Gaussian
(a, mu, gamma_l, gamma_r per layer; alpha per layer for g_M). Input: the image with the hole
zeroed and the mask (1 = known); the app shows the composite (known pixels kept).

## Training data and licence
UTKFace aligned crops (Zhang, Song and Qi, CVPR 2017), training split (the validation tenth
chosen by a salted SHA-1 of the file name in `gan_viz/utkface.py` is held out), resized to
{s} px, random horizontal flips, free-form brush-stroke masks covering 5% to 60%.
**UTKFace is for non-commercial research and education only; so are these weights.**

## Training settings
| setting | value |
|---|---|
{rows}

Perceptual and style losses (the paper's) are in the loss row above when a run used them
(`--perceptual`, `--style`; features from the first stages of this project's face classifier's
teacher, gan_viz/models/lbam/feature_loss.py). The hole-weighted L1 is what the measured
PSNR rewards; the small adversarial term keeps the fill from being the blurriest mean.

## Losses (full log in training_log.json)
| step | L1 hole (x6) | L1 known | adversarial (G) | D hinge |
|---|---|---|---|---|
{curve}

## Limits
Fills are plausible but soft (L1 favours the mean; the runs so far are in the settings above), and the
fill is made at {s} px, so on larger inputs it is upsampled. Faces only, in the UTKFace framing (the app crops photos to it).
"""


def model_card(*args, **kwargs) -> str:
    """The card in the Hugging Face form (gan_viz/cards.py); arguments as _card_text's."""
    return cards.restructure(_card_text(*args, **kwargs), STATIC)
