"""LBAM: the learnable activations against their formulas, shapes and maps, masks by bucket, one training step."""
import numpy as np
import torch

from gan_viz.models.lbam import masks
from gan_viz.models.lbam.network import GaussianActivation, LBAMConfig, LBAMGenerator, MaskUpdate
from gan_viz.models.lbam.train import PatchDiscriminator, train_step

TINY = LBAMConfig(image_size=32, channels=[4, 8, 8, 8])


def test_gaussian_activation_is_the_asymmetric_formula():
    g = GaussianActivation(a=1.5, mu=2.0, gamma_l=0.5, gamma_r=2.0)
    x = torch.tensor([0.0, 1.0, 2.0, 3.0])
    left = 1.5 * torch.exp(-0.5 * (x - 2) ** 2)
    right = 1 + 0.5 * torch.exp(-2.0 * (x - 2) ** 2)
    assert torch.allclose(g(x), torch.where(x < 2, left, right))
    assert abs(float(g(torch.tensor(2.0))) - 1.5) < 1e-6  # the peak a at mu


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
    a0 = float(g.enc_att[0].g_A.a)
    losses = train_step(g, d, opt_g, opt_d, torch.rand(2, 3, 32, 32) * 2 - 1, mask, 0.01)
    assert all(np.isfinite(list(losses.values())))
    assert float(g.enc_att[0].g_A.a) != a0  # the activation's parameters are learned
