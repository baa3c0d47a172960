"""The model card of the male <-> female U-GAT-IT (Hugging Face model-card form): runs, losses, measured quality."""
from __future__ import annotations

from gan_viz.cards import loss_rows

FAMILY = "ugatit"


def _runs_table(runs: list[dict]) -> str:
    rows = [f"| {r.get('date', '?')} | {r.get('hardware', '?')} | {r.get('start_step', 0)} -> {r.get('end_step', '?')} "
            f"| {r.get('image_size', '?')} px, batch {r.get('batch_size', '?')} per domain | {r.get('minutes', 0):.0f} |"
            for r in runs]
    return "| date | hardware | steps | images | minutes |\n|---|---|---|---|---|\n" + "\n".join(rows)


def _loss_table(records: list[dict]) -> str:
    picked = loss_rows(records, "loss_adv")
    rows = [f"| {r['step']} | {r['loss_adv']:.3f} | {r['loss_cycle']:.3f} | {r['loss_identity']:.3f} | "
            f"{r['loss_cam']:.3f} | {r['loss_d']:.3f} |" for r in picked]
    return ("| step | adversarial | cycle (x10) | identity (x10) | CAM (x1000) | D |\n|---|---|---|---|---|---|\n"
            + "\n".join(rows))


def model_card(config: dict, meta: dict, records: list[dict], evaluation: str = "") -> str:
    """Markdown with YAML metadata; `evaluation` is the benchmark's section (benchmarks/gender_flip_quality.py)."""
    return f"""---
license: other
license_name: utkface-non-commercial
tags: [gan-viz, u-gat-it, image-to-image, attention, class-activation-map]
datasets: [utkface]
metrics: [flip_rate, ssim, spearman]
---
# gan-viz U-GAT-IT, male <-> female faces (attention in the loop)

U-GAT-IT (Kim, Kim, Kang and Lee, ICLR 2020), light mode, at this project's CycleGAN scale: generators
`male_to_female` and `female_to_male` (encoder of {config['n_res']} residual blocks at width {4 * config['ngf']},
the CAM attention module, {config['n_res']} AdaLIN residual blocks, LIN up-sampling), and for each domain a
global and a local discriminator with spectral norm and their own CAM (width {config['ndf']}; {config['global_layers']}
and {config['local_layers']} layers). Trained at {config['image_size']} px. Unlike the CycleGAN's probe, this
attention is part of the translation: the auxiliary classifier's weights w_k re-weight the encoder's maps
before the decoder sees them.

## Intended uses
Teaching: showing how class-activation-map attention steers an image-to-image translator, in the
gan-viz app's gender-flip tab and its `/translator_attention` endpoint.

## Out-of-scope uses
Never for judging, inferring or changing anyone's gender identity, for identification, or for any
decision about a person. Not for photos of people who have not agreed to be edited.

## Evaluation
{evaluation or "Not yet measured against the CycleGAN (`python benchmarks/gender_flip_quality.py --translator ugatit --data DIR`)."}

## Limitations and bias
Gender here is the binary label of UTKFace's annotation, translated as appearance; it says nothing about
anyone's identity. Trained on adults aged 18-65; children, older people and faces far from frontal are
outside what it has seen.

## Training
`python -m gan_viz.models.ugatit.train --data DIR` (DIR: UTKFace's aligned crops, Zhang, Song and Qi,
CVPR 2017; non-commercial research and education only, and so are these weights). A run resumes from
this folder (`resume.json` and the weights), so runs on different machines add up.
Started from: {meta.get('init', '?')}. Steps: {meta['step']}; images seen: {meta.get('images_seen', 0):,}.
Losses as the paper: least-squares adversarial 1, cycle 10, identity 10, CAM 1000; Adam 1e-4.
Stored as: generators float16, discriminators int8 per output channel.

{_runs_table(meta.get('runs', []))}

Losses (full log in `training_log.json`):

{_loss_table(records)}

## Citation
```
@inproceedings{{kim2020ugatit,
  title={{U-GAT-IT: Unsupervised Generative Attentional Networks with Adaptive Layer-Instance Normalization
         for Image-to-Image Translation}},
  author={{Kim, Junho and Kim, Minjae and Kang, Hyeonwoo and Lee, Kwang Hee}},
  booktitle={{ICLR}}, year={{2020}}
}}
```
"""
