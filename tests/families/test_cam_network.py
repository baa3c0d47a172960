"""The CAM classifier's conv stack: the context block's identity start, its receptive field, old configs still load."""
import pytest
import torch

from gan_viz.models.cam_classifier import cams
from gan_viz.models.cam_classifier.card import architecture
from gan_viz.models.cam_classifier.network import CAMClassifier, CAMClassifierConfig, receptive_field


def _measured_receptive_field(model: CAMClassifier, size: int) -> int:
    """Width of the input region whose pixels move the centre position of the last map (nonzero gradient)."""
    model.eval()
    x = torch.randn(1, 3, size, size, requires_grad=True)
    f = model.features(x)  # (1, K, size/4, size/4)
    c = f.shape[-1] // 2
    (g,) = torch.autograd.grad(f[0, :, c, c].sum(), x)
    cols = torch.nonzero(g[0].abs().sum(dim=(0, 1)) > 0).flatten()
    return int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize("dilations", [(), (2, 4), (2,)])
def test_receptive_field_formula_matches_the_gradient(dilations):
    torch.manual_seed(0)
    model = CAMClassifier(CAMClassifierConfig(image_size=160, width=4, context_dilations=dilations))
    for m in model.modules():  # the block starts as the identity: give it weight so its window shows in the gradient
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, 0.1, 0.5)  # mostly positive pre-activations: ReLU passes gradients
    assert _measured_receptive_field(model, 160) == receptive_field(model.config)
    assert receptive_field(CAMClassifierConfig()) == 27 and receptive_field(CAMClassifierConfig(context_dilations=(2, 4))) == 75


def test_a_new_context_block_starts_as_the_identity():
    """Extending a trained plain net with the block (train.py --init-from) keeps its every output until it trains."""
    torch.manual_seed(1)
    plain = CAMClassifier(CAMClassifierConfig(image_size=32, width=4))
    for m in plain.modules():  # trained-looking BN statistics, not the defaults
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    plain.eval()
    wide = CAMClassifier(CAMClassifierConfig(image_size=32, width=4, context_dilations=(2, 4))).eval()
    missing, unexpected = wide.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(".residual." in k for k in missing)
    x = torch.randn(3, 3, 32, 32)
    a, b = plain(x), wide(x)
    assert all(torch.equal(a[h], b[h]) for h in a)
    assert wide.layer_names == plain.layer_names  # the tab's layer names stay conv1..conv5


def test_config_round_trip_and_older_exports_load_as_the_plain_net():
    c = CAMClassifierConfig(image_size=80, width=24, context_dilations=(2, 4))
    assert CAMClassifierConfig.from_dict(c.to_dict()) == c
    old = {"image_size": 80, "width": 24, "temperature": 0.7, "heads": {"gender": ["male", "female"],
                                                                        "age_group": ["0-12", "13-19", "20-39", "40-59", "60+"]}}
    cfg = CAMClassifierConfig.from_dict(old)
    assert cfg.context_dilations == () and "27x27" in architecture(old)
    assert "75x75" in architecture(c.to_dict())
    assert not any(".residual." in k for k in CAMClassifier(cfg).state_dict())


@pytest.mark.parametrize("seed", [0, 1])
def test_cam_still_equals_gradcam_up_to_scale_with_the_context_block(seed):
    """The block sits before conv5, so the last map still feeds GAP + linear: CAM's identity holds."""
    torch.manual_seed(seed)
    model = CAMClassifier(CAMClassifierConfig(image_size=32, width=4, context_dilations=(2, 4)))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
    model.eval()
    x = torch.randn(1, 3, 32, 32)
    c = cams.explain(model, x, "gender", 1, "cam", model.last_layer)
    g = cams.explain(model, x, "gender", 1, "gradcam", model.last_layer)
    assert torch.allclose(g.cam, torch.relu(c.cam) / c.cam.numel(), atol=1e-6)
    r = cams.explain(model, x, "gender", 0, "gradcam", "conv4")
    assert r.cam.shape == (8, 8)
