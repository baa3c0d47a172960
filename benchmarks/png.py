"""Benchmark of PNG encoding: what each of the app's PNG settings costs in CPU and bytes, on the images it sends.

Run: python benchmarks/png.py [--repeats 50]

Images: the 600x512 portrait (a flip's whole result), a 256 px cut of it (a cycle panel, an inpainting composite),
a 256 px heatmap over it (a CAM overlay) and a 96 px face (a translated face). Encoders: imaging.to_png_bytes at
FAST_PNG (fpng, the app's default) and at zlib levels 1 and 6 (GAN_VIZ_PNG_LEVEL=1 or 6), one thread as the app's
request threads. Every PNG is decoded again and checked equal to its image. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import io
import platform
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def images() -> dict[str, np.ndarray]:
    from gan_viz import imaging

    portrait = imaging.load_image(str(ROOT / "assets" / "grace_hopper.jpg"))
    panel = np.ascontiguousarray(portrait[100:356, 128:384])
    heat = np.add.outer(np.linspace(0, 1, 16), np.linspace(0, 1, 16)) / 2  # a smooth (16, 16) map, as a CAM's
    face = np.asarray(Image.fromarray(panel).resize((96, 96), Image.Resampling.BICUBIC))
    return {"portrait 600x512": portrait, "panel 256x256": panel,
            "heatmap overlay 256x256": imaging.overlay(panel, heat, 0.5, "viridis"), "face 96x96": face}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=50)
    args = p.parse_args()
    import cv2
    from timing import timed

    from gan_viz import imaging

    cv2.setNumThreads(1)
    settings = {"fpng (FAST_PNG, default)": imaging.FAST_PNG, "zlib level 1": 1, "zlib level 6": 6}
    print(f"PNG encoding, median of {args.repeats}, one thread ({platform.processor() or platform.machine()})\n")
    print("| image | " + " | ".join(f"{name}: ms / KB" for name in settings) + " |")
    print("|---|" + "---|" * len(settings))
    for label, img in images().items():
        cells = []
        for level in settings.values():
            data = imaging.to_png_bytes(img, level)
            ms, _ = timed(lambda _, level=level: imaging.to_png_bytes(img, level), args.repeats)
            if not np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), img):
                raise SystemExit(f"{label} at {level}: the PNG does not decode to the image")
            cells.append(f"{ms:.2f} / {len(data) / 1024:.0f}")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
