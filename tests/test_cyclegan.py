"""CycleGAN nets: shapes, determinism, save -> load round trip, the LR schedule, one training step on tiny tensors."""
import torch
from safetensors.torch import load_file, save_file

from gan_viz.models.cyclegan.network import CycleGAN, CycleGANConfig
from gan_viz.models.cyclegan.train import ImagePool, lr_factor, train_step

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
