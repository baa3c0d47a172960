"""Packs UTKFace's aligned crops at one size into a face pack (.npz of WebP bytes): what a GPU machine trains from.

Run: python scripts/pack_faces.py --data DIR --size 64 --out FILE.npz [--train-only] [--quality 85]
A pack loads in seconds where the folder's 21,000 JPEGs take minutes to decode, and is a few tens of MB. It holds
the data set's pixels: write it to a git-ignored folder only (e.g. .pack/), never commit it. Training scripts take
it as --data FILE.npz (SAGAN: a 64 px pack; the classifier: scripts/pack_classifier_data.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gan_viz import utkface  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="UTKFace's folder of aligned crops")
    p.add_argument("--size", type=int, required=True, help="side of the packed faces in px")
    p.add_argument("--out", required=True, help="the .npz to write (in a git-ignored folder)")
    p.add_argument("--train-only", action="store_true", help="leave out the validation tenth (utkface.Record)")
    p.add_argument("--quality", type=int, default=85)
    args = p.parse_args(argv)
    recs = [r for r in utkface.records(args.data) if not (args.train_only and r.is_validation)]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    n = utkface.write_pack(args.out, recs, utkface.load_images(recs, args.size), quality=args.quality)
    print(f"{args.out}: {len(recs)} faces at {args.size} px, {n / 2 ** 20:.1f} MB")


if __name__ == "__main__":
    main()
