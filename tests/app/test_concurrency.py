"""Shared state under concurrent requests: the face path and every model, 8 threads at once, equal to one thread,
with and without batching."""
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import app
from gan_viz import faces
from gan_viz.imaging import load_image
from gan_viz.models.lbam import masks
from gan_viz.ui import cam_tab

ASSETS = Path(__file__).resolve().parents[2] / "assets"
HOPPER = load_image(str(ASSETS / "grace_hopper.jpg"))
SAGAN_FACE = load_image(str(sorted(ASSETS.glob("sagan_face_*.png"))[0]))
THREADS = 8


@pytest.fixture(autouse=True, params=["unbatched", "batched"])
def batching_mode(request, monkeypatch):
    """Every test twice: each request's own passes, and the passes of concurrent requests run as one batch
    (gan_viz/batching.py, on by default on CUDA): a caller must get the same answer either way."""
    monkeypatch.setenv("GAN_VIZ_BATCH", "1" if request.param == "batched" else "0")
    return request.param


def _photo_with_two_faces() -> np.ndarray:
    """Grace Hopper twice on a wider canvas, the second smaller: two detections, two eye searches per call."""
    h, w = HOPPER.shape[:2]
    canvas = np.full((h, w * 2 + 40, 3), 200, np.uint8)
    canvas[:, :w] = HOPPER
    small = HOPPER[::2, ::2]
    canvas[40:40 + small.shape[0], w + 40:w + 40 + small.shape[1]] = small
    return canvas


def _concurrently(fn, inputs):
    """fn over the inputs in THREADS threads at once (each input several times, interleaved)."""
    work = [x for _ in range(3) for x in inputs]
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(fn, work)), work


def _assert_same_as_alone(fn, inputs, compare):
    alone = {i: fn(x) for i, x in enumerate(inputs)}
    together, work = _concurrently(fn, inputs)
    for k, out in enumerate(together):
        compare(out, alone[k % len(inputs)])


def test_face_detection_and_eye_levelling_from_8_threads():
    photos = [HOPPER, _photo_with_two_faces(), np.ascontiguousarray(HOPPER[:, ::-1])]

    def find(img):
        return [(f.box, round(f.angle, 6), f.crop) for f in faces.find_faces(img, 128)]

    def same(a, b):
        assert [x[:2] for x in a] == [x[:2] for x in b]
        for (_, _, ca), (_, _, cb) in zip(a, b):
            assert np.array_equal(ca, cb)

    _assert_same_as_alone(find, photos, same)


def test_classifier_and_cams_from_8_threads():
    fam = app.CONTEXT.families["cam_classifier"]
    ex = fam.get()
    crops = [ex.find_face(HOPPER).crop, SAGAN_FACE]
    jobs = [(c, m) for c in crops for m in ("cam", "gradcam", "gradcam++")]

    def run(job):
        crop, method = job
        e = ex.explain(crop, method, "predicted", "last")
        return ex.classify(crop)["gender"]["female"], e.heatmap

    def same(a, b):
        assert a[0] == pytest.approx(b[0], abs=1e-6)
        np.testing.assert_allclose(a[1], b[1], atol=1e-5)

    _assert_same_as_alone(run, jobs, same)


def test_classify_api_path_from_8_threads():
    fam = app.CONTEXT.families["cam_classifier"]
    _assert_same_as_alone(lambda img: cam_tab.classify_json(fam, img), [HOPPER, SAGAN_FACE, _photo_with_two_faces()],
                          lambda a, b: np.testing.assert_allclose(a["gender"]["female"], b["gender"]["female"], atol=1e-6))


def test_sagan_generation_and_cached_faces_from_8_threads():
    ex = app.CONTEXT.families["sagan"].get()
    seeds = [3, 11, 27, 3, 42]

    def gen(seed):
        g = ex.recent(seed) if seed % 2 else ex.generate(seed)
        return g.image, g.maps

    def same(a, b):
        np.testing.assert_allclose(a[0].astype(int), b[0].astype(int), atol=1)  # uint8 rounding at most
        for k in b[1]:
            np.testing.assert_allclose(a[1][k], b[1][k], atol=1e-5)

    _assert_same_as_alone(gen, seeds, same)


def test_gender_flip_from_8_threads():
    flipper = app.CONTEXT.families["cyclegan"].get()
    jobs = [(HOPPER, "male_to_female"), (_photo_with_two_faces(), "female_to_male"), (SAGAN_FACE, "male_to_female")]

    def run(job):
        return flipper.flip_photo(job[0], job[1], use_whole_image=job[0] is SAGAN_FACE).result

    _assert_same_as_alone(run, jobs, lambda a, b: np.testing.assert_allclose(a.astype(int), b.astype(int), atol=1))


def test_inpainting_from_8_threads():
    inp = app.CONTEXT.families["lbam"].get()
    s = inp.size
    face = faces.whole_image(SAGAN_FACE, s).crop
    holes = [masks.free_form(s, np.random.default_rng(i), 0.1, 0.4).astype(bool) for i in range(3)]

    def run(hole):
        r = inp.inpaint(face, hole, with_maps=True)
        return r.composite

    _assert_same_as_alone(run, holes, lambda a, b: np.testing.assert_allclose(a.astype(int), b.astype(int), atol=1))


def test_translator_attention_probe_from_8_threads():
    flipper = app.CONTEXT.families["cyclegan"].get()
    if flipper.probes is None:
        pytest.skip("no probe in this checkpoint")
    cycles = [flipper.translate(faces.whole_image(SAGAN_FACE, 96).crop, d) for d in ("male_to_female", "female_to_male")]

    def run(c):
        a = flipper.attention(c)
        return a.encoder.fused, a.discriminator.fused, a.spearman

    def same(a, b):
        np.testing.assert_allclose(a[0], b[0], atol=1e-5)
        np.testing.assert_allclose(a[1], b[1], atol=1e-5)
        assert a[2] == pytest.approx(b[2], abs=1e-6)

    _assert_same_as_alone(run, cycles, same)


def test_ugatit_flip_and_its_attention_from_8_threads():
    ug = app.CONTEXT.families["ugatit"].get()
    jobs = [(HOPPER, "male_to_female"), (_photo_with_two_faces(), "female_to_male"), (SAGAN_FACE, "female_to_male")]

    def run(job):
        ph = ug.flip_photo(job[0], job[1], use_whole_image=job[0] is SAGAN_FACE)
        a = ug.attention(ph.faces[0].cycle)
        return ph.result, a.maps["fused"], a.fake_attention_off, a.agreement_with_change

    def same(a, b):
        np.testing.assert_allclose(a[0].astype(int), b[0].astype(int), atol=1)
        np.testing.assert_allclose(a[1], b[1], atol=1e-5)
        np.testing.assert_allclose(a[2].astype(int), b[2].astype(int), atol=1)
        assert a[3] == pytest.approx(b[3], abs=1e-5)

    _assert_same_as_alone(run, jobs, same)
