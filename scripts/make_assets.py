"""Writes the example faces in assets/ with the project's own SAGAN (images made by the model, no data pixels).

Run: python scripts/make_assets.py [--seeds S ...] [--count 4]
Each face is the 64x64 output of the bundled generator, enlarged 4x (bicubic) to 256x256. Without
--seeds the faces are the first --count seeds of 0-63 by the rule the SAGAN tab uses for its first faces (those the
bundled CAM classifier is surest of, its gender classes in turn), and the older sagan_face_*.png are removed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from gan_viz.models.cam_classifier.visualize import CAMExplainer  # noqa: E402
from gan_viz.models.sagan.visualize import SAGANExplorer  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--count", type=int, default=4)
    args = p.parse_args()
    ex = SAGANExplorer.load()
    seeds = args.seeds or ex.ranked_seeds(judge=CAMExplainer.load().top_class)[:args.count]
    if not args.seeds:
        for old in (ROOT / "assets").glob("sagan_face_seed*.png"):
            old.unlink()
    for seed in seeds:
        face = Image.fromarray(ex.generate(seed).image).resize((256, 256), Image.Resampling.BICUBIC)
        out = ROOT / "assets" / f"sagan_face_seed{seed}.png"
        face.save(out)
        print(out.relative_to(ROOT))


if __name__ == "__main__":
    main()
