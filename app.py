"""gan-viz: see inside GANs and the classifiers around them, one Gradio tab per idea (module-level `demo`)."""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home; must precede `import gradio`
# Gradio's queue rebuilds a pandas summary of its last 10,000 events after every event, for a monitoring page that is
# off unless asked for: 3 ms of CPU per event after 1,000 events, 7 ms after 10,000 (docs/benchmarks.md). Every 1,000
# events over the last 2,000 instead.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "2000")

import gradio as gr  # noqa: E402

from gan_viz import device, hub  # noqa: E402
from gan_viz.ui import (adversarial_tab, attention_tab, cam_tab, gan_lab_tab, gender_tab, inpainting_tab, links,  # noqa: E402
                        serving, zerogpu)  # noqa: E402
from gan_viz.ui.context import AppContext  # noqa: E402

TITLE = "gan-viz: see inside GANs"
TAGLINE = ("Watch what generative networks and the classifiers around them compute, live: attention in a GAN, "
           "a translator's cycle, an inpainter's masks, where a classifier looks and how to fool it, and a GAN "
           "learning in two dimensions.")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=TITLE)
    p.add_argument("--device", default=os.environ.get("GAN_VIZ_DEVICE", "auto"), choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--hub-repo", default=os.environ.get("GAN_VIZ_HUB_REPO"), help="OWNER/NAME of the weights repo")
    p.add_argument("--hub-revision", default=os.environ.get("GAN_VIZ_HUB_REVISION", "main"), help="pin a commit hash")
    p.add_argument("--offline", action="store_true", help="never use the network (HF cache or bundled weights)")
    p.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    return p.parse_args(argv)


def build_context(args: argparse.Namespace) -> AppContext:
    from gan_viz.models.cam_classifier.visualize import CAMExplainer
    from gan_viz.models.cyclegan.visualize import GenderFlipper
    from gan_viz.models.lbam.visualize import Inpainter
    from gan_viz.models.sagan.visualize import SAGANExplorer
    from gan_viz.models.ugatit.visualize import UGATITTranslator

    serving.configure_threads()
    try:
        device.set_device(args.device)
    except ValueError as e:  # e.g. --device cuda on a machine without a GPU: say so, no traceback
        raise SystemExit(f"gan-viz: {e}") from None
    ctx = AppContext(hub.HubSettings.from_env(repo=args.hub_repo, revision=args.hub_revision,
                                              offline=True if args.offline else None))
    ctx.add("cam_classifier", "CAM face classifier", CAMExplainer.from_weights)
    ctx.add("cam_classifier_robust", "CAM face classifier, adversarially trained twin", CAMExplainer.from_weights)
    ctx.add("sagan", "SAGAN face generator", SAGANExplorer.from_weights)
    ctx.add("cyclegan", "CycleGAN gender flip", GenderFlipper.from_weights)
    ctx.add("ugatit", "U-GAT-IT gender flip (attention in the loop)", UGATITTranslator.from_weights)
    ctx.add("lbam", "LBAM inpainter", Inpainter.from_weights)
    ctx.resolve_all()
    withhold_ugatit(ctx.families["ugatit"])
    if zerogpu.active():  # ZeroGPU wants every model on "cuda" before the first request, not loaded lazily in one
        for fam in ctx.families.values():
            if fam.offered:  # a withheld model (U-GAT-IT below its bar) is never used, so never loaded
                fam.get()
    return ctx


def withhold_ugatit(fam) -> None:
    """U-GAT-IT is offered once it flips faces as well as the CycleGAN (its measured verdict, models/ugatit/gate.py);
    GAN_VIZ_OFFER_UGATIT=1 offers it anyway (a teacher who wants attention in the loop before it is that good)."""
    from gan_viz.models.ugatit import gate

    if fam.weights is not None and os.environ.get("GAN_VIZ_OFFER_UGATIT", "") not in ("1", "true"):
        fam.withheld = gate.not_offered(fam.weights.config)


def build_demo(ctx: AppContext) -> tuple[gr.Blocks, list, gan_lab_tab.GanLabTab]:
    """The page; the tabs' page-load views (what a visitor's first screen computes); the GAN lab's tab object."""
    lab = gan_lab_tab.GanLabTab()
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\n{TAGLINE} Every result is computed live on **{device.get_device()}**; each tab "
                    "opens on a worked example and has a short lesson (folded) with links to its steps.")
        loaders = []
        shown = []
        # A tab whose weights could not be found is left out (the About panel says why), never shown broken.
        with gr.Tabs() as tabs:
            if ctx.families["sagan"].weights is not None:
                with gr.Tab("SAGAN attention", id="sagan"):
                    loaders += attention_tab.build(ctx.families["sagan"], ctx.families["cam_classifier"])
                shown.append("sagan")
            if ctx.families["lbam"].weights is not None:
                with gr.Tab("Inpainting", id="inpainting"):
                    loaders += inpainting_tab.build(ctx.families["lbam"])
                shown.append("inpainting")
            if ctx.families["cyclegan"].weights is not None:
                with gr.Tab("Gender flip", id="gender"):
                    ugatit = ctx.families["ugatit"]
                    loaders += gender_tab.build(ctx.families["cyclegan"], ctx.families["cam_classifier"],
                                                ugatit if ugatit.offered else None)
                shown.append("gender")
            if ctx.families["cam_classifier"].weights is not None:
                with gr.Tab("CAM", id="cam"):
                    loaders += cam_tab.build(ctx.families["cam_classifier"])
                shown.append("cam")
                with gr.Tab("Adversarial examples", id="adversarial"):
                    loaders += adversarial_tab.build(ctx.families["cam_classifier"], ctx.families["cam_classifier_robust"])
                shown.append("adversarial")
            with gr.Tab("GAN training lab", id="lab"):  # no weights: its small GANs are trained live, on the CPU
                loaders += lab.build()
            shown.append("lab")
        with gr.Accordion("About these models", open=False):
            gr.Markdown(ctx.about_markdown(), elem_id="about-models")

        def open_tab(request: gr.Request):
            """?tab=NAME opens that tab (links.py); each tab's own load event sets its state from the same link."""
            tab = links.query(request).get("tab")
            return gr.Tabs(selected=tab) if tab in shown else gr.skip()

        demo.load(open_tab, None, tabs, api_visibility="private", **serving.LIGHT)
        for event in loaders:
            demo.load(**event)
    demo.queue(**serving.queue_settings())
    serving.calm_queue(demo)
    serving.lower_heavy_priority(demo)
    return demo, [e["fn"] for e in loaders if _name(e["fn"]) == "open_view"], lab


def _name(fn) -> str:
    return getattr(getattr(fn, "__wrapped__", fn), "__name__", "")


def warm_up(openers: list) -> None:
    """Build the face detectors and compute the tabs' worked examples once, in the background, so the first visitor
    finds them ready."""
    from gan_viz import faces

    faces.warm()
    for opener in openers:
        try:
            opener(None)  # no request: no link, the worked example (cached for every later visitor)
        except Exception:  # noqa: BLE001 - a failed warm-up only means the first visitor computes it
            pass


# Module-level `demo` (Spaces and the tests import it). Flags are read only when run as a script,
# so that `import app` under pytest does not parse pytest's own arguments.
ARGS = parse_args(sys.argv[1:] if __name__ == "__main__" else [])
CONTEXT = build_context(ARGS)
demo, OPENERS, LAB = build_demo(CONTEXT)  # OPENERS: each tab's open_view; LAB: the GAN lab's sessions

if __name__ == "__main__":
    # GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are honoured by launch() itself (default 127.0.0.1:7860).
    import threading

    # A few seconds after start-up, so it does not delay the server's first answer.
    warm = threading.Timer(serving.WARM_UP_DELAY_S, warm_up, args=(OPENERS,))
    warm.daemon = True
    warm.start()
    demo.launch(share=ARGS.share)  # the queue is set up in build_demo (gan_viz/ui/serving.py)
