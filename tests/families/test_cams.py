"""CAM, Grad-CAM and Grad-CAM++ against their formulas, on hand-made nets where the answer is known."""
import numpy as np
import pytest
import torch
from torch import nn

from gan_viz.models.cam_classifier import cams
from gan_viz.models.cam_classifier.network import CAMClassifier, CAMClassifierConfig


class HandNet(nn.Module):
    """A fixed 'network' whose last activation is a given tensor A (K, h, w): GAP -> linear."""

    last_layer = "A"

    def __init__(self, a: torch.Tensor, w: torch.Tensor, nonlinear: bool = False):
        super().__init__()
        self.a = a
        self.nonlinear = nonlinear
        self.heads = nn.ModuleDict({"h": nn.Linear(a.shape[0], w.shape[0], bias=False)})
        self.heads["h"].weight.data.copy_(w)

    def activations(self, x):
        a = (self.a * x.mean()).unsqueeze(0)  # (1, K, h, w); depends on x so gradients flow
        pooled = a.mean(dim=(2, 3))
        if self.nonlinear:
            pooled = pooled ** 2
        return {"h": self.heads["h"](pooled)}, {"A": a}


def test_cam_equals_weighted_sum_of_maps():
    torch.manual_seed(0)
    a, w = torch.rand(4, 3, 5), torch.randn(2, 4)
    r = cams.explain(HandNet(a, w), torch.ones(1, 3, 8, 8), "h", 1, "cam", "A")
    expected = sum(w[1, k] * a[k] for k in range(4))  # M_c = sum_k w_k^c f_k
    assert torch.allclose(r.cam, expected, atol=1e-6)
    assert torch.allclose(r.weights, w[1])


def test_gradcam_weights_are_mean_gradients():
    torch.manual_seed(1)
    a, w = torch.rand(3, 4, 4), torch.randn(2, 3)
    r = cams.explain(HandNet(a, w, nonlinear=True), torch.ones(1, 3, 8, 8), "h", 0, "gradcam", "A")
    # y = sum_k w_k (mean A_k)^2  =>  dy/dA_k^ij = 2 w_k mean(A_k) / Z ; alpha_k = mean_ij of that
    alpha = 2 * w[0] * a.mean(dim=(1, 2)) / 16
    assert torch.allclose(r.weights, alpha, atol=1e-6)
    assert torch.allclose(r.cam, torch.relu(torch.einsum("k,khw->hw", alpha, a)), atol=1e-6)


def test_gradcam_pp_matches_closed_form():
    torch.manual_seed(2)
    a, w = torch.rand(3, 4, 4), torch.randn(2, 3)
    r = cams.explain(HandNet(a, w), torch.ones(1, 3, 8, 8), "h", 1, "gradcam++", "A")
    g = (w[1] / 16).view(3, 1, 1).expand(3, 4, 4)  # linear score: dy/dA constant per channel
    a_ij = g ** 2 / (2 * g ** 2 + a.sum(dim=(1, 2)).view(3, 1, 1) * g ** 3)
    wk = (a_ij * torch.relu(g)).sum(dim=(1, 2))
    assert torch.allclose(r.weights, wk, atol=1e-6)
    assert (r.weights[w[1] < 0] == 0).all()  # negative-gradient channels get no weight


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cam_and_gradcam_agree_up_to_positive_scale_at_last_layer(seed):
    torch.manual_seed(seed)
    model = CAMClassifier(CAMClassifierConfig(image_size=32, width=4)).eval()
    x = torch.randn(1, 3, 32, 32)
    c = cams.explain(model, x, "gender", 1, "cam", model.last_layer)
    g = cams.explain(model, x, "gender", 1, "gradcam", model.last_layer)
    z = c.cam.numel()
    assert torch.allclose(g.cam, torch.relu(c.cam) / z, atol=1e-6)
    assert torch.allclose(cams.normalise(c.cam), cams.normalise(g.cam), atol=1e-5)


def test_cam_refuses_inner_layer_with_a_reason():
    model = CAMClassifier(CAMClassifierConfig(image_size=32, width=4)).eval()
    with pytest.raises(ValueError, match="last conv layer"):
        cams.explain(model, torch.randn(1, 3, 32, 32), "gender", 0, "cam", "conv2")


def test_gradcam_at_inner_layer_has_that_layers_resolution():
    model = CAMClassifier(CAMClassifierConfig(image_size=32, width=4)).eval()
    r = cams.explain(model, torch.randn(1, 3, 32, 32), "age_group", 3, "gradcam", "conv1")
    assert r.cam.shape == (16, 16) and (r.cam >= 0).all()


def test_normalise_is_zero_to_one():
    m = cams.normalise(torch.tensor([[-1.0, 0.5], [2.0, 0.0]]))
    assert float(m.max()) == 1.0 and float(m.min()) == 0.0
    assert np.allclose(cams.normalise(torch.full((2, 2), -3.0)).numpy(), 0.0)


@pytest.mark.parametrize("method", cams.METHODS)
def test_without_a_class_the_top_class_is_explained_from_the_same_pass(method):
    # No class given: the head's argmax, read off the method's own forward pass, is explained, exactly as if asked.
    torch.manual_seed(0)
    net = CAMClassifier(CAMClassifierConfig(image_size=32, width=4)).eval()
    for seed in range(4):
        x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            top = int(net(x)["gender"][0].argmax())
        auto = cams.explain(net, x.clone(), "gender", None, method, net.last_layer)
        asked = cams.explain(net, x.clone(), "gender", top, method, net.last_layer)
        assert auto.c == top and auto.score == asked.score
        assert torch.equal(auto.cam, asked.cam) and torch.equal(auto.weights, asked.weights)


def test_explainer_without_probabilities_explains_what_it_would_have_classified():
    from gan_viz.models.cam_classifier.visualize import CAMExplainer
    torch.manual_seed(1)
    ex = CAMExplainer(CAMClassifier(CAMClassifierConfig(image_size=32, width=4)), torch.device("cpu"))
    rng = np.random.default_rng(0)
    for _ in range(3):
        crop = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        probs = ex.classify(crop)
        for method in cams.METHODS:
            a, b = ex.explain(crop, method), ex.explain(crop, method, probs=probs)
            assert a.class_name == b.class_name == max(probs["gender"], key=probs["gender"].get)
            assert np.array_equal(a.heatmap, b.heatmap) and a.score == b.score
