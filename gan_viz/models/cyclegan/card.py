"""The model card of the male <-> female CycleGAN: settings, losses, and (once measured) the flip rate."""
from __future__ import annotations

from gan_viz import cards

from gan_viz.cards import loss_rows

FAMILY = "cyclegan"

STATIC = {  # the card's fixed sections (gan_viz/cards.py)
    "tags": ["cyclegan", "image-to-image"],
    "metrics": ["flip_rate", "ssim"],
    "intended": ('Teaching: the gender-flip tab of gan-viz translates faces male <-> female and shows the whole cycle,'
        ' what changed and where the translator looks, so students see what an unpaired translator learns and'
        ' loses.'),
    "out_of_scope": ('Changing the apparent gender of real people in photos they have not agreed to; deceptive or '
        "harassing edits; any claim about anyone's gender identity. Not for children's faces (it never saw "
        'them).'),
    "limitations": cards.GENDER_LIMITS + (' Trained on adults aged 18-65: children and older faces flip less well and look less natural '
        "(Evaluation by group). The flip rate is a classifier's verdict, not a person's."),
    "training_command": ("`python -m gan_viz.models.cyclegan.train --data DIR` in two stages, 64 px then 96 px (the README's "
        'Training section gives the exact commands).'),
    "evaluation_default": ('Not measured yet for these weights: `python benchmarks/gender_flip_quality.py --data DIR --write-'
        'card` (and `--pictures`).'),
    "citation": ('Zhu, Park, Isola, Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial '
        'Networks", ICCV 2017; Kim, Kim, Kang, Lee, "U-GAT-IT", ICLR 2020 (the CAM module used as a probe); '
        'Zhang, Song, Qi, CVPR 2017 (UTKFace).'),
    "by_group": True,
}


def receptive_field(d_layers: int) -> int:
    """Pixels one PatchGAN score sees: 4x4 convs, d_layers + 1 of them with stride 2 except the last two (70 for 3)."""
    strides = [2] * d_layers + [1, 1]
    rf = 1
    for s in reversed(strides):
        rf = (rf - 1) * s + 4
    return rf


def _card_text(config: dict, step: int, records: list[dict], settings: dict) -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in settings.items())
    picked = loss_rows(records, "loss_gan")
    curve = "\n".join(f"| {r['step']} | {r['loss_gan']:.3f} | {r['loss_cycle']:.3f} | {r['loss_identity']:.3f} | "
                      f"{r['loss_d']:.3f} |" for r in picked)
    return f"""---
license: other
license_name: utkface-non-commercial
tags: [gan-viz, cyclegan, image-to-image]
---
# gan-viz CycleGAN, male <-> female faces

CycleGAN (Zhu, Park, Isola and Efros, ICCV 2017) trained by this project with
`python -m gan_viz.models.cyclegan.train --data DIR`, at
{config['image_size']}x{config['image_size']} px, for {step} steps. Generators `male_to_female` and
`female_to_male` (ResNet, {config['n_blocks']} blocks, width {config['ngf']}); PatchGAN discriminators
`D_female` and `D_male` (width {config['ndf']}, {config.get('d_layers', 3)} layers: each score sees a
{receptive_field(config.get('d_layers', 3))}x{receptive_field(config.get('d_layers', 3))} px patch).

## Training data and licence
UTKFace aligned crops of people aged 18-65 (Zhang, Song and Qi, CVPR 2017), training split
(the validation tenth chosen by a salted SHA-1 of the file name in `gan_viz/utkface.py` is
held out), split into domains by the gender in the file name. **UTKFace is for
non-commercial research and education only; so are these weights.**

## Training settings
| setting | value |
|---|---|
{rows}

## Losses (full log in training_log.json)
| step | G adversarial (LSGAN) | cycle (weighted) | identity (weighted) | D |
|---|---|---|---|---|
{curve}

## Limits
Gender here is the binary label of the data set's annotation, translated as appearance;
it says nothing about anyone's identity.
"""


def model_card(*args, **kwargs) -> str:
    """The card in the Hugging Face form (gan_viz/cards.py); arguments as _card_text's."""
    return cards.restructure(_card_text(*args, **kwargs), STATIC)
