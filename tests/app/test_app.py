"""The app as users and API clients meet it: handlers called directly, then the real server through gradio_client."""
import json
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import app
from gan_viz import faces
from gan_viz.imaging import load_image
from gan_viz.ui import cam_tab
from gan_viz.ui.widgets import says_no_face, user_errors

ASSETS = Path(__file__).resolve().parents[2] / "assets"
HOPPER = str(ASSETS / "grace_hopper.jpg")
FAM = app.CONTEXT.families["cam_classifier"]


def test_classify_returns_both_heads_and_the_box():
    out = cam_tab.classify_json(FAM, HOPPER)
    assert set(out) == {"gender", "age_group", "face_box"}
    assert abs(sum(out["gender"].values()) - 1) < 1e-5 and abs(sum(out["age_group"].values()) - 1) < 1e-5
    assert len(out["face_box"]) == 4


@pytest.mark.parametrize("method", ["cam", "gradcam", "gradcam++"])
def test_cam_api_heatmap_is_in_unit_range_at_input_resolution(method):
    overlay, info = cam_tab.cam_api(FAM, HOPPER, method, "predicted", "last")
    heat = np.array(info["heatmap"])
    size = FAM.weights.config["image_size"]
    assert heat.shape == (size, size) and heat.min() >= 0 and heat.max() == pytest.approx(1.0, abs=1e-3)
    assert overlay.dtype == np.uint8 and overlay.shape[2] == 3
    assert info["class"] in ("male", "female")


def test_target_class_and_inner_layer_are_honoured():
    _, info = cam_tab.cam_api(FAM, HOPPER, "gradcam", "40-59", "conv3")
    assert info["head"] == "age_group" and info["class"] == "40-59" and info["layer"] == "conv3"


def test_explain_tab_outputs(tmp_path):
    face, gender, age, over, bar, gallery, info, png, npy = cam_tab.explain_tab(
        FAM, HOPPER, False, "gradcam++", "gender:female", "last", 0.6, "cividis")
    assert set(gender) == {"male", "female"} and len(age) == 5
    assert len(gallery) == 3 and all("ms" in caption for _, caption in gallery)
    assert "Grad-CAM++" in info and "female" in info
    assert np.load(npy).shape == (FAM.weights.config["image_size"],) * 2
    assert (np.asarray(Image.open(png)) == over).all()  # the PNG download is exactly what is shown


@pytest.mark.parametrize("bad, message", [
    (None, "No image"),
    ("not-a-file.png", "could not be found"),
])
def test_bad_input_becomes_a_clear_gradio_error(bad, message):
    with pytest.raises(gr.Error, match=message):
        user_errors(cam_tab.classify_json)(FAM, bad)


def test_no_face_and_bad_choices_are_clear(tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 200), (120, 120, 120)).save(blank)
    with pytest.raises(gr.Error, match="No face found"):
        user_errors(cam_tab.explain_tab)(FAM, str(blank), False, "gradcam", "predicted", "last", 0.5, "viridis")
    # the API says so in its JSON, with no probability; asked for the whole image, it answers with a null box
    no_face = says_no_face(cam_tab.classify_json, 0)(FAM, str(blank))
    assert no_face["face_found"] is False and "No face found" in no_face["message"] and "gender" not in no_face
    whole = says_no_face(cam_tab.classify_json, 0)(FAM, str(blank), True)
    assert whole["face_found"] is True and whole["face_box"] is None and "female" in whole["gender"]
    with pytest.raises(gr.Error, match="unknown class"):
        user_errors(cam_tab.cam_api)(FAM, HOPPER, "gradcam", "giraffe", "last")
    with pytest.raises(gr.Error, match="unknown layer"):
        user_errors(cam_tab.cam_api)(FAM, HOPPER, "gradcam", "predicted", "conv99")
    with pytest.raises(gr.Error, match="last conv layer"):
        user_errors(cam_tab.cam_api)(FAM, HOPPER, "cam", "predicted", "conv2")


def test_unexpected_failure_is_summarised_not_leaked():
    def boom():
        raise KeyError("internal detail")
    with pytest.raises(gr.Error, match="still running") as e:
        user_errors(boom)()
    assert "internal detail" not in str(e.value)


def test_about_panel_names_the_weights_source():
    md = app.CONTEXT.about_markdown()
    assert "cam_classifier" in md and "bundled checkpoints/cam_classifier" in md


def test_api_through_gradio_client(server, tmp_path):
    client = Client(server, verbose=False)
    out = client.predict(handle_file(HOPPER), api_name="/classify")
    assert set(out["gender"]) == {"male", "female"} and out["face_box"] is not None
    overlay_path, info = client.predict(handle_file(HOPPER), "gradcam", "predicted", "last", api_name="/cam")
    assert Image.open(overlay_path).format == "PNG"
    heat = np.array(info["heatmap"])
    assert heat.ndim == 2 and 0 <= heat.min() and heat.max() <= 1
    # A bad upload is answered with a message and the server keeps serving.
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(Exception, match="could not be read as an image"):
        client.predict(handle_file(str(junk)), api_name="/classify")
    assert client.predict(handle_file(HOPPER), api_name="/classify")["gender"]
    api = json.dumps(client.view_api(return_format="dict", print_info=False))
    assert "/classify" in api and "/cam" in api


def test_sagan_api_through_gradio_client(server):
    client = Client(server, verbose=False)
    img64, view = client.predict(7, api_name="/sagan_generate")
    assert Image.open(img64).size == (64, 64) and Image.open(view).size == (256, 256)
    a, b = (client.predict(7, x, y, "default", "query", api_name="/sagan_attention") for x, y in ((5, 5), (50, 40)))
    for overlay, info in (a, b):
        assert Image.open(overlay).format == "JPEG" and Image.open(overlay).size == (256, 256)  # a view: JPEG
        m = np.array(info["map"])
        assert m.shape == (info["feature_size"],) * 2 and abs(m.sum() - 1) < 1e-3  # the query reading sums to 1
        assert isinstance(info["gamma"], float)
    assert a[1]["feature_xy"] != b[1]["feature_xy"]
    assert not np.allclose(a[1]["map"], b[1]["map"])  # the bundled G attends differently from different queries
    _, key = client.predict(7, 5, 5, "default", "key", api_name="/sagan_attention")
    assert key["reading"] == "key"
    with pytest.raises(Exception, match="outside"):
        client.predict(7, 64, 3, "default", "query", api_name="/sagan_attention")
    with pytest.raises(Exception, match="unknown layer"):
        client.predict(7, 3, 3, "G.attn99", "query", api_name="/sagan_attention")
    # The inputs reach the function as sent (serving.LIGHT_RAW): numbers are rounded as gr.Number(precision=0) did,
    # and what is not a number is refused with its name.
    _, rounded = client.predict(7.0, 20.6, 29.7, "default", "query", api_name="/sagan_attention")
    _, whole = client.predict(7, 21, 30, "default", "query", api_name="/sagan_attention")
    assert rounded["map"] == whole["map"] and rounded["feature_xy"] == whole["feature_xy"]
    with pytest.raises(Exception, match="seed must be a number"):
        client.predict("seven", 3, 3, "default", "query", api_name="/sagan_attention")


def test_classify_answers_only_for_a_face_unless_asked_for_the_whole_image():
    ex = app.CONTEXT.families["cam_classifier"].get()
    blank = np.full((300, 400, 3), 128, np.uint8)
    with pytest.raises(faces.FaceError, match="No face found"):
        ex.classify_photo(blank)
    face, probs = ex.classify_photo(blank, use_whole_image=True)
    assert face.whole_image and probs == ex.classify(face.native)
    found, _ = ex.classify_photo(load_image(HOPPER))
    assert not found.whole_image


def test_the_portrait_example_is_classified_as_who_she_is_through_the_app_path():
    # Grace Hopper, the app's first example: /classify (face found, levelled, cropped) says female.
    out = cam_tab.classify_json(app.CONTEXT.families["cam_classifier"], HOPPER)
    assert out["face_box"] is not None and out["gender"]["female"] > 0.5


def test_another_public_domain_portrait_is_classified_as_who_she_is():
    # Eileen Collins (NASA, public domain), as scikit-image (a run-time dependency) ships her: a photo no training
    # choice was made on, through /classify's path. Read from the package, not copied into assets/.
    import skimage.data

    out = cam_tab.classify_json(app.CONTEXT.families["cam_classifier"], skimage.data.astronaut())
    assert out["face_box"] is not None and out["gender"]["female"] > 0.5


def test_the_classifier_trains_on_the_very_crops_classify_makes():
    """app_crops.py (the classifier's training crops of faces in pictures) goes through /classify's own face finding."""
    from gan_viz import utkface
    from gan_viz.models.cam_classifier.app_crops import app_crop

    ex = app.CONTEXT.families["cam_classifier"].get()
    face = faces.find_faces(load_image(HOPPER), 200)[0].crop  # her face as an aligned 200 px crop
    for seed in (0, 1):
        picture, _ = utkface.in_picture(face, np.random.default_rng(seed))
        found, probs = ex.classify_photo(picture)
        crop, was_found = app_crop(face, 256, seed)  # 256: the size classify_photo crops at
        assert was_found and not found.whole_image
        np.testing.assert_array_equal(crop, found.crop)
        assert probs == ex.classify(crop)
