"""U-GAT-IT family: shapes, AdaLIN and the CAM attention against their formulas, a training step, resume from the export."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_viz import hub
from gan_viz.models.ugatit import train
from gan_viz.models.ugatit.network import AdaLIN, Discriminator, UGATIT, UGATITConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return UGATIT(UGATITConfig()).eval()


def test_shapes_of_every_net(nets):
    x = torch.rand(2, 3, 96, 96) * 2 - 1
    fake, cam_logit, heat = nets.male_to_female(x)
    assert fake.shape == x.shape and cam_logit.shape == (2, 2) and heat.shape == (2, 24, 24)
    assert fake.abs().max() <= 1
    for scale, side in (("global", 4), ("local", 10)):
        out, logit, heat = nets.target_discriminators("male_to_female")[scale](x)
        assert out.shape == (2, 1, side, side) and logit.shape == (2, 2) and heat.dim() == 3


def test_adalin_is_the_formula():
    torch.manual_seed(1)
    norm = AdaLIN(4)
    with torch.no_grad():
        norm.rho.copy_(torch.tensor([0.0, 0.3, 0.9, 1.0]).view(1, 4, 1, 1))
    x, gamma, beta = torch.randn(2, 4, 5, 5), torch.randn(2, 4), torch.randn(2, 4)
    x_in = (x - x.mean((2, 3), keepdim=True)) / (x.var((2, 3), keepdim=True) + 1e-5).sqrt()
    x_ln = (x - x.mean((1, 2, 3), keepdim=True)) / (x.var((1, 2, 3), keepdim=True) + 1e-5).sqrt()
    rho = norm.rho
    expected = (rho * x_in + (1 - rho) * x_ln) * gamma[:, :, None, None] + beta[:, :, None, None]
    assert torch.allclose(norm(x, gamma, beta), expected, atol=1e-5)
    assert torch.allclose(norm(x, torch.ones(2, 4), torch.zeros(2, 4))[:, 3], x_in[:, 3], atol=1e-5)  # rho 1: IN


def test_cam_attention_is_w_k_times_the_encoder_maps_and_off_means_the_mean_weight(nets):
    g = nets.male_to_female
    x = torch.rand(1, 3, 96, 96) * 2 - 1
    with torch.no_grad():
        e = g.encoder(x)
        a = g.attend(x)
        w = g.gap_fc.weight[0]
        assert torch.allclose(a["gap_map"][0], (e[0] * w[:, None, None]).sum(0), atol=1e-4)
        assert torch.allclose(a["cam_logit"][0, 0], (e[0].mean((1, 2)) * w).sum(), atol=1e-4)
        off = g.attend(x, attention=False)
        assert torch.allclose(off["gap_map"][0], e[0].sum(0) * w.mean(), atol=1e-3)
        assert not torch.allclose(g(x)[0], g(x, attention=False)[0])


def test_the_discriminators_cam_weights_are_spectrally_normalised():
    torch.manual_seed(2)
    d = Discriminator(8, 5).eval()  # no power iteration between the two passes
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        e = d.model(x)
        w = d.gap_fc.weight
        assert torch.allclose(d(x)[1][0, 0], (e.mean((2, 3)) @ (w / torch.linalg.matrix_norm(w, 2)).T)[0, 0],
                              atol=1e-5)


def test_the_generators_start_from_the_bundled_cyclegan():
    m = UGATIT(UGATITConfig())
    train.init_from_cyclegan(m, str(ROOT / "checkpoints"))
    cg = hub.resolve("cyclegan", hub.HubSettings(checkpoints=ROOT / "checkpoints")).state_dict()
    assert torch.allclose(m.male_to_female.encoder[1].weight, cg["male_to_female.model.1.weight"].float())
    assert torch.allclose(m.female_to_male.decoder[0].conv1.weight, cg["female_to_male.model.13.body.1.weight"].float())
    assert torch.allclose(m.male_to_female.up[-2].weight, cg["male_to_female.model.23.weight"].float())


def test_one_training_step_moves_every_net_and_keeps_rho_in_range():
    torch.manual_seed(3)
    args = type("A", (), {"image_size": 64, "lr": 1e-3})()
    _, m, opt_g, opt_d = train.build(args, torch.device("cpu"))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with torch.no_grad():
        m.male_to_female.decoder[0].norm1.rho.fill_(1.5)  # out of range: the step clips it back
    losses = train.train_step(m, opt_g, opt_d, torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1)
    assert all(np.isfinite(v) for v in losses.values()) and set(losses) >= {"loss_cam", "loss_d", "loss_cycle"}
    after = m.state_dict()
    for net in ("male_to_female", "female_to_male", "D_female_global", "D_male_local"):
        assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(net)), net
    assert all(0 <= n.rho.min() and n.rho.max() <= 1 for n in m.male_to_female.adalin_layers())


def test_the_focus_loss_is_its_formula_and_pulls_attention_to_the_change():
    torch.manual_seed(5)
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    fake = x.clone()
    fake[:, :, :8, :8] += 0.5  # the change: the top-left quarter only
    heat = torch.rand(1, 4, 4, requires_grad=True)
    loss = train.focus_loss(x, fake, heat)
    c = torch.zeros(4, 4)
    c[:2, :2] = 0.25  # |0.5| / 2: pixel units, pooled to the 4x4 grid
    a = heat.detach()[0] / heat.detach().max()
    h, k = heat.detach()[0] - heat.detach().mean(), c - c.mean()
    r = (h * k).sum() / ((h ** 2).sum() * (k ** 2).sum()).sqrt()
    assert torch.isclose(loss, ((1 - a) * c).mean() + 1 - r, atol=1e-6)
    loss.backward()
    g = heat.grad[0]
    top = heat.detach().argmax()  # the map's maximum scales the others: leave it out of the sign check
    changed = torch.zeros(4, 4, dtype=torch.bool)
    changed[:2, :2] = True
    keep = torch.ones(16, dtype=torch.bool)
    keep[top] = False
    assert (g.flatten()[changed.flatten() & keep] < 0).all() and (g.flatten()[~changed.flatten() & keep] > 0).all()
    assert train.focus_loss(x, x, heat.detach()) == 1  # no change: G pays nothing, the map has nothing to follow
    charged = ((1 - a) * c).mean()
    assert torch.isclose(train.focus_loss(x, fake, heat.detach(), charge=0.25), 0.25 * charged + 1 - r, atol=1e-6)
    aligned, flat = c.clone()[None] + 1e-3, torch.ones(1, 4, 4)
    assert train.focus_loss(x, fake, aligned) < train.focus_loss(x, fake, flat) < train.focus_loss(x, fake, 1 - c[None] * 4)


def test_a_training_step_with_the_focus_loss_reports_it_and_the_papers_step_does_not():
    torch.manual_seed(6)
    args = type("A", (), {"image_size": 64, "lr": 1e-3})()
    _, m, opt_g, opt_d = train.build(args, torch.device("cpu"))
    faces = [torch.rand(2, 3, 64, 64) * 2 - 1 for _ in range(2)]
    assert "loss_focus" not in train.train_step(m, opt_g, opt_d, *faces)
    losses = train.train_step(m, opt_g, opt_d, *faces, focus_weight=10.0)
    assert np.isfinite(losses["loss_focus"]) and losses["loss_focus"] > 0
    gentle = train.train_step(m, opt_g, opt_d, *faces, focus_weight=10.0, focus_charge=0.0)
    assert np.isfinite(gentle["loss_focus"]) and 0 <= gentle["loss_focus"] <= 20  # 10 (1 - r) per direction


def test_the_shipped_generators_are_the_moving_average_of_the_trained_ones():
    torch.manual_seed(4)
    m = UGATIT(UGATITConfig())
    ema = train.make_ema(m, 0.9)
    key = "male_to_female.encoder.1.weight"
    w0 = m.state_dict()[key].clone()
    ema.update_parameters(train.generators(m))  # the first update copies
    expected = w0.clone()
    for _ in range(3):
        with torch.no_grad():
            m.male_to_female.encoder[1].weight.add_(torch.randn_like(w0))
        ema.update_parameters(train.generators(m))
        expected = 0.9 * expected + 0.1 * m.state_dict()[key]
    torch.testing.assert_close(ema.module.state_dict()[key], expected)
    assert not torch.allclose(ema.module.state_dict()[key], m.state_dict()[key])
    assert train.make_ema(m, 0.0) is None


def test_the_export_ships_the_average_and_a_run_resumed_from_it_goes_on_from_the_average(tmp_path):
    torch.manual_seed(5)
    args = type("A", (), {"image_size": 64, "lr": 1e-3, "export_dir": str(tmp_path / "export"),
                          "run_dir": str(tmp_path / "none"), "focus_weight": 0.0})()
    cfg, m, opt_g, opt_d = train.build(args, torch.device("cpu"))
    ema = train.make_ema(m, 0.5)
    ema.update_parameters(train.generators(m))
    with torch.no_grad():
        m.female_to_male.up[-2].weight.add_(1.0)  # the trained generator moves away from its average
    meta = {"step": 7, "images_seen": 14, "init": "test", "runs": [{"start_step": 0, "end_step": 7, "ema_decay": 0.5}]}
    train.export(args, m, cfg, meta, train.training.MetricsLog(tmp_path / "log.json"), ema)
    key = f"female_to_male.up.{len(m.female_to_male.up) - 2}.weight"  # the output conv, moved above
    shipped = hub.ResolvedWeights("ugatit", tmp_path / "export", "bundled", "").state_dict()
    torch.testing.assert_close(shipped[key].float(), ema.module.state_dict()[key].half().float())
    assert "exponential moving average" in (tmp_path / "export" / "README.md").read_text()
    _, m2, opt_g2, opt_d2 = train.build(args, torch.device("cpu"))
    ema2 = train.make_ema(m2, 0.5)
    assert train.restore(args, m2, opt_g2, opt_d2, ema2)["step"] == 7
    torch.testing.assert_close(m2.state_dict()[key], shipped[key].float())  # training goes on from the average
    torch.testing.assert_close(ema2.module.state_dict()[key], shipped[key].float())  # and so does the average
    assert int(ema2.n_averaged) == 1


@pytest.fixture(scope="module")
def tiny_faces(tmp_path_factory):
    """24 random 'faces' of adults named the UTKFace way, made here."""
    d = tmp_path_factory.mktemp("utk")
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)).save(d / f"30_{i % 2}_0_2017{i:06d}.jpg.chip.jpg")
    return d


def _train(data, tmp_path, *extra):
    env = {**os.environ, "GAN_VIZ_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "gan_viz.models.ugatit.train", "--data", str(data), "--image-size", "64",
                        "--batch-size", "1", "--threads", "1", "--export-dir", "export", *extra],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def test_a_run_stopped_by_sigterm_saves_its_steps_and_exits_cleanly(tiny_faces, tmp_path):
    import signal

    env = {**os.environ, "GAN_VIZ_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    run = subprocess.Popen([sys.executable, "-u", "-m", "gan_viz.models.ugatit.train", "--data", str(tiny_faces),
                            "--image-size", "64", "--batch-size", "1", "--threads", "1", "--export-dir", "export",
                            "--run-dir", "run", "--max-minutes", "30", "--checkpoint-minutes", "30"],
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in run.stdout:  # the first logged step: 20 steps that no checkpoint has saved yet
            if line.startswith("step 20 "):
                break
        run.send_signal(signal.SIGTERM)
        rest, _ = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 0 and "SIGTERM: stopping after this step" in rest, rest[-2000:]
    meta = json.loads((tmp_path / "export" / train.RESUME_FILE).read_text())
    assert meta["step"] >= 20 and meta["runs"][0]["end_step"] == meta["step"]


def test_a_run_exports_and_the_next_run_resumes_from_the_export(tiny_faces, tmp_path):
    _train(tiny_faces, tmp_path, "--total-steps", "2", "--run-dir", "run1")
    export = tmp_path / "export"
    meta = json.loads((export / train.RESUME_FILE).read_text())
    assert meta["step"] == 2 and meta["images_seen"] == 4 and len(meta["runs"]) == 1
    assert meta["runs"][0]["lr"] == "1.0e-04 -> 0.0e+00"  # linear to 0 over the second half of 2 steps
    card = (export / "README.md").read_text()
    assert "| learning rate |" in card and "| 1.0e-04 -> 0.0e+00 |" in card
    assert "## Evaluation" in card and "## History" in card and "Steps: 2" in card
    shipped = hub.ResolvedWeights("ugatit", export, "bundled", "").state_dict()
    assert shipped["male_to_female.encoder.1.weight"].dtype == torch.float16  # generators float16, D int8
    assert json.loads((export / "config.json").read_text())["focus_weight"] == 0  # the paper's losses only
    # A fresh run dir: the run continues from the export (weights and step), as on another machine.
    out = _train(tiny_faces, tmp_path, "--total-steps", "3", "--run-dir", "run2", "--focus-weight", "3")
    assert "resumed from the export" in out.stdout
    meta = json.loads((export / train.RESUME_FILE).read_text())
    assert meta["step"] == 3 and len(meta["runs"]) == 2 and meta["runs"][1]["start_step"] == 2
    # the app reads from config.json that the map was taught to mark the change (where_it_looks.FOCUS_NOTE)
    from gan_viz.models.ugatit.visualize import UGATITTranslator
    assert json.loads((export / "config.json").read_text())["focus_weight"] == 3.0
    assert UGATITTranslator.from_weights(hub.ResolvedWeights("ugatit", export, "bundled", "")).focus_weight == 3.0
    _train(tiny_faces, tmp_path, "--total-steps", "4", "--run-dir", "run3")  # the paper's losses again: still taught
    assert json.loads((export / "config.json").read_text())["focus_weight"] == 3.0



def test_the_surface_names_every_map_and_measures_what_attention_does(nets):
    from gan_viz.attention_agreement import pooled_change, rank_correlation
    from gan_viz.models.ugatit.visualize import MAPS, UGATITTranslator, agreement

    tr = UGATITTranslator(nets, torch.device("cpu"))
    face = np.random.default_rng(4).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    c = tr.translate(face, "female_to_male")
    assert c.fake.shape == c.x.shape == c.rec.shape == c.identity.shape == (96, 96, 3) and c.fake.dtype == np.uint8
    g, f = nets.female_to_male, nets.male_to_female
    with torch.no_grad():
        x = torch.from_numpy(c.x).permute(2, 0, 1).float().div(127.5).sub(1).unsqueeze(0)
        fake = g(x)[0]
        rec = f(fake)[0]
    assert np.abs(c.delta - (fake - x)[0].permute(1, 2, 0).numpy()).max() < 1e-5  # the change added to a photo
    assert c.cycle_l1 == pytest.approx(float((x - rec).abs().mean() / 2), abs=1e-6)
    a = tr.attention(c)
    assert set(a.maps) == set(MAPS)
    assert all(0 <= m.min() and m.max() <= 1 for m in a.maps.values()) and a.maps["fused"].shape == (24, 24)
    assert set(a.p_source) == {"gap", "gmp"} and all(0 <= p <= 1 for p in a.p_source.values())
    assert len(a.rho) == 2 * nets.config.n_res and all(0 <= r <= 1 for r in a.rho)
    with torch.no_grad():
        off = g.decode(g.attend(x, attention=False)["h"])
    assert a.attention_off_change == pytest.approx(float((fake - off).abs().mean() / 2), abs=1e-5) and a.attention_off_change > 0
    assert a.agreement_with_change == pytest.approx(
        rank_correlation(a.maps["fused"], pooled_change(c.change, (24, 24))))
    assert a.agreement_with_change == pytest.approx(agreement(a.maps["fused"], c.change))
    with pytest.raises(ValueError, match="direction"):
        tr.translate(face, "sideways")


def test_a_photo_goes_through_the_same_path_as_the_cyclegans(nets):
    from gan_viz.models.ugatit.visualize import UGATITTranslator

    tr = UGATITTranslator(nets, torch.device("cpu"))
    face = np.random.default_rng(5).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    ph = tr.flip_photo(face, "male_to_female", use_whole_image=True, strength=1.0)
    assert ph.result.shape == face.shape and len(ph.faces) == 1 and ph.faces[0].cycle.direction == "male_to_female"
    assert np.abs(ph.result.astype(int) - face).mean() > 1  # the translation was blended in
    same = tr.flip_photo(face, "male_to_female", use_whole_image=True, strength=0.0)
    assert np.array_equal(same.result, face)  # strength 0 gives the photo back


def test_a_face_in_a_picture_is_cut_at_its_directions_framing_and_the_cyclegan_at_the_finders(nets):
    from gan_viz import faces
    from gan_viz.imaging import load_image
    from gan_viz.models.cyclegan.visualize import GenderFlipper
    from gan_viz.models.ugatit.visualize import UGATITTranslator

    photo = load_image(str(Path(__file__).resolve().parents[2] / "assets" / "grace_hopper.jpg"))
    found = faces.find_faces(photo, 256, max_faces=1)[0]
    tr = UGATITTranslator(nets, torch.device("cpu"))
    for zoom in (dict(UGATITTranslator.FRAMING_ZOOM), {"female_to_male": 9 / 8, "male_to_female": 1.0}):
        tr.FRAMING_ZOOM = zoom
        for d in ("female_to_male", "male_to_female"):
            ug = tr.flip_photo(photo, d).faces[0].face
            assert np.allclose(ug.matrix, faces.closer(photo, found, zoom[d]).matrix)
            assert np.allclose(ug.matrix, found.matrix) == (zoom[d] == 1.0)
    cg = GenderFlipper.load().flip_photo(photo, "female_to_male").faces[0].face
    assert np.allclose(cg.matrix, found.matrix)


def test_the_card_says_when_the_focus_loss_joined_the_papers_losses_and_at_which_weights():
    from gan_viz.models.ugatit.card import model_card
    cfg = UGATITConfig().to_dict()
    runs = [{"start_step": 0, "end_step": 9, "ema_decay": 0.999}, {"start_step": 9, "focus_weight": 10.0},
            {"start_step": 12, "focus_weight": 30.0, "ema_decay": 0.995},
            {"start_step": 14, "focus_weight": 30.0, "focus_charge": 0.25, "ema_decay": 0.995}]
    records = [{"step": 1, "loss_adv": 1, "loss_cycle": 2, "loss_identity": 3, "loss_cam": 4, "loss_d": 5},
               {"step": 12, "loss_adv": 1, "loss_cycle": 2, "loss_identity": 3, "loss_cam": 4, "loss_d": 5, "loss_focus": 0.25}]
    card = model_card(cfg, {"step": 15, "runs": runs}, records)
    assert ("From step 9 on, beyond the paper, the focus loss at weight 10, 30 from step 12, "
            "30 (G charged at 0.25 of it) from step 14 (") in card
    assert "decay 0.999 per step; 0.995 from step 12," in card
    assert "| 1 | 1.000 | 2.000 | 3.000 | 4.000 | - | 5.000 |" in card and "| 0.250 | 5.000 |" in card
    assert "focus loss at" not in model_card(cfg, {"step": 9, "runs": runs[:1]}, records[:1])
