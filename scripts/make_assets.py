"""Writes the example faces in assets/ with the project's own SAGAN (images made by the model, no data pixels).

Run: python scripts/make_assets.py [--seeds 3 11 27 42]
Each face is the 64x64 output of the bundled generator, enlarged 4x (bicubic) to 256x256.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from gan_viz.models.sagan.visualize import SAGANExplorer  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[3, 11, 27, 42])
    args = p.parse_args()
    ex = SAGANExplorer.load()
    for seed in args.seeds:
        face = Image.fromarray(ex.generate(seed).image).resize((256, 256), Image.Resampling.BICUBIC)
        out = ROOT / "assets" / f"sagan_face_seed{seed}.png"
        face.save(out)
        print(out.relative_to(ROOT))


if __name__ == "__main__":
    main()
