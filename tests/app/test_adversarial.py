"""FGSM and PGD against the formulas, on the 8-bit crop the model sees; the tab's and the API's results."""
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import app
from gan_viz.imaging import load_image
from gan_viz.models.cam_classifier import adversarial
from gan_viz.models.cam_classifier.visualize import epsilon_curve, run_attack
from gan_viz.ui import adversarial_tab

ASSETS = Path(__file__).resolve().parents[2] / "assets"
HOPPER = str(ASSETS / "grace_hopper.jpg")
CAM = app.CONTEXT.families["cam_classifier"]


class Linear(nn.Module):
    """A two-class linear model on a 4x4 RGB image: its input gradient is known in closed form."""

    def __init__(self):
        super().__init__()
        self.w = nn.Linear(48, 2)
        torch.manual_seed(0)
        nn.init.normal_(self.w.weight)

    def forward(self, x):
        return {"gender": self.w(x.flatten(1))}


def test_fgsm_is_one_signed_gradient_step_of_size_eps():
    m = Linear()
    x = torch.randint(10, 245, (1, 3, 4, 4)).float()
    y = torch.tensor([0])
    adv = adversarial.fgsm(m, x, "gender", y, 4.0)
    # d CE / d logits = softmax - onehot; d logits / d x255 = W / 127.5 -> sign(grad) = sign((p - onehot) @ W)
    p = torch.softmax(m(adversarial.to_model(x))["gender"], 1)
    grad = ((p - nn.functional.one_hot(y, 2).float()) @ m.w.weight.detach()).view_as(x)
    assert torch.equal(adv, (x + 4.0 * grad.sign()).clamp(0, 255))
    targeted = adversarial.fgsm(m, x, "gender", torch.tensor([1]), 4.0, targeted=True)
    assert torch.equal(targeted, adv)  # for two classes, "towards 1" is "away from 0"


def test_pgd_stays_in_the_eps_ball_and_in_range():
    m = Linear()
    x = torch.tensor([0.0, 255.0, 3.0, 250.0]).repeat(12).view(1, 3, 4, 4)
    adv = adversarial.pgd(m, x, "gender", torch.tensor([1]), 3.0, steps=7, alpha=1.3)
    assert (adv - x).abs().max() <= 3.0 + 1e-5 and adv.min() >= 0 and adv.max() <= 255
    r = adversarial.to_uint8_within(adversarial.pgd(m, x, "gender", torch.tensor([1]), 2.5, steps=3), x, 2.5)
    assert torch.equal(r, r.round()) and (r - x).abs().max() <= 2


def test_attack_on_the_portrait_returns_an_8_bit_crop_within_eps_that_fools_the_model():
    ex = CAM.get()
    crop = ex.model_input(ex.find_face(load_image(HOPPER)).crop)
    for method in ("fgsm", "pgd"):
        r = run_attack(ex, crop, method, 8, 10)
        a = r.attack
        assert a.adversarial.dtype == np.uint8 and a.adversarial.shape == crop.shape
        assert np.abs(a.adversarial.astype(int) - crop.astype(int)).max() == a.linf <= 8
        assert r.success and max(r.after, key=r.after.get) != r.attacked_class
    rows = epsilon_curve(ex, crop, "pgd")
    assert rows[0]["epsilon"] == 0 and not rows[0]["fooled"] and rows[-1]["fooled"]


def test_bad_attack_settings_are_refused_clearly():
    ex = CAM.get()
    crop = np.full((ex.size, ex.size, 3), 128, np.uint8)
    with pytest.raises(ValueError, match="between 0 and 16"):
        run_attack(ex, crop, "fgsm", 17)
    with pytest.raises(ValueError, match="unknown method"):
        run_attack(ex, crop, "deepfool", 4)
    fams = adversarial_tab._models(CAM, app.CONTEXT.families.get("cam_classifier_robust"))
    with pytest.raises(ValueError, match="unknown model"):
        adversarial_tab.adversarial_api(fams, HOPPER, "fgsm", 4, "sturdy")


def test_tab_shows_both_heatmaps_and_states_the_formula():
    fams = adversarial_tab._models(CAM, app.CONTEXT.families.get("cam_classifier_robust"))
    before, after, gallery, info = adversarial_tab.attack_tab(fams, HOPPER, False, "fgsm", 4, 10, 1.0, "untargeted",
                                                              "standard", "gradcam")
    assert len(gallery) == 5 and "evidence" in gallery[3][1] and "x'" in gallery[4][1]
    assert "FGSM" in info and "4/255" in info
    assert set(before) == {"male", "female"}


@pytest.mark.skipif(app.CONTEXT.families["cam_classifier_robust"].weights is None, reason="no robust twin bundled")
def test_the_robust_twin_resists_fgsm_on_the_portrait_better_than_the_standard_model():
    fams = adversarial_tab._models(CAM, app.CONTEXT.families["cam_classifier_robust"])
    p = {}
    for name in ("standard", "robust"):
        _, _, info = adversarial_tab.adversarial_api(fams, HOPPER, "fgsm", 2, name)
        p[name] = info["after"][info["attacked_class"]]
    assert p["robust"] > p["standard"]
