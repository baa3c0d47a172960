"""Benchmark of the inpainting tab on this machine: the LBAM network alone and the whole /inpaint path.

Run: python benchmarks/inpainting.py [--repeats 30] [--size 256] [--threads N]
Prints a Markdown table (median and p90 after warm-up). Target: one inpainting well under 200 ms (at 256 px: the whole
request under 250 ms). --size S times a network of another size before one is trained: the bundled weights grown to
it (gan_viz/models/lbam/start.py), the same work per pass as the trained model's.
The image is a project-made SAGAN face (assets/) with a 30-40% free-form hole.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gan_viz import image_quality  # noqa: E402
from gan_viz.imaging import load_image, resize  # noqa: E402
from gan_viz.models.lbam import masks, start  # noqa: E402
from gan_viz.models.lbam.network import LBAMConfig, LBAMGenerator  # noqa: E402
from gan_viz.models.lbam.visualize import Inpainter  # noqa: E402
from timing import timed  # noqa: E402

FACE = sorted((ROOT / "assets").glob("sagan_face_*.png"))[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--size", type=int, default=0, help="a network of this size, grown from the bundled one (0: as bundled)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default; a request uses 1)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    inp = Inpainter.load()
    if args.size and args.size != inp.size:
        g = LBAMGenerator(LBAMConfig(args.size, start.default_channels(args.size)))
        start.grow_from(g, inp.model.state_dict(), len(inp.model.enc))
        inp = Inpainter(g, inp.device)
    s = inp.size
    rows = []
    for size in (s, 200, 512):
        img = resize(load_image(str(FACE)), (size, size))
        hole = masks.free_form(size, np.random.default_rng(0), 0.3, 0.4).astype(bool)
        rows.append((f"inpaint a {size}x{size} image (resize to {s}, network, resize back, composite)",
                     *timed(lambda _: inp.inpaint(img, hole), args.repeats)))
    img = resize(load_image(str(FACE)), (s, s))
    hole = masks.free_form(s, np.random.default_rng(0), 0.3, 0.4).astype(bool)
    net = []
    for _ in range(args.repeats):
        net.append(inp.inpaint(img, hole).seconds)
    rows.insert(0, (f"  the network alone at {s}x{s}", statistics.median(net) * 1000, float(np.percentile(net, 90)) * 1000))
    rows.append((f"  with the attention maps (the tab), {s}x{s}", *timed(lambda _: inp.inpaint(img, hole, True), args.repeats)))
    rows.append((f"  OpenCV Telea on the same {s}x{s} hole", *timed(lambda _: image_quality.classical_inpaint(img, hole), args.repeats)))
    rows.append((f"  OpenCV Navier-Stokes on the same {s}x{s} hole",
                 *timed(lambda _: image_quality.classical_inpaint(img, hole, "ns"), args.repeats)))
    print(f"LBAM on {inp.device}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| what | median ms | p90 ms |\n|---|---|---|")
    for name, med, p90 in rows:
        print(f"| {name} | {med:.1f} | {p90:.1f} |")


if __name__ == "__main__":
    main()
