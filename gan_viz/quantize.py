"""Int8 storage of bundled weights: per-output-channel symmetric quantisation, and reading it back (hub.py).

Why: a Space clones the repository and the Hub serves the files, so the bundled checkpoints' size is what every
visitor's first start waits for. A conv or linear weight W (C_out, ...) is stored as q = round(W / s) in int8 with
one float16 scale per output channel, s_c = max |W_c| / 127, so the error per weight is at most s_c / 2; everything
else (biases, norms, small tensors, integer buffers) stays as it was. Each quantised tensor `k` is stored under `k`
(int8) beside `k` + SCALE_SUFFIX; dequantise_state turns such a file back into the float state dict.

Run: python -m gan_viz.quantize checkpoints/FAMILY   (rewrites FAMILY/model.safetensors in place; measure again)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

SCALE_SUFFIX = ".__int8_scale"
MIN_NUMEL = 4096  # smaller tensors save too little to be worth any error


def quantise_state(state: dict[str, torch.Tensor], min_numel: int = MIN_NUMEL) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        if not v.is_floating_point() or v.dim() < 2 or v.numel() < min_numel:
            out[k] = v.contiguous()
            continue
        w = v.float()
        s = w.abs().amax(dim=tuple(range(1, w.dim())), keepdim=True).clamp_min(1e-12) / 127
        out[k] = torch.round(w / s).clamp(-127, 127).to(torch.int8).contiguous()
        out[k + SCALE_SUFFIX] = s.half().contiguous()
    return out


def dequantise_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A file's tensors -> the state dict: int8 tensors with a scale become float32 q * s; the rest as stored."""
    out = {}
    for k, v in tensors.items():
        if k.endswith(SCALE_SUFFIX):
            continue
        scale = tensors.get(k + SCALE_SUFFIX)
        out[k] = v.float() * scale.float() if scale is not None else v
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", help="an export folder holding model.safetensors, e.g. checkpoints/lbam")
    args = p.parse_args()
    path = Path(args.folder) / "model.safetensors"
    before = path.stat().st_size
    tensors = load_file(path)
    if any(k.endswith(SCALE_SUFFIX) for k in tensors):
        raise SystemExit(f"{path} is already quantised")
    save_file(quantise_state(tensors), path)
    print(f"{path}: {before / 2 ** 20:.1f} -> {path.stat().st_size / 2 ** 20:.1f} MB")


if __name__ == "__main__":
    main()
