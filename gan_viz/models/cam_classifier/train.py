"""Training entry point of the CAM face classifier: python -m gan_viz.models.cam_classifier.train --data DIR.

Resumable (safetensors state in --run-dir), stops itself at --max-minutes, exports the
best validation weights to checkpoints/cam_classifier with the model card. Works under
``torchrun --nproc_per_node N`` (each rank trains on its shard of every epoch).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_viz import training, utkface
from gan_viz.models.cam_classifier import app_crops
from gan_viz.models.cam_classifier.augment import augment_batch
from gan_viz.models.cam_classifier.card import model_card
from gan_viz.models.cam_classifier.evaluate import evaluate
from gan_viz.models.cam_classifier.network import CAMClassifier, CAMClassifierConfig


def fgsm_random_start(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps_levels: float,
                      gen: torch.Generator) -> torch.Tensor:
    """The training input of 'Fast is better than free' (Wong et al. 2020): delta ~ U(-eps, eps), one FGSM step
    of 1.25 eps from there, projected back to the eps-ball. x is in [-1, 1], so a level is 2/255."""
    eps = eps_levels * 2 / 255
    delta = ((torch.rand(x.shape, generator=gen) * 2 - 1) * eps).requires_grad_(True)
    loss = F.cross_entropy(model((x + delta).clamp(-1, 1))["gender"], y)
    (g,) = torch.autograd.grad(loss, delta)
    delta = (delta + 1.25 * eps * g.sign()).clamp(-eps, eps).detach()
    return (x + delta).clamp(-1, 1).contiguous(memory_format=torch.channels_last)


def trades_adversary(model: nn.Module, x: torch.Tensor, eps_levels: float, gen: torch.Generator) -> torch.Tensor:
    """TRADES' training input (Zhang et al., ICML 2019), in one step: from a random start in the eps-ball, one signed
    step of 1.25 eps up the KL divergence between the clean and the perturbed gender predictions, projected back.
    Unlike FGSM on the label it needs no label: it seeks where the prediction moves most, not where it is wrong."""
    eps = eps_levels * 2 / 255
    with torch.no_grad():
        p_clean = F.softmax(model(x)["gender"], 1)
    delta = ((torch.rand(x.shape, generator=gen) * 2 - 1) * eps).requires_grad_(True)
    kl = F.kl_div(F.log_softmax(model((x + delta).clamp(-1, 1))["gender"], 1), p_clean, reduction="batchmean")
    (g,) = torch.autograd.grad(kl, delta)
    delta = (delta + 1.25 * eps * g.sign()).clamp(-eps, eps).detach()
    return (x + delta).clamp(-1, 1).contiguous(memory_format=torch.channels_last)


def main() -> None:
    p = training.common_args(__doc__.splitlines()[0], "cam_classifier")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--width", type=int, default=24)
    p.add_argument("--image-size", type=int, default=80)
    p.add_argument("--context-dilations", type=int, nargs="*", default=[],
                   help="dilations of the residual context convs in conv4 (network.ContextBlock), e.g. 2 4; none: the "
                        "plain five-conv net. With --init-from a plain export, the block starts as the identity")
    p.add_argument("--source-size", type=int, default=128, help="aligned crops are decoded at this size, then re-cropped")
    p.add_argument("--init-from", default=None,
                   help="start a new run from exported weights (config.json + model.safetensors), e.g. the bundled ones; "
                        "convolutions do not depend on the input size, so a 64 px export can start an 80 px run")
    p.add_argument("--adversarial-eps", type=float, default=0.0,
                   help="train on FGSM examples with a random start (Wong et al. 2020, 'Fast is better than free') of this "
                        "L-infinity radius in pixel levels out of 255; 0: standard training")
    p.add_argument("--adversarial-mix", type=float, default=0.0,
                   help="with --adversarial-eps: weight of the clean examples' loss (Goodfellow et al. 2015 used 0.5); "
                        "0 trains on adversarial examples only")
    p.add_argument("--trades-beta", type=float, default=0.0,
                   help="with --adversarial-eps: TRADES (Zhang et al. 2019) instead of FGSM training: loss = CE(clean) + "
                        "beta KL(p(x) || p(x')), x' from trades_adversary; 0: FGSM training as above")
    p.add_argument("--app-crops", default=None,
                   help="an .npz from python -m gan_viz.models.cam_classifier.app_crops: the app's own crops of the training "
                        "faces placed in pictures; --app-crop-share of each batch is drawn from it instead of the aligned crop")
    p.add_argument("--app-crop-share", type=float, default=0.5)
    p.add_argument("--ema-decay", type=float, default=0.0,
                   help="also keep a moving average of the weights (Polyak averaging; BN statistics copied from the trained "
                        "net) with this decay per step, e.g. 0.995; each epoch evaluates both and exports the better; 0: off")
    p.add_argument("--limit", type=int, default=0, help="use only this many files (smoke tests)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    d = training.init_distributed()
    torch.manual_seed(args.seed)

    recs = utkface.records(args.data)
    if args.limit:
        recs = recs[: args.limit]
    train_recs = [r for r in recs if not r.is_validation]
    val_recs = [r for r in recs if r.is_validation] or recs[:8]
    train_x = utkface.load_images(train_recs, args.source_size)  # (N, S0, S0, 3) uint8, re-cropped per step
    app_x = app_crops.load(args.app_crops, train_recs, args.source_size) if args.app_crops else None  # same rows
    val_x = utkface.load_images(val_recs, args.image_size)
    train_g = torch.tensor([r.gender for r in train_recs])
    train_a = torch.tensor([utkface.age_group(r.age) for r in train_recs])

    config = CAMClassifierConfig(image_size=args.image_size, width=args.width,
                                 context_dilations=tuple(args.context_dilations))
    model = CAMClassifier(config).to(memory_format=torch.channels_last)  # measured faster on this CPU
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    steps_per_epoch = math.ceil(len(train_recs) / (args.batch_size * d.world_size))
    total_steps = args.epochs * steps_per_epoch
    # Cosine decay after a short warm-up; the schedule is a pure function of the step, so resuming is exact.
    lr_at = lambda s: args.lr * min(1.0, (s + 1) / 200) * 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps))

    ema = None
    if args.ema_decay > 0:
        ema = CAMClassifier(config).to(memory_format=torch.channels_last).requires_grad_(False)
    modules = {"model": model, **({"ema": ema} if ema is not None else {})}
    run_dir = training.Path(args.run_dir)
    meta = training.load_training_state(run_dir, modules, {"opt": opt})
    if meta is None:
        meta = {"step": 0, "epoch": 0, "best": -1.0}
        if args.init_from:
            from safetensors.torch import load_file
            missing, unexpected = model.load_state_dict(
                {k: v.float() for k, v in load_file(training.Path(args.init_from) / "model.safetensors").items()}, strict=False)
            # Only a new context block may be absent from the export (it starts as the identity); nothing may be left over.
            if unexpected or any(".residual." not in k for k in missing):
                raise SystemExit(f"--init-from {args.init_from} does not fit this network: missing {missing}, "
                                 f"unexpected {unexpected}")
            meta["init_from"] = str(args.init_from)
        if ema is not None:
            ema.load_state_dict(model.state_dict())
    log = training.MetricsLog(run_dir / "metrics.json")
    ddp_model = nn.parallel.DistributedDataParallel(model) if d.world_size > 1 else model
    budget = training.TimeBudget(args.max_minutes, args.checkpoint_minutes)
    rng = np.random.default_rng([args.seed, d.rank, meta["step"]])  # a resumed run does not replay its augmentations
    gen = torch.Generator().manual_seed(args.seed * 1000 + d.rank + meta["step"])
    settings = {"epochs": args.epochs, "batch size": args.batch_size * d.world_size, "optimizer": "AdamW, weight decay 5e-4",
                "peak lr": args.lr, "schedule": "200-step warm-up, cosine decay", "loss": "CE(gender, label smoothing 0.1) + 0.5 CE(age group)",
                "augmentation": "the app's framing with detector jitter (scale 0.88-1.14, shift 7%, roll 8 deg, replicated or plain "
                                "border), flip, exposure/contrast/colour cast/desaturation, blur, JPEG 25-90, glasses/hat/patch "
                                "cutout (gan_viz/models/cam_classifier/augment.py)" + (
                                    f"; {args.app_crop_share:.0%} of each batch the app's own crops of the training faces "
                                    "placed in larger pictures (faces.face_to_classify: detected, levelled, cropped; "
                                    "app_crops.py), without the imitated jitter" if args.app_crops else ""), "precision": "float32, channels_last (bf16 autocast measured 10x slower on this CPU)",
                "initialised from": meta.get("init_from", "random"),
                "weight averaging": (f"moving average, decay {args.ema_decay:g} per step (BN statistics copied); each epoch "
                                     "the better of it and the trained net on the validation adults is exported"
                                     if ema is not None else "none"),
                "adversarial training": (
                    "none" if args.adversarial_eps <= 0 else
                    f"TRADES (Zhang et al. 2019) on the gender head, eps {args.adversarial_eps:g}/255, one KL-ascent step of "
                    f"1.25 eps from a random start; loss CE(clean) + {args.trades_beta:g} KL(p(x) || p(x'))"
                    if args.trades_beta > 0 else
                    f"FGSM with a random start on the gender head, eps {args.adversarial_eps:g}/255, "
                    f"step 1.25 eps (Wong et al. 2020); loss {args.adversarial_mix:g} x clean + "
                    f"{1 - args.adversarial_mix:g} x adversarial"),
                "hardware": f"{d.world_size} process(es), {torch.get_num_threads()} threads, {d.device}"}

    def save():
        if d.is_main:
            training.save_training_state(run_dir, modules, {"opt": opt}, meta)

    stop = False
    while meta["epoch"] < args.epochs and not stop:
        model.train()
        perm = torch.randperm(len(train_recs), generator=torch.Generator().manual_seed(args.seed + meta["epoch"]))
        perm = perm[d.rank::d.world_size]
        start = meta["step"] - meta["epoch"] * steps_per_epoch  # resume mid-epoch where we stopped
        for i in range(start, steps_per_epoch):
            idx = perm[i * args.batch_size:(i + 1) * args.batch_size].sort().values  # sorted: faster reads from the memory map
            if len(idx) == 0:
                break
            batch = train_x[idx.numpy()]
            framed = None
            if app_x is not None:  # the app's real framing for a share of the batch, the imitation for the rest
                framed = rng.random(len(idx)) < args.app_crop_share
                batch = np.where(framed[:, None, None, None], app_x[idx.numpy()], batch)
            batch = augment_batch(batch, args.image_size, rng, framed=framed)
            x = utkface.to_input(torch.from_numpy(batch)).contiguous(memory_format=torch.channels_last)
            y_g, y_a = train_g[idx], train_a[idx]
            weights = None
            n = len(idx)
            if args.adversarial_eps > 0 and args.trades_beta > 0:
                x = torch.cat([x, trades_adversary(training.unwrap(ddp_model), x, args.adversarial_eps, gen)])
            elif args.adversarial_eps > 0:
                x_adv = fgsm_random_start(training.unwrap(ddp_model), x, y_g, args.adversarial_eps, gen)
                if args.adversarial_mix > 0:  # Goodfellow et al. 2015: alpha J(x) + (1 - alpha) J(x'), one batch for BN
                    x, y_g, y_a = torch.cat([x, x_adv]), torch.cat([y_g, y_g]), torch.cat([y_a, y_a])
                    n = len(idx)
                    weights = torch.cat([torch.full((n,), args.adversarial_mix), torch.full((n,), 1 - args.adversarial_mix)]) * 2
                else:
                    x = x_adv
            for group in opt.param_groups:
                group["lr"] = lr_at(meta["step"])
            out = ddp_model(x)
            if args.adversarial_eps > 0 and args.trades_beta > 0:  # clean and perturbed halves of one batch (one BN pass)
                clean, pert = out["gender"][:n], out["gender"][n:]
                loss_g = F.cross_entropy(clean, y_g, label_smoothing=0.1) + args.trades_beta * F.kl_div(
                    F.log_softmax(pert, 1), F.softmax(clean, 1), reduction="batchmean")
                loss_a = F.cross_entropy(out["age_group"][:n], y_a)
            else:
                loss_g = F.cross_entropy(out["gender"], y_g, label_smoothing=0.1, reduction="none")
                loss_g = (loss_g * weights).mean() if weights is not None else loss_g.mean()
                loss_a = F.cross_entropy(out["age_group"], y_a)
            loss = loss_g + 0.5 * loss_a
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema is not None:
                with torch.no_grad():
                    for pe, pm in zip(ema.parameters(), model.parameters()):
                        pe.lerp_(pm, 1 - args.ema_decay)
                    for be, bm in zip(ema.buffers(), model.buffers()):
                        be.copy_(bm)
            meta["step"] += 1
            if d.is_main and meta["step"] % 25 == 0:
                log.log(step=meta["step"], loss_gender=loss_g.item(), loss_age=loss_a.item(), lr=lr_at(meta["step"]))
                print(f"step {meta['step']}/{total_steps} loss_g {loss_g.item():.3f} loss_a {loss_a.item():.3f}", flush=True)
            if training.broadcast_flag(budget.due(), d):
                save()
            if training.broadcast_flag(budget.expired(), d):
                stop = True
                break
        if stop:
            break
        meta["epoch"] += 1
        if d.is_main:
            metrics = evaluate(model, val_x, val_recs)
            metrics["epoch"] = meta["epoch"]
            best_net = model
            if ema is not None:  # export whichever of the two does better on the validation adults
                ema_metrics = {**evaluate(ema, val_x, val_recs), "epoch": meta["epoch"], "weights": "moving average"}
                log.log(step=meta["step"], **{f"ema_{k}": v for k, v in ema_metrics.items() if k != "weights"})
                print(f"epoch {meta['epoch']} moving average: {ema_metrics}", flush=True)
                if ema_metrics["gender_acc_18_65"] > metrics["gender_acc_18_65"]:
                    metrics, best_net = ema_metrics, ema
            log.log(step=meta["step"], **{k: v for k, v in metrics.items() if k != "weights"})
            print(f"epoch {meta['epoch']}: {metrics}", flush=True)
            # Adversarial training trades clean accuracy for robustness as it goes: picking the epoch with the best
            # clean accuracy would pick the least robust one, so the twin exports every epoch (the last one stays).
            if args.adversarial_eps > 0 or metrics["gender_acc_18_65"] > meta["best"]:
                meta["best"] = max(meta["best"], metrics["gender_acc_18_65"])
                training.export_weights(args.export_dir, best_net.state_dict(), config.to_dict(),
                                        model_card(config.to_dict(), metrics, settings, robust=args.adversarial_eps > 0))
                print(f"exported to {args.export_dir}", flush=True)
        save()
    if d.is_main and args.adversarial_eps > 0 and meta["epoch"] >= args.epochs and not stop:
        # A finished adversarial run exports its last state again (also when rerun after the end: nothing to train).
        metrics = {**evaluate(model, val_x, val_recs), "epoch": meta["epoch"]}
        training.export_weights(args.export_dir, model.state_dict(), config.to_dict(),
                                model_card(config.to_dict(), metrics, settings, robust=args.adversarial_eps > 0))
        print(f"exported the last epoch to {args.export_dir}", flush=True)
    save()
    training.shutdown_distributed()


if __name__ == "__main__":
    main()
