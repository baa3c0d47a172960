"""Where an LBAM run starts and what it leaves: its run folder, else its export (resumed, or grown from a smaller size).

An export is the folder the app reads (model.safetensors, config.json, the card) plus what a later run needs:
resume.json (step, images seen, the runs so far) and discriminator.safetensors. So runs on a CPU and on a GPU add up
through the committed checkpoint, as the other families' do. An export made at a smaller size (the 128 px model) starts
a larger one (256 px, one level deeper): every tensor whose shape allows is copied, the new deepest level starts fresh.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from gan_viz import training
from gan_viz.models.lbam.network import LBAMConfig, LBAMGenerator
from gan_viz.quantize import dequantise_state, quantise_state

RESUME_FILE = "resume.json"
D_FILE = "discriminator.safetensors"
WIDTHS = [32, 64, 128, 256, 256, 256]  # the 128 px model's six levels, down to a 2x2 bottleneck
DEEPER_WIDTH = 64  # each level below those: at 256 px it keeps the generator at 14.7 M weights, 14.7 MB in int8


def default_channels(image_size: int) -> list[int]:
    """Encoder widths down to a 2x2 bottleneck: the 128 px model's widths, then DEEPER_WIDTH for each level more.

    A larger model shares the smaller one's widths level by level, so it can start from its weights (grow_from)."""
    levels = int(math.log2(image_size)) - 1
    return (WIDTHS + [DEEPER_WIDTH] * max(0, levels - len(WIDTHS)))[:levels]


def grow_from(g: LBAMGenerator, small: dict[str, torch.Tensor], small_levels: int) -> tuple[int, int]:
    """Copy a shallower generator's tensors into g where the shapes match; (copied, g's tensor count).

    Encoder level i and its attention keep their index; decoder layer k restores encoder level n-2-k, so a model
    one level deeper holds the smaller one's decoder layer k at k+1 (its new layer 0 comes out of the new bottleneck).
    """
    shift = len(g.enc) - small_levels
    target = g.state_dict()
    copied = 0
    for k, v in small.items():
        parts = k.split(".")
        if parts[0] in ("dec", "dec_bn"):
            parts[1] = str(int(parts[1]) + shift)
        key = ".".join(parts)
        if key in target and target[key].shape == v.shape:
            target[key] = v.to(target[key].dtype)
            copied += 1
    g.load_state_dict(target)
    return copied, len(target)


def restore(args, g: LBAMGenerator, d: nn.Module, opt_g, opt_d) -> dict:
    """Resume from --run-dir, else from the export (same size: its weights and resume.json; smaller: grown), else
    start from scratch. The meta returned carries step, images_seen, init and runs."""
    meta = training.load_training_state(args.run_dir, {"G": g, "D": d}, {"G": opt_g, "D": opt_d})
    if meta is not None:
        print(f"resumed from {args.run_dir} at step {meta['step']}", flush=True)
        return _with_defaults(meta)
    folder = Path(args.export_dir)
    if not (folder / "model.safetensors").exists():
        return _with_defaults({"init": "random initialisation"})
    old = LBAMConfig.from_dict(json.loads((folder / "config.json").read_text()))
    weights = dequantise_state(load_file(folder / "model.safetensors"))
    saved = json.loads((folder / RESUME_FILE).read_text()) if (folder / RESUME_FILE).exists() else {}
    if old.image_size == g.config.image_size and old.channels == g.config.channels:
        g.load_state_dict({k: v.float() for k, v in weights.items()})
        if (folder / D_FILE).exists():
            d.load_state_dict(dequantise_state(load_file(folder / D_FILE)))
        print(f"resumed from the export {folder} at step {saved.get('step', 0)} (optimisers restart)", flush=True)
        return _with_defaults(saved)
    copied, total = grow_from(g, weights, len(old.channels))
    init = (f"the {old.image_size} px LBAM at step {saved.get('step', 0):,}: {copied} of {total} tensors copied where "
            "the shapes allow, the rest fresh")
    print(f"started from {init}", flush=True)
    return _with_defaults({"init": init})


def _with_defaults(meta: dict) -> dict:
    return {"step": 0, "images_seen": 0, "init": "random initialisation", "runs": [], **meta}


def export(folder: str | Path, g: LBAMGenerator, d: nn.Module, meta: dict, card: str, records: list[dict]) -> None:
    """The generator and discriminator in int8 (gan_viz/quantize.py, measured lossless for this model), the
    config, the card, the training log and resume.json: what the app reads and what the next run starts from."""
    state = {k: v.detach().cpu().float() for k, v in g.state_dict().items()}
    training.export_weights(folder, quantise_state(state), g.config.to_dict(), card,
                            {"training_log.json": json.dumps(records).encode(),
                             RESUME_FILE: json.dumps(meta, indent=1).encode()})
    d_state = {k: v.detach().cpu().float() if v.is_floating_point() else v.cpu() for k, v in d.state_dict().items()}
    save_file(quantise_state(d_state), Path(folder) / D_FILE)
    (Path(folder) / "quality.json").unlink(missing_ok=True)  # measured on the weights these replace
