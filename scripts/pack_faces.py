"""Packs UTKFace's aligned crops at one size into a face pack (.npz of WebP bytes): what a GPU machine trains from.

Run: python scripts/pack_faces.py --data DIR --size 64 --out FILE.npz [--train-only] [--adults] [--part K/N]
     [--quality 85]
A pack loads in seconds where the folder's 21,000 JPEGs take minutes to decode, and is a few tens of MB. It holds
the data set's pixels: write it to a git-ignored folder only (e.g. .pack/), never commit it. Training scripts take
it as --data FILE.npz (SAGAN: a 64 px pack; the CycleGAN and U-GAT-IT: a pack at their image size + 1/8, 108 px for
96, of the training adults, --train-only --adults; LBAM: any size, scaled to its --image-size; the classifier:
scripts/pack_classifier_data.py). --part K/N keeps
every N-th face from the K-th, so that N smaller packs together hold them all (14,391 training adults at 108 px and
quality 70 are about 19 MB; half of them, 9.3 MB).
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
    p.add_argument("--adults", action="store_true", help="only ages 18-65 (the translators' training faces)")
    p.add_argument("--part", default="1/1", help="K/N: every N-th face from the K-th")
    p.add_argument("--quality", type=int, default=85)
    args = p.parse_args(argv)
    k, n = (int(v) for v in args.part.split("/"))
    if not 1 <= k <= n:
        raise SystemExit("--part must be K/N with 1 <= K <= N")
    recs = [r for r in utkface.records(args.data) if not (args.train_only and r.is_validation)
            and not (args.adults and not 18 <= r.age <= 65)][k - 1::n]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    n = utkface.write_pack(args.out, recs, utkface.load_images(recs, args.size), quality=args.quality)
    print(f"{args.out}: {len(recs)} faces at {args.size} px, {n / 2 ** 20:.1f} MB")


if __name__ == "__main__":
    main()
