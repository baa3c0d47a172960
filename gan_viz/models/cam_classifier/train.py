"""Training entry point of the CAM face classifier: python -m gan_viz.models.cam_classifier.train --data DIR.

Resumable (safetensors state in --run-dir), stops itself at --max-minutes, exports the
best validation weights to checkpoints/cam_classifier with the model card. Works under
``torchrun --nproc_per_node N`` (each rank trains on its shard of every epoch), on a GPU when there is one
(--data may then be a face pack, scripts/pack_classifier_data.py), and can distil a wider teacher (--teacher).
"""
from __future__ import annotations

import math
from multiprocessing import get_context

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_viz import hub, training, utkface
from gan_viz.imaging import resize
from gan_viz.models.cam_classifier import app_crops
from gan_viz.models.cam_classifier.augment import augment_batch
from gan_viz.models.cam_classifier.card import FAMILY, model_card
from gan_viz.models.cam_classifier.evaluate import evaluate
from gan_viz.models.cam_classifier.network import CAMClassifier, CAMClassifierConfig


# The arrays batches are drawn from; set before the loader's processes fork, so they read them without a copy.
_SOURCES: dict[str, np.ndarray | None] = {}


def make_batch(idx: np.ndarray, rng_key: tuple[int, ...], image_size: int, app_share: float) -> np.ndarray:
    """One augmented uint8 batch of the training rows idx; its randomness is a function of rng_key alone, so the
    loader's processes and a resumed run draw exactly what one process would have."""
    rng = np.random.default_rng(rng_key)
    batch, app_x = _SOURCES["train"][idx], _SOURCES["app"]
    framed = None
    if app_x is not None:  # the app's real framing for a share of the batch, the imitation for the rest
        framed = rng.random(len(idx)) < app_share
        batch = np.where(framed[:, None, None, None], app_x[idx], batch)
    return augment_batch(batch, image_size, rng, framed=framed)


def _make_batch_job(job: tuple) -> np.ndarray:
    return make_batch(*job)


def load_export(folder: str) -> CAMClassifier:
    """A classifier from an export folder (config.json + model.safetensors, read as the app reads its weights), e.g. a
    teacher to distil; float16 weights load into the float32 net."""
    w = hub.ResolvedWeights(FAMILY, training.Path(folder), "folder", str(folder))
    net = CAMClassifier(CAMClassifierConfig.from_dict(w.config))
    net.load_state_dict(w.state_dict())
    return net


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, t: float) -> torch.Tensor:
    """Hinton et al. 2015: T^2 KL(softmax(teacher / T) || softmax(student / T)); T^2 keeps the gradient's scale."""
    return F.kl_div(F.log_softmax(student / t, 1), F.softmax(teacher / t, 1), reduction="batchmean") * t * t


def fgsm_random_start(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps_levels: float,
                      gen: torch.Generator) -> torch.Tensor:
    """The training input of 'Fast is better than free' (Wong et al. 2020): delta ~ U(-eps, eps), one FGSM step
    of 1.25 eps from there, projected back to the eps-ball. x is in [-1, 1], so a level is 2/255."""
    eps = eps_levels * 2 / 255
    delta = ((torch.rand(x.shape, generator=gen) * 2 - 1) * eps).to(x.device).requires_grad_(True)
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
    delta = ((torch.rand(x.shape, generator=gen) * 2 - 1) * eps).to(x.device).requires_grad_(True)
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
    p.add_argument("--teacher", default=None,
                   help="an export (config.json + model.safetensors) of a wider classifier to distil (Hinton et al. 2015): "
                        "the gender loss becomes (1 - alpha) CE + alpha T^2 KL to the teacher's softened prediction")
    p.add_argument("--distill-alpha", type=float, default=0.7)
    p.add_argument("--distill-temperature", type=float, default=4.0)
    p.add_argument("--loader-workers", type=int, default=0,
                   help="processes that augment the next batches while the net trains (a GPU waits on numpy otherwise); "
                        "0: augment in the training process")
    p.add_argument("--limit", type=int, default=0, help="use only this many files (smoke tests)")
    args = p.parse_args()
    if args.teacher and args.adversarial_eps > 0 and args.trades_beta > 0:
        p.error("--teacher distils the cross-entropy loss; TRADES (--trades-beta) has its own KL term: use one of them")
    if args.threads:
        torch.set_num_threads(args.threads)
    d = training.init_distributed()
    torch.manual_seed(args.seed)

    dev = d.device
    if dev.type == "cuda":  # TF32 convolutions: float32 range, several times faster; fixed input shapes
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True

    if str(args.data).endswith(".npz"):  # a face pack (scripts/pack_classifier_data.py): how the faces reach a GPU
        recs, pixels = utkface.load_pack(args.data)
        keep = list(range(len(recs)))[: args.limit or None]
        train_i = [i for i in keep if not recs[i].is_validation]
        val_i = [i for i in keep if recs[i].is_validation] or keep[:8]

        def sized(rows: list[int], size: int) -> np.ndarray:
            return pixels[rows] if pixels.shape[1] == size else np.stack([resize(pixels[i], (size, size)) for i in rows])

        train_recs, val_recs = [recs[i] for i in train_i], [recs[i] for i in val_i]
        train_x, val_x = sized(train_i, args.source_size), sized(val_i, args.image_size)
    else:
        recs = utkface.records(args.data)
        if args.limit:
            recs = recs[: args.limit]
        train_recs = [r for r in recs if not r.is_validation]
        val_recs = [r for r in recs if r.is_validation] or recs[:8]
        train_x = utkface.load_images(train_recs, args.source_size)  # (N, S0, S0, 3) uint8, re-cropped per step
        val_x = utkface.load_images(val_recs, args.image_size)
    app_x = app_crops.load(args.app_crops, train_recs, args.source_size) if args.app_crops else None  # same rows
    _SOURCES.update(train=train_x, app=app_x)
    train_g = torch.tensor([r.gender for r in train_recs])
    train_a = torch.tensor([utkface.age_group(r.age) for r in train_recs])

    config = CAMClassifierConfig(image_size=args.image_size, width=args.width,
                                 context_dilations=tuple(args.context_dilations))
    model = CAMClassifier(config).to(dev, memory_format=torch.channels_last)  # measured faster on the CPU too
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    steps_per_epoch = math.ceil(len(train_recs) / (args.batch_size * d.world_size))
    total_steps = args.epochs * steps_per_epoch
    # Cosine decay after a short warm-up; the schedule is a pure function of the step, so resuming is exact.
    lr_at = lambda s: args.lr * min(1.0, (s + 1) / 200) * 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps))

    ema = None
    if args.ema_decay > 0:
        ema = CAMClassifier(config).to(dev, memory_format=torch.channels_last).requires_grad_(False)
    teacher = None
    if args.teacher:
        teacher = load_export(args.teacher).to(dev, memory_format=torch.channels_last).eval().requires_grad_(False)
    modules = {"model": model, **({"ema": ema} if ema is not None else {})}
    run_dir = training.Path(args.run_dir)
    meta = training.load_training_state(run_dir, modules, {"opt": opt})
    if meta is None:
        meta = {"step": 0, "epoch": 0, "best": -1.0}
        if args.init_from:
            from safetensors.torch import load_file
            missing, unexpected = model.load_state_dict(
                {k: v.float().to(dev) for k, v in load_file(training.Path(args.init_from) / "model.safetensors").items()},
                strict=False)
            # Only a new context block may be absent from the export (it starts as the identity); nothing may be left over.
            if unexpected or any(".residual." not in k for k in missing):
                raise SystemExit(f"--init-from {args.init_from} does not fit this network: missing {missing}, "
                                 f"unexpected {unexpected}")
            meta["init_from"] = str(args.init_from)
        if ema is not None:
            ema.load_state_dict(model.state_dict())
    log = training.MetricsLog(run_dir / "metrics.json")
    ddp_model = nn.parallel.DistributedDataParallel(model) if d.world_size > 1 else model
    loader = get_context("fork").Pool(args.loader_workers) if args.loader_workers > 0 else None
    budget = training.TimeBudget(args.max_minutes, args.checkpoint_minutes)
    gen = torch.Generator().manual_seed(args.seed * 1000 + d.rank + meta["step"])
    settings = {"epochs": args.epochs, "batch size": args.batch_size * d.world_size, "optimizer": "AdamW, weight decay 5e-4",
                "peak lr": args.lr, "schedule": "200-step warm-up, cosine decay", "loss": "CE(gender, label smoothing 0.1) + 0.5 CE(age group)",
                "augmentation": "the app's framing with detector jitter (scale 0.88-1.14, shift 7%, roll 8 deg, replicated or plain "
                                "border), flip, exposure/contrast/colour cast/desaturation, blur, JPEG 25-90, glasses/hat/patch "
                                "cutout (gan_viz/models/cam_classifier/augment.py)" + (
                                    f"; {args.app_crop_share:.0%} of each batch the app's own crops of the training faces "
                                    "placed in larger pictures (faces.face_to_classify: detected, levelled, cropped; "
                                    "app_crops.py), without the imitated jitter" if args.app_crops else ""), "precision": "float32, channels_last (bf16 autocast measured 10x slower on this CPU)"
                + ("; TF32 convolutions on CUDA" if dev.type == "cuda" else ""),
                "initialised from": meta.get("init_from", "random"),
                "distillation": (f"from {args.teacher} (width {teacher.config.width}), alpha {args.distill_alpha:g}, "
                                 f"T {args.distill_temperature:g} (Hinton et al. 2015)" if teacher is not None else "none"),
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
                "hardware": f"{d.world_size} process(es), {torch.get_num_threads()} threads, "
                            f"{torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'}"
                            + (f", {args.loader_workers} loader processes" if args.loader_workers else "")}

    def save():
        if d.is_main:
            training.save_training_state(run_dir, modules, {"opt": opt}, meta)

    stop = False
    while meta["epoch"] < args.epochs and not stop:
        model.train()
        perm = torch.randperm(len(train_recs), generator=torch.Generator().manual_seed(args.seed + meta["epoch"]))
        perm = perm[d.rank::d.world_size]
        start = meta["step"] - meta["epoch"] * steps_per_epoch  # resume mid-epoch where we stopped
        # Sorted rows: faster reads from the memory map. Each step's key makes its draws its own, so a resumed run
        # goes on where it stopped instead of replaying augmentations.
        jobs = [(perm[i * args.batch_size:(i + 1) * args.batch_size].sort().values.numpy(),
                 (args.seed, d.rank, meta["epoch"] * steps_per_epoch + i), args.image_size, args.app_crop_share)
                for i in range(start, steps_per_epoch)]
        jobs = [j for j in jobs if len(j[0])]
        batches = loader.imap(_make_batch_job, jobs) if loader is not None else map(_make_batch_job, jobs)
        for (idx_np, *_), batch in zip(jobs, batches):
            idx = torch.from_numpy(idx_np)
            x = utkface.to_input(torch.from_numpy(batch).to(dev, non_blocking=True)).contiguous(
                memory_format=torch.channels_last)
            y_g, y_a = train_g[idx].to(dev), train_a[idx].to(dev)
            weights = None
            n = len(idx)
            if args.adversarial_eps > 0 and args.trades_beta > 0:
                x = torch.cat([x, trades_adversary(training.unwrap(ddp_model), x, args.adversarial_eps, gen)])
            elif args.adversarial_eps > 0:
                x_adv = fgsm_random_start(training.unwrap(ddp_model), x, y_g, args.adversarial_eps, gen)
                if args.adversarial_mix > 0:  # Goodfellow et al. 2015: alpha J(x) + (1 - alpha) J(x'), one batch for BN
                    x, y_g, y_a = torch.cat([x, x_adv]), torch.cat([y_g, y_g]), torch.cat([y_a, y_a])
                    n = len(idx)
                    weights = torch.cat([torch.full((n,), args.adversarial_mix),
                                         torch.full((n,), 1 - args.adversarial_mix)]).to(dev) * 2
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
                if teacher is not None:
                    with torch.no_grad():
                        t_logits = teacher(x)["gender"]
                    loss_g = (1 - args.distill_alpha) * loss_g + args.distill_alpha * distillation_loss(
                        out["gender"], t_logits, args.distill_temperature)
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
    if loader is not None:
        loader.terminate()
    training.shutdown_distributed()


if __name__ == "__main__":
    main()
