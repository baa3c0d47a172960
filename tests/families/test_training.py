"""Shared training machinery: safetensors state round trip, time budget, and real runs of the entry points on tiny data."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from gan_viz import training, utkface

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """40 random 'faces' named the UTKFace way (ages and genders spread), made here, not taken from the data set."""
    d = tmp_path_factory.mktemp("utk")
    rng = np.random.default_rng(0)
    for i in range(40):
        age, gender = [5, 16, 25, 45, 70][i % 5], i % 2
        arr = rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)
        Image.fromarray(arr).save(d / f"{age}_{gender}_0_2017010{i:03d}.jpg.chip.jpg")
    return d


def test_state_round_trip_restores_model_and_optimizer(tmp_path):
    torch.manual_seed(0)
    m = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    m(torch.randn(4, 3)).sum().backward()
    opt.step()
    training.save_training_state(tmp_path, {"m": m}, {"opt": opt}, {"step": 7})
    m2 = torch.nn.Linear(3, 2)
    opt2 = torch.optim.Adam(m2.parameters(), lr=1.0)
    meta = training.load_training_state(tmp_path, {"m": m2}, {"opt": opt2})
    assert meta == {"step": 7}
    assert torch.equal(m.weight, m2.weight)
    assert opt2.param_groups[0]["lr"] == 1e-2
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert torch.equal(s1[0]["exp_avg"], s2[0]["exp_avg"]) and float(s1[0]["step"]) == float(s2[0]["step"])
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.pkl"))  # no pickles


def test_time_budget():
    b = training.TimeBudget(max_minutes=0.0, every_minutes=0.0)
    assert b.expired() and b.due()
    assert not training.TimeBudget(max_minutes=10, every_minutes=10).expired()


def test_a_signal_ends_the_budget_instead_of_the_process():
    import signal

    before = signal.getsignal(signal.SIGUSR1)
    try:
        b = training.TimeBudget(max_minutes=10, every_minutes=10).stop_on(signal.SIGUSR1)
        assert not b.expired()
        os.kill(os.getpid(), signal.SIGUSR1)
        assert b.expired() and b.stopped_by == "SIGUSR1"
    finally:
        signal.signal(signal.SIGUSR1, before)


def test_split_is_stable_and_about_a_tenth(tiny_data):
    recs = utkface.records(tiny_data)
    assert len(recs) == 40 and [r.is_validation for r in recs] == [r.is_validation for r in utkface.records(tiny_data)]
    many = [utkface.Record(f"{i}_0_0_x.jpg.chip.jpg", 30, 0).is_validation for i in range(5000)]
    assert 0.08 < np.mean(many) < 0.12
    assert [utkface.age_group(a) for a in (0, 12, 13, 19, 20, 39, 40, 59, 60, 116)] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def _run(args, tmp_path, launcher=(sys.executable,)):
    env = {**os.environ, "GAN_VIZ_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    r = subprocess.run([*launcher, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def test_classifier_trains_exports_and_resumes(tiny_data, tmp_path):
    args = ["-m", "gan_viz.models.cam_classifier.train", "--data", str(tiny_data), "--epochs", "1", "--batch-size", "8",
            "--width", "4", "--image-size", "32", "--run-dir", "run", "--export-dir", "export", "--threads", "1"]
    _run(args, tmp_path)
    exported = tmp_path / "export"
    cfg = json.loads((exported / "config.json").read_text())
    assert cfg["image_size"] == 32 and "non-commercial" in (exported / "README.md").read_text()
    assert "heads.gender.weight" in load_file(exported / "model.safetensors")
    log = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert any("gender_acc_18_65" in r for r in log)
    # Resume with one more epoch: it continues from the saved step instead of starting over.
    _run(args[:5] + ["2"] + args[6:], tmp_path)
    state = json.loads((tmp_path / "run" / "state.json").read_text())["meta"]
    assert state["epoch"] == 2 and state["step"] == 2 * 5  # 36 training files / batch 8 -> 5 steps per epoch
    # A new run extends that export with the context block (it starts as the identity) and exports the wider net.
    _run(args[:-6] + ["--run-dir", "run2", "--export-dir", "export2", "--threads", "1", "--init-from", "export",
                      "--context-dilations", "2", "4"], tmp_path)
    cfg2 = json.loads((tmp_path / "export2" / "config.json").read_text())
    assert cfg2["context_dilations"] == [2, 4] and "75x75" in (tmp_path / "export2" / "README.md").read_text()
    assert any(".residual." in k for k in load_file(tmp_path / "export2" / "model.safetensors"))


def test_classifier_trains_on_the_apps_own_crops(tiny_data, tmp_path):
    r = _run(["-m", "gan_viz.models.cam_classifier.app_crops", "--data", str(tiny_data), "--out", "crops.npz",
              "--size", "48"], tmp_path)
    with np.load(tmp_path / "crops.npz") as z:
        names, crops, found = list(z["names"]), z["crops"], z["found"]
    train = [Path(r.path).name for r in utkface.records(tiny_data) if not r.is_validation]
    n = len(train)
    assert names == train and crops.shape == (n, 48, 48, 3) and crops.dtype == np.uint8 and found.shape == (n,)
    assert f"{n} training faces" in r.stdout
    args = ["-m", "gan_viz.models.cam_classifier.train", "--data", str(tiny_data), "--epochs", "1", "--batch-size", "8",
            "--width", "4", "--image-size", "32", "--source-size", "40", "--run-dir", "run", "--export-dir", "export",
            "--threads", "1", "--app-crops", "crops.npz", "--app-crop-share", "0.5"]
    _run(args + ["--ema-decay", "0.9"], tmp_path)
    card = (tmp_path / "export" / "README.md").read_text()
    assert "the app's own crops" in card and "| weight averaging | moving average, decay 0.9" in card
    log = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert any("ema_gender_acc_18_65" in r for r in log)  # both nets evaluated
    assert any(k.startswith("ema/") for k in load_file(tmp_path / "run" / "state.safetensors"))  # and resumable
    # A file made for other faces is refused with what to do, not silently misaligned.
    _run(["-m", "gan_viz.models.cam_classifier.app_crops", "--data", str(tiny_data), "--out", "few.npz", "--limit", "5"],
         tmp_path)
    env = {**os.environ, "GAN_VIZ_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    bad = subprocess.run([sys.executable, *args[:-4], "--run-dir", "run3", "--app-crops", "few.npz"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=180)
    assert bad.returncode != 0 and "rebuild it" in bad.stderr


def test_classifier_trains_from_packs_distilling_a_teacher_with_loader_processes(tiny_data, tmp_path):
    # How the classifier trains on a GPU: both data sets as WebP packs, a wider teacher, batches made by processes.
    _run(["-m", "gan_viz.models.cam_classifier.app_crops", "--data", str(tiny_data), "--out", "crops.npz",
          "--size", "48"], tmp_path)
    r = _run([str(ROOT / "scripts" / "pack_classifier_data.py"), "--data", str(tiny_data), "--app-crops", "crops.npz",
              "--out", "pack", "--size", "48", "--crop-size", "40"], tmp_path)
    assert "faces-48.npz: 40 faces" in r.stdout and "app-crops-40.npz" in r.stdout
    recs = utkface.records(tiny_data)
    packed_recs, packed = utkface.load_pack(tmp_path / "pack" / "faces-48.npz")
    assert [Path(q.path).name for q in packed_recs] == [Path(q.path).name for q in recs]
    assert [(q.age, q.gender) for q in packed_recs] == [(q.age, q.gender) for q in recs]
    assert [q.is_validation for q in packed_recs] == [q.is_validation for q in recs]  # the same split travels
    assert packed.shape == (40, 48, 48, 3)
    base = ["-m", "gan_viz.models.cam_classifier.train", "--data", "pack/faces-48.npz", "--epochs", "1",
            "--batch-size", "8", "--image-size", "32", "--source-size", "40", "--threads", "1"]
    _run(base + ["--width", "8", "--run-dir", "t", "--export-dir", "teacher"], tmp_path)
    _run(base + ["--width", "4", "--run-dir", "s", "--export-dir", "student", "--teacher", "teacher",
                 "--app-crops", "pack/app-crops-40.npz", "--loader-workers", "2", "--distill-alpha", "0.5"], tmp_path)
    card = (tmp_path / "student" / "README.md").read_text()
    assert "| distillation | from teacher (width 8), alpha 0.5, T 4" in card
    assert json.loads((tmp_path / "s" / "state.json").read_text())["meta"]["epoch"] == 1


def test_a_batch_is_the_same_made_inline_or_by_a_loader_process():
    from multiprocessing import get_context

    from gan_viz.models.cam_classifier import train
    rng = np.random.default_rng(0)
    train._SOURCES.update(train=rng.integers(0, 256, (12, 40, 40, 3), dtype=np.uint8),
                          app=rng.integers(0, 256, (12, 40, 40, 3), dtype=np.uint8))
    jobs = [(np.array([0, 3, 5, 7]), (0, 0, step), 32, 0.5) for step in (4, 5)]
    inline = [train.make_batch(*j) for j in jobs]
    with get_context("fork").Pool(2) as pool:
        pooled = pool.map(train._make_batch_job, jobs)
    assert all(np.array_equal(a, b) for a, b in zip(inline, pooled))
    assert not np.array_equal(inline[0], inline[1])  # each step draws its own augmentation


def test_distillation_loss_is_the_tempered_kl_times_t_squared():
    from gan_viz.models.cam_classifier.train import distillation_loss
    s, t = torch.tensor([[2.0, -1.0], [0.5, 0.3]]), torch.tensor([[1.0, 0.0], [-1.0, 2.0]])
    temp = 3.0
    p_t, p_s = torch.softmax(t / temp, 1), torch.softmax(s / temp, 1)
    by_hand = (p_t * (p_t.log() - p_s.log())).sum(1).mean() * temp ** 2
    assert torch.allclose(distillation_loss(s, t, temp), by_hand, atol=1e-6)
    assert distillation_loss(t, t, temp).abs() < 1e-6


def test_classifier_trains_under_torchrun_with_two_cpu_processes(tiny_data, tmp_path):
    args = ["-m", "gan_viz.models.cam_classifier.train", "--data", str(tiny_data), "--epochs", "1", "--batch-size", "4",
            "--width", "4", "--image-size", "32", "--run-dir", "run", "--export-dir", "export", "--threads", "1"]
    launcher = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2")
    _run(args[1:], tmp_path, launcher=launcher + ("--module",))
    state = json.loads((tmp_path / "run" / "state.json").read_text())["meta"]
    assert state["epoch"] == 1 and state["step"] == 5  # 36 files / (4 per rank x 2 ranks) -> 5 steps
    assert (tmp_path / "export" / "model.safetensors").exists()


def test_sagan_entry_point_runs_and_exports_samples(tiny_data, tmp_path):
    _run(["-m", "gan_viz.models.sagan.train", "--data", str(tiny_data), "--max-steps", "2", "--batch-size", "4",
          "--g-channels", "8", "--d-channels", "8", "--run-dir", "run", "--export-dir", "export", "--threads", "1"],
         tmp_path)
    exported = tmp_path / "export"
    assert {"config.json", "model.safetensors", "README.md", "samples.png"} <= {p.name for p in exported.iterdir()}
    keys = load_file(exported / "model.safetensors")
    assert any(k.startswith("G.") for k in keys) and any(k.startswith("D.") for k in keys)
    assert json.loads((tmp_path / "run" / "state.json").read_text())["meta"]["step"] == 2
    # The shipped G carries batch-norm statistics of its own samples (standing.py), not those G_ema copied from the
    # trained G: re-estimating them from the exported weights gives them back (up to the float16 storage).
    from gan_viz.models.sagan.network import Generator, SAGANConfig
    from gan_viz.models.sagan.standing import standing_statistics

    cfg = SAGANConfig.from_dict(json.loads((exported / "config.json").read_text()))
    g = Generator(cfg)
    g.load_state_dict({k[2:]: v.float() for k, v in keys.items() if k.startswith("G.")})
    again = standing_statistics(g, cfg.z_dim)
    assert torch.allclose(again.bn_out.running_var, g.bn_out.running_var, rtol=0.02, atol=1e-3)
    raw = {k[2:]: v.float() for k, v in load_file(exported / "resume.safetensors").items()}
    assert not torch.allclose(raw["bn_out.running_var"], g.bn_out.running_var, rtol=0.02, atol=1e-3)


def test_sagan_training_accumulates_from_the_export_when_the_run_is_gone(tiny_data, tmp_path):
    args = ["-m", "gan_viz.models.sagan.train", "--data", str(tiny_data), "--batch-size", "4", "--g-channels", "8",
            "--d-channels", "8", "--run-dir", "run", "--export-dir", "export", "--threads", "1", "--ema-decay", "0.5"]
    _run(args + ["--max-steps", "2"], tmp_path)
    from safetensors import safe_open

    # The resume file holds the raw G (float16) and the step; G_ema and D are the exported model itself.
    with safe_open(str(tmp_path / "export" / "resume.safetensors"), framework="pt") as f:
        assert f.metadata()["step"] == "2" and {k.split(".")[0] for k in f.keys()} == {"G"}
        raw_g = {k[2:]: f.get_tensor(k).clone() for k in f.keys()}
    run_g = {k[2:]: v for k, v in load_file(tmp_path / "run" / "state.safetensors").items() if k.startswith("G/")}
    assert raw_g.keys() == run_g.keys() and all(torch.allclose(raw_g[k].float(), run_g[k].float(), atol=1e-2) for k in raw_g)
    model = load_file(tmp_path / "export" / "model.safetensors")
    assert all(v.dtype == torch.float16 for v in model.values() if v.is_floating_point())
    before = {k: v.clone() for k, v in model.items() if k.startswith("G.")}  # G_ema
    import shutil

    shutil.rmtree(tmp_path / "run")  # a fresh machine: runs/ is gone, the committed export is there
    _run(args + ["--max-steps", "3"], tmp_path)
    assert json.loads((tmp_path / "run" / "state.json").read_text())["meta"]["step"] == 3
    with safe_open(str(tmp_path / "export" / "resume.safetensors"), framework="pt") as f:
        assert f.metadata()["step"] == "3" and int(f.metadata()["images_seen"]) == 12
    after = {k: v for k, v in load_file(tmp_path / "export" / "model.safetensors").items() if k.startswith("G.")}
    assert after.keys() == before.keys()
    changed = [k for k in before if not torch.equal(after[k], before[k])]
    # Trained on from the export, not restarted: some weights moved, and most stayed within one step's reach.
    assert changed and sum((after[k].float() - before[k].float()).abs().max() < 0.5 for k in before) > 0.9 * len(before)
    assert "3 training steps" in (tmp_path / "export" / "README.md").read_text()


def test_cyclegan_entry_point_runs_and_exports(tiny_data, tmp_path):
    _run(["-m", "gan_viz.models.cyclegan.train", "--data", str(tiny_data), "--total-steps", "2", "--batch-size", "2",
          "--image-size", "32", "--ngf", "4", "--ndf", "4", "--n-blocks", "1", "--run-dir", "run",
          "--export-dir", "export", "--threads", "1"], tmp_path)
    keys = load_file(tmp_path / "export" / "model.safetensors")
    assert any(k.startswith("male_to_female.") for k in keys) and any(k.startswith("D_female.") for k in keys)
    # The next stage: a larger size and a deeper PatchGAN, generators started from the export above.
    _run(["-m", "gan_viz.models.cyclegan.train", "--data", str(tiny_data), "--total-steps", "1", "--batch-size", "2",
          "--image-size", "48", "--ngf", "4", "--ndf", "4", "--n-blocks", "1", "--d-layers", "4",
          "--lambda-identity", "0.1", "--init-generators", "export", "--run-dir", "run48", "--export-dir", "export48",
          "--threads", "1"], tmp_path)
    cfg = json.loads((tmp_path / "export48" / "config.json").read_text())
    assert cfg["image_size"] == 48 and cfg["d_layers"] == 4
    card = (tmp_path / "export48" / "README.md").read_text()
    assert "1 identity L1" in card and "export" in card
    assert json.loads((tmp_path / "run48" / "state.json").read_text())["meta"]["init_generators"] == "export"


def test_cyclegan_next_stage_can_start_every_net_from_the_export_in_bf16(tiny_data, tmp_path):
    base = ["-m", "gan_viz.models.cyclegan.train", "--data", str(tiny_data), "--batch-size", "2", "--ngf", "4",
            "--ndf", "4", "--n-blocks", "1", "--d-layers", "4", "--threads", "1"]
    _run(base + ["--total-steps", "1", "--image-size", "48", "--run-dir", "run", "--export-dir", "export"], tmp_path)
    _run(base + ["--total-steps", "0", "--image-size", "64", "--init-generators", "export", "--init-discriminators",
                 "--bf16", "--run-dir", "run48", "--export-dir", "export48"], tmp_path)
    before, after = load_file(tmp_path / "export" / "model.safetensors"), load_file(tmp_path / "export48" / "model.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("D_female.", "D_male.")))
    assert "bfloat16 autocast" in (tmp_path / "export48" / "README.md").read_text()


def test_classifier_trades_training_runs_and_says_so(tiny_data, tmp_path):
    _run(["-m", "gan_viz.models.cam_classifier.train", "--data", str(tiny_data), "--epochs", "1", "--batch-size", "8",
          "--width", "4", "--image-size", "32", "--adversarial-eps", "4", "--trades-beta", "6", "--run-dir", "run",
          "--export-dir", "export", "--threads", "1"], tmp_path)
    assert "TRADES" in (tmp_path / "export" / "README.md").read_text()


def test_lbam_entry_point_runs_and_exports(tiny_data, tmp_path):
    _run(["-m", "gan_viz.models.lbam.train", "--data", str(tiny_data), "--max-steps", "2", "--batch-size", "2",
          "--image-size", "32", "--channels", "4,8,8,8", "--run-dir", "run", "--export-dir", "export",
          "--threads", "1"], tmp_path)
    assert "enc.0.weight" in load_file(tmp_path / "export" / "model.safetensors")
    assert json.loads((tmp_path / "export" / "config.json").read_text())["channels"] == [4, 8, 8, 8]


def test_more_processes_than_gpus_train_on_the_cpu(monkeypatch):
    # Seen on a one-GPU machine: two torchrun ranks both took CUDA and rank 1 died ("invalid device ordinal").
    import gan_viz.training as training

    backends = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: None)
    monkeypatch.setattr(training.dist, "init_process_group", lambda backend: backends.append(backend))
    monkeypatch.setattr(training.dist, "get_rank", lambda: 1)
    monkeypatch.setenv("WORLD_SIZE", "2"), monkeypatch.setenv("LOCAL_WORLD_SIZE", "2"), monkeypatch.setenv("LOCAL_RANK", "1")
    assert training.init_distributed().device == torch.device("cpu") and backends == ["gloo"]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)  # one GPU per rank: NCCL on the rank's own GPU
    assert training.init_distributed().device == torch.device("cuda", 1) and backends == ["gloo", "nccl"]


def _pack(folder, out, size=64):
    """A face pack in pack_faces.py's layout (JPEG bytes + offsets + labels + names), made from the tiny set."""
    import io

    files = sorted(folder.iterdir())
    blobs = []
    for f in files:
        b = io.BytesIO()
        Image.open(f).resize((size, size)).save(b, "JPEG", quality=85)
        blobs.append(np.frombuffer(b.getvalue(), np.uint8))
    np.savez(out, jpeg=np.concatenate(blobs), offsets=np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64),
             gender=np.array([int(f.name.split("_")[1]) for f in files], np.int8),
             age=np.array([int(f.name.split("_")[0]) for f in files], np.int16), name=np.array([f.name for f in files]))
    return out


def test_a_face_pack_reads_as_the_folder_does_and_sagan_trains_from_it(tiny_data, tmp_path):
    pack = _pack(tiny_data, tmp_path / "faces.npz")
    recs, pixels = utkface.load_pack(pack)
    folder = utkface.records(tiny_data)
    assert [(os.path.basename(r.path), r.age, r.gender, r.is_validation) for r in folder] == \
        [(r.path, r.age, r.gender, r.is_validation) for r in recs]  # same labels, same split
    assert pixels.shape == (40, 64, 64, 3) and pixels.dtype == np.uint8
    ref = np.asarray(Image.open(folder[0].path).resize((64, 64)), np.float32)
    assert np.abs(pixels[0].astype(np.float32) - ref).mean() < 12  # the JPEG round trip of that face, not another
    r = _run(["-m", "gan_viz.models.sagan.train", "--data", str(pack), "--max-steps", "2", "--batch-size", "4",
              "--g-channels", "8", "--d-channels", "8", "--run-dir", "run", "--export-dir", "export", "--threads", "1"],
             tmp_path)
    n_train = sum(not r_.is_validation for r_ in folder)
    assert f"{n_train} training faces" in r.stdout
    with pytest.raises(SystemExit, match="64 px"):  # a pack of another size is refused with the fix, not misread
        _run_main_with(["--data", str(_pack(tiny_data, tmp_path / "f32.npz", size=32))], tmp_path)


def _run_main_with(args, tmp_path):
    from gan_viz.models.sagan import train

    old = sys.argv
    sys.argv = ["train", *args, "--run-dir", str(tmp_path / "r32"), "--export-dir", str(tmp_path / "e32")]
    try:
        train.main()
    finally:
        sys.argv = old


def test_an_export_that_ships_the_raw_g_resumes_g_and_its_average_from_the_model(tmp_path):
    # checkpoints/sagan ships G itself (not its moving average): its resume file holds only the step, no tensors.
    from safetensors.torch import save, save_file

    from gan_viz.models.sagan.network import Discriminator, Generator, SAGANConfig
    from gan_viz.models.sagan.train import RESUME_FILE, load_resume_export

    cfg = SAGANConfig(g_channels=8, d_channels=8)
    torch.manual_seed(0)
    g, d = Generator(cfg), Discriminator(cfg)
    save_file({**{f"G.{k}": v.half() for k, v in g.state_dict().items() if v.is_floating_point()},
               **{f"G.{k}": v for k, v in g.state_dict().items() if not v.is_floating_point()},
               **{f"D.{k}": v for k, v in d.state_dict().items()}}, tmp_path / "model.safetensors")
    (tmp_path / RESUME_FILE).write_bytes(save({}, metadata={"step": "7", "images_seen": "56"}))
    torch.manual_seed(1)
    modules = {"G": Generator(cfg), "G_ema": Generator(cfg), "D": Discriminator(cfg)}
    meta = load_resume_export(tmp_path, modules)
    assert (meta["step"], meta["images_seen"]) == (7, 56)
    for name in ("G", "G_ema"):
        got = modules[name].state_dict()
        assert all(torch.allclose(got[k].float(), v.half().float()) for k, v in g.state_dict().items())
    assert all(torch.equal(modules["D"].state_dict()[k], v) for k, v in d.state_dict().items())


def test_a_teacher_exported_in_float16_loads_as_the_net_it_was(tmp_path):
    from gan_viz.models.cam_classifier.network import CAMClassifier, CAMClassifierConfig
    from gan_viz.models.cam_classifier.train import load_export
    torch.manual_seed(0)
    net = CAMClassifier(CAMClassifierConfig(image_size=32, width=4, context_dilations=(2, 4)))
    training.export_weights(tmp_path, net.state_dict(), net.config.to_dict(), "card", dtype=torch.float16)
    back = load_export(tmp_path)
    assert back.config.context_dilations == (2, 4)
    for (k, a), (_, b) in zip(net.state_dict().items(), back.state_dict().items()):
        assert b.dtype == a.dtype and torch.allclose(a.float(), b.float(), rtol=1e-3, atol=1e-3), k


def test_a_teacher_with_trades_is_refused_with_the_reason(tiny_data, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "gan_viz.models.cam_classifier.train", "--data", str(tiny_data),
                        "--teacher", "t", "--adversarial-eps", "3", "--trades-beta", "6"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "TRADES" in r.stderr


def test_the_translators_read_a_face_pack_as_the_folder(tmp_path, monkeypatch):
    # How the CycleGAN and U-GAT-IT train on a GPU machine: a pack at image_size + 1/8 (64 -> 72 px).
    monkeypatch.setenv("GAN_VIZ_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "utk"
    data.mkdir()
    for i in range(30):  # adults and children of both genders, each 'face' a flat colour of its own
        colour = np.array([(i * 37) % 256, (i * 91) % 256, (i * 53) % 256], np.uint8)
        Image.fromarray(np.tile(colour, (200, 200, 1))).save(data / f"{[30, 8][i % 5 == 0]}_{i % 2}_0_2017{i:06d}.jpg")
    folder_images, folder_m, folder_f = training.load_gender_domains(data, 64)
    pack_images, pack_m, pack_f = training.load_gender_domains(_pack(data, tmp_path / "f72.npz", size=72), 64)
    adults = [r for r in utkface.records(data) if not r.is_validation and 18 <= r.age <= 65]
    assert len(folder_images) == len(pack_images) == len(adults) and pack_images.shape[1:] == (72, 72, 3)
    assert torch.equal(folder_m, pack_m) and torch.equal(folder_f, pack_f)  # the same faces in the same rows
    assert (folder_images.float() - pack_images.float()).abs().mean() < 3  # the same face, through the pack's JPEG
    with pytest.raises(SystemExit, match="--size 72"):  # a pack of another size is refused with the fix
        training.load_gender_domains(_pack(data, tmp_path / "f64.npz", size=64), 64)


def test_a_pack_of_the_training_adults_in_parts_holds_each_once(tiny_data, tmp_path):
    parts = []
    for k in (1, 2):
        r = _run([str(ROOT / "scripts" / "pack_faces.py"), "--data", str(tiny_data), "--size", "36", "--train-only",
                  "--adults", "--part", f"{k}/2", "--out", f"p{k}.npz"], tmp_path)
        assert r.returncode == 0, r.stderr
        parts.append(utkface.load_pack(tmp_path / f"p{k}.npz")[0])
    names = [r.path for part in parts for r in part]
    adults = [os.path.basename(r.path) for r in utkface.records(tiny_data) if not r.is_validation and 18 <= r.age <= 65]
    assert sorted(names) == sorted(adults) and len(set(names)) == len(names)
    assert all(18 <= r.age <= 65 and not r.is_validation for part in parts for r in part)


def test_lbam_trains_from_a_pack_of_another_size_scaled_to_its_own(tiny_data, tmp_path):
    # LBAM at 256 px trains on UTKFace's 200 px faces scaled up; here a 24 px pack feeds a 32 px run.
    pack = _pack(tiny_data, tmp_path / "f24.npz", size=24)
    recs, pixels = training.read_faces(pack)
    rows = [i for i, r in enumerate(recs) if not r.is_validation]
    scaled = training.pixels_at(recs, pixels, rows, 32)
    assert scaled.shape == (len(rows), 32, 32, 3) and scaled.dtype == np.uint8
    assert np.abs(scaled.astype(float).mean((1, 2)) - pixels[rows].astype(float).mean((1, 2))).max() < 3  # same faces
    r = _run(["-m", "gan_viz.models.lbam.train", "--data", str(pack), "--max-steps", "2", "--batch-size", "2",
              "--image-size", "32", "--channels", "4,8,8,8", "--run-dir", "run", "--export-dir", "export",
              "--threads", "1"], tmp_path)
    assert "enc.0.weight" in load_file(tmp_path / "export" / "model.safetensors"), r.stdout


def test_lbam_widths_reach_a_2x2_bottleneck_and_256_px_fits_15_mb_in_int8():
    from gan_viz.models.lbam import start
    from gan_viz.models.lbam.network import LBAMConfig, LBAMGenerator

    assert start.default_channels(128) == [32, 64, 128, 256, 256, 256]  # the bundled model's widths
    ch = start.default_channels(256)
    assert ch[:6] == start.default_channels(128) and 256 // 2 ** len(ch) == 2
    g = LBAMGenerator(LBAMConfig(image_size=256, channels=ch))
    assert sum(p.numel() for p in g.parameters()) < 15e6  # int8: one byte per weight
    out, maps = g(torch.zeros(1, 3, 256, 256), torch.ones(1, 1, 256, 256), return_maps=True)
    assert out.shape == (1, 3, 256, 256) and maps["forward"][-1].shape[-1] == 2


def test_lbam_grown_one_level_deeper_keeps_every_tensor_whose_shape_allows():
    from gan_viz.models.lbam import start
    from gan_viz.models.lbam.network import LBAMConfig, LBAMGenerator

    torch.manual_seed(0)
    small = LBAMGenerator(LBAMConfig(image_size=16, channels=[4, 8, 8]))
    big = LBAMGenerator(LBAMConfig(image_size=32, channels=[4, 8, 8, 8]))
    fresh = {k: v.clone() for k, v in big.state_dict().items()}
    copied, total = start.grow_from(big, small.state_dict(), 3)
    s, b = small.state_dict(), big.state_dict()
    assert 0 < copied < total
    for k in ("enc.0.weight", "enc.2.weight", "enc_att.1.conv.weight", "enc_att.2.g_A.mu", "rev_att.1.conv.weight",
              "out.weight"):
        assert torch.equal(b[k], s[k]), k
    # decoder layer k restores level n-2-k: the small model's last (back to level 0) is the big one's last
    assert torch.equal(b["dec.2.weight"], s["dec.1.weight"]) and torch.equal(b["dec_bn.2.weight"], s["dec_bn.1.weight"])
    assert torch.equal(b["enc.3.weight"], fresh["enc.3.weight"])  # the new deepest level starts fresh
    assert torch.equal(b["dec.0.weight"], fresh["dec.0.weight"])
    assert torch.equal(b["dec.1.weight"], fresh["dec.1.weight"])  # level 1 now takes a skip too: twice the inputs


def test_lbam_runs_add_up_through_the_export_and_a_larger_size_grows_from_it(tiny_data, tmp_path):
    base = ["-m", "gan_viz.models.lbam.train", "--data", str(tiny_data), "--batch-size", "2", "--export-dir", "export",
            "--threads", "1"]
    _run([*base, "--max-steps", "2", "--image-size", "32", "--channels", "4,8,32,32", "--run-dir", "r1"], tmp_path)
    r = _run([*base, "--max-steps", "2", "--image-size", "64", "--channels", "4,8,32,32,32", "--run-dir", "r2"], tmp_path)
    assert "started from the 32 px LBAM at step 2" in r.stdout, r.stdout
    assert json.loads((tmp_path / "export" / "config.json").read_text())["image_size"] == 64
    (tmp_path / "export" / "quality.json").write_text("{}")  # as the benchmark leaves it: it measured older weights
    r = _run([*base, "--max-steps", "5", "--image-size", "64", "--channels", "4,8,32,32,32", "--run-dir", "r3"], tmp_path)
    assert "resumed from the export export at step 2" in r.stdout, r.stdout
    meta = json.loads((tmp_path / "export" / "resume.json").read_text())
    assert meta["step"] == 5 and meta["images_seen"] == 10 and [x["image_size"] for x in meta["runs"]] == [64, 64]
    assert meta["init"].startswith("the 32 px LBAM at step 2")
    assert (tmp_path / "export" / "discriminator.safetensors").exists()
    assert not (tmp_path / "export" / "quality.json").exists()
    assert load_file(tmp_path / "export" / "model.safetensors")["enc.3.weight"].dtype == torch.int8


def test_lbam_trains_with_the_papers_perceptual_and_style_losses_when_asked(tiny_data, tmp_path):
    _run(["-m", "gan_viz.models.lbam.train", "--data", str(tiny_data), "--max-steps", "20", "--batch-size", "2",
          "--image-size", "32", "--channels", "4,8,8,8", "--perceptual", "0.05", "--style", "120", "--threads", "1",
          "--run-dir", "run", "--export-dir", "export"], tmp_path)  # the log takes every 20th step
    log = json.loads((tmp_path / "export" / "training_log.json").read_text())
    assert log and all(r["loss_perceptual"] > 0 and "loss_style" in r for r in log)
    assert "0.05 perceptual + 120.0 style (features: checkpoints/cam_classifier/teacher)" in (
        tmp_path / "export" / "README.md").read_text()
