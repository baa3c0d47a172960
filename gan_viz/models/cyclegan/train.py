"""Training entry point of the male <-> female CycleGAN: python -m gan_viz.models.cyclegan.train --data DIR.

Faces aged 18-65, split by the gender in the file name (training split only). LSGAN loss,
cycle loss (lambda 10), identity loss (0.5 lambda), a history pool of 50 generated images
per domain, Adam (2e-4, betas (0.5, 0.999)), learning rate constant for the first half of
--total-steps and decaying linearly to 0 over the second half. Resumable, stops at
--max-minutes, checkpoints regularly and exports to checkpoints/cyclegan with its card.
A fully convolutional net: train at 64 (--image-size 64), then resume at 96 or 128.
"""
from __future__ import annotations

import json
import random

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from gan_viz import training
from gan_viz.models.cyclegan.card import model_card
from gan_viz.models.cyclegan.network import CycleGAN, CycleGANConfig


class ImagePool:
    """Shrivastava et al. 2017: D sees a mix of current and past fakes, which damps oscillation."""

    def __init__(self, size: int = 50):
        self.size, self.images = size, []

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        out = []
        for img in batch.detach():
            if len(self.images) < self.size:
                self.images.append(img)
                out.append(img)
            elif random.random() < 0.5:
                i = random.randrange(self.size)
                out.append(self.images[i])
                self.images[i] = img
            else:
                out.append(img)
        return torch.stack(out)


def lr_factor(step: int, total: int, decay_steps: int | None = None) -> float:
    """1, then linear to 0 at `total` over the last `decay_steps` (default: the second half, the paper's 100 + 100 epochs)."""
    decay = total - total // 2 if decay_steps is None else decay_steps
    if decay <= 0:
        return 1.0
    return min(1.0, max(0.0, (total - step) / decay))


def init_generators(m: CycleGAN, export_dir: str, discriminators: bool = False) -> None:
    """Start G and F (and with `discriminators`, D_female and D_male) from exported weights.

    Generators are fully convolutional, so they carry over to a new resolution. A discriminator
    carries over only when its depth is the same (a 4-layer PatchGAN sees 142x142 px, the whole
    face at 96 and at 128 px); a deeper one starts afresh. The `probe.` tensors are not nets.
    """
    tensors = load_file(training.Path(export_dir) / "model.safetensors")
    names = ("male_to_female", "female_to_male") + (("D_female", "D_male") if discriminators else ())
    for name in names:
        head = f"{name}."
        getattr(m, name).load_state_dict({k[len(head):]: v.float() for k, v in tensors.items() if k.startswith(head)})


def train_step(m: CycleGAN, opt_g, opt_d, real_m: torch.Tensor, real_f: torch.Tensor, pools: dict,
               lambda_cycle: float = 10.0, lambda_identity: float = 0.5) -> dict:
    """One generator and one discriminator update on a male batch and a female batch (B, 3, S, S)."""
    fake_f = m.male_to_female(real_m)
    fake_m = m.female_to_male(real_f)
    rec_m = m.female_to_male(fake_f)
    rec_f = m.male_to_female(fake_m)
    idt_f = m.male_to_female(real_f)  # G given a target-domain image should change nothing
    idt_m = m.female_to_male(real_m)
    for d in (m.D_female, m.D_male):
        d.requires_grad_(False)
    pred_f, pred_m = m.D_female(fake_f), m.D_male(fake_m)
    loss_gan = F.mse_loss(pred_f, torch.ones_like(pred_f)) + F.mse_loss(pred_m, torch.ones_like(pred_m))
    loss_cycle = (F.l1_loss(rec_m, real_m) + F.l1_loss(rec_f, real_f)) * lambda_cycle
    loss_idt = (F.l1_loss(idt_f, real_f) + F.l1_loss(idt_m, real_m)) * lambda_cycle * lambda_identity
    opt_g.zero_grad(set_to_none=True)
    (loss_gan + loss_cycle + loss_idt).backward()
    opt_g.step()

    for d in (m.D_female, m.D_male):
        d.requires_grad_(True)
    loss_d = 0.0
    for d, real, fake in ((m.D_female, real_f, pools["female"].query(fake_f)), (m.D_male, real_m, pools["male"].query(fake_m))):
        pr, pf = d(real), d(fake.detach())
        loss_d = loss_d + 0.5 * (F.mse_loss(pr, torch.ones_like(pr)) + F.mse_loss(pf, torch.zeros_like(pf)))
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    return {"loss_gan": loss_gan.item(), "loss_cycle": loss_cycle.item(), "loss_identity": loss_idt.item(),
            "loss_d": loss_d.item()}


def parse_args(argv: list[str] | None = None):
    p = training.common_args(__doc__.splitlines()[0], "cyclegan")
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--total-steps", type=int, default=20_000, help="schedule length; the learning rate ends at 0 here")
    p.add_argument("--decay-steps", type=int, default=None,
                   help="decay linearly to 0 over this many last steps (default: the second half)")
    p.add_argument("--lambda-identity", type=float, default=0.5, help="identity loss weight, times the cycle's 10")
    p.add_argument("--d-layers", type=int, default=3, help="PatchGAN depth: 3 sees 70x70 px patches, 4 sees 142x142")
    p.add_argument("--init-generators", default="",
                   help="exported CycleGAN to start G and F from when the run dir is empty (fine-tuning a 64 px stage)")
    p.add_argument("--ngf", type=int, default=24)
    p.add_argument("--ndf", type=int, default=32)
    p.add_argument("--n-blocks", type=int, default=6)
    p.add_argument("--limit", type=int, default=0, help="use only this many files (smoke tests)")
    p.add_argument("--init-discriminators", action="store_true",
                   help="with --init-generators, start D_female and D_male from that export too (same --d-layers)")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast for the forward passes (faster on a CPU with AVX-512 bf16: "
                        "benchmarks/train_speed.py)")
    return p.parse_args(argv)


def build(args) -> tuple[CycleGANConfig, CycleGAN, torch.optim.Optimizer, torch.optim.Optimizer]:
    cfg = CycleGANConfig(image_size=args.image_size, ngf=args.ngf, ndf=args.ndf, n_blocks=args.n_blocks,
                         d_layers=args.d_layers)
    m = CycleGAN(cfg)
    gens = list(m.male_to_female.parameters()) + list(m.female_to_male.parameters())
    discs = list(m.D_female.parameters()) + list(m.D_male.parameters())
    opt_g = torch.optim.Adam(gens, lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discs, lr=args.lr, betas=(0.5, 0.999))
    return cfg, m, opt_g, opt_d


def restore(args, m: CycleGAN, opt_g, opt_d) -> dict:
    """Resume from --run-dir, else start (the generators from --init-generators when given)."""
    meta = training.load_training_state(args.run_dir, {"model": m}, {"G": opt_g, "D": opt_d})
    if meta is None:
        meta = {"step": 0}
        if args.init_generators:
            init_generators(m, args.init_generators, args.init_discriminators)
            meta["init_generators"] = args.init_generators + (" (discriminators too)" if args.init_discriminators else "")
    return meta


def settings_table(args, meta: dict) -> dict:
    decay = args.decay_steps if args.decay_steps is not None else args.total_steps - args.total_steps // 2
    return {"image size": args.image_size, "batch size (per domain)": args.batch_size,
            "G / D width": f"{args.ngf} / {args.ndf}", "residual blocks": args.n_blocks,
            "PatchGAN depth": args.d_layers,
            "loss": f"LSGAN + 10 cycle L1 + {10 * args.lambda_identity:g} identity L1",
            "optimizer": f"Adam {args.lr}, betas (0.5, 0.999)",
            "schedule": f"constant, then linear decay to 0 over the last {decay} of {args.total_steps} steps",
            "history pool": 50,
            "generators started from": meta.get("init_generators", "random initialisation"),
            "hardware": training.hardware_line("cpu") + (", bfloat16 autocast" if args.bf16 else ""),
            "stored as": "float16 safetensors (cast back to float32 on load)"}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    training.refuse_distributed("CycleGAN")
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    images, idx_m, idx_f = training.load_gender_domains(args.data, args.image_size, args.limit)
    cfg, m, opt_g, opt_d = build(args)
    meta = restore(args, m, opt_g, opt_d)
    log = training.MetricsLog(training.Path(args.run_dir) / "metrics.json")
    budget = training.run_budget(args)
    pools = {"male": ImagePool(), "female": ImagePool()}
    gen = torch.Generator().manual_seed(args.seed * 7919 + meta["step"])
    settings = settings_table(args, meta)

    def checkpoint():
        training.save_training_state(args.run_dir, {"model": m}, {"G": opt_g, "D": opt_d}, meta)
        training.export_weights(args.export_dir, m.state_dict(), cfg.to_dict(),
                                model_card(cfg.to_dict(), meta["step"], log.records, settings),
                                {"training_log.json": json.dumps(log.records).encode()},
                                dtype=torch.float16)  # half the download; quality is measured on these float16 weights
        print(f"checkpoint at step {meta['step']}", flush=True)

    m.train()
    while meta["step"] < args.total_steps:
        for group in opt_g.param_groups + opt_d.param_groups:
            group["lr"] = args.lr * lr_factor(meta["step"], args.total_steps, args.decay_steps)
        real_m = training.domain_batch(images, idx_m, args.image_size, args.batch_size, gen)
        real_f = training.domain_batch(images, idx_f, args.image_size, args.batch_size, gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            losses = train_step(m, opt_g, opt_d, real_m, real_f, pools, lambda_identity=args.lambda_identity)
        if training.end_of_step(meta, losses, log, budget, training.Dist(), checkpoint):
            break
    checkpoint()


if __name__ == "__main__":
    main()
