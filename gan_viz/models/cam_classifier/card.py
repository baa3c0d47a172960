"""The model card of the CAM face classifier: what the weights are, what they were trained on, how well they do."""
from __future__ import annotations

from gan_viz import cards

from gan_viz.models.cam_classifier.network import CAMClassifierConfig, receptive_field

FAMILY = "cam_classifier"

STATIC = {  # the card's fixed sections (gan_viz/cards.py)
    "tags": ["class-activation-mapping", "image-classification"],
    "metrics": ["accuracy", "expected_calibration_error"],
    "intended": ('Teaching and exploring: the CAM tab of gan-viz shows where this classifier finds the evidence for a '
        'class (CAM, Grad-CAM, Grad-CAM++), the adversarial tab attacks it, and the gender-flip tab uses it '
        'to pick a direction and to judge the translators in the benchmarks.'),
    "out_of_scope": ("Judging, inferring or recording anyone's gender or age; identification; any decision about a person;"
        ' photos of people who have not agreed to it. Its probabilities are calibrated on faces: on pictures '
        'without a face they mean nothing.'),
    "limitations": cards.GENDER_LIMITS + (" It is less accurate on children and on people over 60, and the data set's groups are unequal in "
        'size (Evaluation by group). The age groups are coarse. Faces must be seen from the front and at '
        'least 40 px wide.'),
    "training_command": ("`python -m gan_viz.models.cam_classifier.train --data DIR` (DIR: UTKFace's aligned crops; the "
        "README's Training section gives the exact commands behind these weights)."),
    "evaluation_default": ('Not measured yet for these weights: `python -m gan_viz.models.cam_classifier.evaluate --data DIR '
        '--app-path --write-card`.'),
    "citation": ('Zhou, Khosla, Lapedriza, Oliva, Torralba, "Learning Deep Features for Discriminative Localization", '
        'CVPR 2016 (CAM); Selvaraju et al., "Grad-CAM", ICCV 2017; Chattopadhay et al., "Grad-CAM++", WACV '
        '2018; Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", 2015; Zhang, Song, Qi, '
        '"Age Progression/Regression by Conditional Adversarial Autoencoder", CVPR 2017 (UTKFace).'),
    "by_group": True,
}

ROBUST_STATIC = {  # the card's fixed sections (gan_viz/cards.py)
    "tags": ["class-activation-mapping", "image-classification", "adversarial-training"],
    "metrics": ["accuracy", "attack_success_rate"],
    "intended": ('Teaching: the adversarial-examples tab of gan-viz attacks this twin beside the standard classifier, '
        'to show what adversarial training buys against FGSM and what it does not against PGD.'),
    "out_of_scope": ('Any use as a robust or secure classifier: PGD fools it on most faces at 4/255. Judging or inferring '
        "anyone's gender; any decision about a person."),
    "limitations": cards.GENDER_LIMITS + (' Adversarial training cost clean accuracy; robustness holds against one-step attacks, not iterated '
        'ones. Less accurate on children and people over 60 (Evaluation by group).'),
    "training_command": ('`python -m gan_viz.models.cam_classifier.train --data DIR --adversarial-eps 3 --adversarial-mix 0.7 '
        "--init-from checkpoints/cam_classifier ...` (the README's Training section gives the exact command)."),
    "evaluation_default": ('Not measured yet for these weights: `python benchmarks/adversarial.py --data DIR --n 0 --write-card '
        'checkpoints/cam_classifier_robust`.'),
    "citation": ('Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015 (FGSM); '
        'Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018 (PGD); '
        'Wong, Rice, Kolter, "Fast is better than free", ICLR 2020; Zhang, Song, Qi, CVPR 2017 (UTKFace).'),
    "by_group": True,
}


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


def _card_text(config: dict, metrics: dict, settings: dict, robust: bool = False) -> str:
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


def model_card(config: dict, metrics: dict, settings: dict, robust: bool = False) -> str:
    """The card in the Hugging Face form (gan_viz/cards.py)."""
    return cards.restructure(_card_text(config, metrics, settings, robust), ROBUST_STATIC if robust else STATIC)
