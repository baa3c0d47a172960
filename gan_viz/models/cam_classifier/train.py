"""Training entry point of the CAM face classifier: python -m gan_viz.models.cam_classifier.train --data DIR.

Resumable (safetensors state in --run-dir), stops itself at --max-minutes, exports the
best validation weights to checkpoints/cam_classifier with the model card. Works under
``torchrun --nproc_per_node N`` (each rank trains on its shard of every epoch), on a GPU when there is one
(--data may then be a face pack, scripts/pack_classifier_data.py), and can distil a wider teacher (--teacher).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_viz import hub, training, utkface
from gan_viz.models.cam_classifier import app_crops
from gan_viz.models.cam_classifier.adversarial import fgsm_random_start, trades_adversary
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


def parse_args(argv: list[str] | None = None):
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
    args = p.parse_args(argv)
    if args.teacher and args.adversarial_eps > 0 and args.trades_beta > 0:
        p.error("--teacher distils the cross-entropy loss; TRADES (--trades-beta) has its own KL term: use one of them")
    return args


# ---------------------------------------------------------------- data


@dataclass
class Data:
    train_recs: list
    val_recs: list
    val_x: np.ndarray  # (N, S, S, 3) uint8 at the model's input size
    train_g: torch.Tensor  # gender per training row
    train_a: torch.Tensor  # age group per training row


def load_data(args) -> Data:
    """Training rows at --source-size (re-cropped per step) and validation rows at --image-size, from a face pack
    (scripts/pack_classifier_data.py, how faces reach a GPU) or a folder; the loader's sources set (_SOURCES)."""
    (train_recs, train_x), (val_recs, val_x) = training.load_face_split(
        args.data, args.limit, args.source_size, args.image_size)
    app_x = app_crops.load(args.app_crops, train_recs, args.source_size) if args.app_crops else None  # same rows
    _SOURCES.update(train=train_x, app=app_x)
    return Data(train_recs, val_recs, val_x, torch.tensor([r.gender for r in train_recs]),
                torch.tensor([utkface.age_group(r.age) for r in train_recs]))


# ---------------------------------------------------------------- model


@dataclass
class Nets:
    config: CAMClassifierConfig
    model: CAMClassifier
    opt: torch.optim.Optimizer
    ema: CAMClassifier | None  # a moving average of the weights, or None
    teacher: CAMClassifier | None  # a wider classifier to distil, or None

    @property
    def modules(self) -> dict:
        return {"model": self.model, **({"ema": self.ema} if self.ema is not None else {})}


def build(args, dev: torch.device) -> Nets:
    config = CAMClassifierConfig(image_size=args.image_size, width=args.width,
                                 context_dilations=tuple(args.context_dilations))
    model = CAMClassifier(config).to(dev, memory_format=torch.channels_last)  # measured faster on the CPU too
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    ema = None
    if args.ema_decay > 0:
        ema = CAMClassifier(config).to(dev, memory_format=torch.channels_last).requires_grad_(False)
    teacher = None
    if args.teacher:
        teacher = load_export(args.teacher).to(dev, memory_format=torch.channels_last).eval().requires_grad_(False)
    return Nets(config, model, opt, ema, teacher)


def restore(args, nets: Nets, dev: torch.device) -> dict:
    """Resume from --run-dir, else start (from --init-from's weights when given)."""
    meta = training.load_training_state(args.run_dir, nets.modules, {"opt": nets.opt})
    if meta is not None:
        return meta
    meta = {"step": 0, "epoch": 0, "best": -1.0}
    if args.init_from:
        from safetensors.torch import load_file
        missing, unexpected = nets.model.load_state_dict(
            {k: v.float().to(dev) for k, v in load_file(training.Path(args.init_from) / "model.safetensors").items()},
            strict=False)
        # Only a new context block may be absent from the export (it starts as the identity); nothing may be left over.
        if unexpected or any(".residual." not in k for k in missing):
            raise SystemExit(f"--init-from {args.init_from} does not fit this network: missing {missing}, "
                             f"unexpected {unexpected}")
        meta["init_from"] = str(args.init_from)
    if nets.ema is not None:
        nets.ema.load_state_dict(nets.model.state_dict())
    return meta


def settings_table(args, meta: dict, nets: Nets, d: training.Dist) -> dict:
    """The card's training settings."""
    dev = d.device
    augmentation = ("the app's framing with detector jitter (scale 0.88-1.14, shift 7%, roll 8 deg, replicated or "
                    "plain border), flip, exposure/contrast/colour cast/desaturation, blur, JPEG 25-90, glasses/hat/"
                    "patch cutout (gan_viz/models/cam_classifier/augment.py)")
    if args.app_crops:
        augmentation += (f"; {args.app_crop_share:.0%} of each batch the app's own crops of the training faces placed "
                         "in larger pictures (faces.face_to_classify: detected, levelled, cropped; app_crops.py), "
                         "without the imitated jitter")
    if args.adversarial_eps <= 0:
        adversarial = "none"
    elif args.trades_beta > 0:
        adversarial = (f"TRADES (Zhang et al. 2019) on the gender head, eps {args.adversarial_eps:g}/255, one "
                       f"KL-ascent step of 1.25 eps from a random start; loss CE(clean) + {args.trades_beta:g} "
                       "KL(p(x) || p(x'))")
    else:
        adversarial = (f"FGSM with a random start on the gender head, eps {args.adversarial_eps:g}/255, step 1.25 eps "
                       f"(Wong et al. 2020); loss {args.adversarial_mix:g} x clean + {1 - args.adversarial_mix:g} x "
                       "adversarial")
    return {"epochs": args.epochs, "batch size": args.batch_size * d.world_size,
            "optimizer": "AdamW, weight decay 5e-4", "peak lr": args.lr, "schedule": "200-step warm-up, cosine decay",
            "loss": "CE(gender, label smoothing 0.1) + 0.5 CE(age group)", "augmentation": augmentation,
            "precision": "float32, channels_last (bf16 autocast measured 10x slower on this CPU)"
                         + ("; TF32 convolutions on CUDA" if dev.type == "cuda" else ""),
            "initialised from": meta.get("init_from", "random"),
            "distillation": (f"from {args.teacher} (width {nets.teacher.config.width}), alpha {args.distill_alpha:g}, "
                             f"T {args.distill_temperature:g} (Hinton et al. 2015)" if nets.teacher is not None
                             else "none"),
            "weight averaging": (f"moving average, decay {args.ema_decay:g} per step (BN statistics copied); each "
                                 "epoch the better of it and the trained net on the validation adults is exported"
                                 if nets.ema is not None else "none"),
            "adversarial training": adversarial,
            "hardware": f"{d.world_size} process(es), {training.hardware_line(dev)}"
                        + (f", {args.loader_workers} loader processes" if args.loader_workers else "")}


# ---------------------------------------------------------------- one step per loss mode


def loss_standard(args, nets: Nets, net, x, y_g, y_a, weights=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy on both heads (optionally weighted per example), with the teacher's KL when distilling."""
    out = net(x)
    loss_g = F.cross_entropy(out["gender"], y_g, label_smoothing=0.1, reduction="none")
    loss_g = (loss_g * weights).mean() if weights is not None else loss_g.mean()
    if nets.teacher is not None:
        with torch.no_grad():
            t_logits = nets.teacher(x)["gender"]
        loss_g = (1 - args.distill_alpha) * loss_g + args.distill_alpha * distillation_loss(
            out["gender"], t_logits, args.distill_temperature)
    return loss_g, F.cross_entropy(out["age_group"], y_a)


def loss_fgsm(args, nets: Nets, net, x, y_g, y_a, gen) -> tuple[torch.Tensor, torch.Tensor]:
    """FGSM training (Wong et al. 2020): adversarial examples only, or mixed with the clean ones (Goodfellow et al.
    2015: alpha J(x) + (1 - alpha) J(x'), one batch for batch norm)."""
    x_adv = fgsm_random_start(training.unwrap(net), x, y_g, args.adversarial_eps, gen)
    if args.adversarial_mix <= 0:
        return loss_standard(args, nets, net, x_adv, y_g, y_a)
    n = len(x)
    weights = torch.cat([torch.full((n,), args.adversarial_mix),
                         torch.full((n,), 1 - args.adversarial_mix)]).to(x.device) * 2
    return loss_standard(args, nets, net, torch.cat([x, x_adv]), torch.cat([y_g, y_g]), torch.cat([y_a, y_a]), weights)


def loss_trades(args, net, x, y_g, y_a, gen) -> tuple[torch.Tensor, torch.Tensor]:
    """TRADES: CE on the clean half + beta KL(clean || perturbed), both halves in one batch (one BN pass)."""
    n = len(x)
    out = net(torch.cat([x, trades_adversary(training.unwrap(net), x, args.adversarial_eps, gen)]))
    clean, pert = out["gender"][:n], out["gender"][n:]
    loss_g = F.cross_entropy(clean, y_g, label_smoothing=0.1) + args.trades_beta * F.kl_div(
        F.log_softmax(pert, 1), F.softmax(clean, 1), reduction="batchmean")
    return loss_g, F.cross_entropy(out["age_group"][:n], y_a)


def train_step(args, nets: Nets, net, x, y_g, y_a, gen, lr: float) -> tuple[float, float]:
    if args.adversarial_eps > 0 and args.trades_beta > 0:
        loss_g, loss_a = loss_trades(args, net, x, y_g, y_a, gen)
    elif args.adversarial_eps > 0:
        loss_g, loss_a = loss_fgsm(args, nets, net, x, y_g, y_a, gen)
    else:
        loss_g, loss_a = loss_standard(args, nets, net, x, y_g, y_a)
    for group in nets.opt.param_groups:
        group["lr"] = lr
    nets.opt.zero_grad(set_to_none=True)
    (loss_g + 0.5 * loss_a).backward()
    nets.opt.step()
    if nets.ema is not None:
        with torch.no_grad():
            for pe, pm in zip(nets.ema.parameters(), nets.model.parameters()):
                pe.lerp_(pm, 1 - args.ema_decay)
            for be, bm in zip(nets.ema.buffers(), nets.model.buffers()):
                be.copy_(bm)
    return loss_g.item(), loss_a.item()


# ---------------------------------------------------------------- the loop and export


class Trainer:
    """The epoch loop of one process: batches from the loader, steps, logs, checkpoints, evaluation and export."""

    def __init__(self, args, d: training.Dist, data: Data, nets: Nets, meta: dict):
        self.args, self.d, self.data, self.nets, self.meta = args, d, data, nets, meta
        self.net = nn.parallel.DistributedDataParallel(nets.model) if d.world_size > 1 else nets.model
        self.steps_per_epoch = math.ceil(len(data.train_recs) / (args.batch_size * d.world_size))
        self.total_steps = args.epochs * self.steps_per_epoch
        self.log = training.MetricsLog(training.Path(args.run_dir) / "metrics.json")
        self.budget = training.run_budget(args)
        self.gen = torch.Generator().manual_seed(args.seed * 1000 + d.rank + meta["step"])
        self.settings = settings_table(args, meta, nets, d)

    def lr_at(self, s: int) -> float:
        """Cosine decay after a short warm-up; a pure function of the step, so resuming is exact."""
        total = self.total_steps
        return self.args.lr * min(1.0, (s + 1) / 200) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))

    def save(self) -> None:
        if self.d.is_main:
            training.save_training_state(self.args.run_dir, self.nets.modules, {"opt": self.nets.opt}, self.meta)

    def epoch_jobs(self) -> list[tuple]:
        """The epoch's remaining batches as loader jobs. Sorted rows: faster reads from the memory map. Each step's
        key makes its draws its own, so a resumed run goes on where it stopped instead of replaying augmentations."""
        args, d, meta = self.args, self.d, self.meta
        perm = torch.randperm(len(self.data.train_recs),
                              generator=torch.Generator().manual_seed(args.seed + meta["epoch"]))[d.rank::d.world_size]
        start = meta["step"] - meta["epoch"] * self.steps_per_epoch  # resume mid-epoch where we stopped
        jobs = [(perm[i * args.batch_size:(i + 1) * args.batch_size].sort().values.numpy(),
                 (args.seed, d.rank, meta["epoch"] * self.steps_per_epoch + i), args.image_size, args.app_crop_share)
                for i in range(start, self.steps_per_epoch)]
        return [j for j in jobs if len(j[0])]

    def run_epoch(self, loader) -> bool:
        """Train through the epoch; False when the time budget ran out in it."""
        self.nets.model.train()
        jobs = self.epoch_jobs()
        batches = loader.imap(_make_batch_job, jobs) if loader is not None else map(_make_batch_job, jobs)
        dev = self.d.device
        for (idx_np, *_), batch in zip(jobs, batches):
            idx = torch.from_numpy(idx_np)
            x = utkface.to_input(torch.from_numpy(batch).to(dev, non_blocking=True)).contiguous(
                memory_format=torch.channels_last)
            lr = self.lr_at(self.meta["step"])
            loss_g, loss_a = train_step(self.args, self.nets, self.net, x, self.data.train_g[idx].to(dev),
                                        self.data.train_a[idx].to(dev), self.gen, lr)
            self.meta["step"] += 1
            if self.d.is_main and self.meta["step"] % 25 == 0:
                self.log.log(step=self.meta["step"], loss_gender=loss_g, loss_age=loss_a, lr=self.lr_at(self.meta["step"]))
                print(f"step {self.meta['step']}/{self.total_steps} loss_g {loss_g:.3f} loss_a {loss_a:.3f}", flush=True)
            if training.broadcast_flag(self.budget.due(), self.d):
                self.save()
            if training.broadcast_flag(self.budget.expired(), self.d):
                return False
        return True

    def end_epoch(self) -> None:
        """Evaluate (and the moving average), export when better; an adversarial run exports every epoch, since
        picking the best clean accuracy would pick its least robust epoch."""
        args, nets, meta = self.args, self.nets, self.meta
        metrics = {**evaluate(nets.model, self.data.val_x, self.data.val_recs), "epoch": meta["epoch"]}
        best_net = nets.model
        if nets.ema is not None:  # export whichever of the two does better on the validation adults
            ema_metrics = {**evaluate(nets.ema, self.data.val_x, self.data.val_recs), "epoch": meta["epoch"],
                           "weights": "moving average"}
            self.log.log(step=meta["step"], **{f"ema_{k}": v for k, v in ema_metrics.items() if k != "weights"})
            print(f"epoch {meta['epoch']} moving average: {ema_metrics}", flush=True)
            if ema_metrics["gender_acc_18_65"] > metrics["gender_acc_18_65"]:
                metrics, best_net = ema_metrics, nets.ema
        self.log.log(step=meta["step"], **{k: v for k, v in metrics.items() if k != "weights"})
        print(f"epoch {meta['epoch']}: {metrics}", flush=True)
        if args.adversarial_eps > 0 or metrics["gender_acc_18_65"] > meta["best"]:
            meta["best"] = max(meta["best"], metrics["gender_acc_18_65"])
            self.export(best_net, metrics)

    def export(self, net: CAMClassifier, metrics: dict) -> None:
        config = self.nets.config.to_dict()
        training.export_weights(self.args.export_dir, net.state_dict(), config,
                                model_card(config, metrics, self.settings, robust=self.args.adversarial_eps > 0))
        print(f"exported to {self.args.export_dir}", flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    training.run_distributed(lambda d: train(args, d))


def train(args, d: training.Dist) -> None:
    """The epochs, saved after each; everything that holds the process group is gone when this returns."""
    torch.manual_seed(args.seed)
    training.fast_cuda_float32(d.device)
    data = load_data(args)
    nets = build(args, d.device)
    meta = restore(args, nets, d.device)
    trainer = Trainer(args, d, data, nets, meta)
    loader = get_context("fork").Pool(args.loader_workers) if args.loader_workers > 0 else None
    finished = True
    while meta["epoch"] < args.epochs and finished:
        finished = trainer.run_epoch(loader)
        if finished:
            meta["epoch"] += 1
            if d.is_main:
                trainer.end_epoch()
            trainer.save()
    if d.is_main and args.adversarial_eps > 0 and meta["epoch"] >= args.epochs and finished:
        # A finished adversarial run exports its last state again (also when rerun after the end: nothing to train).
        trainer.export(nets.model, {**evaluate(nets.model, data.val_x, data.val_recs), "epoch": meta["epoch"]})
    trainer.save()
    if loader is not None:
        loader.terminate()


if __name__ == "__main__":
    main()
