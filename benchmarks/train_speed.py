"""Training throughput of the CAM classifier on this CPU: contiguous vs channels_last, float32 vs bf16 autocast.

Run: python benchmarks/train_speed.py [--steps 4]
Prints images per second of full training steps (forward, backward, AdamW) at batch 64, 64x64.
This decided how every model here trains (float32 + channels_last).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from gan_viz.models.cam_classifier.network import CAMClassifier, CAMClassifierConfig  # noqa: E402


def images_per_second(channels_last: bool, bf16: bool, steps: int, batch: int = 64) -> float:
    torch.manual_seed(0)
    model = CAMClassifier(CAMClassifierConfig())
    x = torch.randn(batch, 3, 64, 64)
    y = torch.randint(0, 2, (batch,))
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x)["gender"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(), step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=4)
    args = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| memory format | precision | images/s |\n|---|---|---|")
    for cl in (False, True):
        for bf16 in (False, True):
            ips = images_per_second(cl, bf16, args.steps)
            print(f"| {'channels_last' if cl else 'contiguous'} | {'bf16 autocast' if bf16 else 'float32'} | {ips:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
