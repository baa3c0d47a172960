"""Keeps the training split of a face pack (../shared/tools/pack_faces.py): a tenth smaller, for a lent GPU's 64 MiB.

Run: python scripts/pack_train_split.py PACK OUT   (both in a git-ignored folder, e.g. .pack/: training pixels)
The validation tenth (gan_viz/utkface.py's salted hash of the file name) is dropped; training scripts would
drop it anyway, so it is bytes that travel for nothing.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gan_viz.utkface import Record  # noqa: E402


def main(src: str, dst: str) -> None:
    d = np.load(src)
    keep = [i for i, (n, a, g) in enumerate(zip(d["name"], d["age"], d["gender"]))
            if not Record(str(n), int(a), int(g)).is_validation]
    off, jpeg = d["offsets"], d["jpeg"]
    blobs = [jpeg[off[i]:off[i + 1]] for i in keep]
    np.savez(dst, jpeg=np.concatenate(blobs), offsets=np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64),
             gender=d["gender"][keep], age=d["age"][keep], name=d["name"][keep])
    print(f"{dst}: {len(keep)} of {len(d['name'])} faces, {Path(dst).stat().st_size / 2 ** 20:.1f} MB")


if __name__ == "__main__":
    main(*sys.argv[1:3])
