"""CycleGAN nets: shapes, determinism, save -> load round trip, the LR schedule, one training step on tiny tensors."""
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from gan_viz import faces
from gan_viz.imaging import load_image
from gan_viz.models.cyclegan.network import CycleGAN, CycleGANConfig
from gan_viz.models.cyclegan.train import (
    ImagePool,
    init_generators,
    lr_factor,
    train_step,
)
from gan_viz.models.cyclegan.visualize import MAX_FACES, GenderFlipper, patch_realness

TINY = CycleGANConfig(image_size=32, ngf=4, ndf=4, n_blocks=1)


def test_shapes_and_determinism():
    torch.manual_seed(0)
    m = CycleGAN(TINY).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = m.generator("male_to_female")(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert torch.equal(y, m.male_to_female(x))
    assert m.target_discriminator("male_to_female")(y).shape[:2] == (2, 1)  # a map of patch scores
    assert m.generator("female_to_male")(torch.rand(1, 3, 48, 48)).shape == (1, 3, 48, 48)  # any size


def test_save_load_round_trip(tmp_path):
    m = CycleGAN(TINY).eval()
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, tmp_path / "m.safetensors")
    m2 = CycleGAN(TINY).eval()
    m2.load_state_dict(load_file(tmp_path / "m.safetensors"))
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(m.female_to_male(x), m2.female_to_male(x))


def test_lr_decays_linearly_in_the_second_half():
    assert lr_factor(0, 100) == 1.0 and lr_factor(49, 100) == 1.0
    assert abs(lr_factor(75, 100) - 0.5) < 1e-9 and lr_factor(100, 100) == 0.0


def test_lr_decays_over_the_last_decay_steps_when_given():
    assert lr_factor(59, 100, 40) == 1.0 and lr_factor(60, 100, 40) == 1.0
    assert abs(lr_factor(80, 100, 40) - 0.5) < 1e-9 and lr_factor(100, 100, 40) == 0.0
    assert lr_factor(99, 100, 0) == 1.0  # no decay at all


def test_init_generators_copies_g_and_f_and_leaves_new_discriminators(tmp_path):
    torch.manual_seed(0)
    stage = CycleGAN(TINY)  # the earlier stage: 3-layer discriminators
    save_file({k: v.to(torch.float16).contiguous() for k, v in stage.state_dict().items()},
              tmp_path / "model.safetensors")  # exports may be stored float16
    m = CycleGAN(CycleGANConfig(image_size=48, ngf=4, ndf=4, n_blocks=1, d_layers=4))
    d0 = {k: v.clone() for k, v in m.D_female.state_dict().items()}
    init_generators(m, str(tmp_path))
    for name in ("male_to_female", "female_to_male"):
        for k, v in getattr(stage, name).state_dict().items():
            assert torch.allclose(getattr(m, name).state_dict()[k], v.half().float())
    assert all(torch.equal(d0[k], v) for k, v in m.D_female.state_dict().items())


def test_identity_weight_scales_the_identity_loss():
    torch.manual_seed(0)
    m = CycleGAN(TINY)
    xm, xf = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    frozen = torch.optim.SGD(m.parameters(), lr=0.0)  # a step that changes nothing, so both calls see the same nets
    losses = [train_step(m, frozen, frozen, xm, xf, {"male": ImagePool(), "female": ImagePool()},
                         lambda_identity=w)["loss_identity"] for w in (0.5, 0.1)]
    assert abs(losses[0] / losses[1] - 5.0) < 1e-4  # the same L1 distance, weighted 5 and 1


def test_pool_returns_a_batch_of_the_same_shape():
    pool = ImagePool(2)
    for _ in range(5):
        out = pool.query(torch.rand(3, 3, 8, 8))
        assert out.shape == (3, 3, 8, 8)
    assert len(pool.images) == 2


def test_one_training_step_updates_generators_and_discriminators():
    torch.manual_seed(0)
    m = CycleGAN(TINY)
    opt_g = torch.optim.Adam(list(m.male_to_female.parameters()) + list(m.female_to_male.parameters()), 2e-4)
    opt_d = torch.optim.Adam(list(m.D_female.parameters()) + list(m.D_male.parameters()), 2e-4)
    g0 = m.male_to_female.model[1].weight.clone()
    d0 = m.D_male.model[0].weight.clone()
    losses = train_step(m, opt_g, opt_d, torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1,
                        {"male": ImagePool(), "female": ImagePool()})
    assert set(losses) == {"loss_gan", "loss_cycle", "loss_identity", "loss_d"}
    assert not torch.equal(g0, m.male_to_female.model[1].weight) and not torch.equal(d0, m.D_male.model[0].weight)


# ---------------------------------------------------------------- the inference surface (tiny random nets)



HOPPER = load_image(str(Path(__file__).resolve().parents[2] / "assets" / "grace_hopper.jpg"))


@pytest.fixture(scope="module")
def flipper():
    torch.manual_seed(0)
    return GenderFlipper(CycleGAN(TINY), torch.device("cpu"))


def _t(img):
    return torch.from_numpy(img).permute(2, 0, 1).float().div(127.5).sub(1)[None]


def test_cycle_runs_g_then_f_and_identity_uses_the_other_generator(flipper):
    crop = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    c = flipper.translate(crop, "male_to_female")
    m = flipper.model
    with torch.no_grad():
        fake = m.male_to_female(_t(crop))
        rec, idt = m.female_to_male(fake), m.female_to_male(_t(crop))
    assert np.abs(c.fake.astype(int) - ((fake[0].permute(1, 2, 0) + 1) * 127.5).round().numpy()).max() <= 1
    assert c.cycle_l1 == pytest.approx(float((_t(crop) - rec).abs().mean() / 2), rel=1e-5)
    assert c.identity_l1 == pytest.approx(float((_t(crop) - idt).abs().mean() / 2), rel=1e-5)
    assert c.cycle_error.shape == (32, 32) and c.cycle_error.mean() == pytest.approx(c.cycle_l1, rel=1e-5)
    assert c.patch_map.shape == m.D_female(fake)[0, 0].shape
    r = patch_realness(c.patch_map, 64)
    assert r.shape == (64, 64) and 0 <= r.min() and r.max() <= 1
    with pytest.raises(ValueError, match="direction"):
        flipper.translate(crop, "cat_to_dog")


def test_photo_keeps_every_pixel_outside_the_face_and_its_size(flipper):
    ph = flipper.flip_photo(HOPPER, "male_to_female")
    assert ph.result.shape == HOPPER.shape and len(ph.faces) == 1
    fc = ph.faces[0].face
    x, y, w, h = fc.box
    changed = np.abs(ph.result.astype(int) - HOPPER).max(2) > 0
    inside = faces.face_alpha(fc, HOPPER.shape[:2], mask=ph.mask, change=ph.faces[0].cycle.change) > 0
    assert changed.any() and not (changed & ~inside).any()  # nothing outside the blended face region moved
    ys, xs = np.nonzero(inside)
    assert xs.min() >= x - w and xs.max() <= x + 2 * w and ys.max() <= y + 2 * h  # the crop around the face, no more
    ellipse = faces.face_alpha(fc, HOPPER.shape[:2], mask="ellipse")
    assert (ellipse > 0).sum() < inside.sum()  # the "change" mask reaches past the ellipse where G changed the crop


def test_blend_masks_and_strength():
    a = faces.crop_alpha(64, mask="square")
    assert a[32, 32] == 1 and a[0, 0] < 0.2 and a.min() >= 0
    change = np.zeros((32, 32), np.float32)
    change[:, :4] = 0.2  # G changed a strip at the left edge (outside the ellipse), nothing else
    c = faces.crop_alpha(64, mask="change", change=change)
    e = faces.crop_alpha(64, mask="ellipse")
    assert (c >= e - 1e-6).all() and c[32, 6] > e[32, 6] + 0.5 and abs(c[5, 60] - e[5, 60]) < 1e-6
    with pytest.raises(ValueError, match="mask must be one of"):
        faces.crop_alpha(64, mask="star")


def test_auto_direction_follows_the_classifier_and_refuses_without_it(flipper):
    assert flipper.flip_photo(HOPPER, "auto", p_female=lambda c: 0.9).faces[0].cycle.direction == "female_to_male"
    ph = flipper.flip_photo(HOPPER, "auto", p_female=lambda c: 0.2)
    assert ph.faces[0].cycle.direction == "male_to_female" and ph.faces[0].p_female == 0.2
    with pytest.raises(ValueError, match="classifier"):
        flipper.flip_photo(HOPPER, "auto")
    with pytest.raises(ValueError, match="pick a face from 1 to 1"):
        flipper.flip_photo(HOPPER, "male_to_female", face_index=3)


def test_many_faces_are_each_flipped_up_to_the_limit(flipper):
    small = HOPPER[::2, ::2]
    grid = np.concatenate([np.concatenate([small] * 3, 1)] * 3, 0)  # nine faces
    ph = flipper.flip_photo(grid, "female_to_male")
    assert len(ph.faces) == MAX_FACES and ph.skipped == 9 - MAX_FACES
    boxes = {f.face.box for f in ph.faces}
    assert len(boxes) == MAX_FACES


def test_a_zero_change_leaves_the_photo_untouched():
    fc = faces.find_faces(HOPPER, 256)[0]
    out = faces.add_to_photo(HOPPER.astype(np.float32), fc, np.zeros((64, 64, 3), np.float32))
    assert np.array_equal(out, HOPPER.astype(np.float32))
    a = faces.face_alpha(fc, HOPPER.shape[:2])
    cx, cy = fc.box[0] + fc.box[2] // 2, fc.box[1] + fc.box[3] // 2
    assert a[cy, cx] > 0.99 and a[0, 0] == 0 and a.max() <= 1


def test_detail_is_dropped_only_where_the_model_redrew():
    fc = faces.find_faces(HOPPER, 256)[0]
    photo = HOPPER.astype(np.float32)
    zero = np.zeros((64, 64, 3), np.float32)
    kept = faces.add_to_photo(photo, fc, zero, np.ones((64, 64), np.float32))
    assert np.allclose(kept, photo, atol=1e-3)
    dropped = faces.add_to_photo(photo, fc, zero, np.zeros((64, 64), np.float32))
    x, y, w, h = fc.box
    inner = (slice(y + h // 4, y + 3 * h // 4), slice(x + w // 4, x + 3 * w // 4))

    def detail(a):
        return np.abs(np.diff(a[inner], axis=1)).mean()
    assert detail(dropped) < 0.7 * detail(photo)  # fine texture smoothed inside the face
    assert np.array_equal(dropped[:, : max(0, x - w // 2)], photo[:, : max(0, x - w // 2)])  # untouched outside


@pytest.mark.parametrize("d_layers", [3, 4])
def test_the_card_states_the_patchgan_receptive_field_the_net_has(d_layers):
    from gan_viz.models.cyclegan.card import receptive_field
    d = CycleGAN(CycleGANConfig(ndf=2, d_layers=d_layers)).D_male
    # Instance norm spreads every gradient over the whole image; the convolutions alone set the patch.
    d.model = torch.nn.Sequential(*[torch.nn.Identity() if isinstance(layer, torch.nn.InstanceNorm2d) else layer
                                    for layer in d.model])
    x = torch.randn(1, 3, 320, 320, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()  # one score, away from the borders
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3)))
    assert int(rows.max() - rows.min() + 1) == receptive_field(d_layers)


def test_strength_scales_the_change_added_to_the_photo(flipper):
    half = flipper.flip_photo(HOPPER, "male_to_female", strength=0.5, detail="photo").result.astype(float)
    one = flipper.flip_photo(HOPPER, "male_to_female", strength=1.0, detail="photo").result.astype(float)
    zero = flipper.flip_photo(HOPPER, "male_to_female", strength=0.0, detail="photo").result
    assert np.array_equal(zero, HOPPER)
    moved = np.abs(one - HOPPER) > 8  # away from 8-bit rounding and clipping
    ratio = np.abs(half - HOPPER)[moved] / np.abs(one - HOPPER)[moved]
    assert 0.4 < np.median(ratio) < 0.6
    with pytest.raises(ValueError, match="strength must be between"):
        flipper.flip_photo(HOPPER, "male_to_female", strength=3)
