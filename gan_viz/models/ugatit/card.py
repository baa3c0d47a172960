"""The model card of the male <-> female U-GAT-IT (Hugging Face model-card form): runs, losses, measured quality."""
from __future__ import annotations

from gan_viz import cards
from gan_viz.cards import loss_rows

FAMILY = "ugatit"


def _runs_table(runs: list[dict]) -> str:
    rows = [f"| {r.get('date', '?')} | {r.get('hardware', '?')} | {r.get('start_step', 0)} -> {r.get('end_step', '?')} "
            f"| {r.get('image_size', '?')} px, batch {r.get('batch_size', '?')} per domain | {r.get('lr', '1.0e-04')} "
            f"| {r.get('minutes', 0):.0f} |" for r in runs]
    return ("| date | hardware | steps | images | learning rate | minutes |\n|---|---|---|---|---|---|\n"
            + "\n".join(rows))


def _loss_table(records: list[dict]) -> str:
    def row(r: dict) -> str:
        focus = f"{r['loss_focus']:.3f}" if "loss_focus" in r else "-"  # only runs with the focus loss log it
        return (f"| {r['step']} | {r['loss_adv']:.3f} | {r['loss_cycle']:.3f} | {r['loss_identity']:.3f} | "
                f"{r['loss_cam']:.3f} | {focus} | {r['loss_d']:.3f} |")
    return ("| step | adversarial | cycle (x10) | identity (x10) | CAM (x1000) | focus | D |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(row(r) for r in loss_rows(records, "loss_adv")))


STATIC = {  # the card's fixed sections (gan_viz/cards.py)
    "tags": ["u-gat-it", "image-to-image", "attention", "class-activation-mapping"],
    "metrics": ["flip_rate", "ssim", "spearman"],
    "intended": ("Teaching: how class-activation-map attention steers an image-to-image translator. Not offered in "
                 "the app until it flips faces at least as well as the bundled CycleGAN (Evaluation)."),
    "out_of_scope": ("Changing the apparent gender of real people in photos they have not agreed to; deceptive or "
                     "harassing edits; any claim about anyone's gender identity. Not for children's faces."),
    "limitations": cards.GENDER_LIMITS + (" Trained on adults aged 18-65 at 96 px, and far shorter than the paper's "
                                          "runs (Training)."),
    "training_command": ("`python -m gan_viz.models.ugatit.train --data DIR --batch-size 4 --bf16` (DIR: UTKFace's "
                         "aligned crops); a run resumes from this folder (`resume.json` and the weights), so runs on "
                         "different machines add up."),
    "evaluation_default": ("Not yet measured against the CycleGAN for these weights, so the app does not offer them: "
                           "`python benchmarks/gender_flip_quality.py --data DIR --translator ugatit --write-card`, then "
                           "the same with `--pictures` (the verdict the app reads) and with `--agreement`."),
    "citation": ("Kim, Kim, Kang, Lee, \"U-GAT-IT: Unsupervised Generative Attentional Networks with Adaptive "
                 "Layer-Instance Normalization for Image-to-Image Translation\", ICLR 2020; Zhang, Song, Qi, CVPR 2017 "
                 "(UTKFace)."),
    "by_group": False,
}


def _average_note(runs: list[dict]) -> str:
    """Since which step the shipped generators are the moving average of the trained ones (train.make_ema)."""
    first = next((r for r in runs if r.get("ema_decay")), None)
    if first is None:
        return ""
    now, decay = "", first["ema_decay"]
    for r in runs[runs.index(first) + 1:]:  # a later run may average over a shorter window
        if r.get("ema_decay", decay) != decay:
            decay = r["ema_decay"]
            now += f"; {decay} from step {r['start_step']:,}"
    return (f" (from step {first['start_step']:,} on, the exponential moving average of the trained generators, decay "
            f"{first['ema_decay']} per step{now}, which a run resumed from here goes on from)")


def _focus_note(runs: list[dict]) -> str:
    """Since which step the focus loss (beyond the paper, train.focus_loss) has trained the attention, if ever."""
    used = [r for r in runs if r.get("focus_weight")]
    if not used:
        return ""

    def setting(r: dict) -> str:  # the charge on G is named only where it is not the pull's equal
        charge = r.get("focus_charge", 1.0)
        return f"{r['focus_weight']:g}" + (f" (G charged at {charge:g} of it)" if charge != 1.0 else "")

    first, weights = used[0], setting(used[0])
    for before, r in zip(used, used[1:]):
        if setting(r) != setting(before):
            weights += f", {setting(r)} from step {r['start_step']:,}"
    return (f" From step {first['start_step']:,} on, beyond the paper, the focus loss at weight {weights} "
            "(`train.focus_loss`): the fused attention map as a soft mask on where G may change a face, charging G for "
            "change where attention is low and moving the map towards where the change is.")


def model_card(config: dict, meta: dict, records: list[dict]) -> str:
    """The card in the Hugging Face form: what the nets are, the runs so far and their losses."""
    description = f"""U-GAT-IT (Kim, Kim, Kang and Lee, ICLR 2020), light mode, at this project's CycleGAN scale: generators
`male_to_female` and `female_to_male` (an encoder of {config['n_res']} residual blocks at width {4 * config['ngf']}, the CAM
attention module, {config['n_res']} AdaLIN residual blocks, LIN up-sampling), and for each domain a global and a local
discriminator with spectral norm and their own CAM (width {config['ndf']}; {config['global_layers']} and
{config['local_layers']} layers). Trained at {config['image_size']} px. Unlike the CycleGAN's probe, this attention is part
of the translation: the auxiliary classifier's weights w_k re-weight the encoder's maps before the decoder sees them."""
    training = f"""{STATIC['training_command']}

Data: {cards.UTKFACE} Adults aged 18-65, split into domains by the gender label.
Started from: {meta.get('init', '?')}. Steps: {meta['step']:,}; images seen: {meta.get('images_seen', 0):,}.
Losses as the paper: least-squares adversarial 1 (global and local D, and their CAM logits), cycle L1 10, identity
L1 10, the generators' CAM loss 1000; Adam 1e-4, betas (0.5, 0.999), weight decay 1e-4; rho clipped to [0, 1].{_focus_note(meta.get('runs', []))}
Stored as: generators float16{_average_note(meta.get('runs', []))}, discriminators int8 per output channel
(`gan_viz/quantize.py`).

{_runs_table(meta.get('runs', []))}

Losses (full log in `training_log.json`):

{_loss_table(records)}"""
    sections = {"Intended uses": STATIC["intended"], "Out-of-scope uses": STATIC["out_of_scope"],
                "Evaluation": STATIC["evaluation_default"], "Limitations and bias": STATIC["limitations"],
                "Training": training, "Citation": STATIC["citation"], "History": "The first runs: see Training."}
    return cards.render("gan-viz U-GAT-IT, male <-> female faces (attention in the loop)", description, sections,
                        STATIC["tags"], STATIC["metrics"])
