"""Packs the CAM classifier's training data for a GPU machine: aligned faces + the app's own crops.

Run: python scripts/pack_classifier_data.py --data DIR --app-crops CACHE.npz --out .pack
                                            [--size 96] [--crop-size 80] [--quality 80]
Writes OUT/faces-<size>.npz (every face, aligned, so training and its per-epoch validation read the same split)
and OUT/app-crops-<crop-size>.npz (app_crops.py's crops of the training faces), both WebP face packs
(utkface.write_pack), and prints their sizes. OUT must be git-ignored (it holds the data set's pixels). On the
GPU machine train.py gets --data OUT/faces-96.npz --app-crops OUT/app-crops-80.npz --source-size 96.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gan_viz import utkface  # noqa: E402
from gan_viz.models.cam_classifier import app_crops  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--app-crops", required=True, help="an .npz from python -m gan_viz.models.cam_classifier.app_crops")
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=96, help="side of the aligned faces (train.py's --source-size there)")
    p.add_argument("--crop-size", type=int, default=80, help="side of the app's crops (they are fed at the input size)")
    p.add_argument("--quality", type=int, default=80)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    recs = utkface.records(args.data)
    faces = out / f"faces-{args.size}.npz"
    n = utkface.write_pack(faces, recs, utkface.load_images(recs, args.size), quality=args.quality)
    print(f"{faces}: {len(recs)} faces, {n / 2 ** 20:.1f} MB")
    train = [r for r in recs if not r.is_validation]
    crops = out / f"app-crops-{args.crop_size}.npz"
    n = utkface.write_pack(crops, train, app_crops.load(args.app_crops, train, args.crop_size), quality=args.quality)
    print(f"{crops}: {len(train)} crops, {n / 2 ** 20:.1f} MB")


if __name__ == "__main__":
    main()
