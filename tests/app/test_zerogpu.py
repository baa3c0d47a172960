"""ZeroGPU readiness: the model handlers run inside spaces.GPU where it is active, and give the same answers."""
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

import app
from gan_viz.ui import adversarial_tab, attention_tab, cam_tab, zerogpu

HOPPER = str(Path(__file__).resolve().parents[2] / "assets" / "grace_hopper.jpg")


class FakeSpaces:
    """Stands in for ZeroGPU's `spaces`: GPU(duration) returns a new wrapper and counts the calls made through it."""

    def __init__(self):
        self.calls: list[tuple[str, int]] = []

    def GPU(self, duration=60):  # noqa: N802 - the real package's name
        def deco(fn):
            def wrapper(*a, **k):
                self.calls.append((fn.__name__, duration))
                return fn(*a, **k)
            return wrapper
        return deco


def test_outside_a_zerogpu_space_the_handlers_are_the_plain_functions():
    def f(x):
        return x

    assert zerogpu.on_gpu(f) is f and not zerogpu.active()


@pytest.fixture
def fake_spaces(monkeypatch):
    fake = FakeSpaces()
    monkeypatch.setattr(zerogpu, "spaces", fake)
    return fake


def _api(blocks: gr.Blocks, name: str):
    return next(f.fn for f in blocks.fns.values() if f.api_name == name)


def test_decorated_api_handlers_run_inside_spaces_gpu_and_answer_the_same(fake_spaces):
    fams = app.CONTEXT.families
    with gr.Blocks() as blocks:
        cam_tab.build(fams["cam_classifier"])
        attention_tab.build(fams["sagan"])
        adversarial_tab.build(fams["cam_classifier"], fams["cam_classifier_robust"])
    got = _api(blocks, "classify")(HOPPER)
    assert got == {"face_found": True, **cam_tab.classify_json(fams["cam_classifier"], HOPPER)}
    img, _ = _api(blocks, "sagan_generate")(5, 1.0)
    assert np.array_equal(img, fams["sagan"].get().generate(5).image)
    _, adv, info = _api(blocks, "adversarial")(HOPPER, "fgsm", 4, "standard")
    assert info["linf"] <= 4
    names = [n for n, _ in fake_spaces.calls]
    assert names == ["classify", "sagan_generate", "adversarial"]
    assert all(0 < d <= 60 for _, d in fake_spaces.calls)


def test_errors_inside_the_gpu_function_still_reach_the_user_as_messages(fake_spaces):
    with gr.Blocks() as blocks:
        cam_tab.build(app.CONTEXT.families["cam_classifier"])
    with pytest.raises(gr.Error, match="unknown method"):
        _api(blocks, "cam")(HOPPER, "nope", "predicted", "last")
