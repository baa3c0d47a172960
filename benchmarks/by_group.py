"""Evaluation by group (Mitchell et al. 2019): the classifier, its robust twin and the CycleGAN flip per gender, age group and race label.

Run: python benchmarks/by_group.py --data DIR [--flip-n 300] [--write-cards]
Every validation face (all ages; the salted-hash split of gan_viz/utkface.py) goes through the app's /classify
path (CAMExplainer.classify_photo: the face found, levelled and cropped) twice: as the 200 px crop a user would
upload, and placed in a picture 2-3x larger (utkface.in_picture) where the app has to find it. Both classifiers
judge the same found face. The flip: --flip-n faces per gender (all ages, in pictures) through the app's
/gender_flip path, each towards the other gender, judged by the standard classifier on the face's region.
Groups are UTKFace's own labels: binary gender, age, and a race label its annotators gave (White, Black, Asian,
Indian, Others). With --write-cards the tables replace each card's "Evaluation by group" section.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from gan_viz import faces, utkface  # noqa: E402
from gan_viz.hub import ResolvedWeights  # noqa: E402
from gan_viz.models.cam_classifier.visualize import CAMExplainer  # noqa: E402
from gan_viz.models.cyclegan.visualize import GenderFlipper  # noqa: E402

GENDERS = ("male", "female")
SECTION = "## Evaluation by group"


def load(family: str, folder: str):
    w = ResolvedWeights(family, Path(folder), "local", folder)
    return (GenderFlipper if family == "cyclegan" else CAMExplainer).from_weights(w)


def groups_of(r: utkface.Record) -> dict[str, str]:
    race = utkface.RACES[r.race] if r.race >= 0 else "unlabelled"
    return {"gender": GENDERS[r.gender], "age group": utkface.AGE_GROUPS[utkface.age_group(r.age)], "race label": race}


def found_face(photo: np.ndarray) -> faces.FaceCrop | None:
    """The face /classify would answer on (the largest found), or None where it answers "no face found"."""
    try:
        return faces.find_faces(photo, 256, max_faces=1)[0]
    except faces.FaceError:
        return None


def classify_all(models: dict, recs: list, seed: int = 0) -> dict[str, dict[str, list[bool]]]:
    """model -> mode -> right or wrong per face, through classify_photo's path (models judge the same found face; a
    face not found gets no answer and counts as wrong, as in `evaluate --app-path`)."""
    out = {name: {"crops": [], "pictures": []} for name in models}
    rng = np.random.default_rng(seed)
    for r, img in zip(recs, utkface.load_images(recs, 200)):
        img = np.ascontiguousarray(img)
        for mode, photo in (("crops", img), ("pictures", utkface.in_picture(img, rng)[0])):
            face = found_face(photo)
            crop = None if face is None else face.native if face.native is not None else face.crop
            for name, m in models.items():
                right = crop is not None and (m.classify(crop)["gender"]["female"] >= 0.5) == bool(r.gender)
                out[name][mode].append(right)
    return out


def flip_all(flipper: GenderFlipper, judge: CAMExplainer, recs: list, seed: int = 1) -> list[bool]:
    """Flipped or not per face, in pictures, through flip_photo (the whole image when no face is found)."""
    rng = np.random.default_rng(seed)
    flipped = []
    for r, img in zip(recs, utkface.load_images(recs, 200)):
        img = np.ascontiguousarray(img)
        pic, (x0, y0) = utkface.in_picture(img, rng)
        direction = "female_to_male" if r.gender else "male_to_female"
        try:
            ph = flipper.flip_photo(pic, direction)
        except faces.FaceError:
            ph = flipper.flip_photo(pic, direction, use_whole_image=True)
        # judged where the face is known (the validation crop's framing), as gender_flip_quality.py judges
        region = np.ascontiguousarray(ph.result[y0:y0 + img.shape[0], x0:x0 + img.shape[1]])
        p = judge.classify(region)["gender"]["female"]
        flipped.append((p >= 0.5) != bool(r.gender))
    return flipped


def table(recs: list, columns: dict[str, list[bool]]) -> str:
    """One row per group (gender, age group, race label), one column per measure: share and count."""
    names = list(columns)
    lines = ["| group | faces | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    keyed = [groups_of(r) for r in recs]
    for kind in ("gender", "age group", "race label"):
        values = sorted({k[kind] for k in keyed}, key=lambda v: (kind != "age group", v)) if kind != "age group" \
            else [a for a in utkface.AGE_GROUPS if any(k[kind] == a for k in keyed)]
        for v in values:
            idx = [i for i, k in enumerate(keyed) if k[kind] == v]
            cells = [f"{np.mean([columns[n][i] for i in idx]):.1%}" for n in names]
            lines.append(f"| {kind}: {v} | {len(idx)} | " + " | ".join(cells) + " |")
    every = [f"{np.mean(columns[n]):.1%}" for n in names]
    lines.append(f"| **all** | {len(recs)} | " + " | ".join(every) + " |")
    return "\n".join(lines)


def write_section(card: Path, body: str) -> None:
    """Replace the card's "Evaluation by group" section (up to the next "## "), or add it before "## Limitations"."""
    text = card.read_text()
    block = f"{SECTION}\n\n{body.strip()}\n\n"
    if SECTION in text:
        text = re.sub(rf"{re.escape(SECTION)}\n.*?(?=\n## |\Z)", block.rstrip() + "\n", text, flags=re.S)
    elif "## Limitations" in text:
        text = text.replace("## Limitations", block + "## Limitations", 1)
    else:
        text = text.rstrip() + "\n\n" + block
    card.write_text(text)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="UTKFace's folder of aligned crops")
    p.add_argument("--n", type=int, default=0, help="validation faces for the classifiers (0: all)")
    p.add_argument("--flip-n", type=int, default=300, help="faces per gender for the flip")
    p.add_argument("--parts", nargs="+", default=["classifiers", "flip"], choices=["classifiers", "flip"])
    p.add_argument("--write-cards", action="store_true")
    p.add_argument("--hardware", default="CPU", help="what the cards say it ran on, e.g. '2 vCPU Intel Xeon'")
    args = p.parse_args(argv)
    ck = ROOT / "checkpoints"
    models = {"standard": load("cam_classifier", str(ck / "cam_classifier")),
              "robust twin": load("cam_classifier_robust", str(ck / "cam_classifier_robust"))}
    recs = [r for r in utkface.records(args.data) if r.is_validation]
    recs = recs[: args.n or None]
    t0 = time.perf_counter()
    sections = {}
    right = classify_all(models, recs) if "classifiers" in args.parts else {}
    pairs = (("standard", "cam_classifier"), ("robust twin", "cam_classifier_robust")) if right else ()
    for name, folder in pairs:
        cols = {"right on crops": right[name]["crops"], "right in pictures": right[name]["pictures"]}
        sections[folder] = ("Gender accuracy through the app's /classify path on every validation face (all ages), "
                            f"as uploaded crops and placed in larger pictures ({measured(args)}; `python "
                            "benchmarks/by_group.py --data DIR`). UTKFace's labels: binary gender, age, and the race "
                            "label its annotators gave; a group's figure is only as good as its count.\n\n"
                            + table(recs, cols))
        print(f"### {name}\n\n{table(recs, cols)}\n", flush=True)
    if "flip" not in args.parts:
        return finish(args, sections, t0)
    rng = np.random.default_rng(0)  # a random sample of each gender, all ages (file names are sorted by age)
    flip_recs = [r for g in (0, 1) for r in rng.permutation([r for r in recs if r.gender == g])[: args.flip_n]]
    flipped = flip_all(load("cyclegan", str(ck / "cyclegan")), models["standard"], flip_recs)
    sections["cyclegan"] = (f"Flip rate in pictures through the app's /gender_flip path, judged by the standard "
                            f"classifier, on {args.flip_n} validation faces of each gender drawn at random (all ages; the "
                            f"translator was trained on 18-65) ({measured(args)}; `python benchmarks/by_group.py --data DIR`):\n\n"
                            + table(flip_recs, {"flipped": flipped}))
    print(f"### CycleGAN flip\n\n{table(flip_recs, {'flipped': flipped})}\n")
    finish(args, sections, t0)


def measured(args) -> str:
    """When and on what the tables were measured, for the cards: "2026-12-06, 2 vCPU Intel Xeon"."""
    return f"{time.strftime('%Y-%m-%d')}, {args.hardware}"


def finish(args, sections: dict[str, str], t0: float) -> None:
    print(f"({time.perf_counter() - t0:.0f} s)")
    if args.write_cards:
        for folder, body in sections.items():
            write_section(ROOT / "checkpoints" / folder / "README.md", body)


if __name__ == "__main__":
    main()
