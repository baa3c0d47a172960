"""Face finding and cropping to the training framing (gan_viz/faces.py) on images the project may ship."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from gan_viz import faces
from gan_viz.faces import hog
from gan_viz.imaging import load_image
from tests.non_faces import non_faces

HOPPER = Path(__file__).resolve().parents[2] / "assets" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def hopper():
    return load_image(HOPPER)


def test_finds_the_face_and_crops_square(hopper):
    (face,) = faces.find_faces(hopper, 64, max_faces=1)
    x, y, w, h = face.box
    assert 100 < x < 250 and 50 < y < 200 and 150 < w < 320  # the face in the portrait's upper middle
    assert face.crop.shape == (64, 64, 3) and not face.whole_image


def test_no_picture_of_the_non_face_set_is_taken_for_a_face():
    """Sample pictures of the packages (a cat, a cup, a printed page, the moon...) and synthetic textures, turned and
    scaled: the cascade fires on several of them, the HOG detector confirms none."""
    taken = []
    for name, img in non_faces():
        try:
            faces.find_faces(img, 64)
            taken.append(name)
        except faces.FaceError:
            pass
    assert len(non_faces()) >= 50 and taken == []


@pytest.mark.parametrize("name", ["cat", "coffee", "page"])
def test_the_cascade_fires_on_a_cat_a_cup_and_a_page_and_the_hog_detector_says_no(name):
    """The check does the refusing: the cascade's lenient pass offers boxes on each of these pictures."""
    img = dict(non_faces())[name]
    boxes = [b for b in faces.detect(img, min_size=16, neighbors=1, scale_factor=1.05) if b[2] >= faces.MIN_FACE]
    assert boxes, f"the cascade no longer fires on {name}: this test lost its point"
    assert not any(hog.is_face(img, faces.crop_face(img, b, 64).matrix, 64, hog.VERIFY_AT) for b in boxes)
    with pytest.raises(faces.FaceError):
        faces.find_faces(img, 64)


def test_the_hog_view_is_the_framing_square_enlarged_about_its_centre(hopper):
    face = faces.find_faces(hopper, 64, max_faces=1)[0]
    v = hog.view(hopper, face.matrix, 64)
    assert v.shape == (hog.VIEW, hog.VIEW, 3)
    # the crop's centre pixel sits at the view's centre, and the crop spans VIEW / ZOOM pixels of it
    inner = cv2.resize(face.crop, (round(hog.VIEW / hog.ZOOM),) * 2, interpolation=cv2.INTER_CUBIC).astype(float)
    m = (hog.VIEW - inner.shape[0]) // 2
    assert np.abs(v[m:m + inner.shape[0], m:m + inner.shape[0]].astype(float) - inner).mean() < 12


def test_a_face_box_never_lies_outside_the_picture(hopper):
    """The cascade searches a padded picture; a face at the border gets a box that reaches past it."""
    top = np.ascontiguousarray(hopper[150:, :])  # the forehead cut off: the face touches the top edge
    for face in faces.find_faces(top, 64):
        x, y, w, h = face.box
        assert x >= 0 and y >= 0 and x + w <= top.shape[1] and y + h <= top.shape[0]
    assert faces.inside((-23, 10, 100, 100), (50, 60, 3)) == (0, 10, 60, 40)


def test_crop_follows_the_affine_matrix(hopper):
    face = faces.crop_face(hopper, (148, 103, 230, 230), 128, level_eyes=False)
    # the matrix maps the face box centre (shifted by CROP_DY) to the crop centre
    cx, cy = 148 + 115, 103 + 115 + faces.CROP_DY * 230
    u, v = face.matrix @ np.array([cx, cy, 1.0])
    assert abs(u - 64) < 1e-4 and abs(v - 64) < 1e-4


def test_a_closer_cut_is_the_middle_of_the_face_cut_larger_and_its_matrix_follows(hopper):
    box = (148, 103, 230, 230)
    face, larger = faces.crop_face(hopper, box, 96), faces.crop_face(hopper, box, 108)
    near = faces.closer(hopper, face, 9 / 8)
    assert near.crop.shape == (96, 96, 3) and not near.whole_image and near.box == face.box
    assert np.array_equal(near.crop, larger.crop[6:102, 6:102])  # the translators' training cut: 96 of 108 px
    p = np.array([200.0, 250.0, 1.0])
    assert np.allclose(near.matrix @ p, larger.matrix @ p - 6)
    assert faces.closer(hopper, face, 1.0) is face


def test_a_looser_cut_has_the_face_smaller_in_its_middle(hopper):
    box = (148, 103, 230, 230)
    face, smaller = faces.crop_face(hopper, box, 96), faces.crop_face(hopper, box, 72)
    far = faces.closer(hopper, face, 0.75)
    assert far.crop.shape == (96, 96, 3) and not far.whole_image
    assert np.abs(far.crop[12:84, 12:84].astype(int) - smaller.crop).max() <= 2  # the face at 72 px, centred
    assert far.crop[:12].std() > 0  # the photo around the face, not an empty border


def test_a_whole_image_crop_is_not_cut_closer(hopper):
    crop = faces.find_faces(hopper, 200, max_faces=1)[0].crop
    whole = faces.find_faces(crop, 96)[0]
    assert whole.whole_image and faces.closer(crop, whole, 9 / 8) is whole


def test_tilted_face_is_levelled(hopper):
    h, w = hopper.shape[:2]
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), 12, 1.0)
    tilted = cv2.warpAffine(hopper, rot, (w, h), borderMode=cv2.BORDER_REPLICATE)
    face = faces.find_faces(tilted, 64, max_faces=1)[0]
    assert face.angle != 0.0 and abs(abs(face.angle) - 12) < 6


def test_an_aligned_crop_is_used_as_it_is(hopper):
    crop = faces.find_faces(hopper, 200, max_faces=1)[0].crop
    again = faces.find_faces(crop, 64)
    assert len(again) == 1 and again[0].whole_image


def test_no_face_gives_a_clear_message():
    blank = np.full((200, 300, 3), 128, np.uint8)
    with pytest.raises(faces.FaceError, match="No face found"):
        faces.find_faces(blank, 64)
    assert faces.find_faces(blank, 64, use_whole_image=True)[0].crop.shape == (64, 64, 3)


def test_too_small_face_is_named(hopper):
    small = cv2.resize(hopper, None, fx=0.12, fy=0.12, interpolation=cv2.INTER_AREA)
    canvas = np.full((400, 400, 3), 200, np.uint8)
    canvas[100:100 + small.shape[0], 100:100 + small.shape[1]] = small
    with pytest.raises(faces.FaceError, match="at least 40 px wide"):
        faces.find_faces(canvas, 64)


def test_detections_are_remembered_per_photo_and_handed_out_as_copies():
    img = load_image(HOPPER)
    faces.forget()
    first = faces.find_faces(img, 128)
    first[0].crop[:] = 0  # a caller scribbling on its copy does not touch the remembered result
    second = faces.find_faces(img, 128)
    assert second[0].crop.any() and second[0].box == first[0].box
    assert len(faces.finder._found) == 1
    faces.forget()
    assert len(faces.finder._found) == 0


def _strict_pass_misses(monkeypatch, lenient_boxes=None):
    """The strict detector (5 neighbours), the HOG detector on its own and the tilted retries find nothing; the
    lenient pass is real or given."""
    real = faces.detect

    def detect(img, min_size=faces.MIN_FACE, neighbors=5, scale_factor=1.1, coarse=False, largest=False):
        if neighbors >= 5:
            return []
        return lenient_boxes if lenient_boxes is not None else real(img, min_size, neighbors, scale_factor)

    monkeypatch.setattr(faces.detector, "detect", detect)
    monkeypatch.setattr(faces.finder, "_find_tilted", lambda img, size: [])
    monkeypatch.setattr(hog, "find", lambda img: [])
    faces.forget()


def test_a_face_the_strict_pass_misses_is_taken_from_the_lenient_pass_when_the_hog_detector_confirms_it(hopper, monkeypatch):
    _strict_pass_misses(monkeypatch)
    (face,) = faces.find_faces(hopper, 64, max_faces=1)
    x, y, w, h = face.box
    assert 100 < x < 250 and 50 < y < 200 and 150 < w < 320 and not face.whole_image
    faces.forget()


def test_where_every_other_pass_misses_the_cnn_detector_looks_and_frames_the_face_as_the_cascade(hopper, monkeypatch):
    """The last pass: the CNN detector over the whole picture, its box mapped to the cascade's framing."""
    pic = np.full((600, 800, 3), 90, np.uint8)  # wider than a crop, the face 90 px at the CNN's CNN_SIDE
    pic[40:560, 150:662] = hopper[:520]
    (cascade,) = faces.detect(pic, coarse=True)[:1]
    _strict_pass_misses(monkeypatch, lenient_boxes=[])
    (face,) = faces.find_faces(pic, 64)
    (x, y, w, h), (cx, cy, cw, _) = face.box, cascade
    assert abs(x + w / 2 - cx - cw / 2) <= 0.1 * cw and abs(y + h / 2 - cy - cw / 2) <= 0.1 * cw
    assert 0.85 <= w / cw <= 1.18 and not face.whole_image
    faces.forget()


def test_a_lenient_box_the_hog_detector_does_not_confirm_is_not_a_face(monkeypatch):
    noise = (np.random.default_rng(0).random((400, 500, 3)) * 255).astype(np.uint8)
    _strict_pass_misses(monkeypatch, lenient_boxes=[(100, 80, 200, 200)])
    with pytest.raises(faces.FaceError, match="No face found"):
        faces.find_faces(noise, 64)
    faces.forget()


def test_framing_is_the_mean_of_the_box_and_the_eyes_when_they_agree(monkeypatch):
    img = np.zeros((400, 400, 3), np.uint8)
    box = (100, 100, 200, 200)
    box_cx, box_cy, box_side = 200, 200 + faces.CROP_DY * 200, faces.CROP_SCALE * 200
    assert faces.framing(img, box, level_eyes=False) == (box_cx, box_cy, box_side, 0.0)
    left, right = np.array([160.0, 170.0]), np.array([240.0, 170.0])  # level eyes 80 px apart
    monkeypatch.setattr(faces.detector, "eye_pair", lambda im, b: (left, right))
    cx, cy, side, angle = faces.framing(img, box)
    d = 80.0
    eyes_cx, eyes_cy = 200 + faces.EYE_DX * d, 170 + faces.EYE_DY * d  # level: along = x, across = y
    assert side == pytest.approx(np.sqrt(box_side * faces.EYE_SCALE * d)) and angle == pytest.approx(0.0)
    assert (cx, cy) == pytest.approx(((box_cx + eyes_cx) / 2, (box_cy + eyes_cy) / 2))
    # Tilted eyes: the eyes' estimate moves across the eye line, and the angle is the line's.
    c, s = np.cos(np.radians(10)), np.sin(np.radians(10))
    left2, right2 = np.array([200 - 40 * c, 170 - 40 * s]), np.array([200 + 40 * c, 170 + 40 * s])
    monkeypatch.setattr(faces.detector, "eye_pair", lambda im, b: (left2, right2))
    cx, cy, side, angle = faces.framing(img, box)
    along, across = np.array([c, s]), np.array([-s, c])
    ex, ey = np.array([200.0, 170.0]) + faces.EYE_DX * d * along + faces.EYE_DY * d * across
    assert angle == pytest.approx(10.0) and (cx, cy) == pytest.approx(((box_cx + ex) / 2, (box_cy + ey) / 2))
    # Eyes far too close for the box (a misfire): the box alone.
    monkeypatch.setattr(faces.detector, "eye_pair", lambda im, b: (np.array([195.0, 170.0]), np.array([225.0, 170.0])))
    assert faces.framing(img, box)[:3] == (box_cx, box_cy, box_side)


def test_a_box_on_part_of_a_face_gives_way_to_the_face_around_it(monkeypatch):
    img = np.zeros((1000, 1000, 3), np.uint8)
    part, face, elsewhere = (700, 650, 60, 60), (630, 590, 200, 200), (100, 100, 50, 50)
    window_origin = np.array([730 - 300, 680 - 300])  # the lenient pass searches 5 part-widths around its centre
    calls = []

    def fake_detect(im, min_size=faces.MIN_FACE, neighbors=5, scale_factor=1.1, coarse=False, largest=False):
        calls.append(neighbors)
        if neighbors == 5:
            return [part, elsewhere]  # strict: the part of the face, and a face elsewhere
        assert im.shape[:2] == (600, 570) and min_size == 120  # the window (cut at the right edge), from 2x the part
        return [(face[0] - window_origin[0], face[1] - window_origin[1], 200, 200)]  # in the window's pixels

    monkeypatch.setattr(faces.detector, "detect", fake_detect)
    monkeypatch.setattr(faces.detector, "eyes", lambda im, b, neighbors=5: [(50, 40, 30, 30)])
    monkeypatch.setattr(faces.detector, "eye_pair", lambda im, b: None)
    found = faces.finder._cascade_faces(img, 64, 8)
    assert [f.box for f in found] == [face, elsewhere] and calls == [5, 3]
    # Without an eye in the larger box it is not trusted: the strict boxes stand.
    monkeypatch.setattr(faces.detector, "eyes", lambda im, b, neighbors=5: [])
    assert [f.box for f in faces.finder._cascade_faces(img, 64, 8)] == [part, elsewhere]
    # A first box of a third of the picture or more is taken as it is, with no lenient pass.
    calls.clear()
    big = (100, 100, 350, 350)
    monkeypatch.setattr(faces.detector, "detect",
                        lambda im, min_size=40, neighbors=5, scale_factor=1.1, coarse=False, largest=False:
                        calls.append(neighbors) or [big])
    assert [f.box for f in faces.finder._cascade_faces(img, 64, 8)] == [big] and calls == [5]


def _faces_at_sizes(hopper) -> np.ndarray:
    """The portrait's face and the app's four SAGAN faces at 50 to 240 px on one grey picture."""
    pic = np.full((700, 1000, 3), 128, np.uint8)
    sagan = sorted(HOPPER.parent.glob("sagan_face_seed*.png"))
    spots = [(40, 40, 240), (320, 60, 150), (560, 80, 100), (760, 100, 70), (880, 400, 50)]
    for (x, y, side), img in zip(spots, [hopper[100:360, 140:400]] + [load_image(p) for p in sagan]):
        pic[y:y + side, x:x + side] = cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)
    return pic


def test_the_coarse_search_finds_the_boxes_of_the_full_search(hopper):
    """detect(coarse=True) looks with half the window sizes, then searches at the sizes near each candidate's: each
    face the full search boxes gets a box of nearly the same place and size."""
    pic = _faces_at_sizes(hopper)
    full, coarse = faces.detect(pic), faces.detect(pic, coarse=True)
    assert len(full) >= 4 and len(coarse) == len(full)
    for x, y, w, h in full:
        nearest = min(coarse, key=lambda b: abs(b[0] + b[2] / 2 - x - w / 2) + abs(b[1] + b[3] / 2 - y - h / 2))
        assert abs(nearest[0] + nearest[2] / 2 - x - w / 2) <= 0.08 * w and abs(nearest[2] / w - 1) <= 0.1


def test_the_coarse_look_leaves_out_a_passer_by_beside_a_face_four_times_wider(hopper):
    """Windows under SMALL_BAND are looked at only when no face BACKGROUND x wider was found: a 43 px face is found
    alone, and beside a 231 px face only by the full search."""
    small = cv2.resize(load_image(sorted(HOPPER.parent.glob("sagan_face_seed*.png"))[1]), (40, 40),
                       interpolation=cv2.INTER_AREA)
    pic = np.full((500, 700, 3), 128, np.uint8)
    pic[400:440, 600:640] = small
    (alone,) = faces.detect(pic, coarse=True)
    assert alone[2] < faces.detector.SMALL_BAND and 590 < alone[0] < 610
    pic[20:280, 20:280] = cv2.resize(hopper[100:360, 140:400], (260, 260), interpolation=cv2.INTER_AREA)
    (big,) = faces.detect(pic, coarse=True)
    assert big[2] >= faces.detector.BACKGROUND * faces.detector.SMALL_BAND
    assert any(abs(b[0] - alone[0]) <= 4 for b in faces.detect(pic))  # the full search still finds both


def test_finding_faces_from_several_threads_at_once_gives_what_one_thread_gives(hopper):
    """Each request thread has its own cascades and dlib detectors: none is shared between threads."""
    from concurrent.futures import ThreadPoolExecutor

    import skimage.data

    pictures = [hopper, skimage.data.astronaut(), dict(non_faces())["cat"], np.ascontiguousarray(hopper[:, ::-1])]

    def boxes(img):
        try:
            return [f.box for f in faces.finder._find_faces(img, 64, False, 8)]  # the cache bypassed
        except faces.FaceError:
            return None

    alone = [boxes(p) for p in pictures]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(boxes, pictures * 3))
    assert together == alone * 3 and alone[2] is None and all(alone[i] for i in (0, 1, 3))


def test_a_pool_never_lends_one_detector_to_two_threads_and_keeps_them_for_the_next():
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from gan_viz.faces.pool import Pool

    pool = Pool(object)
    in_use, lock, clashes = set(), threading.Lock(), []

    def work(_):
        with pool.lend() as obj:
            with lock:
                clashes.append(id(obj) in in_use)
                in_use.add(id(obj))
            time.sleep(0.01)
            with lock:
                in_use.discard(id(obj))

    with ThreadPoolExecutor(6) as ex:
        list(ex.map(work, range(60)))
    assert not any(clashes) and 1 <= pool.built <= 6
    with pool.lend() as a, pool.lend() as b:
        assert a is not b
    built = pool.built
    for _ in range(5):
        with pool.lend():
            pass
    assert pool.built == built  # kept for the next request, never rebuilt


def test_warm_builds_every_detector_once():
    from gan_viz.faces import detector, mmod

    faces.warm()
    pools = [*detector.CASCADES.values(), hog.DETECTORS, mmod.NETWORKS]
    before = [p.built for p in pools]
    assert all(n >= 1 for n in before)
    faces.warm()
    faces.forget()
    faces.find_faces(load_image(str(HOPPER)), 256)
    assert [p.built for p in pools] == before  # one thread: what warm built is reused


def _whole_photo_blend(photo, face, delta, keep, mask, change_map):
    """add_to_photo's definition, every map drawn over the whole photo (as it was computed before landing_region)."""
    h, w = photo.shape[:2]
    inv = cv2.invertAffineTransform(face.matrix * (delta.shape[0] / face.crop.shape[0]))
    change = cv2.warpAffine(delta, inv, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    low = cv2.GaussianBlur(photo, (0, 0), sigmaX=max(0.5, 0.5 * float(np.hypot(*inv[0, :2]))))
    drop = 1.0 - cv2.warpAffine(keep, inv, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    change = change - np.clip(drop, 0.0, 1.0)[..., None] * (photo - low)
    return photo + change * faces.face_alpha(face, (h, w), mask=mask, change=change_map)[..., None]


@pytest.mark.parametrize("scale, size, mask", [(1.0, 128, "ellipse"), (1.0, 96, "change"), (3.0, 256, "square")])
def test_a_change_blended_where_the_crop_lands_is_the_whole_photo_blend(hopper, scale, size, mask):
    """Only the part of the photo under the crop's square is computed; the rest is the photo, to the bit, and the part
    is the whole-photo blend to within OpenCV's fixed-point sampling (1/32 px: a grey level or two at a few pixels)."""
    photo = cv2.resize(hopper, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    face = faces.find_faces(photo.astype(np.uint8), size)[0]
    yy, xx = np.mgrid[0:size, 0:size] / size
    delta = (40 * np.stack([np.sin(6 * xx), np.cos(5 * yy), xx * yy], -1)).astype(np.float32)  # smooth, as G's
    keep = np.clip(1.5 - 2 * xx, 0, 1).astype(np.float32)
    change_map = (0.1 * yy).astype(np.float32)
    got = faces.add_to_photo(photo, face, delta, keep, mask, change_map)
    want = _whole_photo_blend(photo, face, delta, keep, mask, change_map)
    x0, y0, x1, y1 = faces.blend.landing_region(face, photo.shape)
    outside = np.ones(photo.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert outside.any() and np.array_equal(got[outside], photo[outside]) and np.array_equal(want[outside], photo[outside])
    diff = np.abs(got - want)
    assert diff.max() < 3 and (diff > 0.5).mean() < 1e-3
    assert np.abs(want - photo).max() > 20  # the change is there to be compared


class _CountingCascade:
    """A cascade that records the (minSize, maxSize) of every search it runs."""

    def __init__(self, cascade, log: list):
        self.cascade, self.log = cascade, log

    def detectMultiScale(self, *args, **kwargs):  # noqa: N802 - OpenCV's name
        self.log.append((kwargs.get("scaleFactor"), kwargs.get("minSize"), kwargs.get("maxSize")))
        return self.cascade.detectMultiScale(*args, **kwargs)


@pytest.fixture
def searches(monkeypatch):
    """The strict cascade's searches, recorded (a fresh pool of counting cascades for the test)."""
    from gan_viz.faces import detector
    from gan_viz.faces.pool import Pool

    name = "haarcascade_frontalface_default.xml"
    log: list = []
    monkeypatch.setitem(detector.CASCADES, name, Pool(lambda: _CountingCascade(detector._load(name), log)))
    return log


def _pictures(hopper) -> list[np.ndarray]:
    import skimage.data

    grid = np.concatenate([np.concatenate([hopper[::2, ::2]] * 3, 1)] * 2, 0)  # six faces of one size
    return [hopper, _faces_at_sizes(hopper), cv2.resize(hopper, None, fx=0.6, fy=0.6),
            cv2.resize(hopper, None, fx=0.7, fy=0.7), grid,  # 0.7x: a 161 px face, too small to skip the small band
            skimage.data.astronaut(), dict(non_faces())["cat"], np.full((300, 400, 3), 90, np.uint8)]


def test_the_largest_face_alone_is_the_first_box_of_the_whole_search_for_less(hopper, searches):
    """largest=True stops at the largest range holding a face (before the small band when that cannot change it):
    its first box is the whole search's, and the portrait at 0.6x (a 136 px face) is found without the small band."""
    from gan_viz.faces import detector

    for pic in _pictures(hopper):
        assert faces.detect(pic, coarse=True, largest=True)[:1] == faces.detect(pic, coarse=True)[:1]
    smaller = cv2.resize(hopper, None, fx=0.6, fy=0.6)
    searches.clear()
    faces.detect(smaller, coarse=True)
    whole = list(searches)
    searches.clear()
    faces.detect(smaller, coarse=True, largest=True)
    small_band = [s for s in whole if s[2] == (detector.SMALL_BAND,) * 2]  # the look below SMALL_BAND
    assert small_band and not [s for s in searches if s in small_band] and len(searches) < len(whole)


def test_a_size_range_is_searched_once_per_picture(hopper, searches):
    """The first search of the ranges (to see whether a face is large enough to skip the small band) and the last
    share ranges (the portrait at 0.7x: a 160 px candidate, a 161 px face): each is searched once, and the boxes are
    those of searching each again."""
    for pic in _pictures(hopper):
        searches.clear()
        faces.detect(pic, coarse=True)
        fine = [s for s in searches if s[0] != faces.detector.COARSE]
        assert len(fine) == len(set(fine)), fine
    from gan_viz.faces import detector

    pic = cv2.resize(hopper, None, fx=0.6, fy=0.6)
    gray = cv2.copyMakeBorder(cv2.cvtColor(pic, cv2.COLOR_RGB2GRAY), *(detector.PAD,) * 4, cv2.BORDER_REPLICATE)
    with detector.CASCADES["haarcascade_frontalface_default.xml"].lend() as cascade:
        ranges = detector._ranges(detector._look(cascade, gray, 30, None), 30)
        once = detector._refine(cascade, gray, ranges, 5, 1.1, {})
        memo: dict = {}
        detector._refine(cascade, gray, ranges[-1:], 5, 1.1, memo)
        assert detector._refine(cascade, gray, ranges, 5, 1.1, memo) == once and once
