"""The lessons: every step's link opens a view the tab can show, and their claims hold for the shipped models."""
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import numpy as np
import pytest

import app
from gan_viz.imaging import load_image
from gan_viz.ui import lessons, links

HOPPER = str(Path(__file__).resolve().parents[2] / "assets" / "grace_hopper.jpg")


@pytest.mark.parametrize("tab", sorted(lessons.LESSONS))
def test_each_lesson_has_3_to_5_steps_whose_links_open_a_valid_view(tab):
    title, steps = lessons.LESSONS[tab]
    assert 3 <= len(steps) <= 5 and title.startswith("Lesson")
    md = lessons.markdown(tab)
    assert md.count("\n") == len(steps) - 1
    for _, settings in steps:
        if settings is None:
            continue
        q = dict(parse_qsl(urlparse(lessons.href(tab, settings)).query))
        assert q["tab"] == tab and tab in links.TABS
        if "example" in q:
            assert links.example_path(q) is not None
        if "seed" in q:
            assert links.int_param(q, "seed", 0, 2 ** 63 - 1) is not None
        for key in ("x", "y"):
            if key in q:
                assert links.int_param(q, key, 0, 63) is not None
        if "translator" in q:  # a translator the app offers (its weights are bundled)
            assert app.CONTEXT.families[q["translator"]].weights is not None
        if "preset" in q:
            from gan_viz.models.gan2d.presets import PRESETS

            assert links.choice_param(q, "preset", PRESETS) is not None


def test_cam_lesson_claim_cam_equals_gradcam_at_the_last_layer_and_not_at_conv2():
    ex = app.CONTEXT.families["cam_classifier"].get()
    crop = ex.find_face(load_image(HOPPER)).crop
    cam = ex.explain(crop, "cam", "gender:female", "last").heatmap
    grad = ex.explain(crop, "gradcam", "gender:female", "last").heatmap
    early = ex.explain(crop, "gradcam", "gender:female", "conv2").heatmap
    assert np.abs(cam - grad).max() < 1e-4
    assert np.corrcoef(early.ravel(), grad.ravel())[0, 1] < 0.9


def test_sagan_lesson_claims_gamma_is_used_and_columns_do_not_sum_to_one():
    ex = app.CONTEXT.families["sagan"].get()
    g = ex.generate(3)
    layer = next(iter(g.maps))
    assert abs(g.gammas[layer]) > 1e-3
    beta = g.maps[layer]
    assert np.allclose(beta.sum(1), 1, atol=1e-3) and not np.allclose(beta.sum(0), 1, atol=1e-2)
    rows = ex.spectral_report(0)
    assert abs(np.prod([r["normalised_norm"] for r in rows]) - 1) < 0.2


def test_each_gender_lesson_example_is_the_gender_its_direction_starts_from():
    # The examples are numbered as the thumbnails; regenerated assets can change who is where.
    cam = app.CONTEXT.families["cam_classifier"].get()
    checked = 0
    for _, settings in lessons.LESSONS["gender"][1]:
        if settings and "example" in settings and "direction" in settings:
            path, _ = links.example_path({"tab": "gender", **{k: str(v) for k, v in settings.items()}})
            _, probs = cam.classify_photo(load_image(path))
            assert max(probs["gender"], key=probs["gender"].get) == settings["direction"].split("_to_")[0], path
            checked += 1
    assert checked >= 2


def test_adversarial_lesson_claims_fgsm_fools_the_standard_model_not_the_twin_and_pgd_fools_the_twin():
    from gan_viz.models.cam_classifier.visualize import run_attack

    expected = [("cam_classifier", "fgsm", True), ("cam_classifier_robust", "fgsm", False),
                ("cam_classifier_robust", "pgd", True)]
    steps = [settings for _, settings in lessons.LESSONS["adversarial"][1] if settings]
    assert len(steps) == len(expected)
    for settings, (family, method, fooled) in zip(steps, expected):
        assert settings["method"] == method and settings.get("model", "standard") == (
            "robust" if family.endswith("robust") else "standard")
        path, whole = links.example_path({"tab": "adversarial", **{k: str(v) for k, v in settings.items()}})
        ex = app.CONTEXT.families[family].get()
        crop = ex.find_face(load_image(path), use_whole_image=whole).crop
        assert run_attack(ex, crop, method, settings["epsilon"]).success is fooled, (family, method, path)


def test_cam_lesson_s_picture_has_no_face_and_the_whole_image_gets_a_sure_answer_anyway():
    """The last CAM step: the cup of coffee is refused, and with 'use the whole image' the classifier is as sure of
    itself as on a face (over 75%): calibration holds only on what the model was trained on."""
    from gan_viz import faces

    path, whole = links.example_path({"example": str(lessons.NO_FACE_EXAMPLE)})
    assert "coffee" in path and not whole
    cam = app.CONTEXT.families["cam_classifier"].get()
    with pytest.raises(faces.FaceError, match="No face found"):
        cam.classify_photo(load_image(path))
    _, probs = cam.classify_photo(load_image(path), use_whole_image=True)
    assert max(probs["gender"].values()) > 0.75


def test_the_cam_lesson_s_link_to_the_cup_opens_it_with_no_answer_instead_of_failing():
    import gradio as gr

    from gan_viz.ui.cam_tab import CamTab

    class Request:
        query_params = {"tab": "cam", "example": str(lessons.NO_FACE_EXAMPLE)}

    with gr.Blocks():
        tab = CamTab(app.CONTEXT.families["cam_classifier"])
        tab.build()
    out = tab.open_view(Request())
    image, whole, results = out[0], out[1], list(out[5:-1])
    assert "coffee" in image and whole is False and results == [None] * len(tab.outputs)


def test_the_gender_lesson_s_u_gat_it_step_opens_its_attention_and_the_probe_s_stays_a_probe():
    import gradio as gr

    from gan_viz.ui.gender_tab import GenderTab

    step = next(settings for text, settings in lessons.LESSONS["gender"][1] if settings and "translator" in settings)

    class Request:
        query_params = {"tab": "gender", **{k: str(v) for k, v in step.items()}}

    fams = app.CONTEXT.families
    with gr.Blocks():
        tab = GenderTab(fams["cyclegan"], fams["cam_classifier"], fams["ugatit"])
        tab.build()
    out = tab.open_view(Request())
    direction, translator = out[2], out[3]
    att_gallery, att_info = out[4 + 5], out[4 + 6]
    assert direction == "female_to_male" and translator == "ugatit"
    assert "in the loop" in att_info and "rho" in att_info
    captions = [c for _, c in att_gallery]
    assert any("attention off" in c for c in captions) and any("AdaLIN" in c or "rho" in c for c in captions)

    class Plain:
        query_params = {"tab": "gender", "example": "0", "direction": "female_to_male"}

    probe = tab.open_view(Plain())
    assert probe[3] == "cyclegan" and "probe" in probe[4 + 6]
