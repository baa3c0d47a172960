"""Training entry point of the LBAM face inpainter: python -m gan_viz.models.lbam.train --data DIR.

Losses: pixel L1 with the hole weighted 6x the known pixels, plus a hinge adversarial loss
(weight --lambda-adv) from a spectrally normalised patch discriminator. The paper's perceptual and
style losses (feature_loss.py, with the classifier's teacher as the feature network) are off unless
--perceptual / --style: each forward pass they add costs steps, so they are kept only where measured
to help. Masks: free-form brush strokes
covering 5% to 60% of the image. Stops at --max-minutes and exports to checkpoints/lbam with the model
card; resumes from its run folder, else from the export, and a larger --image-size starts from a smaller export
(gan_viz/models/lbam/start.py), so CPU and GPU runs add up. On CUDA when there is one.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_viz import training, utkface
from gan_viz.models.lbam import masks, start
from gan_viz.models.lbam.card import model_card
from gan_viz.models.lbam.feature_loss import FeatureLoss
from gan_viz.models.lbam.network import LBAMConfig, LBAMGenerator
from gan_viz.spectral import sn_conv

HOLE_WEIGHT = 6.0


class PatchDiscriminator(nn.Module):
    """Spectrally normalised patch critic: image (B, 3, S, S) -> realness per patch (B, 1, S/16, S/16)."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            sn_conv(3, w, 4, 2, 1), nn.LeakyReLU(0.2), sn_conv(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2),
            sn_conv(2 * w, 4 * w, 4, 2, 1), nn.LeakyReLU(0.2), sn_conv(4 * w, 4 * w, 4, 2, 1), nn.LeakyReLU(0.2),
            sn_conv(4 * w, 1, 3, 1, 1))

    def forward(self, x):
        return self.body(x)


def random_masks(n: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """(n, 1, size, size) float, 1 = known, holes of 5% to 60% in 0.1-wide target ranges."""
    out = []
    for _ in range(n):
        low = rng.uniform(0.05, 0.5)
        out.append(1.0 - masks.free_form(size, rng, low, low + 0.1))
    return torch.from_numpy(np.stack(out)[:, None].astype(np.float32))


def lr_factor(step: int, max_steps: int, decay_steps: int) -> float:
    """1, then linear to 0 over the last decay_steps before max_steps (a quieter end is worth dBs of PSNR)."""
    if decay_steps <= 0:
        return 1.0
    return min(1.0, max(0.0, (max_steps - step) / decay_steps))


def train_step(g, d, opt_g, opt_d, real: torch.Tensor, mask: torch.Tensor, lambda_adv: float,
               features: FeatureLoss | None = None, lambda_perc: float = 0.0, lambda_style: float = 0.0) -> dict:
    """real (B, 3, S, S) in [-1, 1]; mask (B, 1, S, S) with 1 = known. features: the paper's perceptual and style
    terms (feature_loss.py), weighted lambda_perc and lambda_style, when given."""
    out = g(real * mask, mask)
    comp = out * (1 - mask) + real * mask  # known pixels kept: what the user sees
    loss_d = F.relu(1 - d(real)).mean() + F.relu(1 + d(comp.detach())).mean()
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    err = (out - real).abs()
    loss_hole = (err * (1 - mask)).mean() * HOLE_WEIGHT
    loss_valid = (err * mask).mean()
    loss_adv = -d(comp).mean()
    loss_g = loss_hole + loss_valid + lambda_adv * loss_adv
    extra = {}
    if features is not None:
        perceptual, style = features(out, comp, real)
        loss_g = loss_g + lambda_perc * perceptual + lambda_style * style
        extra = {"loss_perceptual": perceptual.item(), "loss_style": style.item()}
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return {"loss_hole": loss_hole.item(), "loss_valid": loss_valid.item(), "loss_adv": loss_adv.item(),
            "loss_d": loss_d.item(), **extra}


def parse_args(argv: list[str] | None = None):
    p = training.common_args(__doc__.splitlines()[0], "lbam")
    p.add_argument("--image-size", type=int, default=128, help="128, or 256 (the editor's size: one level deeper)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--lambda-adv", type=float, default=0.01)
    p.add_argument("--max-steps", type=int, default=1_000_000)
    p.add_argument("--decay-steps", type=int, default=0,
                   help="learning rate falls linearly to 0 over the last N steps before --max-steps (0: constant)")
    p.add_argument("--channels", default="", help="encoder widths, comma-separated (default: start.default_channels)")
    p.add_argument("--perceptual", type=float, default=0.0, help="weight of the paper's perceptual loss (it used 0.05)")
    p.add_argument("--style", type=float, default=0.0, help="weight of the paper's style loss (it used 120)")
    p.add_argument("--feature-net", default=str(training.REPO_ROOT / "checkpoints" / "cam_classifier" / "teacher"),
                   help="the classifier export whose first stages give those losses their features")
    p.add_argument("--limit", type=int, default=0, help="use only this many files (smoke tests)")
    return p.parse_args(argv)


def _shown(path: str) -> str:
    """A path as the card shows it: relative to the repository when inside it."""
    p = training.Path(path).resolve()
    return str(p.relative_to(training.REPO_ROOT)) if p.is_relative_to(training.REPO_ROOT) else p.name


def _settings(args, cfg: LBAMConfig, meta: dict) -> dict:
    """The card's settings table, the runs so far included."""
    runs = "; ".join(f"{r['date']}: steps {r['start_step']:,}-{r.get('end_step', r['start_step']):,} in "
                     f"{r['minutes']} min at {r['image_size']} px, batch {r['batch_size']}, {r['hardware']}"
                     for r in meta["runs"])
    return {"image size": args.image_size, "batch size": args.batch_size, "channels": cfg.channels,
            "loss": f"L1 (hole x{HOLE_WEIGHT:g}, known x1) + {args.lambda_adv} hinge adversarial (SN patch D)"
            + (f" + {args.perceptual} perceptual + {args.style} style (features: {_shown(args.feature_net)})"
               if args.perceptual or args.style else ""),
            "optimizer": f"Adam {args.lr} (D {args.lr * 2}), betas (0.5, 0.9)"
            + (f", linear decay to 0 over the last {args.decay_steps} of {args.max_steps} steps" if args.decay_steps else ""),
            "masks": "free-form strokes, 5-60%",
            "precision": "float32, channels_last (bf16 autocast measured far slower on this CPU); TF32 on CUDA",
            "started from": meta["init"], "runs": runs or "none yet", "images seen": f"{meta['images_seen']:,}",
            "stored as": "int8 with a float16 scale per output channel (gan_viz/quantize.py), the rest float16"}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    d_info = training.init_distributed()
    if d_info.world_size > 1:
        raise SystemExit("LBAM training runs in a single process for now; start it without torchrun")
    device = d_info.device
    training.fast_cuda_float32(device)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    recs, pixels = training.read_faces(args.data)  # UTKFace's folder, or a face pack (resized to --image-size)
    rows = [i for i, r in enumerate(recs) if not r.is_validation][: args.limit or None]
    images = torch.from_numpy(np.array(training.pixels_at(recs, pixels, rows, args.image_size)))  # (N, S, S, 3) uint8
    channels = [int(c) for c in args.channels.split(",")] if args.channels else start.default_channels(args.image_size)
    cfg = LBAMConfig(image_size=args.image_size, channels=channels)
    # channels_last measured ~8% faster for these nets on this CPU (benchmarks/train_speed.py)
    g = LBAMGenerator(cfg).to(device, memory_format=torch.channels_last)
    d = PatchDiscriminator().to(device, memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(g.parameters(), lr=args.lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), lr=args.lr * 2, betas=(0.5, 0.9))
    meta = start.restore(args, g, d, opt_g, opt_d)
    run = {"start_step": meta["step"], "hardware": training.hardware_line(device), "date": time.strftime("%Y-%m-%d"),
           "batch_size": args.batch_size, "image_size": args.image_size, "minutes": 0.0}
    meta["runs"].append(run)
    log = training.MetricsLog(training.Path(args.run_dir) / "metrics.json")
    budget = training.run_budget(args)

    def checkpoint():
        run.update(end_step=meta["step"], minutes=round(budget.elapsed_minutes, 1))
        training.save_training_state(args.run_dir, {"G": g, "D": d}, {"G": opt_g, "D": opt_d}, meta)
        card = model_card(cfg.to_dict(), meta["step"], log.records, _settings(args, cfg, meta))
        start.export(args.export_dir, g, d, meta, card, log.records)
        print(f"checkpoint at step {meta['step']}", flush=True)

    train_loop(args, g, d, opt_g, opt_d, images, rng, meta, log, budget, d_info, checkpoint)
    checkpoint()


def train_loop(args, g, d, opt_g, opt_d, images, rng, meta, log, budget, d_info, checkpoint) -> None:
    """Steps until --max-steps or the time budget: a batch of faces (random mirror), free-form masks, one step each."""
    device = d_info.device
    features = FeatureLoss.from_folder(args.feature_net).to(device) if args.perceptual or args.style else None
    g.train(), d.train()
    while meta["step"] < args.max_steps:
        for group in opt_g.param_groups + opt_d.param_groups:  # D's groups start at 2x, so scale each by its own
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * lr_factor(meta["step"], args.max_steps, args.decay_steps)
        idx = torch.from_numpy(rng.integers(0, len(images), args.batch_size))
        real = utkface.to_input(images[idx])
        real = torch.where(torch.from_numpy(rng.random(args.batch_size) < 0.5)[:, None, None, None], real.flip(3), real)
        real = real.to(device).contiguous(memory_format=torch.channels_last)
        mask = random_masks(args.batch_size, args.image_size, rng).to(device)
        losses = train_step(g, d, opt_g, opt_d, real, mask, args.lambda_adv, features, args.perceptual, args.style)
        meta["images_seen"] = meta.get("images_seen", 0) + args.batch_size
        if training.end_of_step(meta, losses, log, budget, d_info, checkpoint):
            break


if __name__ == "__main__":
    main()
