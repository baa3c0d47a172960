"""Gradio's own server CPU per event on this machine: the least a click can cost, beside what the app's click costs.

Run: python benchmarks/framework_floor.py [--requests 200] [--rounds 3]
     python benchmarks/framework_floor.py --landing [--visits 5]
Starts three servers, one after another, each round:
- "bare event": a Gradio app with one event that takes a number and returns a number;
- "click-shaped event": the same event returning what a SAGAN click returns (a new 256x256 PNG and a JSON map of
  64x64 numbers);
- "the app's click": app.py itself, `/sagan_attention` (as `benchmarks/load.py` sends it).
The two small apps get the app's own serving settings (serving.configure_threads, the bounded and calm queue, the light
lane, inputs not preprocessed), so the gap between them and the app is what the app itself adds. One gradio_client
user sends --requests requests to each server after 10 that warm it, and the server's CPU time per request is printed,
measured as `benchmarks/load.py --cost` measures it (the process's user + system time, from /proc).
--landing: a Gradio page holding only the landing face (one tab, one image, the app's element id), and the same page
with a second tab holding one component of each kind the app uses, visited in headless Chromium as
`benchmarks/landing.py` visits the app: how soon a Gradio page draws that face on this machine, and what loading the
scripts of the app's kinds of component adds to it.
"""
from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import landing  # noqa: E402 - benchmarks/landing.py: a visit in Chromium
import load  # noqa: E402 - benchmarks/load.py: starting the app, its clients, the server's CPU time

ROOT = load.ROOT
MODES = ("bare event", "click-shaped event", "the app's click")


def serve(mode: str, port: int) -> None:
    """The small app of one mode, launched on 127.0.0.1:port (run in its own process by start_floor_app)."""
    import gradio as gr

    from gan_viz.ui import serving

    serving.configure_threads()
    rng = np.random.default_rng(0)
    face = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)

    def click_shaped(x):
        view = np.kron(face, np.ones((4, 4, 1), np.uint8))  # a new array each time, as every click draws its overlay
        view[:, :, 0] = view[:, :, 0] // 2 + int(x) % 128
        beta = rng.random((64, 64))
        return view, {"layer": "attn", "map": np.round(beta / beta.sum(), 6).tolist(), "feature_xy": [1, 2]}

    with gr.Blocks() as demo:
        if mode.startswith("page"):
            landing_page(gr, np.kron(face, np.ones((4, 4, 1), np.uint8)), mode == "page-kinds")
        number, image, reading, button = gr.Number(), gr.Image(format="png"), gr.JSON(), gr.Button()
        if mode in ("bare", "page"):
            button.click(lambda x: float(x) + 1, number, number, api_name="f", **serving.LIGHT_RAW)
        else:
            button.click(click_shaped, number, [image, reading], api_name="f", **serving.LIGHT_RAW)
    demo.queue(**serving.queue_settings())
    serving.calm_queue(demo)
    demo.launch(server_name="127.0.0.1", server_port=port)


def landing_page(gr, view: np.ndarray, every_kind: bool) -> None:
    """The landing face alone in a tab; with every_kind, a second tab (not rendered until opened, as in the app)
    holding one component of each kind the app's tabs use, whose scripts Gradio loads with the page."""
    with gr.Tabs():
        with gr.Tab("SAGAN attention"):
            gr.Image(view, format="png", interactive=False, elem_id=landing.FACE.split()[0][1:])
        if every_kind:
            with gr.Tab("Every kind"):
                gr.Markdown("$\\beta_{j,i}$"), gr.Gallery(), gr.ImageEditor(), gr.Dataframe(), gr.Plot(), gr.JSON()
                gr.HTML("html"), gr.File(), gr.Slider(), gr.Dropdown(["a"]), gr.Radio(["a"]), gr.Checkbox()
                gr.Number(), gr.Textbox(), gr.Button()
                with gr.Accordion("folded", open=False):
                    gr.Markdown("text")


def start_floor_app(mode: str) -> tuple[subprocess.Popen, str]:
    port = load._free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**load.os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    return proc, load.wait_for_port(proc, port, f"the {mode} app")


def cost_ms(mode: str, k: int) -> float:
    """Server CPU ms per request of one server, started for this measure and stopped after it."""
    proc, url = load.start_app(ROOT, {}) if mode == MODES[2] else start_floor_app(mode.split()[0])
    try:
        load.wait_until_idle(proc.pid) if mode == MODES[2] else time.sleep(2.0)
        client, rng = load.make_client(url), random.Random(0)

        def request():
            if mode == MODES[2]:
                return load.one_request(client, "sagan_attention", rng, "")
            return client.predict(rng.randrange(100), api_name="/f")

        for _ in range(10):
            request()
        cpu0 = load.cpu_seconds(proc.pid)
        for _ in range(k):
            request()
        return (load.cpu_seconds(proc.pid) - cpu0) / k * 1000
    finally:
        proc.terminate()
        proc.wait(30)


def print_landing(n: int) -> None:
    print("Gradio pages holding the landing face, in headless Chromium\n")
    print("| page | visit | face drawn s | MB / requests by then | server CPU s |\n|---|---|---|---|---|")
    for mode, name in (("page", "the face alone"), ("page-kinds", "the face, and the app's kinds of component")):
        proc, url = start_floor_app(mode)
        try:
            time.sleep(2.0)
            rows = landing.visits(url, n, 5.0, [proc.pid])
        finally:
            proc.terminate()
            proc.wait(30)
        for i, r in enumerate(rows, 1):
            print(f"| {name} | {i} | {r['face_s']:.2f} | {r['mb_at_face']:.2f} / {r['requests_at_face']} | "
                  f"{r['server_cpu_s']:.2f} |", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--landing", action="store_true", help="visit a page holding only the landing face, in Chromium")
    p.add_argument("--visits", type=int, default=5)
    p.add_argument("--serve", choices=("bare", "click-shaped", "page", "page-kinds"), help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        return serve(args.serve, args.port)
    if args.landing:
        return print_landing(args.visits)
    import gradio

    print(f"Gradio {gradio.__version__}: server CPU ms per request, one user, {args.requests} requests per server\n")
    print("| round | " + " | ".join(MODES) + " |\n|---|" + "---|" * len(MODES))
    for r in range(1, args.rounds + 1):
        print(f"| {r} | " + " | ".join(f"{cost_ms(m, args.requests):.1f}" for m in MODES) + " |", flush=True)


if __name__ == "__main__":
    main()
