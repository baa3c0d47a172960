"""The gender-flip and inpainting tabs as users and API clients meet them, with the bundled weights."""
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import app
from gan_viz.imaging import load_image
from gan_viz.ui import cam_tab, gender_tab, inpainting_tab
from gan_viz.ui.widgets import user_errors

ASSETS = Path(__file__).resolve().parents[2] / "assets"
HOPPER = str(ASSETS / "grace_hopper.jpg")
SAGAN_FACE = str(sorted(ASSETS.glob("sagan_face_*.png"))[0])
FLIP = app.CONTEXT.families["cyclegan"]
CAM = app.CONTEXT.families["cam_classifier"]
LBAM = app.CONTEXT.families["lbam"]


def test_flip_tab_shows_the_whole_cycle_and_the_photo_keeps_its_size():
    result, found, info, gallery, png, att_gallery, att_info = gender_tab.flip_tab(FLIP, CAM, HOPPER, "auto", False,
                                                                                 "all faces")
    photo = load_image(HOPPER)
    assert result.shape == photo.shape and not np.array_equal(result, photo)
    assert np.array_equal(np.asarray(Image.open(png).convert("RGB")), result)  # the download is what is shown
    captions = [c for _, c in gallery]
    assert len(captions) == 9 and all(len(c.splitlines()) == 1 for c in captions)
    assert captions[1].startswith("G(x)") and "F(G(x))" in captions[2] and "discriminator" in captions[6]
    assert captions[7].startswith("blend") and "detail" in captions[8]  # how the change went back into the photo
    assert "p(female)" in info and "cycle L1" in info


@pytest.mark.parametrize("name", sorted(p.name for p in ASSETS.glob("*.*g") if not p.name.startswith("no_face_")))
def test_the_bundled_cyclegan_flips_the_classifier_s_verdict_on_each_example(name):
    # The bundled weights, judged the way the auto direction is decided: the CAM classifier on the face.
    ph = gender_tab.flip(FLIP, CAM, str(ASSETS / name), "auto")
    before = ph.faces[0].p_female
    after = cam_tab.classify_json(CAM, ph.result)["gender"]["female"]  # what /classify says of the result
    assert (before >= 0.5) != (after >= 0.5), f"p(female) {before:.2f} -> {after:.2f}"


def test_explicit_direction_and_identity_uses_the_other_generator():
    ph = gender_tab.flip(FLIP, CAM, HOPPER, "female_to_male")
    js = gender_tab.face_json(ph)
    assert js["direction"] == "female_to_male" and js["p_female"] is None
    assert len(js["face_boxes"]) == 1 and len(js["face_boxes"][0]) == 4
    assert 0 < js["cycle_l1"] < 1 and 0 < js["identity_l1"] < 1


@pytest.mark.parametrize("make, message", [
    (lambda p: Image.new("RGB", (300, 200), (120, 120, 120)).save(p), "No face found"),
    (lambda p: Image.open(HOPPER).resize((60, 70)).save(p), "at least 40 px"),
])
def test_flip_bad_input_is_a_clear_message(tmp_path, make, message):
    path = tmp_path / "in.png"
    make(path)
    with pytest.raises(gr.Error, match=message):
        user_errors(gender_tab.flip_tab)(FLIP, CAM, str(path), "auto", False, "all faces")


def test_a_tight_crop_is_translated_whole():
    ph = gender_tab.flip(FLIP, CAM, SAGAN_FACE, "male_to_female", use_whole=True)
    assert ph.faces[0].face.whole_image and ph.result.shape == load_image(SAGAN_FACE).shape


def _brush_layer(hole):
    layer = np.zeros((*hole.shape, 4), np.uint8)
    layer[hole] = (255, 0, 255, 255)
    return layer


def test_inpaint_tab_outputs_and_metrics():
    crop = inpainting_tab.face_crop(HOPPER, False)
    assert crop.shape == (inpainting_tab.EDIT, inpainting_tab.EDIT, 3)
    hole = inpainting_tab.preset_hole("mouth", crop.shape[0], 0)
    editor = {"background": crop, "layers": [_brush_layer(hole)], "composite": None}  # as the brush leaves it
    masked, raw, comp, telea, info, maps, plot, params, png = inpainting_tab.inpaint_tab(LBAM, crop, editor, 2)
    assert comp.shape == raw.shape == telea.shape == masked.shape
    n_enc = len(LBAM.weights.config["channels"])
    assert len(maps) == 2 * n_enc - 1 and maps[0][1].startswith("forward") and maps[-1][1].startswith("reverse")
    assert "PSNR" in info and "SSIM" in info and "Telea" in info
    assert plot.ndim == 3 and plot.dtype == np.uint8
    assert inpainting_tab._activation_plot(LBAM.get()) is plot  # drawn once per model, not on every click
    assert len(params) == 2 * n_enc - 1 and {"a", "mu", "gamma_l", "gamma_r", "alpha"} <= set(params.columns)


def test_preset_and_brush_strokes_add_up_and_the_preset_ratio_is_what_the_model_sees():
    crop = inpainting_tab.face_crop(HOPPER, False)
    size = LBAM.weights.config["image_size"]
    preset = inpainting_tab.preset_hole("free-form 30-40%", crop.shape[0], 5, size)
    empty = inpainting_tab.editor_value(crop, preset)
    assert not np.array_equal(empty["background"], crop) and empty["layers"] == []  # the preset is tinted in
    info = inpainting_tab.inpaint_tab(LBAM, crop, empty, 0, preset)[4]
    ratio = float(info.split("**")[1].rstrip("%")) / 100
    assert 0.30 <= ratio < 0.40
    stroke = np.zeros(crop.shape[:2], bool)
    stroke[:20] = True  # a brush stroke across the top adds to the preset
    both = inpainting_tab.inpaint_tab(LBAM, crop, {"background": crop, "layers": [_brush_layer(stroke)]}, 0, preset)[4]
    assert float(both.split("**")[1].rstrip("%")) / 100 > ratio


def test_inpaint_tab_refuses_an_empty_canvas_clearly():
    crop = inpainting_tab.face_crop(HOPPER, False)
    with pytest.raises(gr.Error, match="Paint over"):
        inpainting_tab.inpaint_tab(LBAM, crop, inpainting_tab.editor_value(crop), 0)


def test_every_preset_is_a_sensible_hole():
    for name in inpainting_tab.PRESETS:
        hole = inpainting_tab.preset_hole(name, 256, 3, 128)
        assert hole.shape == (256, 256) and 0.02 < hole.mean() < 0.6, name


def test_gender_flip_api(server):
    client = Client(server, verbose=False)
    result, face, info = client.predict(handle_file(HOPPER), "male_to_female", api_name="/gender_flip")
    assert Image.open(result).size == Image.open(HOPPER).size and Image.open(result).format == "PNG"
    assert Image.open(face).size == (FLIP.weights.config["image_size"],) * 2
    assert info["direction"] == "male_to_female" and len(info["face_boxes"]) == 1
    assert {"cycle_l1", "identity_l1", "faces"} <= set(info)
    auto = client.predict(handle_file(HOPPER), "auto", api_name="/gender_flip")[2]
    assert auto["direction"] in ("male_to_female", "female_to_male") and 0 <= auto["p_female"] <= 1
    with pytest.raises(Exception, match="direction must be"):
        client.predict(handle_file(HOPPER), "sideways", api_name="/gender_flip")


def test_inpaint_api_keeps_known_pixels_and_handles_mask_sizes(server, tmp_path):
    client = Client(server, verbose=False)
    img = load_image(SAGAN_FACE)
    img = np.asarray(Image.fromarray(img).resize((200, 200)))
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    mask[60:120, 50:150] = 255
    blacked = img.copy()
    blacked[mask > 0] = 0  # pixels under the hole may arrive blacked out
    ip, mp = tmp_path / "img.png", tmp_path / "mask.png"
    Image.fromarray(blacked).save(ip)
    Image.fromarray(mask).save(mp)
    comp, raw, info = client.predict(handle_file(str(ip)), handle_file(str(mp)), api_name="/inpaint")
    comp, raw = np.asarray(Image.open(comp).convert("RGB")), np.asarray(Image.open(raw).convert("RGB"))
    assert comp.shape == raw.shape == img.shape
    assert np.array_equal(comp[mask == 0], img[mask == 0])
    assert not np.array_equal(comp[mask > 0], blacked[mask > 0])
    assert info["hole_ratio"] == pytest.approx((mask > 0).mean(), abs=1e-4) and info["timings"]["network_s"] > 0
    # a mask at half the size is scaled up; one of another shape is refused; an empty one returns the input
    Image.fromarray(mask[::2, ::2]).save(mp)
    assert client.predict(handle_file(str(ip)), handle_file(str(mp)), api_name="/inpaint")[2]["hole_ratio"] > 0.1
    Image.fromarray(mask[:, :100]).save(mp)
    with pytest.raises(Exception, match="different shape"):
        client.predict(handle_file(str(ip)), handle_file(str(mp)), api_name="/inpaint")
    Image.fromarray(np.full((h, w), 255, np.uint8)).save(mp)
    with pytest.raises(Exception, match="covers 100%"):
        client.predict(handle_file(str(ip)), handle_file(str(mp)), api_name="/inpaint")
    Image.fromarray(np.zeros((h, w), np.uint8)).save(mp)
    Image.fromarray(img).save(ip)
    comp = client.predict(handle_file(str(ip)), handle_file(str(mp)), api_name="/inpaint")[0]
    assert np.array_equal(np.asarray(Image.open(comp).convert("RGB")), img)


def test_blend_maps_say_how_the_change_went_back_and_the_photo_blend_keeps_more_detail():
    import cv2

    from gan_viz.models.cyclegan.visualize import blend_maps, keep_detail

    img = load_image(HOPPER)
    flipper = FLIP.get()
    by_model = flipper.flip_photo(img, "female_to_male", detail="model")
    by_photo = flipper.flip_photo(img, "female_to_male", detail="photo")
    alpha, dropped = blend_maps(by_model, 0, 96)
    assert 0 <= alpha.min() and alpha.max() <= 1 and alpha[48, 48] > 0.99 and alpha[0, 0] < 0.01
    want = (1 - cv2.resize(keep_detail(by_model.faces[0].cycle.change), (96, 96))) * alpha
    assert np.allclose(dropped, np.clip(want, 0, 1), atol=1e-5) and dropped.max() > 0.5
    assert blend_maps(by_photo, 0, 96)[1].max() == 0
    x, y, w, h = by_model.faces[0].face.box
    lap = lambda im: cv2.Laplacian(cv2.cvtColor(im[y:y + h, x:x + w], cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()  # noqa: E731
    assert lap(by_photo.result) > lap(by_model.result)
    with pytest.raises(ValueError, match="detail must be one of"):
        flipper.flip_photo(img, "female_to_male", detail="sharp")


def test_flip_tab_unticked_uses_the_sliders_strength():
    calibrated = gender_tab.flip_tab(FLIP, CAM, HOPPER, "female_to_male", False, "all faces", True, 2.0)
    chosen = gender_tab.flip_tab(FLIP, CAM, HOPPER, "female_to_male", False, "all faces", False, 2.0)
    none = gender_tab.flip_tab(FLIP, CAM, HOPPER, "female_to_male", False, "all faces", False, 0.0)
    assert "| 1.3 |" in calibrated[2] and "| 2 |" in chosen[2]  # the strength column of the summary
    assert np.array_equal(none[0], load_image(HOPPER))  # s = 0 adds nothing: the photo comes back as it was
    assert not np.array_equal(chosen[0], calibrated[0])
