"""U-GAT-IT's CAM module as a probe of the CycleGAN: the maps against the formula, chance probes hidden, the API."""
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

import app
from gan_viz.imaging import load_image
from gan_viz.models.cyclegan import attention_probe as ap
from gan_viz.ui import gender_tab

HOPPER = str(Path(__file__).resolve().parents[2] / "assets" / "grace_hopper.jpg")
FLIP = app.CONTEXT.families["cyclegan"]


def test_the_bundled_checkpoint_carries_a_probe_with_its_measured_accuracy():
    flipper = FLIP.get()
    assert flipper.probes is not None
    report = FLIP.weights.config["probe"]
    for name in ap.PROBES:
        acc = report["probes"][name]["val_accuracy"]
        assert 0.0 <= acc["gap"] <= 1.0 and 0.0 <= acc["gmp"] <= 1.0
    assert set(report["agreement"]) == {"male_to_female", "female_to_male"}
    assert "U-GAT-IT" in (Path(FLIP.weights.folder) / "README.md").read_text()


def test_heatmap_is_sum_k_w_k_E_k_computed_without_the_module():
    flipper = FLIP.get()
    ph = flipper.flip_photo(load_image(HOPPER), "female_to_male")
    c = ph.faces[0].cycle
    att = flipper.attention(c)
    # Independently: the generator's layers up to its last residual block, by hand, and the GAP weights.
    g = flipper.model.female_to_male
    x = torch.from_numpy(c.x).permute(2, 0, 1).float().div(127.5).sub(1).unsqueeze(0)
    h = x
    layers = list(g.model.children())
    last_res = max(i for i, m in enumerate(layers) if type(m).__name__ == "ResnetBlock")
    with torch.no_grad():
        for m in layers[:last_res + 1]:
            h = m(h)
        w = flipper.probes["female_to_male"].gap_fc.weight[0]
        by_hand = sum(w[k] * h[0, k] for k in range(h.shape[1])).numpy()
        eta = torch.sigmoid((w * h.mean(dim=(2, 3))[0]).sum()).item()
    np.testing.assert_allclose(att.encoder.gap_map, by_hand, rtol=1e-4, atol=1e-4)
    assert att.encoder.eta_gap == pytest.approx(eta, abs=1e-5)
    assert -1 <= att.spearman <= 1 and 0 <= att.top20_iou <= 1


def test_rank_agreement_measures():
    a = np.arange(16.0).reshape(4, 4)
    assert ap.rank_correlation(a, a * 3 + 1) == pytest.approx(1.0)
    assert ap.rank_correlation(a, -a) == pytest.approx(-1.0)
    assert ap.top_overlap(a, a) == 1.0 and ap.top_overlap(a, -a) == 0.0


def test_a_probe_no_better_than_chance_is_not_shown_as_attention(monkeypatch):
    flipper = FLIP.get()
    report = {"probes": {n: {"val_accuracy": {"gap": 0.51, "gmp": 0.5}} for n in ap.PROBES}}
    monkeypatch.setattr(flipper, "probe_report", report)
    ph = flipper.flip_photo(load_image(HOPPER), "male_to_female")
    att = flipper.attention(ph.faces[0].cycle)
    assert not att.encoder_usable and not att.discriminator_usable
    panels = gender_tab.attention_panels(att, ph.faces[0].cycle)
    assert [c for _, c in panels] == ["|G(x) - x| on the same grid: what changed"]
    assert "no better than chance" in gender_tab.attention_markdown(att)


def test_fitting_recovers_a_planted_channel():
    torch.manual_seed(0)
    pos, neg = torch.randn(200, 6, 4, 4).abs(), torch.randn(200, 6, 4, 4).abs()  # non-negative, like ReLU features
    pos[:, 2] += 1.5  # channel 2 carries the positive class, channel 4 the negative (no bias to threshold with)
    neg[:, 4] += 1.5
    probe = ap.CAMProbe(6)
    ap.fit(probe, pos, neg)
    acc = ap.accuracy(probe, pos, neg)
    w = probe.gap_fc.weight[0]
    assert acc["gap"] > 0.95 and int(w.argmax()) == 2 and int(w.argmin()) == 4


def test_translator_attention_api(tmp_path):
    _, url, _ = app.demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        overlay, info = client.predict(handle_file(HOPPER), "female_to_male", api_name="/translator_attention")
        assert Image.open(overlay).format == "PNG"
        for key in ("eta_gap", "eta_gmp", "top_channels", "agreement_with_change", "probe_validation_accuracy"):
            assert key in info
        assert 0 <= info["eta_gap"] <= 1 and len(info["top_channels"]) == 5
        with pytest.raises(Exception, match="direction must be"):
            client.predict(handle_file(HOPPER), "auto", api_name="/translator_attention")
        junk = tmp_path / "junk.png"
        junk.write_bytes(b"nope")
        with pytest.raises(Exception, match="could not be read as an image"):
            client.predict(handle_file(str(junk)), "male_to_female", api_name="/translator_attention")
    finally:
        app.demo.close()
