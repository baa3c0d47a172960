"""LBAM: the learnable activations against their formulas, shapes and maps, masks by bucket, one training step."""
import numpy as np
import pytest
import torch

from gan_viz import image_quality
from gan_viz.models.lbam import masks
from gan_viz.models.lbam.network import (
    GaussianActivation,
    LBAMConfig,
    LBAMGenerator,
    MaskUpdate,
)
from gan_viz.models.lbam.train import PatchDiscriminator, lr_factor, train_step
from gan_viz.models.lbam.visualize import Inpainter, mask_from_image, reconcile_mask

TINY = LBAMConfig(image_size=32, channels=[4, 8, 8, 8])


def test_gaussian_activation_is_the_asymmetric_formula():
    g = GaussianActivation(a=1.5, mu=2.0, gamma_l=0.5, gamma_r=2.0)
    x = torch.tensor([0.0, 1.0, 2.0, 3.0])
    left = 1.5 * torch.exp(-0.5 * (x - 2) ** 2)
    right = 1 + 0.5 * torch.exp(-2.0 * (x - 2) ** 2)
    assert torch.allclose(g(x), torch.where(x < 2, left, right))
    assert abs(g(torch.tensor(2.0)).item() - 1.5) < 1e-6  # the peak a at mu


def test_mask_update_is_relu_power_alpha():
    m = MaskUpdate(alpha=0.7)
    x = torch.tensor([-1.0, 0.25, 4.0])
    assert torch.allclose(m(x), torch.tensor([0.0, 0.25 ** 0.7, 4.0 ** 0.7]), atol=1e-4)


def test_generator_shapes_and_attention_maps():
    torch.manual_seed(0)
    g = LBAMGenerator(TINY).eval()
    img, mask = torch.rand(2, 3, 32, 32) * 2 - 1, torch.ones(2, 1, 32, 32)
    mask[:, :, 8:20, 8:20] = 0
    out, maps = g(img * mask, mask, return_maps=True)
    assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1
    assert [a.shape[-1] for a in maps["forward"]] == [16, 8, 4, 2]
    assert [a.shape[-1] for a in maps["reverse"]] == [16, 8, 4]
    assert torch.equal(out, g(img * mask, mask))


def test_free_form_masks_land_in_their_bucket():
    rng = np.random.default_rng(0)
    for low, high in masks.BUCKETS:
        m = masks.free_form(64, rng, low, high)
        assert m.dtype == np.uint8 and low <= m.mean() < high
    assert abs(masks.centre_box(64, 0.25).mean() - 0.25) < 0.01


def test_one_training_step():
    torch.manual_seed(0)
    g, d = LBAMGenerator(TINY), PatchDiscriminator(width=4)
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
    mask = torch.ones(2, 1, 32, 32)
    mask[:, :, :16] = 0
    a0 = g.enc_att[0].g_A.a.item()
    losses = train_step(g, d, opt_g, opt_d, torch.rand(2, 3, 32, 32) * 2 - 1, mask, 0.01)
    assert all(np.isfinite(list(losses.values())))
    assert g.enc_att[0].g_A.a.item() != a0  # the activation's parameters are learned


# ---------------------------------------------------------------- the inference surface (tiny random net)




@pytest.fixture(scope="module")
def inpainter():
    torch.manual_seed(0)
    return Inpainter(LBAMGenerator(TINY), torch.device("cpu"))


@pytest.mark.parametrize("shape", [(32, 32), (70, 50)])
def test_composite_equals_the_input_outside_the_hole(inpainter, shape):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    hole = np.zeros(shape, bool)
    hole[5:20, 10:30] = True
    res = inpainter.inpaint(img, hole, with_maps=True)
    assert res.composite.shape == img.shape and res.raw.shape == img.shape
    assert np.array_equal(res.composite[~hole], img[~hole])
    assert np.array_equal(res.composite[hole], res.raw[hole])
    assert res.hole_ratio == pytest.approx(hole.mean())
    assert len(res.forward_maps) == len(TINY.channels) and len(res.reverse_maps) == len(TINY.channels) - 1


def test_pixels_under_the_hole_do_not_matter(inpainter):
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    hole = np.zeros((32, 32), bool)
    hole[8:24, 8:24] = True
    black = img.copy()
    black[hole] = 0
    assert np.array_equal(inpainter.inpaint(img, hole).composite, inpainter.inpaint(black, hole).composite)


def test_empty_mask_returns_the_input_and_a_full_mask_is_refused(inpainter):
    img = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    res = inpainter.inpaint(img, np.zeros((32, 32), bool))
    assert np.array_equal(res.composite, img) and res.hole_ratio == 0
    with pytest.raises(ValueError, match="covers 100%"):
        inpainter.inpaint(img, np.ones((32, 32), bool))


def test_masks_of_another_size_are_reconciled_or_refused():
    m = np.zeros((16, 16), bool)
    m[:8] = True
    big = reconcile_mask(m, (64, 64))
    assert big.shape == (64, 64) and big[:32].all() and not big[32:].any()
    with pytest.raises(ValueError, match="different shape"):
        reconcile_mask(m, (64, 32))
    pic = np.zeros((4, 4, 3), np.uint8)
    pic[0, 0] = 255
    assert mask_from_image(pic).sum() == 1 and mask_from_image(pic)[0, 0]


def test_activation_report_and_curves_are_the_modules_own(inpainter):
    rows = inpainter.activations()
    assert len(rows) == 2 * len(TINY.channels) - 1
    first = inpainter.model.enc_att[0]
    assert rows[0]["a"] == pytest.approx(max(1.01, first.g_A.a.item()))
    xs = np.linspace(-1, 4, 11)
    kind, name, ga, gm = inpainter.activation_curves(xs)[0]
    p = rows[0]
    want = np.where(xs < p["mu"], p["a"] * np.exp(-p["gamma_l"] * (xs - p["mu"]) ** 2),
                    1 + (p["a"] - 1) * np.exp(-p["gamma_r"] * (xs - p["mu"]) ** 2))
    assert kind == "forward" and np.allclose(ga, want, atol=1e-5)
    assert np.allclose(gm, np.maximum(xs, 0) ** p["alpha"], atol=1e-3)


def test_face_part_masks_and_dilation():
    eyes, mouth = masks.face_part(128, "eyes"), masks.face_part(128, "mouth")
    assert np.nonzero(eyes)[0].mean() < np.nonzero(mouth)[0].mean()  # eyes above the mouth
    ys, xs = np.nonzero(eyes)
    assert xs.min() < 40 and xs.max() > 88  # both eyes
    grown = masks.dilate(mouth, 3)
    assert grown.sum() > mouth.sum() and (grown >= mouth).all()
    assert np.array_equal(masks.dilate(mouth, 0), mouth)


def test_psnr_ssim_and_classical_inpainting_follow_their_definitions():
    rng = np.random.default_rng(4)
    a = rng.integers(20, 236, (32, 32, 3), dtype=np.uint8)
    b = a.copy()
    b[..., 0] += 10  # MSE = 100 / 3
    assert image_quality.psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2 / (100 / 3)), abs=1e-6)
    assert image_quality.psnr(a, a) == float("inf") and image_quality.ssim(a, a) == pytest.approx(1.0)
    assert image_quality.ssim(a, b) < 1
    hole = np.zeros((32, 32), bool)
    hole[10:20, 10:20] = True
    c = a.copy()
    c[hole] = 255  # what is under the hole must not leak into the classical fill either
    assert np.array_equal(image_quality.classical_inpaint(a, hole, "ns"), image_quality.classical_inpaint(c, hole, "ns"))


def test_learning_rate_is_constant_then_falls_linearly_to_zero():
    assert lr_factor(500, 1000, 0) == 1.0
    assert lr_factor(0, 1000, 400) == 1.0 and lr_factor(600, 1000, 400) == 1.0
    assert lr_factor(800, 1000, 400) == 0.5 and lr_factor(1000, 1000, 400) == 0.0


def test_mirror_averaging_is_the_mean_of_both_fills():
    torch.manual_seed(1)
    g = LBAMGenerator(TINY)
    for m in g.modules():  # untrained BN statistics make the fill a constant; give them some spread
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.01), m.running_var.uniform_(1e-4, 1e-3)
    inpainter = Inpainter(g, torch.device("cpu"))
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    hole = np.zeros((32, 32), bool)
    hole[4:14, 3:20] = True
    both = inpainter.inpaint(img, hole).raw.astype(float)
    one = inpainter.inpaint(img, hole, mirror=False).raw.astype(float)
    other = inpainter.inpaint(img[:, ::-1].copy(), hole[:, ::-1].copy(), mirror=False).raw[:, ::-1].astype(float)
    assert np.abs(both - (one + other) / 2).max() <= 1.0  # uint8 rounding of each side
    assert not np.array_equal(one, other)  # the two fills do differ, so averaging matters


def test_gram_is_the_feature_correlation_formula():
    from gan_viz.models.lbam.feature_loss import gram

    f = torch.randn(2, 3, 4, 5)
    expected = torch.stack([torch.stack([torch.stack([(f[b, i] * f[b, j]).sum() for j in range(3)]) for i in range(3)])
                            for b in range(2)]) / (3 * 4 * 5)
    assert torch.allclose(gram(f), expected, atol=1e-6)


def test_feature_loss_is_zero_on_the_truth_and_trains_the_generator_not_the_features():
    from gan_viz.models.cam_classifier.network import CAMClassifier, CAMClassifierConfig
    from gan_viz.models.lbam.feature_loss import FeatureLoss

    torch.manual_seed(0)
    net = CAMClassifier(CAMClassifierConfig(image_size=32, width=4))
    fl = FeatureLoss(net, size=32)
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    p, s = fl(real, real, real)
    assert p.item() == 0 and s.item() == 0
    g, d = LBAMGenerator(TINY), PatchDiscriminator(width=4)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    opt_g, opt_d = torch.optim.Adam(g.parameters()), torch.optim.Adam(d.parameters())
    mask = torch.ones(2, 1, 32, 32)
    mask[:, :, 8:20, 8:20] = 0
    losses = train_step(g, d, opt_g, opt_d, real, mask, 0.01, fl.train(), 0.05, 120.0)
    assert losses["loss_perceptual"] > 0 and losses["loss_style"] > 0
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # frozen, batch norms included
