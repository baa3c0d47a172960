"""Benchmark of the CAM tab on this machine: each method's latency vs the forward pass alone, and app start-up.

Run: python benchmarks/cam.py [--repeats 30] [--no-startup]
Prints a Markdown table (median and p90 over repeats, after warm-up).
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402

from gan_viz import faces  # noqa: E402
from gan_viz.imaging import load_image  # noqa: E402
from gan_viz.models.cam_classifier.cams import METHODS  # noqa: E402
from gan_viz.models.cam_classifier.visualize import CAMExplainer  # noqa: E402
from timing import timed  # noqa: E402

HOPPER = ROOT / "assets" / "grace_hopper.jpg"


def startup_seconds(extra_env: dict | None = None) -> tuple[float, float]:
    """Seconds from `python app.py` to the port answering, and to the first /classify answer."""
    from gradio_client import Client, handle_file

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1", **(extra_env or {})}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 300:
                    raise RuntimeError("app.py did not start")
                time.sleep(0.05)
        t_port = time.perf_counter() - t0
        Client(f"http://127.0.0.1:{port}", verbose=False).predict(handle_file(str(HOPPER)), api_name="/classify")
        return t_port, time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--no-startup", action="store_true")
    args = p.parse_args()
    ex = CAMExplainer.load()
    img = load_image(HOPPER)
    face = ex.find_face(img)
    x = ex._tensor(face.crop)
    rows = []
    with torch.inference_mode():
        rows.append(("forward pass alone (both heads)", *timed(lambda _: ex.model(x), args.repeats)))
    probs = ex.classify(face.crop)
    for m in METHODS:
        rows.append((f"{m}: map only", *timed(lambda _, m=m: ex.explain(face.crop, m, "predicted", "last"), args.repeats)))
    for m in METHODS:  # the tab classifies first (it shows the probabilities) and hands them over
        rows.append((f"{m}: map as the tab asks (probabilities given)",
                     *timed(lambda _, m=m: ex.explain(face.crop, m, "predicted", "last", probs=probs), args.repeats)))
    rows.append(("gradcam at conv1 (largest map)", *timed(lambda _: ex.explain(face.crop, "gradcam", "predicted", "conv1"), args.repeats)))
    rows.append(("face detection + crop (600x512 photo)", *timed(lambda _: (faces.forget(), ex.find_face(img)), args.repeats)))
    size = ex.size
    print(f"CAM classifier on {ex.device}, input {size}x{size}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.repeats} repeats\n")
    print("| what | median ms | p90 ms |\n|---|---|---|")
    for name, med, p90 in rows:
        print(f"| {name} | {med:.2f} | {p90:.2f} |")
    if not args.no_startup:
        port_s, first_s = startup_seconds()
        print(f"| `python app.py` to port open | {port_s * 1000:.0f} | - |")
        print(f"| `python app.py` to first /classify answer | {first_s * 1000:.0f} | - |")
        # A configured Hub that accepts connections and never answers (a stand-in on 127.0.0.1):
        # start-up is bounded by GAN_VIZ_HUB_TIMEOUT, then the bundled weights serve.
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        hub_env = {"GAN_VIZ_HUB_REPO": "gan-viz/none", "HF_ENDPOINT": f"http://127.0.0.1:{silent.getsockname()[1]}",
                   "GAN_VIZ_HUB_TIMEOUT": os.environ.get("GAN_VIZ_HUB_TIMEOUT", "15")}
        port_s, first_s = startup_seconds(hub_env)
        silent.close()
        print(f"| same, Hub configured but silent (timeout {hub_env['GAN_VIZ_HUB_TIMEOUT']} s) | {first_s * 1000:.0f} | - |")


if __name__ == "__main__":
    main()
