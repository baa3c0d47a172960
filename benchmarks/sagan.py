"""Benchmark of the SAGAN tab on this machine: a click answered from session state vs generating a face.

Run: python benchmarks/sagan.py [--repeats 200]
Prints a Markdown table (median and p90, after warm-up). The click target is < 50 ms median.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gan_viz.models.sagan.visualize import SAGANExplorer  # noqa: E402
from gan_viz.ui.attention_tab import attention_view  # noqa: E402
from timing import timed  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=200)
    args = p.parse_args()
    ex = SAGANExplorer.load()
    g = ex.generate(3)
    rng = np.random.default_rng(0)
    clicks = rng.integers(0, 64, (args.repeats + 3, 2))
    rows = []
    for layer in g.maps:
        for reading in ("query", "key"):
            rows.append((f"click -> overlay + numbers, {layer}, {reading}", *timed(
                lambda i=0, layer=layer, reading=reading: attention_view(
                    g.image, g.maps[layer], layer, int(clicks[i][0]), int(clicks[i][1]), reading, g.gammas[layer], 0.6, 5),
                args.repeats)))
    n = max(10, args.repeats // 10)
    rows.append(("generate a face with its attention maps (G forward)", *timed(lambda i=0: ex.generate(i), n)))
    rows.append(("spectral report, k=10, all layers", *timed(lambda i=0: ex.spectral_report(10), 5)))
    print(f"SAGAN on {ex.device}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| what | median ms | p90 ms |\n|---|---|---|")
    for name, med, p90 in rows:
        print(f"| {name} | {med:.2f} | {p90:.2f} |")


if __name__ == "__main__":
    main()
