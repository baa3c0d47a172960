"""Training crops made by the app's own photo path: each training face placed in a picture, then found, levelled and cropped.

Run: python -m gan_viz.models.cam_classifier.app_crops --data DIR --out FILE.npz [--workers 2]

augment.detector_jitter imitates the Haar detector's framing; this is the real thing. Each training
file is placed in a larger plain picture (utkface.in_picture, as the evaluation's "faces in
pictures" are, with other random draws) and cropped by faces.find_faces as /classify crops it, so
the classifier trains on the framings it will be fed, the detector's worst boxes included (a face
not found is used whole). The file holds pixels of the data set: it is written outside
the repository and must never be committed. 19,207 training files took 31 minutes on one core beside a training run.
"""
from __future__ import annotations

import argparse
import os
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

from gan_viz import faces, utkface
from gan_viz.imaging import resize
from gan_viz.models.cam_classifier.visualize import DISPLAY_SIZE  # the size classify_photo crops at


def app_crop(face: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, bool]:
    """One aligned 200 px face -> (the app's crop of it placed in a picture, resized to size; whether a face was found)."""
    picture, _ = utkface.in_picture(face, np.random.default_rng(seed))
    try:
        found = faces.find_faces(picture, DISPLAY_SIZE, max_faces=1)[0]
    except faces.FaceError:
        found = faces.whole_image(picture, DISPLAY_SIZE)
    crop = found.native if found.native is not None else found.crop  # both square: as classify_photo hands them on
    return resize(crop, (size, size)), not found.whole_image


def _work(job: tuple[str, int, int]) -> tuple[np.ndarray, bool]:
    path, size, seed = job
    return app_crop(utkface.load_face(path, 200), size, seed)  # the 200 px file as a user would upload it


def build(recs: list[utkface.Record], size: int, seed: int = 0, workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 (N, size, size, 3) crops, bool (N,) face found) for the records, in their order."""
    jobs = [(r.path, size, seed * 1_000_003 + i) for i, r in enumerate(recs)]
    if workers > 1:
        with Pool(workers, initializer=cv2.setNumThreads, initargs=(1,)) as pool:
            out = pool.map(_work, jobs, chunksize=64)
    else:
        cv2.setNumThreads(1)
        out = [_work(j) for j in jobs]
    return np.stack([c for c, _ in out]), np.array([f for _, f in out])


def load(path: str | os.PathLike, recs: list[utkface.Record], size: int) -> np.ndarray:
    """The crops of these records (matched by file name) at size; a clear error when the file lacks any of them.

    path: this module's .npz, or the same crops as a face pack (utkface.write_pack, how they travel to a GPU).
    """
    with np.load(path) as z:
        packed = "offsets" in z.files
        if not packed:
            names, crops = list(z["names"]), z["crops"]
    if packed:
        pack_recs, crops = utkface.load_pack(path)
        names = [r.path for r in pack_recs]
    row = {n: i for i, n in enumerate(names)}
    missing = [r.path for r in recs if os.path.basename(r.path) not in row]
    if missing:
        raise SystemExit(f"{path} has no app crop for {len(missing)} training files (e.g. {missing[0]}); rebuild it "
                         "with python -m gan_viz.models.cam_classifier.app_crops")
    crops = crops[[row[os.path.basename(r.path)] for r in recs]]
    if crops.shape[1] != size:
        crops = np.stack([resize(c, (size, size)) for c in crops])
    return crops


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="an .npz outside the repository (it holds the data set's pixels)")
    p.add_argument("--size", type=int, default=128, help="side of the stored crops (train.py's --source-size)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--limit", type=int, default=0, help="only this many files (smoke tests)")
    args = p.parse_args()
    recs = [r for r in utkface.records(args.data) if not r.is_validation]
    if args.limit:
        recs = recs[: args.limit]
    crops, found = build(recs, args.size, args.seed, args.workers)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, crops=crops, found=found, names=np.array([os.path.basename(r.path) for r in recs]))
    print(f"{len(recs)} training faces placed in pictures: a face found in {found.mean():.1%}; wrote {out}")


if __name__ == "__main__":
    main()
