"""Training throughput on this CPU: contiguous vs channels_last, float32 vs bf16 autocast, per model family.

Run: python benchmarks/train_speed.py [--family cam|cyclegan|lbam|ugatit|all] [--steps 3] [--threads N] [--no-bf16]
Prints images per second of full training steps (forward, backward, optimiser) with each
family's own train_step and default sizes. This decided how every model here trains
(float32 + channels_last) and how wide the GAN nets are.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def cam_step(channels_last: bool, size: int = 64, batch: int = 64):
    from gan_viz.models.cam_classifier.network import CAMClassifier, CAMClassifierConfig
    model = CAMClassifier(CAMClassifierConfig())
    x, y = torch.randn(batch, 3, size, size), torch.randint(0, 2, (batch,))
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)

    def step():
        loss = F.cross_entropy(model(x)["gender"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step, batch


def cyclegan_step(channels_last: bool, size: int = 96, batch: int = 4, ngf: int = 24, n_blocks: int = 6):
    from gan_viz.models.cyclegan.network import CycleGAN, CycleGANConfig
    from gan_viz.models.cyclegan.train import ImagePool, train_step
    m = CycleGAN(CycleGANConfig(image_size=size, ngf=ngf, n_blocks=n_blocks))
    xm, xf = torch.rand(batch, 3, size, size) * 2 - 1, torch.rand(batch, 3, size, size) * 2 - 1
    if channels_last:
        m = m.to(memory_format=torch.channels_last)
        xm, xf = (t.contiguous(memory_format=torch.channels_last) for t in (xm, xf))
    gens = list(m.male_to_female.parameters()) + list(m.female_to_male.parameters())
    discs = list(m.D_female.parameters()) + list(m.D_male.parameters())
    opt_g, opt_d = torch.optim.Adam(gens, 2e-4), torch.optim.Adam(discs, 2e-4)
    pools = {"male": ImagePool(), "female": ImagePool()}
    random.seed(0)
    return (lambda: train_step(m, opt_g, opt_d, xm, xf, pools)), 2 * batch


def lbam_step(channels_last: bool, size: int = 128, batch: int = 8, channels=(32, 64, 128, 256, 256, 256)):
    from gan_viz.models.lbam.network import LBAMConfig, LBAMGenerator
    from gan_viz.models.lbam.train import PatchDiscriminator, random_masks, train_step
    g, d = LBAMGenerator(LBAMConfig(image_size=size, channels=list(channels))), PatchDiscriminator()
    real = torch.rand(batch, 3, size, size) * 2 - 1
    mask = random_masks(batch, size, np.random.default_rng(0))
    if channels_last:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
        real, mask = (t.contiguous(memory_format=torch.channels_last) for t in (real, mask))
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 2e-4), torch.optim.Adam(d.parameters(), 4e-4)
    return (lambda: train_step(g, d, opt_g, opt_d, real, mask, 0.01)), batch


def ugatit_step(channels_last: bool, size: int = 96, batch: int = 4):
    from gan_viz.models.ugatit.network import UGATIT, UGATITConfig
    from gan_viz.models.ugatit.train import train_step
    m = UGATIT(UGATITConfig(image_size=size))
    xm, xf = torch.rand(batch, 3, size, size) * 2 - 1, torch.rand(batch, 3, size, size) * 2 - 1
    if channels_last:
        m = m.to(memory_format=torch.channels_last)
        xm, xf = (t.contiguous(memory_format=torch.channels_last) for t in (xm, xf))
    gens = [*m.male_to_female.parameters(), *m.female_to_male.parameters()]
    discs = [p for n, p in m.named_parameters() if n.startswith("D_")]
    opt_g, opt_d = torch.optim.Adam(gens, 1e-4), torch.optim.Adam(discs, 1e-4)
    # train_step sets its own autocast, so it is told whether the caller's is on
    return (lambda: train_step(m, opt_g, opt_d, xm, xf, bf16=torch.is_autocast_enabled("cpu"))), 2 * batch


FAMILIES = {"cam": cam_step, "cyclegan": cyclegan_step, "lbam": lbam_step, "ugatit": ugatit_step}


def images_per_second(make, channels_last: bool, bf16: bool, steps: int) -> float:
    torch.manual_seed(0)
    step, n = make(channels_last)

    def run():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            step()
    run(), run()
    t = time.perf_counter()
    for _ in range(steps):
        run()
    return n * steps / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", default="all", choices=[*FAMILIES, "all"])
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    p.add_argument("--no-bf16", action="store_true", help="skip the (slow here) bf16 rows")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| family | memory format | precision | images/s |\n|---|---|---|---|")
    for name in FAMILIES if args.family == "all" else [args.family]:
        for cl in (False, True):
            for bf16 in (False,) if args.no_bf16 else (False, True):
                ips = images_per_second(FAMILIES[name], cl, bf16, args.steps)
                print(f"| {name} | {'channels_last' if cl else 'contiguous'} | {'bf16 autocast' if bf16 else 'float32'} "
                      f"| {ips:.1f} |", flush=True)


if __name__ == "__main__":
    main()
