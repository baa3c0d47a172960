"""Standing statistics for G's batch norm (Brock et al., BigGAN, ICLR 2019): re-estimate them for the G that ships.

G's BatchNorm layers keep running means and variances of what they saw in training. G's moving average (the G that
ships) copies them from the trained G (train.update_ema), but its own weights give slightly different activations,
so at inference it normalises with statistics that are not its own. Averaging them over many batches of the shipped
G's own samples fixes that, and raises the diversity of its faces (the card's quality table, from
benchmarks/sagan_quality.py). Also here: the grid of samples that goes beside every export (sample_grid).

Run on an export (rewrites its G's statistics and sample grid in place; training exports do this themselves):
    python -m gan_viz.models.sagan.standing --weights checkpoints/sagan
"""
from __future__ import annotations

import argparse
import copy
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from gan_viz import hub
from gan_viz.models.sagan.card import COPIED_NOTE, STANDING_NOTE
from gan_viz.models.sagan.network import Generator, SAGANConfig

# 3,200 samples: enough that two seeds give nearly the same statistics (the card gives the spread), about a minute
# on 2 CPU cores.
BATCHES, BATCH_SIZE = 50, 64


@torch.no_grad()
def standing_statistics(g: nn.Module, z_dim: int, batches: int = BATCHES, batch_size: int = BATCH_SIZE,
                        seed: int = 0) -> nn.Module:
    """A copy of g, in eval mode, whose BatchNorm running mean / variance are the plain averages of the batch means /
    (unbiased) variances over `batches` batches of g's own samples, z ~ N(0, I). g itself is left as it was.

    Only the BatchNorm layers run in training mode while the statistics are gathered: spectral norm's u vectors
    (updated in training mode) and every parameter stay exactly as they were.
    """
    g = copy.deepcopy(g).eval()
    bns = [m for m in g.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches instead of an exponential one
        m.train()
    device = next(g.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        g(torch.randn(batch_size, z_dim, generator=gen).to(device))
    for m in bns:
        m.momentum = 0.1  # nn.BatchNorm2d's default, so a later training run updates them as before
        m.eval()
    return g


def sample_grid(g: nn.Module, z: torch.Tensor, nrow: int = 8) -> bytes:
    """PNG bytes of a grid of G(z): images the model made, safe to commit."""
    g.eval()
    with torch.inference_mode():
        x = g(z).cpu()  # (B, 3, 64, 64)
    x = ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()  # (B, 64, 64, 3)
    b, h, w, _ = x.shape
    rows = [np.concatenate(list(x[r * nrow:(r + 1) * nrow]), axis=1) for r in range(b // nrow)]
    buf = io.BytesIO()
    Image.fromarray(np.concatenate(rows, axis=0)).save(buf, format="PNG")
    return buf.getvalue()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", required=True, help="a SAGAN export folder (config.json + model.safetensors)")
    p.add_argument("--batches", type=int, default=BATCHES)
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    args = p.parse_args()
    folder = Path(args.weights)
    w = hub.ResolvedWeights("sagan", folder, "folder", str(folder))
    cfg = SAGANConfig.from_dict(w.config)
    sd = load_file(folder / "model.safetensors")
    g = Generator(cfg)
    g.load_state_dict({k[2:]: v.float() for k, v in sd.items() if k.startswith("G.")})
    g = standing_statistics(g, cfg.z_dim, args.batches, args.batch_size)
    for k, v in g.state_dict().items():
        sd[f"G.{k}"] = v.to(sd[f"G.{k}"].dtype).contiguous()
    save_file(sd, folder / "model.safetensors")
    fixed_z = torch.randn(64, cfg.z_dim, generator=torch.Generator().manual_seed(1234))  # train.py's grid latents
    (folder / "samples.png").write_bytes(sample_grid(g, fixed_z))
    card = folder / "README.md"
    if card.exists():  # an export made with the copied statistics says so; now it says what it holds
        card.write_text(card.read_text().replace(COPIED_NOTE, STANDING_NOTE))
    print(f"{folder}: G's batch-norm statistics re-estimated over {args.batches} x {args.batch_size} samples")


if __name__ == "__main__":
    main()
