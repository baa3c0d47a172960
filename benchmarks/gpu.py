"""Per-tab handler latency on CUDA next to the CPU in the same run, and batch throughput: which Space hardware to pick.

Run: python benchmarks/gpu.py [--calls 50] [--warmup 5] [--out gpu_benchmark.md] [--devices cpu cuda]
For each device present (default: cpu, and cuda when PyTorch sees a GPU) the models are loaded
there and each tab's model work is timed: median and p95 over --calls after --warmup, with
torch.cuda.synchronize() around every call on CUDA. CPU runs with the thread count the app serves
with (GAN_VIZ_THREADS, gan_viz/ui/serving.py). Needs only the models' packages, not Gradio. Face detection and blending stay on the CPU on every device (OpenCV),
so the photo paths are timed whole, as a user waits for them. Prints a Markdown table and writes it
to --out.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from gan_viz import device as devices, faces, hub  # noqa: E402
from gan_viz.imaging import load_image  # noqa: E402
from gan_viz.models.cam_classifier.visualize import CAMExplainer, run_attack  # noqa: E402
from gan_viz.models.cyclegan.visualize import GenderFlipper  # noqa: E402
from gan_viz.models.lbam import masks  # noqa: E402
from gan_viz.models.lbam.visualize import Inpainter  # noqa: E402
from gan_viz.models.sagan.visualize import SAGANExplorer, read_attention  # noqa: E402
from gan_viz.ui.env import HEAVY_THREADS  # noqa: E402

HOPPER = load_image(str(ROOT / "assets" / "grace_hopper.jpg"))
BATCH = 32


def timed(fn, dev: torch.device, calls: int, warmup: int) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(calls):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t0)
    return float(np.median(out)) * 1000, float(np.percentile(out, 95)) * 1000


def handlers(dev_name: str) -> tuple[torch.device, dict]:
    """The models on one device and, per tab, the work its handler does."""
    devices.set_device(dev_name)
    dev = devices.get_device()
    offline = hub.HubSettings(offline=True)
    cam = CAMExplainer.from_weights(hub.resolve("cam_classifier", offline))
    sagan = SAGANExplorer.from_weights(hub.resolve("sagan", offline))
    flipper = GenderFlipper.from_weights(hub.resolve("cyclegan", offline))
    inp = Inpainter.from_weights(hub.resolve("lbam", offline))
    crop = cam.find_face(HOPPER).crop
    g = sagan.generate(3)
    layer = next(iter(g.maps))
    face = faces.whole_image(sagan.generate(11).image, inp.size).crop
    hole = masks.free_form(inp.size, np.random.default_rng(0), 0.2, 0.3).astype(bool)
    seeds = list(range(BATCH))
    work = {
        "SAGAN: generate a face (+ beta maps)": (lambda: sagan.generate(7), 1),
        "SAGAN: click (beta row from session state)": (lambda: read_attention(g.maps[layer], layer, 20, 30, "query", 0.0), 1),
        f"SAGAN: generate, batch of {BATCH}": (lambda: sagan.generate_many(seeds), BATCH),
        "CAM: Grad-CAM on the face crop": (lambda: cam.explain(crop, "gradcam"), 1),
        "CAM: /classify of a new portrait (detection included)": (lambda: (faces.forget(), cam.classify_photo(HOPPER)), 1),
        "CAM: /classify of a portrait seen before (detection remembered)": (lambda: cam.classify_photo(HOPPER), 1),
        "Gender flip: a new portrait (detection, 4 nets, blending)":
            (lambda: (faces.forget(), flipper.flip_photo(HOPPER, "male_to_female")), 1),
        "Inpainting: fill + attention maps": (lambda: inp.inpaint(face, hole, with_maps=True), 1),
        "Adversarial: FGSM + 2 heatmaps": (lambda: run_attack(cam, crop, "fgsm", 4), 1),
        "Adversarial: PGD-10 + 2 heatmaps": (lambda: run_attack(cam, crop, "pgd", 4, 10), 1),
    }
    return dev, work


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--devices", nargs="*", default=None)
    p.add_argument("--out", default="gpu_benchmark.md")
    args = p.parse_args()
    torch.set_num_threads(HEAVY_THREADS)  # as the app serves (serving.configure_threads, which needs Gradio)
    cv2.setNumThreads(1)
    names = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    results: dict[str, dict[str, tuple[float, float, int]]] = {}
    labels = {}
    for name in names:
        dev, work = handlers(name)
        labels[name] = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} torch thread(s)"
        results[name] = {k: (*timed(fn, dev, args.calls, args.warmup), n) for k, (fn, n) in work.items()}
    head = "| handler | " + " | ".join(f"{n} median ms | {n} p95 ms" for n in names) + " |"
    lines = ["Devices: " + "; ".join(f"{n} = {labels[n]}" for n in names) + f". {args.calls} calls after {args.warmup} warm-up.",
             "", head, "|---|" + "---|---|" * len(names)]
    for k in results[names[0]]:
        cells = []
        for n in names:
            med, p95, batch = results[n][k]
            cells.append(f"{med:.2f} | {p95:.2f}")
        per_item = ""
        if results[names[0]][k][2] > 1:
            per_item = " (" + ", ".join(f"{n}: {results[n][k][2] / results[n][k][0] * 1000:.0f} faces/s" for n in names) + ")"
        lines.append(f"| {k}{per_item} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
