"""Weight resolution: a real hf_hub_download against a stand-in Hub, then the cache, offline and unreachable paths."""
import json
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from gan_viz import hub
from tests.hub_standin import COMMIT, SilentServer, StandInHub, closed_port_url

REPO = "gan-viz/test-weights"


def _family(folder: Path, family: str, value: float) -> None:
    (folder / family).mkdir(parents=True, exist_ok=True)
    save_file({"w": torch.full((2, 2), value)}, folder / family / "model.safetensors")
    (folder / family / "config.json").write_text(json.dumps({"value": value}))
    (folder / family / "README.md").write_text(f"card {value}")


@pytest.fixture
def env(tmp_path, monkeypatch):
    remote, bundled = tmp_path / "remote", tmp_path / "bundled"
    _family(remote, "toy", 1.0)
    _family(bundled, "toy", 2.0)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return remote, bundled


def _settings(bundled, **kw):
    return hub.HubSettings(checkpoints=bundled, **{"repo": REPO, "revision": COMMIT, "timeout_s": 5.0, **kw})


def test_downloads_from_the_hub_then_serves_from_cache(env, monkeypatch):
    remote, bundled = env
    with StandInHub(remote, REPO) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        w = hub.resolve("toy", _settings(bundled))
        assert w.source == "hub" and w.config == {"value": 1.0}
        assert float(w.state_dict()["w"][0, 0]) == 1.0
        assert w.card == "card 1.0"
        assert ("GET", f"/{REPO}/resolve/{COMMIT}/toy/model.safetensors") in server.requests
    # The stand-in is gone: the same repo and revision now come from the HF cache.
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    w = hub.resolve("toy", _settings(bundled))
    assert w.source == "hf-cache" and w.config == {"value": 1.0}
    assert "unreachable" in w.detail
    # Offline: no network attempt at all, the cache still answers.
    w = hub.resolve("toy", _settings(bundled, offline=True))
    assert w.source == "hf-cache" and "offline" in w.tried[0]


def test_no_repo_means_bundled_and_no_network(env, monkeypatch):
    _, bundled = env
    monkeypatch.setattr(hub, "_reachable", lambda *a: pytest.fail("network touched"))
    w = hub.resolve("toy", hub.HubSettings(repo=None, checkpoints=bundled))
    assert w.source == "bundled" and w.config == {"value": 2.0} and "no Hub repo" in w.detail


def test_unreachable_hub_falls_back_to_bundled_quickly(env, monkeypatch):
    _, bundled = env
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    t = time.monotonic()
    w = hub.resolve("toy", _settings(bundled))
    assert w.source == "bundled" and time.monotonic() - t < 3
    assert any("unreachable" in s for s in w.tried)


def test_silent_hub_is_bounded_by_the_deadline(env, monkeypatch):
    _, bundled = env
    with SilentServer() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        t = time.monotonic()
        w = hub.resolve("toy", _settings(bundled, timeout_s=1.5))
        elapsed = time.monotonic() - t
    assert w.source == "bundled" and elapsed < 5
    assert any("TimeoutError" in s for s in w.tried)


def test_missing_everywhere_lists_what_was_tried(env, monkeypatch):
    remote, bundled = env
    with StandInHub(remote, REPO) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        with pytest.raises(hub.WeightsNotFound) as e:
            hub.resolve("absent", _settings(bundled))
    msg = str(e.value)
    assert "Hub gan-viz/test-weights" in msg and "HF cache" in msg and "bundled" in msg


def test_bundled_checkpoints_resolve_without_network():
    # The repository's own checkpoints: every bundled family is complete.
    for family in [d.name for d in hub.CHECKPOINTS.iterdir() if d.is_dir()]:
        w = hub.resolve(family, hub.HubSettings(repo=None))
        assert w.source == "bundled" and w.state_dict() and w.card.strip()


def test_push_uploads_the_checkpoints_folder(monkeypatch, tmp_path):
    import huggingface_hub

    calls = {}

    class FakeApi:
        def __init__(self, endpoint=None):
            calls["endpoint"] = endpoint

        def create_repo(self, repo, **kw):
            calls["create"] = (repo, kw)

        def upload_folder(self, **kw):
            calls["upload"] = kw
            return "commit-url"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    _family(tmp_path, "toy", 3.0)
    hub.main(["push", "--repo", "me/gan-viz", "--folder", str(tmp_path)])
    assert calls["create"][0] == "me/gan-viz" and calls["create"][1]["repo_type"] == "model"
    assert calls["upload"]["folder_path"] == str(tmp_path) and calls["upload"]["repo_id"] == "me/gan-viz"


def test_int8_storage_round_trips_within_half_a_step_and_hub_reads_it_back(tmp_path):
    from safetensors.torch import save_file

    from gan_viz import quantize
    torch.manual_seed(0)
    state = {"conv.weight": torch.randn(8, 4, 3, 3) * torch.linspace(0.01, 3, 8)[:, None, None, None],
             "conv.bias": torch.randn(8), "small.weight": torch.randn(4, 4), "steps": torch.tensor(3)}
    stored = quantize.quantise_state(state, min_numel=100)
    assert stored["conv.weight"].dtype == torch.int8 and stored["conv.weight" + quantize.SCALE_SUFFIX].shape == (8, 1, 1, 1)
    assert torch.equal(stored["conv.bias"], state["conv.bias"]) and stored["small.weight"].dtype == torch.float32
    back = quantize.dequantise_state(stored)
    assert set(back) == set(state)
    step = stored["conv.weight" + quantize.SCALE_SUFFIX].float()
    # per output channel: error at most half a step (plus the float16 rounding of the step itself)
    assert ((back["conv.weight"] - state["conv.weight"]).abs() <= step * 0.5 + state["conv.weight"].abs() * 1e-3).all()
    folder = tmp_path / "fam"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    save_file(stored, folder / "model.safetensors")
    read = hub.ResolvedWeights("fam", folder, "folder", "test").state_dict()
    assert all(torch.equal(read[k], back[k]) for k in back)
