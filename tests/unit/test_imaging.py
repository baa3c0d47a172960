"""Every kind of uploaded image becomes uint8 RGB or a clear message (gan_viz/imaging.py)."""
import io

import numpy as np
import pytest
from PIL import Image

from gan_viz import imaging
from gan_viz.imaging import ImageError, load_image


def _save(tmp_path, im: Image.Image, name: str, **kw) -> str:
    p = tmp_path / name
    im.save(p, **kw)
    return str(p)


def test_rgba_is_composited_on_white(tmp_path):
    im = Image.new("RGBA", (40, 40), (255, 0, 0, 0))  # fully transparent red
    out = load_image(_save(tmp_path, im, "a.png"))
    assert out.shape == (40, 40, 3) and out.dtype == np.uint8
    assert (out == 255).all()


def test_grayscale_and_palette_become_rgb(tmp_path):
    g = load_image(_save(tmp_path, Image.new("L", (40, 50), 77), "g.png"))
    assert g.shape == (50, 40, 3) and (g == 77).all()
    p = Image.new("RGB", (40, 40), (10, 200, 30)).convert("P", palette=Image.Palette.ADAPTIVE)
    assert tuple(load_image(_save(tmp_path, p, "p.png"))[0, 0]) == (10, 200, 30)


def test_16_bit_is_scaled_to_8_bit(tmp_path):
    a = np.full((40, 40), 65535, np.uint16)
    a[0, 0] = 0
    out = load_image(_save(tmp_path, Image.fromarray(a), "x16.png"))
    assert out[1, 1, 0] == 255 and out[0, 0, 0] == 0
    arr = load_image(np.full((40, 40, 3), 32768, np.uint16))
    assert arr[0, 0, 0] == 128


def test_exif_rotation_is_applied(tmp_path):
    im = Image.new("RGB", (60, 40), (0, 0, 0))
    im.paste((255, 255, 255), (0, 0, 30, 40))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    out = load_image(_save(tmp_path, im, "r.jpg", exif=exif.tobytes(), quality=95))
    assert out.shape == (60, 40, 3)  # portrait once rotated
    assert out[5, 20].mean() > 200 and out[55, 20].mean() < 50  # the white half is now on top


def test_tiny_image_is_refused_with_its_size(tmp_path):
    with pytest.raises(ImageError, match=r"20x10 px.*at least 32x32"):
        load_image(_save(tmp_path, Image.new("RGB", (20, 10)), "t.png"))


def test_huge_image_is_downscaled(tmp_path):
    p = _save(tmp_path, Image.new("L", (12000, 12000), 128), "huge.png")
    out = load_image(p)
    assert max(out.shape[:2]) == imaging.MAX_SIDE and out.shape[2] == 3


@pytest.mark.parametrize("size, want", [((4032, 3024), (1512, 2016)), ((4096, 3072), (1536, 2048)),
                                        ((3000, 2000), (1365, 2048)), ((2000, 8064), (2016, 500))])
def test_a_large_jpeg_is_decoded_at_a_reduced_scale_where_that_comes_near_enough(tmp_path, size, want):
    """A phone photo (4032x3024) comes out at half scale, 2016 px, by the JPEG decoder's own scaling; where no scale
    of 1/2, 1/4, 1/8 lands within DRAFT_SLACK of MAX_SIDE, the image is resized to MAX_SIDE as a PNG is."""
    yy, xx = np.mgrid[0:size[1], 0:size[0]]
    pixels = np.stack([xx * 255 // size[0], yy * 255 // size[1], (xx + yy) % 256], -1).astype(np.uint8)
    p = _save(tmp_path, Image.fromarray(pixels), "photo.jpg")
    out = load_image(p)
    assert out.shape == (*want, 3)
    assert imaging.DRAFT_SLACK * imaging.MAX_SIDE <= max(out.shape[:2]) <= imaging.MAX_SIDE
    resized = np.asarray(Image.fromarray(pixels).resize(want[::-1], Image.Resampling.BOX), np.float32)
    assert np.abs(out[..., :2] - resized[..., :2]).mean() < 3  # the picture itself, at that size (smooth channels)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 2x this is a bomb
    with pytest.raises(ImageError, match="too large"):
        load_image(_save(tmp_path, Image.new("L", (100, 100)), "b.png"))


def test_non_image_file_is_refused(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("this is not a picture")
    with pytest.raises(ImageError, match="could not be read as an image"):
        load_image(str(p))
    with pytest.raises(ImageError, match="No image"):
        load_image(None)
    with pytest.raises(ImageError, match="could not be read"):
        load_image(b"\x00\x01garbage")


def test_float_and_bool_arrays():
    assert load_image(np.ones((40, 40, 3), np.float32))[0, 0, 0] == 255
    assert load_image(np.ones((40, 40), bool))[0, 0, 0] == 255
    with pytest.raises(ImageError, match="shape"):
        load_image(np.zeros((40, 40, 5), np.uint8))


def test_overlay_and_colorbar():
    img = np.zeros((64, 64, 3), np.uint8)
    heat = np.zeros((16, 16), np.float32)
    heat[0, 0] = 1.0
    out = imaging.overlay(img, heat, alpha=1.0, cmap="viridis")
    assert out.shape == (64, 64, 3)
    assert out[0, 0].tolist() != out[63, 63].tolist()  # hot corner differs from cold corner
    assert out[63, 63].tolist() == imaging.colorize(np.zeros((1, 1)), "viridis")[0, 0].tolist()
    bar = imaging.colorbar("cividis", 0, 1, "label")
    assert bar.ndim == 3 and bar.shape[2] == 3 and bar.std() > 0
    with pytest.raises(ImageError, match="unknown colormap"):
        imaging.colorize(heat, "jet")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_colorize_gives_matplotlibs_colours_from_its_table(dtype):
    import matplotlib

    heat = np.random.default_rng(0).random((40, 40))
    heat[0, :6] = [0.0, 1.0, 0.5, 1 - 1e-9, 255 / 256, 1 / 256]  # the table's edges
    heat[1, :3] = [np.nan, -3.0, 7.0]  # matplotlib's colour for NaN; below 0 and above 1 clipped
    heat = heat.astype(dtype)
    for cmap in imaging.COLORMAPS:
        want = (matplotlib.colormaps[cmap](np.clip(heat, 0.0, 1.0))[..., :3] * 255).round().astype(np.uint8)
        got = imaging.colorize(heat, cmap)
        assert got.dtype == np.uint8 and got.shape == (40, 40, 3)
        assert np.array_equal(got, want), cmap


def test_png_bytes_are_lossless_at_any_level_and_the_level_is_used():
    x = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    x[:24] = 90  # flat rows, so the zlib level changes the bytes
    fast, small = imaging.to_png_bytes(x, 1), imaging.to_png_bytes(x, 6)
    fpng_made = imaging.to_png_bytes(x, imaging.FAST_PNG)
    for data in (fast, small, imaging.to_png_bytes(x), fpng_made):  # the default level too
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), x)
    assert len({fast, small, fpng_made}) == 3  # fpng's encoder, not zlib's at level 1, made the fast one


def test_fast_png_takes_rgb_and_rgba_and_hands_the_rest_to_pil(monkeypatch):
    import sys

    rng = np.random.default_rng(1)
    for shape in ((1, 1, 3), (7, 9, 4), (33, 17, 3)):
        x = rng.integers(0, 256, shape, dtype=np.uint8)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(imaging.to_png_bytes(x, imaging.FAST_PNG)))), x)
        strided = x[:, ::2]  # a view whose rows are not contiguous
        got = imaging.to_png_bytes(strided, imaging.FAST_PNG)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(got))), strided)
    grey = rng.integers(0, 256, (12, 10), dtype=np.uint8)  # fpng takes 3 or 4 channels only: PIL at level 1
    assert imaging.to_png_bytes(grey, imaging.FAST_PNG) == imaging.to_png_bytes(grey, 1)
    x = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    monkeypatch.setitem(sys.modules, "fpng", None)  # not installed: zlib level 1, the same pixels
    assert imaging.to_png_bytes(x, imaging.FAST_PNG) == imaging.to_png_bytes(x, 1)


def test_the_fast_paths_give_what_numpy_and_pil_gave():
    """overlay, upsample_map and upscale_nearest run in OpenCV for speed; each against its plain definition."""
    from PIL import Image

    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    for shape, size in (((32, 32), (256, 256)), ((7, 5), (40, 60)), ((64, 64), (32, 16))):  # enlarging, and shrinking
        heat = rng.random(shape, dtype=np.float32)
        pil = np.asarray(Image.fromarray(heat, mode="F").resize(size, Image.Resampling.BILINEAR))
        np.testing.assert_allclose(imaging.upsample_map(heat, size), pil, atol=1e-5)
    heat = rng.random((32, 32), dtype=np.float32)
    colored = imaging.colorize(imaging.upsample_map(heat, (256, 256)), "magma").astype(np.float32)
    plain = (0.4 * img.astype(np.float32) + 0.6 * colored).round().clip(0, 255)
    assert np.abs(imaging.overlay(img, heat, 0.6, "magma").astype(np.float32) - plain).max() <= 1  # rounding only
    small = img[:64:2, :48:2]  # not contiguous
    assert (imaging.upscale_nearest(small, 4) == np.repeat(np.repeat(small, 4, axis=0), 4, axis=1)).all()


def test_the_png_level_setting_reads_fast_or_a_zlib_level(monkeypatch):
    from gan_viz.ui.env import png_level_env

    for raw, want in ((None, imaging.FAST_PNG), ("fast", imaging.FAST_PNG), (" FAST ", imaging.FAST_PNG), ("1", 1),
                      ("6", 6), ("12", 9), ("-3", 0), ("zip", imaging.FAST_PNG)):
        if raw is None:
            monkeypatch.delenv("GAN_VIZ_TEST_PNG", raising=False)
        else:
            monkeypatch.setenv("GAN_VIZ_TEST_PNG", raw)
        assert png_level_env("GAN_VIZ_TEST_PNG") == want, raw
