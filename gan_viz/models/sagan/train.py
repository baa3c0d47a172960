"""Training entry point of SAGAN on 64x64 faces: python -m gan_viz.models.sagan.train --data DIR.

Hinge loss, two time-scale update rule (D at 4e-4, G at 1e-4, Adam betas (0, 0.9)), an
exponential moving average of G for sampling. Resumable, stops at --max-minutes, writes a
checkpoint and a sample grid (made by the model) every --checkpoint-minutes, and exports
G_ema (with its own batch-norm statistics: standing.py) + D to checkpoints/sagan with the model card.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_viz import training, utkface
from gan_viz.models.sagan.card import HISTORY_FILE, model_card
from gan_viz.models.sagan.diffaug import diff_augment
from gan_viz.models.sagan.network import Discriminator, Generator, SAGANConfig
from gan_viz.models.sagan.standing import BATCHES, sample_grid, standing_statistics


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for pe, p in zip(ema.parameters(), model.parameters()):
        pe.lerp_(p, 1 - decay)
    for be, b in zip(ema.buffers(), model.buffers()):
        be.copy_(b)  # BN statistics and the spectral-norm u vectors follow G


def train_step(g, d, g_ema, opt_g, opt_d, real: torch.Tensor, z_dim: int, ema_decay: float,
               augment: bool = False) -> dict:
    """One D step and one G step with the hinge loss; returns the losses as floats.

    augment: DiffAugment (diffaug.py) on everything D sees, real and fake, in both steps.
    """
    t = diff_augment if augment else (lambda x: x)
    b = real.shape[0]
    z = torch.randn(b, z_dim, device=real.device)
    with torch.no_grad():
        fake = g(z)
    loss_d_real = F.relu(1.0 - d(t(real))).mean()
    loss_d_fake = F.relu(1.0 + d(t(fake))).mean()
    opt_d.zero_grad(set_to_none=True)
    (loss_d_real + loss_d_fake).backward()
    opt_d.step()

    loss_g = -d(t(g(torch.randn(b, z_dim, device=real.device)))).mean()
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    update_ema(g_ema, training.unwrap(g), ema_decay)
    return {"loss_d_real": loss_d_real.item(), "loss_d_fake": loss_d_fake.item(), "loss_g": loss_g.item()}


# Beside the exported model (G_ema and D, float16): the raw G in float16, with the step and images seen. G_ema and D
# are not stored twice; exports made before this held all three here, and load_resume_export reads both layouts.
# A resume file with no tensors says the model's own G.* is the raw G (an export that ships G itself, not its average).
RESUME_FILE = "resume.safetensors"


def resume_files(g: nn.Module, meta: dict) -> dict[str, bytes]:
    """What a later session needs to go on training from an export (optimiser state restarts): the raw G."""
    from safetensors.torch import save

    tensors = {f"G.{k}": (v.half() if v.is_floating_point() else v).detach().cpu().contiguous()
               for k, v in training.unwrap(g).state_dict().items()}
    return {RESUME_FILE: save(tensors, metadata={"step": str(meta["step"]),
                                                 "images_seen": str(meta.get("images_seen", 0))})}


def _load_into(m: nn.Module, sd: dict) -> None:
    target = training.unwrap(m).state_dict()
    training.unwrap(m).load_state_dict({k: v.to(target[k].dtype) for k, v in sd.items()})


def load_resume_export(folder, modules: dict[str, nn.Module]) -> dict | None:
    """Load G, G_ema and D from an export (model + resume file); the meta to go on with, or None when there is none."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    folder = training.Path(folder)
    path = folder / RESUME_FILE
    if not path.exists():
        return _load_plain_export(folder, modules)
    with safe_open(str(path), framework="pt") as f:
        info = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if not any(k.startswith("G_ema.") for k in tensors):  # this layout: G_ema and D live in model.safetensors
        model = load_file(folder / "model.safetensors")
        if not tensors:  # the model's G.* is the raw G itself: both G and its average start from it
            tensors.update({k: v for k, v in model.items() if k.startswith("G.")})
        tensors.update({f"G_ema.{k[2:]}": v for k, v in model.items() if k.startswith("G.")})
        tensors.update({k: v for k, v in model.items() if k.startswith("D.")})
    for name, m in modules.items():
        head = f"{name}."
        _load_into(m, {k[len(head):]: v for k, v in tensors.items() if k.startswith(head)})
    return {"step": int(info.get("step", 0)), "images_seen": int(info.get("images_seen", 0)), "resumed_from": str(path)}


def _load_plain_export(folder, modules: dict[str, nn.Module]) -> dict | None:
    """An export made before resume files existed: G_ema and D only, the step in its training log. G restarts from G_ema."""
    from safetensors.torch import load_file

    if not (folder / "model.safetensors").exists() or not (folder / "training_log.json").exists():
        return None
    sd = load_file(folder / "model.safetensors")
    g_sd = {k[2:]: v.float() for k, v in sd.items() if k.startswith("G.")}
    for name in ("G", "G_ema"):
        training.unwrap(modules[name]).load_state_dict(g_sd)
    training.unwrap(modules["D"]).load_state_dict({k[2:]: v.float() for k, v in sd.items() if k.startswith("D.")})
    step = max((r.get("step", 0) for r in json.loads((folder / "training_log.json").read_text())), default=0)
    return {"step": int(step), "resumed_from": str(folder / "model.safetensors")}


def gammas(g: nn.Module, d: nn.Module) -> dict[str, float]:
    out = {f"G.{name}": float(m.gamma.detach()) for name, m in training.unwrap(g).attn.items()}
    out.update({f"D.{name}": float(m.gamma.detach()) for name, m in training.unwrap(d).attn.items()})
    return out


def parse_args(argv: list[str] | None = None):
    p = training.common_args(__doc__.splitlines()[0], "sagan")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr-g", type=float, default=1e-4)
    p.add_argument("--lr-d", type=float, default=4e-4)
    p.add_argument("--ema-decay", type=float, default=0.999)
    p.add_argument("--g-channels", type=int, default=32)
    p.add_argument("--d-channels", type=int, default=16)
    p.add_argument("--max-steps", type=int, default=1_000_000)
    p.add_argument("--diffaug", type=int, default=1, help="1: DiffAugment (colour, translation, cutout) for D; 0: off")
    p.add_argument("--resume-from", default=None,
                   help="an export with resume.safetensors (default: --export-dir): used when --run-dir holds no state, "
                        "so a fresh machine continues from the committed checkpoint instead of starting over")
    p.add_argument("--standing-batches", type=int, default=BATCHES,
                   help="batches of 64 samples over which the exported G's batch-norm statistics are re-estimated "
                        "(standing.py; at the run's last export, or every export on a GPU); 0: export the statistics "
                        "G_ema copied from G")
    p.add_argument("--limit", type=int, default=0, help="use only this many files (smoke tests)")
    return p.parse_args(argv)


def load_faces(args, dev: torch.device) -> torch.Tensor:
    """The training split at 64 px, on the device: (N, 64, 64, 3) uint8, from a face pack or a folder."""
    recs, pixels = training.read_faces(args.data)
    if pixels is not None:
        keep = np.array([not r.is_validation for r in recs])
        if pixels.shape[1:3] != (64, 64):
            raise SystemExit(f"the pack holds {pixels.shape[1]} px faces; SAGAN trains on 64 px (a pack made at 64 px)")
        recs, pixels = [r for r, k in zip(recs, keep) if k], pixels[keep]
    else:
        recs = [r for r in recs if not r.is_validation]
    if args.limit:
        recs = recs[: args.limit]
    if pixels is None:
        pixels = utkface.load_images(recs, 64)
    return torch.from_numpy(np.ascontiguousarray(pixels[: len(recs)])).to(dev)


@dataclass
class Nets:
    cfg: SAGANConfig
    g: nn.Module  # the trained G (DDP-wrapped when distributed)
    d: nn.Module
    g_ema: nn.Module  # its moving average: the G that ships
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer

    @property
    def modules(self) -> dict:
        return {"G": training.unwrap(self.g), "D": training.unwrap(self.d), "G_ema": self.g_ema}


def build(args, dev: torch.device) -> Nets:
    """The nets at --g-channels / --d-channels, or at the widths of the export a fresh run continues."""
    cfg = SAGANConfig(g_channels=args.g_channels, d_channels=args.d_channels)
    resume_dir = training.Path(args.resume_from or args.export_dir)
    if not (training.Path(args.run_dir) / "state.safetensors").exists() and (resume_dir / "config.json").exists():
        cfg = SAGANConfig.from_dict(json.loads((resume_dir / "config.json").read_text()))  # the run being continued
    g, d = Generator(cfg).to(dev), Discriminator(cfg).to(dev)
    g_ema = copy.deepcopy(g).eval()
    for p_ in g_ema.parameters():
        p_.requires_grad_(False)
    opt_g = torch.optim.Adam(g.parameters(), lr=args.lr_g, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), lr=args.lr_d, betas=(0.0, 0.9))
    return Nets(cfg, g, d, g_ema, opt_g, opt_d)


def restore(args, nets: Nets) -> dict:
    """Resume from --run-dir, else from the export (resume.safetensors), else from step 0."""
    run_dir, resume_dir = training.Path(args.run_dir), training.Path(args.resume_from or args.export_dir)
    meta = training.load_training_state(run_dir, nets.modules, {"G": nets.opt_g, "D": nets.opt_d})
    if meta is None:
        meta = load_resume_export(resume_dir, nets.modules) or {"step": 0}
        if meta["step"]:
            print(f"resumed from the export at step {meta['step']} (optimiser state restarts)", flush=True)
            history = resume_dir / "training_log.json"
            if history.exists() and not (run_dir / "metrics.json").exists():  # the card's curves keep every run
                run_dir.mkdir(parents=True, exist_ok=True)
                (run_dir / "metrics.json").write_text(history.read_text())
    meta.setdefault("images_seen", meta["step"] * args.batch_size)
    return meta


def settings_table(args, cfg: SAGANConfig, d_info: training.Dist) -> dict:
    dev = d_info.device
    return {"batch size": args.batch_size * d_info.world_size, "lr G / D (TTUR)": f"{args.lr_g} / {args.lr_d}",
            "Adam betas": "(0, 0.9)", "loss": "hinge", "EMA decay of G": args.ema_decay,
            "G / D width": f"{cfg.g_channels} / {cfg.d_channels}",
            "precision": "float32 (TF32 matmuls on CUDA)" if dev.type == "cuda" else "float32",
            "DiffAugment (D sees augmented real and fake)": "colour, translation 1/8, cutout 1/2" if args.diffaug else "off",
            "hardware": f"{d_info.world_size} process(es), {training.hardware_line(dev)}"}


def export(args, nets: Nets, meta: dict, log: training.MetricsLog, settings: dict, fixed_z: torch.Tensor,
           final: bool) -> None:
    """Training state, then the export: G_ema (with its own batch-norm statistics) + D in float16, the card, sample
    grids, the hand-written history and what a later run resumes from."""
    run_dir, resume_dir = training.Path(args.run_dir), training.Path(args.resume_from or args.export_dir)
    training.save_training_state(run_dir, nets.modules, {"G": nets.opt_g, "D": nets.opt_d}, meta)
    # Standing statistics cost about a minute on 2 CPU cores, a third of a checkpoint interval: on the CPU they are
    # made for the run's last export only (the run ends by itself at --max-minutes); on a GPU, for every export.
    standing = args.standing_batches and (final or fixed_z.device.type == "cuda")
    shipped = standing_statistics(nets.g_ema, nets.cfg.z_dim, args.standing_batches) if standing else nets.g_ema
    grid = sample_grid(shipped, fixed_z)
    (run_dir / "samples").mkdir(parents=True, exist_ok=True)
    (run_dir / "samples" / f"step{meta['step']:06d}.png").write_bytes(grid)
    card_extra = {"samples.png": grid, "training_log.json": json.dumps(log.records).encode()}
    history = sorted((run_dir / "samples").glob("step*.png"))
    for p_ in history[:: max(1, len(history) // 5)]:  # about six grids along the run
        card_extra[f"samples/{p_.name}"] = p_.read_bytes()
    notes = next((f.read_text() for f in (training.Path(args.export_dir) / HISTORY_FILE, resume_dir / HISTORY_FILE)
                  if f.exists()), "")  # the hand-written history goes forward with every export
    if notes:
        card_extra[HISTORY_FILE] = notes.encode()
    cfg = nets.cfg.to_dict()
    training.export_weights(
        args.export_dir,
        {**{f"G.{k}": v for k, v in shipped.state_dict().items()},
         **{f"D.{k}": v for k, v in training.unwrap(nets.d).state_dict().items()}},
        cfg, model_card(cfg, meta["step"], log.records, settings, meta["images_seen"], "\n" + notes if notes else "",
                        standing=bool(standing)),
        {**card_extra, **resume_files(nets.g, meta)}, dtype=torch.float16)
    print(f"checkpoint at step {meta['step']}", flush=True)


def real_batch(images: torch.Tensor, batch_size: int, gen: torch.Generator) -> torch.Tensor:
    """A random batch of real faces, half of them mirrored: (B, 3, 64, 64) in [-1, 1]."""
    dev = images.device
    idx = torch.randint(0, len(images), (batch_size,), generator=gen).to(dev)
    real = utkface.to_input(images[idx])
    flip = (torch.rand(batch_size, generator=gen) < 0.5).to(dev)
    return torch.where(flip[:, None, None, None], real.flip(3), real)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    training.run_distributed(lambda d_info: train(args, d_info))


def train(args, d_info: training.Dist) -> None:
    """Steps until --max-steps or the time budget, exporting at each checkpoint; the DDP wrappers die with it."""
    dev = d_info.device
    training.fast_cuda_float32(dev)  # float32 range (spectral norm keeps its scale), TF32 speed
    torch.manual_seed(args.seed + d_info.rank)
    images = load_faces(args, dev)
    print(f"{len(images)} training faces on {dev}", flush=True)
    nets = build(args, dev)
    meta = restore(args, nets)
    log = training.MetricsLog(training.Path(args.run_dir) / "metrics.json")
    if d_info.world_size > 1:
        nets.g, nets.d = nn.parallel.DistributedDataParallel(nets.g), nn.parallel.DistributedDataParallel(nets.d)
    budget = training.run_budget(args)
    fixed_z = torch.randn(64, nets.cfg.z_dim, generator=torch.Generator().manual_seed(1234)).to(dev)
    gen = torch.Generator().manual_seed(args.seed * 7919 + meta["step"] + d_info.rank)
    settings = settings_table(args, nets.cfg, d_info)

    def checkpoint(final: bool = False):
        if d_info.is_main:
            export(args, nets, meta, log, settings, fixed_z, final)

    while meta["step"] < args.max_steps:
        nets.g.train(), nets.d.train()
        real = real_batch(images, args.batch_size, gen)
        losses = train_step(nets.g, nets.d, nets.g_ema, nets.opt_g, nets.opt_d, real, nets.cfg.z_dim, args.ema_decay,
                            augment=bool(args.diffaug))
        meta["images_seen"] += args.batch_size * d_info.world_size
        if training.end_of_step(meta, losses, log, budget, d_info, checkpoint,
                                extra=lambda: {"gamma": gammas(nets.g, nets.d)}):
            break
    checkpoint(final=True)


if __name__ == "__main__":
    main()
