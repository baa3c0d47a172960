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
from gan_viz.ui import where_it_looks

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
    panels = where_it_looks.probe_panels(att, ph.faces[0].cycle)
    assert [c for _, c in panels] == ["|G(x) - x| on the same grid: what changed"]
    assert "no better than chance" in where_it_looks.probe_markdown(att)


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


@pytest.fixture(scope="module")
def ugatit_offered():
    """The gender tab with U-GAT-IT offered beside the CycleGAN (as when it passes its bar, or GAN_VIZ_OFFER_UGATIT=1)."""
    import gradio as gr

    from gan_viz.ui.gender_tab import GenderTab

    fams = app.CONTEXT.families
    with gr.Blocks() as demo:
        GenderTab(fams["cyclegan"], fams["cam_classifier"], fams["ugatit"]).build()
    demo.queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    yield Client(url, verbose=False)
    demo.close()


def test_ugatit_attention_api_answers_what_the_model_computes(ugatit_offered):
    ug = app.CONTEXT.families["ugatit"].get()
    client = ugatit_offered
    overlay, info = client.predict(handle_file(HOPPER), "female_to_male", "ugatit", api_name="/translator_attention")
    assert Image.open(overlay).format == "PNG" and info["translator"] == "ugatit"
    direct = ug.attention(ug.flip_photo(load_image(HOPPER), "female_to_male").faces[0].cycle)
    assert info["agreement_with_change"] == pytest.approx(direct.agreement_with_change, abs=1e-6)
    assert info["aux_p_source"] == pytest.approx(direct.p_source, abs=1e-6)
    assert info["focus_weight"] == direct.focus_weight == app.CONTEXT.families["ugatit"].weights.config["focus_weight"]
    assert info["rho"] == pytest.approx(direct.rho) and len(info["rho"]) == 2 * ug.model.config.n_res
    assert 0 < info["attention_off_change"] <= 1
    assert info["attention_off_change"] == pytest.approx(direct.attention_off_change, abs=1e-6)
    _, _, flip = client.predict(handle_file(HOPPER), "female_to_male", "ugatit", api_name="/gender_flip")
    assert flip["translator"] == "ugatit" and flip["direction"] == "female_to_male"
    assert flip["faces"][0]["strength"] == ug.CALIBRATED_STRENGTH["female_to_male"]
    _, _, default = client.predict(handle_file(HOPPER), "female_to_male", api_name="/gender_flip")
    assert default["translator"] == "cyclegan"  # the default answers as before
    with pytest.raises(Exception, match="translator must be one of cyclegan, ugatit"):
        client.predict(handle_file(HOPPER), "female_to_male", "stargan", api_name="/gender_flip")


def test_ugatit_is_offered_only_once_measured_as_good_as_the_cyclegan(monkeypatch):
    from gan_viz.models.ugatit import gate
    from gan_viz.ui.context import Family

    rows = lambda m, f, s=0.8, d=1.0: {"male_to_female": {"flip_rate": m, "ssim_grey64": s, "detail_kept_median": d},  # noqa: E731
                                       "female_to_male": {"flip_rate": f, "ssim_grey64": s, "detail_kept_median": d}}
    assert gate.verdict("pictures", rows(0.95, 0.85), rows(0.94, 0.85)) == []
    failed = gate.verdict("pictures", rows(0.95, 0.80, d=0.8), rows(0.94, 0.85))
    assert len(failed) == 3 and "female_to_male flips 80.0% of pictures, the CycleGAN 85.0%" in failed
    assert gate.verdict("crops", rows(0.95, 0.85, s=0.7, d=0.1), rows(0.9, 0.8)) != []  # SSIM; detail is not a crop's
    assert len(gate.verdict("crops", rows(0.95, 0.85, d=0.1), rows(0.9, 0.8))) == 0
    assert gate.status({}).startswith("Not offered in the app: not yet measured")
    crops, pictures = ({"failed": [], "faces_per_direction": n} for n in (200, 600))
    assert gate.status({"quality": {"crops": crops, "pictures": pictures | {"failed": ["m->f flips less"]}}}) == (
        "Measured against the CycleGAN on the same faces (below); not offered in the app: m->f flips less.")
    assert "so the app offers it" in gate.status({"quality": {"crops": crops, "pictures": pictures}})
    # A verdict on too few faces does not count: placement alone moves 200 pictures by 2-3 faces.
    few = {"crops": crops, "pictures": pictures | {"faces_per_direction": 599}}
    assert gate.not_offered({"quality": few}) == (
        "pictures measured on 599 faces per direction, fewer than the 600 a verdict needs (--n 600)")

    ug = app.CONTEXT.families["ugatit"]
    for config, offered in (({}, False), ({"quality": {"crops": crops}}, False),
                            ({"quality": {"crops": crops, "pictures": pictures | {"failed": ["m->f less"]}}}, False),
                            ({"quality": few}, False), ({"quality": {"crops": crops, "pictures": pictures}}, True)):
        weights = type("W", (), {"config": config, "detail": "bundled"})()
        fam = Family("ugatit", ug.title, ug.build, weights)
        monkeypatch.delenv("GAN_VIZ_OFFER_UGATIT", raising=False)
        app.withhold_ugatit(fam)
        assert fam.offered is offered and (fam.withheld is None) is offered
        monkeypatch.setenv("GAN_VIZ_OFFER_UGATIT", "1")
        fam.withheld = None
        app.withhold_ugatit(fam)
        assert fam.offered


def test_the_tab_says_when_the_map_was_taught_to_mark_the_change():
    import dataclasses

    from gan_viz.ui import where_it_looks

    ug = app.CONTEXT.families["ugatit"].get()
    att = ug.attention(ug.flip_photo(load_image(HOPPER), "female_to_male").faces[0].cycle)
    taught = where_it_looks.ugatit_markdown(dataclasses.replace(att, focus_weight=10.0))
    paper = where_it_looks.ugatit_markdown(dataclasses.replace(att, focus_weight=0.0))
    assert "**focus loss** (weight 10)" in taught and "partly taught" in taught
    assert "focus loss" not in paper
    assert paper.split("\n\n", 1)[1] == taught.split("\n\n", 1)[1]  # the same reading of the face either way
