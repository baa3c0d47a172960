"""Pictures without a face through the API: every face endpoint says so in its JSON, and answers when asked to use
the whole image; no gender probability is given for a picture in which no face was found."""
import pytest
from gradio_client import handle_file
from PIL import Image

from tests.non_faces import non_faces


@pytest.fixture(scope="module")
def cat(tmp_path_factory):
    path = tmp_path_factory.mktemp("pictures") / "cat.png"
    Image.fromarray(dict(non_faces())["cat"]).save(path)
    return str(path)


def _says_no_face(info: dict) -> None:
    assert info["face_found"] is False and info["message"].startswith("No face found")
    assert "gender" not in info and "before" not in info and "p_female" not in info


def test_classify_of_a_cat_says_no_face_and_gives_no_probability(client, cat):
    _says_no_face(client.predict(handle_file(cat), api_name="/classify"))
    whole = client.predict(handle_file(cat), True, api_name="/classify")
    assert whole["face_found"] is True and whole["face_box"] is None and set(whole["gender"]) == {"male", "female"}


def test_cam_adversarial_and_gender_flip_of_a_cat_say_no_face(client, cat):
    overlay, info = client.predict(handle_file(cat), "gradcam", "predicted", "last", api_name="/cam")
    assert overlay is None
    _says_no_face(info)
    clean, adversarial, info = client.predict(handle_file(cat), "fgsm", 4, "standard", api_name="/adversarial")
    assert clean is None and adversarial is None
    _says_no_face(info)
    result, face, info = client.predict(handle_file(cat), "auto", api_name="/gender_flip")
    assert result is None and face is None
    _says_no_face(info)
    overlay, info = client.predict(handle_file(cat), "male_to_female", api_name="/translator_attention")
    _says_no_face(info)


def test_the_whole_image_is_used_when_asked(client, cat):
    overlay, info = client.predict(handle_file(cat), "gradcam", "predicted", "last", True, api_name="/cam")
    assert overlay is not None and info["face_found"] is True and info["face_box"] is None
    result, face, info = client.predict(handle_file(cat), "male_to_female", use_whole_image=True, api_name="/gender_flip")
    assert result is not None and info["face_found"] is True and info["whole_image"] is True


def test_a_face_is_still_found_and_said_so(client):
    from pathlib import Path
    hopper = str(Path(__file__).resolve().parents[2] / "assets" / "grace_hopper.jpg")
    out = client.predict(handle_file(hopper), api_name="/classify")
    assert out["face_found"] is True and out["gender"]["female"] > 0.5
    x, y, w, h = out["face_box"]
    assert x >= 0 and y >= 0 and x + w <= 512 and y + h <= 600
