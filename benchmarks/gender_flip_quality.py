"""Flip rate of a gender translator: the share of translated validation faces the CAM classifier assigns to the target gender.

Run: python benchmarks/gender_flip_quality.py --data DIR [--translator cyclegan|ugatit] [--n 400] [--offset 0]
     [--pictures] [--agreement] [--write-card] [--strength S] [--direction D] [--no-cyclegan] [--framing-zoom Z]
Validation faces aged 18-65 (the salted-hash split of gan_viz/utkface.py), at UTKFace's own
200 px, each sent through the same GenderFlipper.flip_photo the app's /gender_flip uses
(detection, alignment, translation, blending back; the whole image when no face is found),
towards the other gender than its label. The result's face, at the framing of the validation
crop, is then classified by the project's CAM classifier. Also reported: the classifier's
accuracy on the untouched faces through the app's /classify path (its own ceiling), the cycle and identity L1, and SSIM between the
photo and its translation (how much of the face's structure is kept).

--pictures: each face is placed at its own size at a random spot of a picture 2-3x larger with a plain
background (utkface.in_picture), the whole picture goes through the flip (what /gender_flip returns), and
the face's region of the result is judged (where the face is known, p_female_framed); the app has to find the face
itself. Both modes also report the
detail kept (median over faces of var(Laplacian) over the middle of the face, result / input) and the SSIM
of input and output face as 64 px grey images.

--translator ugatit measures U-GAT-IT through the same path (its own calibrated strength). --agreement (U-GAT-IT only)
adds what its attention does, per face: Spearman of the fused attention map with |G(x) - x| (the translator's own
crop), the flip rate of the raw G(x) and of the raw G(x) with attention off (every w_k replaced by the mean of w),
and the mean |G(x) - G_off(x)|.

--write-card with --translator ugatit writes the verdict the app reads (gan_viz/models/ugatit/gate.py); it counts
only when measured on at least gate.MIN_FACES faces per direction: --n 200 on crops, --n 600 in pictures.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from gan_viz import cards, faces, image_quality, utkface  # noqa: E402
from gan_viz.hub import ResolvedWeights  # noqa: E402
from gan_viz.models.cam_classifier.visualize import CAMExplainer  # noqa: E402
from gan_viz.models.cyclegan.visualize import GenderFlipper  # noqa: E402
from gan_viz.models.photo_flip import DEFAULT_MASK, DEFAULT_STRENGTH  # noqa: E402
from gan_viz.models.ugatit import gate  # noqa: E402
from gan_viz.models.ugatit.visualize import UGATITTranslator  # noqa: E402

GENDERS = ("male", "female")
DIRECTION = {0: "male_to_female", 1: "female_to_male"}
TRANSLATORS = {"cyclegan": GenderFlipper, "ugatit": UGATITTranslator}


def p_female(cam: CAMExplainer, img: np.ndarray) -> float:
    """The app's /classify path: the largest face in the training framing, else the whole image."""
    try:
        fc = cam.find_face(img)
    except faces.FaceError:
        fc = cam.find_face(img, use_whole_image=True)
    return cam.classify(fc.native if fc.native is not None else fc.crop)["gender"]["female"]


def p_female_framed(cam: CAMExplainer, face: np.ndarray) -> float:
    """The judge of a flip: the classifier on a face already in its training framing (a validation crop, or that
    crop's region of the result). Judging where the face is known keeps the face finder out of the verdict, so a
    change to the finder moves the flip rate only through the flip itself."""
    return cam.classify(face)["gender"]["female"]


def flip(flipper, img: np.ndarray, direction: str, detail: str | None = None, mask: str = DEFAULT_MASK,
         strength: float = DEFAULT_STRENGTH):
    kw = {"detail": detail, "mask": mask, "strength": strength}
    try:
        return flipper.flip_photo(img, direction, **kw)
    except faces.FaceError:
        return flipper.flip_photo(img, direction, use_whole_image=True, **kw)


def detail_ratio(before: np.ndarray, after: np.ndarray) -> float:
    """var(Laplacian) over the middle half of the face, after / before: how much fine detail the flip kept."""
    s = before.shape[0]
    mid = slice(s // 4, 3 * s // 4)
    lap = lambda im: cv2.Laplacian(cv2.cvtColor(np.ascontiguousarray(im[mid, mid]), cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()  # noqa: E731
    return float(lap(after) / max(lap(before), 1e-9))


def ssim_grey64(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    g = lambda im: cv2.resize(cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2GRAY), (64, 64),  # noqa: E731
                              interpolation=cv2.INTER_AREA)
    return float(structural_similarity(g(a), g(b), data_range=255))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--translator", default="cyclegan", choices=tuple(TRANSLATORS))
    p.add_argument("--n", type=int, default=400, help="faces per gender")
    p.add_argument("--offset", type=int, default=0,
                   help="skip this many validation faces per gender first (a sample not used to pick a checkpoint)")
    p.add_argument("--weights", default=None, help="the translator's folder (default checkpoints/<translator>)")
    p.add_argument("--classifier", default=str(ROOT / "checkpoints" / "cam_classifier"))
    p.add_argument("--pictures", action="store_true", help="faces placed in larger pictures (see above)")
    p.add_argument("--agreement", action="store_true", help="U-GAT-IT: what its attention does (see above)")
    p.add_argument("--detail", default=None, choices=("model", "photo"),
                   help="the blend (flip_photo): whose fine detail a part G redrew keeps; default: the translator's")
    p.add_argument("--mask", default=DEFAULT_MASK, choices=faces.MASKS, help="where the change is added (faces.MASKS)")
    p.add_argument("--strength", type=float, default=DEFAULT_STRENGTH,
                   help="the change added is strength x (G(x) - x); default: the translator's calibrated strength")
    p.add_argument("--direction", default="both", choices=("both", *DIRECTION.values()),
                   help="measure one direction only (a strength grid: --strength S --direction D --no-cyclegan)")
    p.add_argument("--no-cyclegan", action="store_true",
                   help="U-GAT-IT without the CycleGAN on the same faces beside it (half the time; no verdict)")
    p.add_argument("--framing-zoom", type=float, default=None,
                   help="cut faces this much closer in both directions, below 1 looser "
                        "(PhotoFlipper.FRAMING_ZOOM; default: the translator's own per direction)")
    p.add_argument("--write-card", action="store_true")
    args = p.parse_args(argv)
    if args.framing_zoom is not None and not 0.5 <= args.framing_zoom <= 2:
        p.error("--framing-zoom must be between 0.5 and 2")
    if args.write_card and args.framing_zoom is not None:
        p.error("--write-card measures the translators as the app runs them: leave out --framing-zoom")
    if args.write_card and (args.direction != "both" or (args.no_cyclegan and not args.agreement)):
        p.error("--write-card needs both directions, and the CycleGAN beside U-GAT-IT for the flip verdict")
    if args.agreement and args.translator != "ugatit":
        p.error("--agreement reads U-GAT-IT's own attention: add --translator ugatit")
    args.weights = args.weights or str(ROOT / "checkpoints" / args.translator)
    return args


def measure(args, flipper, cam: CAMExplainer, images: list[np.ndarray], g: int) -> dict:
    """Every face of one gender flipped towards the other: the row of the table, and the per-face lists behind it."""
    vals: dict[str, list] = {k: [] for k in ("flipped", "correct", "cyc", "idt", "ssim", "secs", "detail", "ssim64",
                                              "spearman", "raw", "off", "off_change")}
    rng = np.random.default_rng(g)
    for img in images:
        img = np.ascontiguousarray(img)
        vals["correct"].append((p_female(cam, img) >= 0.5) == bool(g))
        if args.pictures:
            pic, (x0, y0) = utkface.in_picture(img, rng)
            ph = flip(flipper, pic, DIRECTION[g], args.detail, args.mask, args.strength)
            out = ph.result[y0:y0 + img.shape[0], x0:x0 + img.shape[1]]  # the face's region of the result
        else:
            ph = flip(flipper, img, DIRECTION[g], args.detail, args.mask, args.strength)
            out = ph.result
        vals["flipped"].append((p_female_framed(cam, out) >= 0.5) != bool(g))
        c = ph.faces[0].cycle
        vals["cyc"].append(c.cycle_l1), vals["idt"].append(c.identity_l1), vals["secs"].append(ph.seconds)
        vals["ssim"].append(image_quality.ssim(out, img))
        vals["detail"].append(detail_ratio(img, out))
        vals["ssim64"].append(ssim_grey64(img, out))
        if args.agreement:
            a = flipper.attention(c)
            judge = lambda face: (cam.classify(face)["gender"]["female"] >= 0.5) != bool(g)  # noqa: E731
            vals["spearman"].append(a.agreement_with_change), vals["off_change"].append(a.attention_off_change)
            vals["raw"].append(judge(c.fake)), vals["off"].append(judge(a.fake_attention_off))
    row = {"n": len(images), "flip_rate": float(np.mean(vals["flipped"])),
           "classifier_accuracy_before": float(np.mean(vals["correct"])),
           "cycle_l1": float(np.mean(vals["cyc"])), "identity_l1": float(np.mean(vals["idt"])),
           "ssim_to_input": float(np.mean(vals["ssim"])), "median_seconds": float(np.median(vals["secs"])),
           "detail_kept_median": float(np.median(vals["detail"])), "ssim_grey64": float(np.mean(vals["ssim64"]))}
    if args.agreement:
        row |= {"spearman_fused": float(np.mean(vals["spearman"])), "raw_flip_rate": float(np.mean(vals["raw"])),
                "attention_off_flip_rate": float(np.mean(vals["off"])),
                "attention_off_change": float(np.mean(vals["off_change"]))}
    return row


def markdown(args, rows: dict) -> str:
    calibrated = TRANSLATORS[args.translator].CALIBRATED_STRENGTH
    strength = (f"calibrated per direction ({', '.join(f'{d} {k:g}' for d, k in calibrated.items())})"
                if args.strength is None else f"{args.strength:g}")
    md = [f"Translator: {args.translator}. Mode: {'faces in larger pictures' if args.pictures else 'aligned crops'}; "
          f"blend: detail from the {args.detail or 'translator default'}, change added under the {args.mask}, strength "
          f"{strength}.", "",
          "| direction | faces | flip rate (classifier says target) | classifier right before | cycle L1 | "
          "identity L1 | SSIM(result, input) | detail kept (median) | SSIM grey 64 px |", "|---|---|---|---|---|---|---|---|---|"]
    for d, r in rows.items():
        md.append(f"| {d} | {r['n']} | {r['flip_rate']:.1%} | {r['classifier_accuracy_before']:.1%} | "
                  f"{r['cycle_l1']:.4f} | {r['identity_l1']:.4f} | {r['ssim_to_input']:.3f} | "
                  f"{r['detail_kept_median']:.2f} | {r['ssim_grey64']:.3f} |")
    if args.agreement:
        md += ["", "| direction | Spearman(fused attention, change) | raw G(x) flips | with attention off | "
               "mean change from attention |", "|---|---|---|---|---|"]
        md += [f"| {d} | {r['spearman_fused']:+.3f} | {r['raw_flip_rate']:.1%} | {r['attention_off_flip_rate']:.1%} | "
               f"{r['attention_off_change']:.4f} |" for d, r in rows.items()]
    return "\n".join(md)


def write_card(args, rows: dict, table: str, cyclegan_rows: dict | None = None) -> None:
    folder = Path(args.weights)
    mode = ("pictures" if args.pictures else "crops") + ("_agreement" if args.agreement else "")
    (folder / f"quality_{mode}.json").write_text(json.dumps(rows, indent=2) + "\n")
    flags = (f" --translator {args.translator}" if args.translator != "cyclegan" else "") + \
        (" --pictures" if args.pictures else "") + (" --agreement" if args.agreement else "")
    title = f"## Flip rate, {mode.replace('_', ' and ')} (python benchmarks/gender_flip_quality.py --data DIR{flags})"
    card = (folder / "README.md").read_text()
    card = cards.put_evaluation(card, f"{title}\nValidation faces aged 18-65 at 200 px, through the app's flip path, "
                                "judged by this project's CAM classifier (`checkpoints/cam_classifier`) on the "
                                "translated face at the validation crop's framing.\n\n" + table)
    (folder / "README.md").write_text(card)
    # The verdict the app reads comes only from runs at the app's own settings, flip rate against the CycleGAN's.
    if cyclegan_rows is not None and not args.agreement and args.strength is None and args.detail is None:
        write_verdict(folder, "pictures" if args.pictures else "crops", rows, cyclegan_rows, args.n)


def write_verdict(folder: Path, mode: str, rows: dict, cyclegan_rows: dict, n: int) -> None:
    """U-GAT-IT's config.json gains this mode's verdict against the CycleGAN (gan_viz/models/ugatit/gate.py)."""
    config = json.loads((folder / "config.json").read_text())
    failed = gate.verdict(mode, rows, cyclegan_rows)
    config.setdefault("quality", {})[mode] = {
        "failed": failed, "faces_per_direction": n, "date": time.strftime("%Y-%m-%d"),
        "flip_rate": {d: round(r["flip_rate"], 4) for d, r in rows.items()},
        "cyclegan_flip_rate": {d: round(r["flip_rate"], 4) for d, r in cyclegan_rows.items()}}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    card = (folder / "README.md").read_text()
    (folder / "README.md").write_text(cards.put_lead(card, "Evaluation", gate.status(config)))
    print(f"verdict ({mode}): " + ("; ".join(failed) or "as good as the CycleGAN") + f". The app: {gate.status(config)}")


def run(args, flipper, cam, recs) -> dict:
    rows = {}
    for g in (0, 1):
        if args.direction not in ("both", DIRECTION[g]):
            continue
        rs = [r for r in recs if r.gender == g][args.offset: args.offset + args.n]
        rows[DIRECTION[g]] = measure(args, flipper, cam, utkface.load_images(rs, 200), g)
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    folder = Path(args.weights)
    flipper = TRANSLATORS[args.translator].from_weights(ResolvedWeights(args.translator, folder, "local", args.weights))
    if args.framing_zoom is not None:
        flipper.FRAMING_ZOOM = dict.fromkeys(flipper.FRAMING_ZOOM, args.framing_zoom)  # this instance only
    cam = CAMExplainer.from_weights(ResolvedWeights("cam_classifier", Path(args.classifier), "local", args.classifier))
    recs = [r for r in utkface.records(args.data) if r.is_validation and 18 <= r.age <= 65]
    t0 = time.perf_counter()
    rows = run(args, flipper, cam, recs)
    table = markdown(args, rows)
    cyclegan_rows = None
    if args.translator == "ugatit" and not args.no_cyclegan:  # the CycleGAN on the same faces, at its own settings: what U-GAT-IT must match
        base = argparse.Namespace(**{**vars(args), "translator": "cyclegan", "agreement": False, "strength": None,
                                     "detail": None})
        cyclegan_rows = run(base, GenderFlipper.load(), cam, recs)
        table += "\n\nThe bundled CycleGAN on the same faces, at its own settings:\n\n" + \
            markdown(base, cyclegan_rows).split("\n", 2)[2]
    print(table)
    print(f"\nmedian flip_photo time {np.median([r['median_seconds'] for r in rows.values()]) * 1000:.0f} ms per 200 px "
          f"face (this run; see benchmarks/gender_flip.py for the speed table); benchmark {time.perf_counter() - t0:.0f} s")
    if args.write_card:
        write_card(args, rows, table, cyclegan_rows)


if __name__ == "__main__":
    main()
