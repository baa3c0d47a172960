"""The model card of the CAM face classifier: what the weights are, what they were trained on, how well they do."""
from __future__ import annotations

from gan_viz.models.cam_classifier.network import CAMClassifierConfig, receptive_field

FAMILY = "cam_classifier"


ROBUST_FAMILY = "cam_classifier_robust"  # the adversarially trained twin: same code, its own weights and card
ROBUST_INTRO = (
    "The adversarially trained twin of the CAM face classifier: the same network, fine-tuned from it on FGSM "
    "examples with a random start (Wong, Rice and Kolter, ICLR 2020, 'Fast is better than free'), so that the "
    "adversarial-examples tab can show what adversarial training buys against FGSM, and what it does not against "
    "PGD. Trained with `python -m gan_viz.models.cam_classifier.train --adversarial-eps ...` (see Training settings).")


def architecture(config: dict) -> str:
    """One sentence on the conv stack: what one position of the last map sees."""
    c = CAMClassifierConfig.from_dict(config)
    rf = receptive_field(c)
    if not c.context_dilations:
        return (f"Five 3x3 conv stages (strides 2, 1, 2, 1, 1): one position of the last map sees a {rf}x{rf} px "
                f"window of the input.")
    return (f"Five 3x3 conv stages (strides 2, 1, 2, 1, 1); conv4 ends in a residual pair of 3x3 convs dilated "
            f"{' and '.join(map(str, c.context_dilations))} (Yu et al., CVPR 2017), so one position of the last map "
            f"sees a {rf}x{rf} px window of the input, not 27x27, while the map keeps its resolution.")


def model_card(config: dict, metrics: dict, settings: dict, robust: bool = False) -> str:
    m = metrics
    rows = "\n".join(f"| {k} | {v} |" for k, v in settings.items())
    return f"""---
license: other
license_name: utkface-non-commercial
tags: [gan-viz, class-activation-mapping, image-classification]
---
# gan-viz CAM face classifier{", adversarially trained twin" if robust else ""}
{ROBUST_INTRO + chr(10) + chr(10) if robust else ""}
A small convolutional face classifier whose last conv feature map
({config['image_size'] // 4}x{config['image_size'] // 4}x{config['width'] * 8}) is globally average pooled and fed to one
linear layer per head, so that class activation maps (Zhou et al., CVPR 2016) read
straight off its weights. Heads: `gender` ({", ".join(config['heads']['gender'])}) and
`age_group` ({", ".join(config['heads']['age_group'])}). Input: a {config['image_size']}x{config['image_size']}
RGB face crop framed like the UTKFace aligned crops, scaled to [-1, 1].
{architecture(config)}

Trained by this project with `python -m gan_viz.models.cam_classifier.train --data DIR`.

## Training data and licence
UTKFace aligned crops (Zhang, Song and Qi, CVPR 2017). **UTKFace is for non-commercial
research and education only; so are these weights.** The validation split is every
file whose salted SHA-1 of its name is 0 mod 10 (`gan_viz/utkface.py`, 2,141 files); it
was never trained on.

## Metrics (validation split, measured at export by the training script)
| metric | value |
|---|---|
| gender accuracy, ages 18-65 | {m['gender_acc_18_65']:.4f} (n={m['n_18_65']}) |
| gender accuracy, all ages | {m['gender_acc_all']:.4f} (n={m['n_val']}) |
| age-group accuracy (5 groups), all ages | {m['age_acc']:.4f} |
| epoch of these weights | {m['epoch']} |
{f"| weights | {m['weights']} |" + chr(10) if 'weights' in m else ''}
Rerun: `python -m gan_viz.models.cam_classifier.evaluate --data DIR`.

## Training settings
| setting | value |
|---|---|
{rows}

## Limits
Gender is predicted as a binary label from appearance, as in the data set's annotation;
it says nothing about anyone's identity. Children's faces and profile views are harder
(see the all-ages accuracy). The age groups are coarse and the accuracy is modest.
"""
