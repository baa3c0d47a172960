"""Training entry point of the male <-> female U-GAT-IT: python -m gan_viz.models.ugatit.train --data DIR.

The paper's losses and weights (Kim et al., ICLR 2020): least-squares adversarial on the global and
local discriminators and on their CAM logits (1), cycle L1 (10), identity L1 (10), and the generators'
CAM loss (1000): each generator's auxiliary classifier says "source domain" for the image it translates
and "not source" for a target-domain image it should leave alone. Adam 1e-4, betas (0.5, 0.999), weight
decay 1e-4; rho clipped to [0, 1] after every generator step. Faces aged 18-65, training split.

The encoder and decoder start from the bundled CycleGAN where the shapes allow (--init-cyclegan).
Resumable from --run-dir; stops at --max-minutes; exports to checkpoints/ugatit with its card and the
state a later run resumes from (resume.json beside the weights), so CPU and GPU runs add up. The exported generators
are an exponential moving average of the trained ones (--ema-decay); a run resumed from the export goes on from it.
"""
from __future__ import annotations

import argparse
import json
import random
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from gan_viz import hub, training
from gan_viz.models.ugatit.card import model_card
from gan_viz.models.ugatit.network import UGATIT, UGATITConfig
from gan_viz.quantize import quantise_state

RESUME_FILE = "resume.json"  # beside the export: step, images seen, runs so far
DIRECTIONS = ("male_to_female", "female_to_male")
WEIGHTS = {"adv": 1.0, "cycle": 10.0, "identity": 10.0, "cam": 1000.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = training.common_args(__doc__.splitlines()[0], "ugatit")
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=1, help="per domain (the paper's 1)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--total-steps", type=int, default=100_000, help="schedule length; lr decays over its second half")
    p.add_argument("--cam-weight", type=float, default=WEIGHTS["cam"])
    p.add_argument("--focus-weight", type=float, default=0.0,
                   help="beyond the paper: the attention map as a soft mask on where G may change a face (focus_loss; "
                        "0: the paper's losses only)")
    p.add_argument("--focus-charge", type=float, default=1.0,
                   help="weight of focus_loss's charge on G (change where attention is low) against its pull on the "
                        "map (1: equal; lower keeps more of G's change)")
    p.add_argument("--ema-decay", type=float, default=0.999,
                   help="the exported generators average the trained ones with this decay per step (0: no average)")
    p.add_argument("--init-cyclegan", default=str(training.REPO_ROOT / "checkpoints"),
                   help="checkpoints folder whose cyclegan/ starts the generators ('' = from scratch)")
    p.add_argument("--limit", type=int, default=0, help="use only this many files (smoke tests)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast for the forward passes")
    p.add_argument("--device", default="", help="cuda or cpu (default: cuda when there is one)")
    return p.parse_args(argv)


# ---------------------------------------------------------------- model


def init_from_cyclegan(m: UGATIT, checkpoints: str) -> str:
    """Copy the CycleGAN generators' convs where the shapes match: encoder, decoder convs, up-sampling, output.

    Read through hub.py (the families never import each other). The CycleGAN's transposed up-sampling
    convs become our nearest-up-sampling convs with the kernel flipped and transposed; LIN follows, so
    their scale does not matter.
    """
    w = hub.resolve("cyclegan", hub.HubSettings(checkpoints=training.Path(checkpoints))).state_dict()
    for direction in ("male_to_female", "female_to_male"):
        g = m.generator(direction)
        cg = {k[len(direction) + 7:]: v.float() for k, v in w.items() if k.startswith(f"{direction}.model.")}
        n_res = len(g.decoder)
        enc = {k: v for k, v in cg.items() if int(k.split(".")[0]) < 10 + n_res}
        g.encoder.load_state_dict(enc, strict=True)
        with torch.no_grad():
            for i, block in enumerate(g.decoder):
                src = 10 + n_res + i
                block.conv1.weight.copy_(cg[f"{src}.body.1.weight"]), block.conv1.bias.copy_(cg[f"{src}.body.1.bias"])
                block.conv2.weight.copy_(cg[f"{src}.body.5.weight"]), block.conv2.bias.copy_(cg[f"{src}.body.5.bias"])
            first_up = 10 + 2 * n_res
            for conv, src in ((g.up[2], first_up), (g.up[7], first_up + 3)):
                conv.weight.copy_(cg[f"{src}.weight"].transpose(0, 1).flip(2, 3))
                conv.bias.copy_(cg[f"{src}.bias"])
            out = first_up + 7
            g.up[-2].weight.copy_(cg[f"{out}.weight"]), g.up[-2].bias.copy_(cg[f"{out}.bias"])
            g.gamma.weight.mul_(0.1), g.gamma.bias.fill_(1.0)  # start near the CycleGAN's un-scaled norms
            g.beta.weight.mul_(0.1), g.beta.bias.zero_()
    where = training.Path(checkpoints).resolve()
    shown = "checkpoints" if where == (training.REPO_ROOT / "checkpoints").resolve() else str(checkpoints)
    return f"the bundled CycleGAN's generators ({shown}/cyclegan)"


def build(args, device: torch.device):
    cfg = UGATITConfig(image_size=args.image_size)
    # channels_last, as the other trainers: with bf16 on a 2-core Intel Xeon a few per cent more images a second, within
    # the spread of runs (benchmarks/train_speed.py --family ugatit; docs/benchmarks.md)
    m = UGATIT(cfg).to(device, memory_format=torch.channels_last)
    gens = [*m.male_to_female.parameters(), *m.female_to_male.parameters()]
    discs = [p for n, p in m.named_parameters() if n.startswith("D_")]
    opt_g = torch.optim.Adam(gens, lr=args.lr, betas=(0.5, 0.999), weight_decay=1e-4)
    opt_d = torch.optim.Adam(discs, lr=args.lr, betas=(0.5, 0.999), weight_decay=1e-4)
    return cfg, m, opt_g, opt_d


def generators(m: UGATIT) -> nn.ModuleDict:
    """The two generators under their names in m's state dict (what the app loads)."""
    return nn.ModuleDict({d: m.generator(d) for d in DIRECTIONS})


def make_ema(m: UGATIT, decay: float) -> AveragedModel | None:
    """An exponential moving average of the generators' weights, ema <- decay * ema + (1 - decay) * G, after every
    step; the export ships it. At a constant learning rate the two directions trade places from run to run (the
    card's History); an average over the last ~1/(1 - decay) steps (Yazici et al., ICLR 2019) smooths that out."""
    if not decay:
        return None
    return AveragedModel(generators(m), multi_avg_fn=get_ema_multi_avg_fn(decay))


# ---------------------------------------------------------------- losses


def _mse_to(x: torch.Tensor, value: float) -> torch.Tensor:
    return F.mse_loss(x, torch.full_like(x, value))


def d_step(m: UGATIT, opt_d, real: dict, fake: dict) -> float:
    """Each domain's global and local D: real -> 1, translated -> 0, on the patch output and on the CAM logit."""
    loss = 0.0
    for domain in ("male", "female"):
        for scale in ("global", "local"):
            d = getattr(m, f"D_{domain}_{scale}")
            out_r, cam_r, _ = d(real[domain])
            out_f, cam_f, _ = d(fake[domain].detach())
            loss = loss + _mse_to(out_r, 1) + _mse_to(out_f, 0) + _mse_to(cam_r, 1) + _mse_to(cam_f, 0)
    loss = WEIGHTS["adv"] * loss
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    return loss.item()


def focus_loss(x: torch.Tensor, fake: torch.Tensor, heatmap: torch.Tensor, charge: float = 1.0) -> torch.Tensor:
    """Beyond the paper: the generator's fused attention map as a soft mask on where it may change x.

    a = heatmap / its maximum, c = |G(x) - x| pooled to the map's grid: charge mean((1 - a) c) + mean(1 - r(heatmap, c)),
    r the Pearson correlation per face. The first term charges G for change where attention is low (a held fixed);
    the second moves the map towards where G changes the face (c held fixed), at a rate that does not depend on the
    size of the change. The paper's maps mark the source domain's evidence without deciding where the change goes
    (agreement +0.14 to +0.22 over 20,000 steps); a first form of this loss, mean(a (m - c) / m) for the map, stalled
    near +0.27 (docs/benchmarks.md, "U-GAT-IT's attention taught to steer").
    """
    c = F.adaptive_avg_pool2d((fake - x).abs().mean(1, keepdim=True).float() / 2, heatmap.shape[-2:])[:, 0]
    h = heatmap.float()
    a = (h / h.amax((1, 2), keepdim=True).clamp_min(1e-6)).detach()
    hc, cc = h - h.mean((1, 2), keepdim=True), (c - c.mean((1, 2), keepdim=True)).detach()
    r = (hc * cc).sum((1, 2)) / ((hc ** 2).sum((1, 2)) * (cc ** 2).sum((1, 2))).sqrt().clamp_min(1e-12)
    return charge * ((1 - a) * c).mean() + (1 - r).mean()


def g_losses(m: UGATIT, real_m: torch.Tensor, real_f: torch.Tensor, cam_weight: float,
             focus_weight: float = 0.0, focus_charge: float = 1.0) -> tuple[dict, dict]:
    """The generators' losses (the paper's four, and focus_loss when focus_weight > 0), and the translations."""
    fake_f, cam_m2f, heat_m2f = m.male_to_female(real_m)
    fake_m, cam_f2m, heat_f2m = m.female_to_male(real_f)
    rec_m, rec_f = m.female_to_male(fake_f)[0], m.male_to_female(fake_m)[0]
    idt_f, cam_f2f, _ = m.male_to_female(real_f)  # a target-domain image: change nothing, "not source"
    idt_m, cam_m2m, _ = m.female_to_male(real_m)
    adv = 0.0
    for domain, fake in (("female", fake_f), ("male", fake_m)):
        for scale in ("global", "local"):
            out, cam, _ = getattr(m, f"D_{domain}_{scale}")(fake)
            adv = adv + _mse_to(out, 1) + _mse_to(cam, 1)
    cam = sum(F.binary_cross_entropy_with_logits(c, torch.full_like(c, t))
              for c, t in ((cam_m2f, 1.0), (cam_f2m, 1.0), (cam_f2f, 0.0), (cam_m2m, 0.0)))
    losses = {"adv": WEIGHTS["adv"] * adv,
              "cycle": WEIGHTS["cycle"] * (F.l1_loss(rec_m, real_m) + F.l1_loss(rec_f, real_f)),
              "identity": WEIGHTS["identity"] * (F.l1_loss(idt_f, real_f) + F.l1_loss(idt_m, real_m)),
              "cam": cam_weight * cam}
    if focus_weight:
        losses["focus"] = focus_weight * (focus_loss(real_m, fake_f, heat_m2f, focus_charge)
                                          + focus_loss(real_f, fake_m, heat_f2m, focus_charge))
    return losses, {"female": fake_f, "male": fake_m}


def train_step(m: UGATIT, opt_g, opt_d, real_m, real_f, cam_weight: float = WEIGHTS["cam"], bf16: bool = False,
               focus_weight: float = 0.0, focus_charge: float = 1.0) -> dict:
    """One D update on the current translations, then one G update (the paper's order), then rho clipped."""
    with torch.autocast(real_m.device.type, dtype=torch.bfloat16, enabled=bf16):
        with torch.no_grad():
            fake = {"female": m.male_to_female(real_m)[0], "male": m.female_to_male(real_f)[0]}
        loss_d = d_step(m, opt_d, {"male": real_m, "female": real_f}, fake)
        for p in (p for n, p in m.named_parameters() if n.startswith("D_")):
            p.requires_grad_(False)
        losses, _ = g_losses(m, real_m, real_f, cam_weight, focus_weight, focus_charge)
    opt_g.zero_grad(set_to_none=True)
    sum(losses.values()).backward()
    opt_g.step()
    for p in (p for n, p in m.named_parameters() if n.startswith("D_")):
        p.requires_grad_(True)
    m.clip_rho()
    return {f"loss_{k}": v.item() for k, v in losses.items()} | {"loss_d": loss_d}


# ---------------------------------------------------------------- export


def _half(state: dict) -> dict:
    return {k: (v.half() if v.is_floating_point() else v).detach().cpu().contiguous() for k, v in state.items()}


def export(args, m: UGATIT, cfg: UGATITConfig, meta: dict, log: training.MetricsLog, ema=None) -> None:
    """Generators in float16 (their moving average when there is one), discriminators in int8 (gan_viz/quantize.py),
    config, card and resume.json.

    A later run resumes from exactly these weights (optimiser moments restart; the generators as trained are in the
    run folder only: beside the export they would take the repository past its size budget,
    tests/house/test_repository_size.py), so runs on any machine add up through the committed export; the generators,
    which the app shows, lose nothing to int8.
    """
    shown = _half(ema.module.state_dict() if ema is not None else generators(m).state_dict())
    d = quantise_state({k: v.detach().cpu().float() for k, v in m.state_dict().items() if k.startswith("D_")})
    card = model_card(cfg.to_dict(), meta, log.records)
    # The app tells its users when the map was taught to mark the change (the focus loss) in any run behind these
    # weights, not only the last: it reads this key.
    config = cfg.to_dict() | {"focus_weight": max([r.get("focus_weight", 0.0) for r in meta["runs"]], default=0.0)}
    training.export_weights(args.export_dir, shown | d, config, card,
                            {"training_log.json": json.dumps(log.records).encode(),
                             RESUME_FILE: json.dumps(meta, indent=1).encode()})


def restore(args, m, opt_g, opt_d, ema=None) -> dict:
    """Resume from --run-dir, else from the export (weights + resume.json), else start from the CycleGAN or scratch.

    From the export, both training and the average go on from the shipped generators (the average of the run before:
    like a restart of Lookahead's fast weights from its slow ones, Zhang et al., NeurIPS 2019)."""
    modules = {"model": m} | ({"ema": ema} if ema is not None else {})
    meta = training.load_training_state(args.run_dir, modules, {"G": opt_g, "D": opt_d})
    if meta is not None:
        print(f"resumed from {args.run_dir} at step {meta['step']}", flush=True)
        return meta
    folder = training.Path(args.export_dir)
    if (folder / RESUME_FILE).exists() and (folder / "model.safetensors").exists():
        sd = hub.ResolvedWeights("ugatit", folder, "bundled", "").state_dict()
        m.load_state_dict({k: v.float() for k, v in sd.items()})
        if ema is not None:
            ema.module.load_state_dict(generators(m).state_dict())
            ema.n_averaged.fill_(1)  # an average already: the next step blends into it instead of replacing it
        meta = json.loads((folder / RESUME_FILE).read_text())
        print(f"resumed from the export {folder} at step {meta['step']} (optimiser restarts)", flush=True)
        return meta
    start = init_from_cyclegan(m, args.init_cyclegan) if args.init_cyclegan else "random initialisation"
    return {"step": 0, "images_seen": 0, "init": start, "runs": []}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    training.refuse_distributed("U-GAT-IT")
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    images, idx_m, idx_f = training.load_gender_domains(args.data, args.image_size, args.limit)
    cfg, m, opt_g, opt_d = build(args, device)
    ema = make_ema(m, args.ema_decay)
    meta = restore(args, m, opt_g, opt_d, ema)
    run = {"start_step": meta["step"], "hardware": training.hardware_line(device), "date": time.strftime("%Y-%m-%d"),
           "batch_size": args.batch_size, "image_size": args.image_size, "minutes": 0.0, "ema_decay": args.ema_decay}
    if args.focus_weight:
        run["focus_weight"] = args.focus_weight
        if args.focus_charge != 1.0:
            run["focus_charge"] = args.focus_charge
    meta["runs"].append(run)
    log = training.MetricsLog(training.Path(args.run_dir) / "metrics.json")
    budget = training.run_budget(args)
    gen = torch.Generator().manual_seed(args.seed * 7919 + meta["step"])

    def checkpoint():
        run.update(end_step=meta["step"], minutes=round(budget.elapsed_minutes, 1),
                   lr=f"{lr_at(run['start_step']):.1e} -> {lr_at(meta['step']):.1e}")
        modules = {"model": m} | ({"ema": ema} if ema is not None else {})
        training.save_training_state(args.run_dir, modules, {"G": opt_g, "D": opt_d}, meta)
        export(args, m, cfg, meta, log, ema)
        print(f"checkpoint at step {meta['step']}", flush=True)

    def lr_at(step: int) -> float:
        # the paper's schedule: constant, then linear to 0 over the second half of --total-steps
        return args.lr * min(1.0, max(0.0, (args.total_steps - step) / (args.total_steps / 2)))

    m.train()
    trained = generators(m)
    while meta["step"] < args.total_steps:
        for group in opt_g.param_groups + opt_d.param_groups:
            group["lr"] = lr_at(meta["step"])
        real_m, real_f = (training.domain_batch(images, idx, args.image_size, args.batch_size, gen)
                          .to(device).contiguous(memory_format=torch.channels_last) for idx in (idx_m, idx_f))
        losses = train_step(m, opt_g, opt_d, real_m, real_f, args.cam_weight, args.bf16, args.focus_weight,
                            args.focus_charge)
        if ema is not None:
            ema.update_parameters(trained)
        meta["images_seen"] += 2 * args.batch_size
        if training.end_of_step(meta, losses, log, budget, training.Dist(device=device), checkpoint):
            break
    checkpoint()


if __name__ == "__main__":
    main()
