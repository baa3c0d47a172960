"""Benchmark of face finding: faces found in pictures, pictures without a face refused, the time a portrait takes.

Run: python benchmarks/face_finding.py [--data DIR] [--n 600] [--code DIR]

- faces: validation adults placed in larger pictures (utkface.in_picture, as every "in pictures" figure here), the
  first 300 of those pictures scaled down so the faces are 50-80 px wide, the app's SAGAN faces and the
  public-domain portraits it ships or its packages hold;
- non-faces: tests/non_faces.py (136 pictures from scikit-image's and matplotlib's samples and synthetic textures);
- large: the first --large pictures enlarged 1-2x in textured 1600-2400 px photos (a phone's photo, in_large_photos);
- time: find_faces on the 600x512 Grace Hopper portrait, on the portrait in such a photo and on the cat (a refusal),
  nothing remembered, median and p90 of --repeats, with OpenCV on every core and on one thread (as the app's request threads).
--code DIR measures another checkout of this project (a git worktree of an older commit) on the same pictures.
--boxes FILE writes the strict cascade's boxes (detector.detect(coarse=True)) of every picture to FILE, or, when FILE
exists, counts the pictures whose boxes differ from it: run it with --code OLD first, then on this checkout.
Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _setup(code: str | None):
    """tests.non_faces and timing from this checkout, gan_viz from `code` when given; returns non_faces."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from tests.non_faces import non_faces
    if code:
        sys.path.insert(0, str(Path(code).resolve()))
    return non_faces


def found(img: np.ndarray) -> bool:
    from gan_viz import faces
    try:
        faces.find_faces(img, 128)
        return True
    except faces.FaceError:
        return False


def known_faces() -> list[tuple[str, np.ndarray]]:
    import skimage.data

    from gan_viz.imaging import load_image
    out = [(p.name, load_image(str(p))) for p in sorted((ROOT / "assets").glob("*.*g")) if "no_face" not in p.name]
    return out + [("skimage astronaut (NASA, public domain)", skimage.data.astronaut())]


def validation_adults(data: str, n: int) -> list:
    from gan_viz import utkface
    return [r for r in utkface.records(data) if r.is_validation and 18 <= r.age <= 65][:n]


def picture_faces(data: str, n: int) -> list[np.ndarray]:
    from gan_viz import utkface
    rng = np.random.default_rng(0)
    return [utkface.in_picture(np.ascontiguousarray(im), rng)[0]
            for im in utkface.load_images(validation_adults(data, n), 200)]


def missed_by_race(recs: list, found_each: list[bool]) -> str:
    """Faces not found per UTKFace race label (its annotators' label, used only to report by group): missed / count."""
    from gan_viz import utkface
    names = [utkface.RACES[r.race] if r.race >= 0 else "unlabelled" for r in recs]
    return ", ".join(f"{g} {sum(1 for n, f in zip(names, found_each) if n == g and not f)} / {names.count(g)}"
                     for g in sorted(set(names)))


def small_faces(pics: list[np.ndarray]) -> list[np.ndarray]:
    """The pictures scaled down 0.25-0.4x, so their 200 px faces become the 50-80 px faces of a group photo."""
    import cv2

    rng = np.random.default_rng(1)
    scales = rng.uniform(0.25, 0.4, len(pics))
    return [cv2.resize(p, None, fx=k, fy=k, interpolation=cv2.INTER_AREA) for p, k in zip(pics, scales)]


BACKGROUNDS = ("coffee", "rocket")  # scikit-image's samples without a face (CC0 and NASA's, public domain)


def in_large_photos(pics: list[np.ndarray], seed: int = 2) -> list[np.ndarray]:
    """Each picture enlarged 1-2x on one of BACKGROUNDS grown to 1600-2400 px, at a random spot: a phone's photo
    as the app keeps it (faces 200-400 px in a textured scene, found by a search at 1024 px)."""
    import cv2
    import skimage.data

    rng = np.random.default_rng(seed)
    out = []
    for i, pic in enumerate(pics):
        side = int(rng.uniform(1600, 2400))
        bg = getattr(skimage.data, BACKGROUNDS[i % len(BACKGROUNDS)])()
        scene = cv2.resize(bg, (side, side * 3 // 4), interpolation=cv2.INTER_CUBIC)
        k = rng.uniform(1.0, 2.0)
        p = cv2.resize(pic, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)[:scene.shape[0], :scene.shape[1]]
        y, x = (int(rng.integers(0, scene.shape[j] - p.shape[j] + 1)) for j in (0, 1))
        scene[y:y + p.shape[0], x:x + p.shape[1]] = p
        out.append(scene)
    return out


def finding_ms(img: np.ndarray, repeats: int) -> tuple[float, float]:
    """Median and p90 ms of find_faces on one picture, nothing remembered, a refusal included."""
    from timing import timed

    from gan_viz import faces

    def once(_):
        faces.forget()
        try:
            faces.find_faces(img, 256)
        except faces.FaceError:
            pass
    return timed(once, repeats)


def compare_boxes(path: str, sets: dict[str, list[np.ndarray]]) -> list[tuple[str, str]]:
    """Rows saying, per set of pictures, how many get the boxes written in path (written there first if absent)."""
    import json

    from gan_viz.faces import detector
    boxes = {name: [[list(b) for b in detector.detect(img, coarse=True)] for img in imgs] for name, imgs in sets.items()}
    if not Path(path).exists():
        Path(path).write_text(json.dumps(boxes))
        return [("boxes written", path)]
    before = json.loads(Path(path).read_text())
    rows = []
    for name, now in boxes.items():
        same = sum(a == b for a, b in zip(before[name], now))
        first = sum(a[:1] == b[:1] for a, b in zip(before[name], now))
        rows.append((f"{name}: boxes as in {Path(path).name} (all / the first)", f"{same} / {first} of {len(now)}"))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="UTKFace folder: adds validation faces placed in pictures")
    p.add_argument("--n", type=int, default=600, help="validation adults to place in pictures")
    p.add_argument("--code", help="another checkout of this project to measure instead of this one")
    p.add_argument("--repeats", type=int, default=30, help="timings of each picture (0: no timing)")
    p.add_argument("--boxes", help="write every picture's boxes here, or compare with those written here before")
    p.add_argument("--large", type=int, default=100, help="pictures placed in large photos (in_large_photos)")
    args = p.parse_args()
    non_faces = _setup(args.code)
    import cv2
    rows = []
    if args.data:
        pics = picture_faces(args.data, args.n)
        found_each = [found(x) for x in pics]
        rows.append(("validation faces in pictures found", f"{np.mean(found_each):.1%} of {len(pics)}"))
        rows.append(("the same, not found by race label (missed / faces)",
                     missed_by_race(validation_adults(args.data, args.n), found_each)))
        small = small_faces(pics[:300])
        rows.append(("the same pictures scaled 0.25-0.4 (faces 50-80 px) found",
                     f"{np.mean([found(x) for x in small]):.1%} of {len(small)}"))
        large = in_large_photos(pics[:args.large])
        rows.append((f"the first {len(large)} enlarged 1-2x in textured 1600-2400 px photos (in_large_photos) found",
                     f"{np.mean([found(x) for x in large]):.1%} of {len(large)}"))
    known = known_faces()
    if args.boxes:
        sets = {"known": [img for _, img in known], "non-faces": [img for _, img in non_faces()]}
        if args.data:
            sets.update(pictures=pics, small=small, large=large)
        rows += compare_boxes(args.boxes, sets)
    missed = [name for name, img in known if not found(img)]
    rows.append(("the app's and packages' faces found", f"{len(known) - len(missed)} of {len(known)}"
                 + (f" (missed: {', '.join(missed)})" if missed else "")))
    taken = [name for name, img in non_faces() if found(img)]
    rows.append(("non-faces with a face found", f"{len(taken)} of {len(non_faces())}"
                 + (f": {', '.join(taken)}" if taken else "")))
    from gan_viz.imaging import load_image
    portrait = load_image(str(ROOT / "assets" / "grace_hopper.jpg"))
    (phone,) = in_large_photos([portrait], seed=0)
    for name, img in (("Grace Hopper portrait (600x512)", portrait),
                      (f"the portrait in a {phone.shape[1]}x{phone.shape[0]} photo (in_large_photos)", phone),
                      ("the cat, no face (451x300)", dict(non_faces())["cat"])):
        for threads in (-1, 1) if args.repeats else ():  # -1: OpenCV's default, every core; 1: as the app's request threads (ui/serving.py)
            cv2.setNumThreads(threads)
            med, p90 = finding_ms(img, args.repeats)
            rows.append((f"time on {name}, {'all cores' if threads < 0 else 'one OpenCV thread'}, median / p90",
                         f"{med:.1f} / {p90:.1f} ms"))
    print(f"Face finding ({args.code or 'this checkout'})\n\n| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
