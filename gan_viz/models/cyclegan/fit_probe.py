"""Fit U-GAT-IT's CAM module as a probe on the frozen CycleGAN: python -m gan_viz.models.cyclegan.fit_probe --data DIR.

Minutes on a CPU, not a training run: the CycleGAN is frozen, its features are computed once, and
each of the four auxiliary classifiers (GAP and GMP branches, no bias) is a logistic regression.
  encoders:        male_to_female's on male (1) vs female (0) faces; female_to_male's the other way round
  discriminators:  D_female on real female (1) vs male faces translated to female (0); D_male likewise
Training-split adults fit it; validation adults measure its accuracy and how well the encoder's
attention agrees with what the translator changes (Spearman's rho between the fused heatmap and
|G(x) - x| pooled to the same grid, and the IoU of their top 20% cells). Writes the probe into the
weights folder: its tensors into model.safetensors (prefix "probe."), its numbers into config.json
under "probe", and a section of the model card.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from gan_viz import cards, utkface
from gan_viz.models.cyclegan import attention_probe as ap
from gan_viz.models.cyclegan.network import CycleGAN, CycleGANConfig

ROOT = Path(__file__).resolve().parents[3]
SECTION = "## Where the translator looks: U-GAT-IT's CAM module as a probe"


def faces(recs: list[utkface.Record], gender: int, n: int, size: int) -> torch.Tensor:
    chosen = [r for r in recs if r.gender == gender and 18 <= r.age <= 65]
    chosen = [chosen[i] for i in sorted(np.random.default_rng(gender).permutation(len(chosen))[:n])]
    return utkface.to_input(torch.from_numpy(np.ascontiguousarray(utkface.load_images(chosen, size))))


@torch.inference_mode()
def batched(net, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
    return torch.cat([net(x[i:i + batch]) for i in range(0, len(x), batch)])


def features(model: CycleGAN, men: torch.Tensor, women: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(positive, negative) features per probe."""
    to_f = batched(model.male_to_female, men)
    to_m = batched(model.female_to_male, women)
    enc = {d: ap.feature_net(model, d) for d in ("male_to_female", "female_to_male")}
    dis = {d: ap.feature_net(model, d) for d in ("D_female", "D_male")}
    return {
        "male_to_female": (batched(enc["male_to_female"], men), batched(enc["male_to_female"], women)),
        "female_to_male": (batched(enc["female_to_male"], women), batched(enc["female_to_male"], men)),
        "D_female": (batched(dis["D_female"], women), batched(dis["D_female"], to_f)),
        "D_male": (batched(dis["D_male"], men), batched(dis["D_male"], to_m)),
    }


def agreement(model: CycleGAN, probe: ap.CAMProbe, direction: str, x: torch.Tensor) -> dict[str, float]:
    """Mean over faces of rho(fused attention, |G(x) - x|) and of the top-20% IoU, on the attention's grid."""
    e = batched(ap.feature_net(model, direction), x)
    change = (batched(model.generator(direction), x) - x).abs().mean(1, keepdim=True)  # (N, 1, S, S)
    change = F.adaptive_avg_pool2d(change, e.shape[-2:])[:, 0].numpy()
    rho, iou = [], []
    for i in range(len(x)):
        r = ap.read(probe, e[i:i + 1], direction)
        rho.append(ap.rank_correlation(r.fused, change[i]))
        iou.append(ap.top_overlap(r.fused, change[i]))
    return {"spearman": float(np.mean(rho)), "top20_iou": float(np.mean(iou)), "n": len(x)}


def card_section(report: dict) -> str:
    rows = "\n".join(f"| `{name}` | {ap.PROBES[name]} | {r['val_accuracy']['gap']:.3f} | {r['val_accuracy']['gmp']:.3f} |"
                     for name, r in report["probes"].items())
    agree = "\n".join(f"| {d} | {a['spearman']:+.3f} | {a['top20_iou']:.3f} | {a['n']} |" for d, a in report["agreement"].items())
    return f"""{SECTION}
U-GAT-IT (Kim et al., ICLR 2020) puts a class-activation-map module inside its translator; ours
never had one, so it is fitted afterwards on the frozen nets as a **probe** (`python -m
gan_viz.models.cyclegan.fit_probe --data DIR`): bias-free logistic regressions
on GAP and on GMP of the encoder's features after the residual blocks, and of each
discriminator's last feature maps. Fitted on {report['n_fit']} training-split adults per gender,
measured on {report['n_val']} validation adults per gender (chance: 0.5).

| net | positive class | val. accuracy, GAP branch | val. accuracy, GMP branch |
|---|---|---|---|
{rows}

Agreement of the encoder's fused attention map with what G changes, |G(x) - x| pooled to the
same {report['grid']}x{report['grid']} grid, on validation faces of the source gender (Spearman's rho; IoU of the top 20% cells;
independent maps give rho 0 and IoU about 0.11):

| direction | rho | top-20% IoU | faces |
|---|---|---|---|
{agree}
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--weights", default=str(ROOT / "checkpoints" / "cyclegan"))
    p.add_argument("--n-fit", type=int, default=600, help="training adults per gender")
    p.add_argument("--n-val", type=int, default=300, help="validation adults per gender")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    folder = Path(args.weights)
    config = json.loads((folder / "config.json").read_text())
    state = load_file(folder / "model.safetensors")
    net_state, _ = ap.split_state(state)
    model = CycleGAN(CycleGANConfig.from_dict(config))
    model.load_state_dict({k: v.float() for k, v in net_state.items()})
    model.eval()
    size = model.config.image_size
    recs = utkface.records(args.data)
    train = [r for r in recs if not r.is_validation]
    val = [r for r in recs if r.is_validation]
    fit_f = features(model, faces(train, 0, args.n_fit, size), faces(train, 1, args.n_fit, size))
    val_men, val_women = faces(val, 0, args.n_val, size), faces(val, 1, args.n_val, size)
    val_f = features(model, val_men, val_women)
    probes = ap.build_probes(model)
    report = {"n_fit": args.n_fit, "n_val": args.n_val, "probes": {}, "agreement": {}}
    for name, probe in probes.items():
        ap.fit(probe, *fit_f[name])
        report["probes"][name] = {"positive": ap.PROBES[name], "fit_accuracy": ap.accuracy(probe, *fit_f[name]),
                                  "val_accuracy": ap.accuracy(probe, *val_f[name])}
        print(name, report["probes"][name], flush=True)
    for direction, x in (("male_to_female", val_men), ("female_to_male", val_women)):
        report["agreement"][direction] = agreement(model, probes[direction], direction, x)
        print(direction, report["agreement"][direction], flush=True)
    report["grid"] = int(fit_f["male_to_female"][0].shape[-1])

    dtype = next(v.dtype for k, v in net_state.items() if v.is_floating_point())
    tensors = {**net_state, **{ap.PREFIX + k: v.detach().to(dtype).contiguous() for k, v in probes.state_dict().items()}}
    save_file(tensors, folder / "model.safetensors")
    config["probe"] = report
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    card = (folder / "README.md").read_text()
    (folder / "README.md").write_text(cards.put_evaluation(card, card_section(report)))
    print(f"probe written into {folder}")


if __name__ == "__main__":
    main()
