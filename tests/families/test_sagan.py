"""SAGAN: attention against its formula, spectral norm against the SVD, shapes, determinism, one training step."""
import copy

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from gan_viz.models.sagan import network as net
from gan_viz.models.sagan.train import train_step
from gan_viz.models.sagan.visualize import SAGANExplorer, read_attention, z_from_seed

TINY = net.SAGANConfig(z_dim=8, g_channels=8, d_channels=8, g_attention=(16, 32), d_attention=(16,))


def test_beta_rows_sum_to_one_and_softmax_runs_over_i():
    torch.manual_seed(0)
    block = net.SelfAttention(16).eval()
    _, beta = block(torch.randn(2, 16, 4, 4), return_maps=True)
    assert beta.shape == (2, 16, 16)
    assert torch.allclose(beta.sum(-1), torch.ones(2, 16), atol=1e-5)  # sum over attended i of beta_{j,i}


def test_hand_built_attention_block_matches_the_formula():
    """f = g = identity on 8 channels of a one-hot map: s_ij = [i and j share a one-hot channel] * scale."""
    c, h, w = 64, 2, 2  # C/8 = 8 channels for f and g
    block = net.SelfAttention(c).eval()
    eye = torch.zeros(8, c, 1, 1)
    for k in range(8):
        eye[k, k] = 5.0
    for conv in (block.f, block.g):
        conv.layer.weight.data.copy_(eye)
        conv.u.copy_(torch.nn.functional.normalize(torch.ones(8), dim=0))
    x = torch.zeros(1, c, h, w)
    x[0, 0, 0, 0] = x[0, 0, 1, 1] = 1.0  # locations 0 and 3 share channel 0
    x[0, 1, 0, 1] = 1.0  # location 1 alone on channel 1; location 2 all zero
    _, beta = block(x, return_maps=True)
    sigma = 5.0  # spectral norm of 5 * I
    s = torch.zeros(4, 4)  # s[j, i] = f(x_i)^T g(x_j) with f = g = 5 I / sigma
    feats = torch.stack([x[0, :8].flatten(1)[:, n] for n in range(4)])  # (N, 8)
    s = (feats @ feats.T) * (5.0 / sigma) ** 2
    expected = torch.softmax(s, dim=1)
    assert torch.allclose(beta[0], expected, atol=1e-5)
    assert beta[0, 0, 3] > beta[0, 0, 1]  # location 0 attends to its twin more than to a stranger
    # gamma = 0 at initialisation: the block is the identity
    assert torch.equal(block(x), x)


def test_power_iteration_converges_to_the_svd_value():
    torch.manual_seed(0)
    w = torch.randn(32, 72)
    u = torch.nn.functional.normalize(torch.randn(32), dim=0)
    exact = torch.linalg.svdvals(w)[0]
    errs = [abs(float(net.power_iteration(w, u, k)[0]) - float(exact)) / float(exact) for k in (1, 5, 50)]
    assert errs[2] < 1e-4 and errs[2] <= errs[1] <= errs[0]


def test_spectral_norm_layer_has_unit_norm_after_training_steps():
    torch.manual_seed(0)
    sn = net.sn_conv(4, 8)
    sn.train()
    for _ in range(50):  # the persistent u converges while W stays put
        sn(torch.randn(1, 4, 5, 5))
    w = sn.layer.weight.detach().reshape(8, -1)
    assert abs(float(torch.linalg.matrix_norm(w / sn.sigma, ord=2)) - 1) < 1e-3


def test_generator_and_discriminator_shapes_and_determinism():
    torch.manual_seed(0)
    g, d = net.Generator(TINY).eval(), net.Discriminator(TINY).eval()
    z = torch.randn(3, TINY.z_dim)
    img, maps = g(z, return_maps=True)
    assert img.shape == (3, 3, 64, 64) and img.abs().max() <= 1
    assert set(maps) == {"G.attn16", "G.attn32"} and maps["G.attn32"].shape == (3, 1024, 1024)
    assert torch.equal(g(z), g(z))
    score, dmaps = d(img, return_maps=True)
    assert score.shape == (3,) and set(dmaps) == {"D.attn16"}


def test_save_load_round_trip(tmp_path):
    g = net.Generator(TINY).eval()
    save_file({k: v.contiguous() for k, v in g.state_dict().items()}, tmp_path / "g.safetensors")
    g2 = net.Generator(TINY).eval()
    g2.load_state_dict(load_file(tmp_path / "g.safetensors"))
    z = torch.randn(2, TINY.z_dim)
    assert torch.equal(g(z), g2(z))


def test_one_training_step_changes_weights_and_gamma():
    torch.manual_seed(0)
    g, d = net.Generator(TINY), net.Discriminator(TINY)
    g_ema = copy.deepcopy(g)
    opt_g = torch.optim.Adam(g.parameters(), 1e-3, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), 4e-3, betas=(0.0, 0.9))
    before = copy.deepcopy(g.state_dict())
    losses = train_step(g, d, g_ema, opt_g, opt_d, torch.rand(4, 3, 64, 64) * 2 - 1, TINY.z_dim, 0.9)
    assert set(losses) == {"loss_d_real", "loss_d_fake", "loss_g"} and all(np.isfinite(list(losses.values())))
    assert not torch.equal(before["fc.layer.weight"], g.state_dict()["fc.layer.weight"])
    assert g.attn["attn32"].gamma.item() != 0.0  # gamma is learned from its first step


def test_read_attention_slices_the_right_row_and_column():
    rng = np.random.default_rng(0)
    beta = rng.random((16, 16)).astype(np.float32)
    beta /= beta.sum(1, keepdims=True)
    q = read_attention(beta, "G.attn4", x=40, y=20, reading="query", gamma=0.5)  # 64 px image, 4x4 grid
    assert q.feature_xy == (2, 1) and q.res == 4
    assert np.allclose(q.map.ravel(), beta[1 * 4 + 2]) and abs(q.map.sum() - 1) < 1e-5
    k = read_attention(beta, "G.attn4", x=40, y=20, reading="key", gamma=0.5)
    assert np.allclose(k.map.ravel(), beta[:, 6])
    assert q.top[0][2] == q.map.max()
    with pytest.raises(ValueError, match="outside"):
        read_attention(beta, "G.attn4", 64, 0, "query", 0.0)


def test_explorer_spectral_report_and_maps_differ_between_queries():
    torch.manual_seed(0)
    ex = SAGANExplorer(net.Generator(TINY), net.Discriminator(TINY), TINY, torch.device("cpu"))
    for m in ex.g.modules():  # random gamma/weights so attention is not uniform
        if isinstance(m, net.SelfAttention):
            m.gamma.data.fill_(0.5)
    gen = ex.generate(7)
    assert gen.image.shape == (64, 64, 3) and np.array_equal(gen.image, ex.generate(7).image)
    a = read_attention(gen.maps["G.attn32"], "G.attn32", 2, 2, "query", 0.5).map
    b = read_attention(gen.maps["G.attn32"], "G.attn32", 60, 60, "query", 0.5).map
    assert not np.allclose(a, b)
    rows = ex.spectral_report(k=20)
    assert len(rows) == len(net.spectral_layers(ex.g)) + len(net.spectral_layers(ex.d))
    assert all(r["rel_error_after_20"] <= r["rel_error_used"] + 1e-6 for r in rows)
    curve, exact = ex.power_iteration_curve(rows[0]["layer"], steps=40)
    assert abs(curve[-1] - exact) / exact < 1e-2


def test_ranked_seeds_put_the_judges_surest_faces_first_taking_its_classes_in_turn():
    torch.manual_seed(0)
    ex = SAGANExplorer(net.Generator(TINY), net.Discriminator(TINY), TINY, torch.device("cpu"))
    seen = []

    def judge(faces):  # brighter faces are "light", the rest "dark"; the surer, the further from mid-grey
        seen.append(len(faces))
        m = np.array([f.mean() / 255 for f in faces])
        return [("light" if v > np.median(m) else "dark", 0.5 + abs(v - np.median(m))) for v in m]

    order = ex.ranked_seeds(pool=10, judge=judge)
    assert sorted(order) == list(range(10)) and seen == [10]
    faces = [ex.generate(s).image for s in range(10)]
    verdicts = judge(faces)
    names = [verdicts[s][0] for s in order]
    assert all(a != b for a, b in zip(names, names[1:]))  # 5 and 5: the classes alternate
    assert max(verdicts, key=lambda v: v[1]) == verdicts[order[0]]  # the surest face of all opens the tab
    for name in ("light", "dark"):
        probs = [verdicts[s][1] for s in order if verdicts[s][0] == name]
        assert probs == sorted(probs, reverse=True)
    assert ex.ranked_seeds(pool=10, judge=judge) == order and seen == [10, 10]  # cached: the judge is not asked again
    with torch.inference_mode():  # without a judge: D's score, most real first
        scores = ex.d(ex.g(torch.cat([z_from_seed(s, TINY.z_dim) for s in range(10)]))).flatten()
    assert ex.ranked_seeds(pool=10) == [int(i) for i in torch.argsort(scores, descending=True)]


def test_diffaugment_is_differentiable_random_per_sample_and_keeps_shape():
    from gan_viz.models.sagan.diffaug import cutout, diff_augment, translation

    x = torch.randn(6, 3, 16, 16, requires_grad=True)
    y = diff_augment(x, gen=torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    (g,) = torch.autograd.grad(y.square().sum(), x)
    assert g.abs().sum() > 0  # G's gradient passes through the augmentation
    ones = torch.ones(64, 1, 8, 8)
    cut = cutout(ones, gen=torch.Generator().manual_seed(1))
    assert set(cut.unique().tolist()) <= {0.0, 1.0} and 0 < (1 - cut).mean() <= 0.25  # at most a 4x4 square of 8x8
    moved = translation(torch.arange(64.0).view(1, 1, 8, 8).repeat(16, 1, 1, 1), gen=torch.Generator().manual_seed(2))
    assert not torch.equal(moved[0], moved[1]) or not torch.equal(moved[1], moved[2])  # shifts differ per sample


def test_standing_statistics_average_the_batch_statistics_of_gs_own_samples_and_touch_nothing_else():
    from gan_viz.models.sagan.standing import standing_statistics

    torch.manual_seed(0)
    g = net.Generator(TINY).eval()
    before = copy.deepcopy(g.state_dict())
    shipped = standing_statistics(g, TINY.z_dim, batches=3, batch_size=5, seed=4)
    # The formula, computed apart: every BN normalising with its batch's statistics (as while gathering), the same
    # z batches; the running mean / variance must be the plain average of the batch means / unbiased variances.
    probe = copy.deepcopy(g).eval()
    seen = []
    probe.bn_out.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].detach().clone()))
    for m in probe.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.train()
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for _ in range(3):
            probe(torch.randn(5, TINY.z_dim, generator=gen))
    mean = torch.stack([x.mean((0, 2, 3)) for x in seen]).mean(0)
    var = torch.stack([x.var((0, 2, 3), unbiased=True) for x in seen]).mean(0)
    assert torch.allclose(shipped.bn_out.running_mean, mean, atol=1e-5)
    assert torch.allclose(shipped.bn_out.running_var, var, rtol=1e-4)
    assert not torch.allclose(before["bn_out.running_var"], var, rtol=1e-2)  # the test can tell the two apart
    for k, v in shipped.state_dict().items():  # parameters, spectral norm's u and sigma: untouched
        if "running_" not in k and "num_batches" not in k:
            assert torch.equal(v, before[k]), k
    assert all(torch.equal(v, before[k]) for k, v in g.state_dict().items())  # the original G is left as it was
    assert not shipped.training and all(not m.training and m.momentum == 0.1 for m in shipped.modules()
                                        if isinstance(m, torch.nn.BatchNorm2d))


def test_the_standing_command_rewrites_an_old_export_s_statistics_and_its_card(tmp_path, monkeypatch):
    import sys

    from gan_viz import training
    from gan_viz.models.sagan import standing
    from gan_viz.models.sagan.card import COPIED_NOTE, STANDING_NOTE, model_card

    torch.manual_seed(0)
    g, d = net.Generator(TINY), net.Discriminator(TINY)
    g.train()
    with torch.no_grad():
        g(torch.randn(4, TINY.z_dim))  # running statistics of one small training batch, as G_ema would copy them
    copied = g.bn_out.running_var.clone()
    training.export_weights(tmp_path, {**{f"G.{k}": v for k, v in g.state_dict().items()},
                                       **{f"D.{k}": v for k, v in d.state_dict().items()}}, TINY.to_dict(),
                            model_card(TINY.to_dict(), 1, [], {}, standing=False))
    assert COPIED_NOTE in (tmp_path / "README.md").read_text()
    monkeypatch.setattr(sys, "argv", ["standing", "--weights", str(tmp_path), "--batches", "3", "--batch-size", "5"])
    standing.main()
    card = (tmp_path / "README.md").read_text()
    assert STANDING_NOTE in card and COPIED_NOTE not in card and (tmp_path / "samples.png").exists()
    shipped = load_file(tmp_path / "model.safetensors")
    expected = standing.standing_statistics(g.eval(), TINY.z_dim, 3, 5)
    assert torch.allclose(shipped["G.bn_out.running_var"], expected.bn_out.running_var)
    assert not torch.allclose(shipped["G.bn_out.running_var"], copied)
