"""Find a model family's weights: Hub at a pinned revision -> HF cache -> bundled checkpoints/ -> one clear error.

Each family is `config.json` + `model.safetensors` (+ README.md, the model card) under
`<family>/`, in a Hub model repo or in this repository's `checkpoints/`. Weights are read
with safetensors only; nothing is ever unpickled. With no Hub repo configured nothing
touches the network. An unreachable Hub is given a bounded time (a TCP probe, then a
download deadline in a worker thread) because huggingface_hub itself can wait minutes.

Also a command: ``python -m gan_viz.hub push --repo OWNER/NAME`` uploads checkpoints/.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch
from safetensors.torch import load_file

from gan_viz.quantize import dequantise_state

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
WEIGHT_FILES = ("config.json", "model.safetensors")
DEFAULT_ENDPOINT = "https://huggingface.co"


@dataclass(frozen=True)
class HubSettings:
    """Where to look; built once from the app's flags and environment."""

    repo: str | None = None  # OWNER/NAME, or None for bundled weights only
    revision: str = "main"  # pin a commit hash in production
    offline: bool = False
    timeout_s: float = float(os.environ.get("GAN_VIZ_HUB_TIMEOUT", "15"))
    checkpoints: Path = CHECKPOINTS

    @classmethod
    def from_env(cls, **overrides) -> "HubSettings":
        values = {
            "repo": os.environ.get("GAN_VIZ_HUB_REPO") or None,
            "revision": os.environ.get("GAN_VIZ_HUB_REVISION", "main"),
            "offline": os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class ResolvedWeights:
    family: str
    folder: Path  # holds config.json and model.safetensors
    source: str  # "hub", "hf-cache" or "bundled"
    detail: str  # one line for the "About these models" panel
    tried: list[str] = field(default_factory=list)

    @property
    def config(self) -> dict:
        return json.loads((self.folder / "config.json").read_text())

    def state_dict(self) -> dict[str, torch.Tensor]:
        # safetensors: no code runs on load; int8-stored tensors (gan_viz/quantize.py) come back as float
        return dequantise_state(load_file(self.folder / "model.safetensors"))

    @property
    def card(self) -> str:
        p = self.folder / "README.md"
        return p.read_text() if p.exists() else ""


class WeightsNotFound(RuntimeError):
    pass


def _endpoint() -> str:
    # Read at call time (huggingface_hub reads HF_ENDPOINT once, at its import).
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


def _reachable(endpoint: str, timeout_s: float) -> bool:
    """A TCP connect to the endpoint: fails in well under a second when DNS or the route is down."""
    u = urlparse(endpoint)
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        with socket.create_connection((u.hostname, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _download(repo: str, family: str, revision: str, local_only: bool) -> Path:
    from huggingface_hub import hf_hub_download  # imported here: bundled-only runs never need it

    path = None
    for name in WEIGHT_FILES:
        path = hf_hub_download(repo, f"{family}/{name}", revision=revision, local_files_only=local_only,
                               endpoint=_endpoint(), cache_dir=os.environ.get("HF_HUB_CACHE"))
    try:  # the card is optional
        hf_hub_download(repo, f"{family}/README.md", revision=revision, local_files_only=local_only,
                        endpoint=_endpoint(), cache_dir=os.environ.get("HF_HUB_CACHE"))
    except Exception:  # noqa: BLE001 - a missing card must not block the weights
        pass
    return Path(path).parent


def _with_deadline(fn, timeout_s: float):
    """Run fn in a daemon thread; give up after timeout_s (the thread is left to finish on its own)."""
    result: dict = {}

    def run():
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - reported to the caller
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        raise TimeoutError(f"no answer within {timeout_s:.0f} s")
    if "error" in result:
        raise result["error"]
    return result["value"]


def resolve(family: str, settings: HubSettings | None = None) -> ResolvedWeights:
    """Where this family's weights come from this run, with the reason, or WeightsNotFound listing all tries."""
    s = settings or HubSettings.from_env()
    tried: list[str] = []
    if s.repo:
        where = f"{s.repo}@{s.revision}"
        if s.offline:
            tried.append(f"Hub {where}: skipped (offline)")
        elif not _reachable(_endpoint(), min(3.0, s.timeout_s)):
            tried.append(f"Hub {where}: {_endpoint()} unreachable")
        else:
            try:
                folder = _with_deadline(lambda: _download(s.repo, family, s.revision, False), s.timeout_s)
                return ResolvedWeights(family, folder, "hub", f"Hub {where} (downloaded or verified now)", tried)
            except Exception as e:  # noqa: BLE001 - any failure falls through to the next source
                tried.append(f"Hub {where}: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}")
        try:
            folder = _download(s.repo, family, s.revision, True)
            return ResolvedWeights(family, folder, "hf-cache", f"HF cache of {where} (Hub not used: {tried[-1]})", tried)
        except Exception as e:  # noqa: BLE001
            tried.append(f"HF cache {where}: {type(e).__name__}")
    bundled = s.checkpoints / family
    if all((bundled / n).exists() for n in WEIGHT_FILES):
        why = "no Hub repo configured" if not s.repo else f"Hub and cache failed: {'; '.join(tried)}"
        return ResolvedWeights(family, bundled, "bundled", f"bundled checkpoints/{family} ({why})", tried)
    tried.append(f"bundled {bundled}: missing {', '.join(n for n in WEIGHT_FILES if not (bundled / n).exists())}")
    raise WeightsNotFound(f"No weights for '{family}'. Tried: " + "; ".join(tried))


# ---------------------------------------------------------------- push command


def push(repo: str, folder: Path = CHECKPOINTS, private: bool = False, message: str | None = None) -> str:
    """Upload every family folder (weights, config, model card) to a Hub model repo; returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=_endpoint())
    api.create_repo(repo, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(repo_id=repo, folder_path=str(folder), repo_type="model",
                             commit_message=message or "gan-viz: upload checkpoints")
    return str(info)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m gan_viz.hub", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("push", help="upload checkpoints/ (all families, with model cards) to a Hub repo")
    pp.add_argument("--repo", required=True, help="OWNER/NAME")
    pp.add_argument("--folder", default=str(CHECKPOINTS))
    pp.add_argument("--private", action="store_true")
    pw = sub.add_parser("where", help="say where each family's weights would come from")
    pw.add_argument("--repo", default=None)
    pw.add_argument("--revision", default=None)
    args = p.parse_args(argv)
    if args.cmd == "push":
        print(push(args.repo, Path(args.folder), args.private))
    else:
        s = HubSettings.from_env(repo=args.repo, revision=args.revision)
        for fam in sorted(d.name for d in CHECKPOINTS.iterdir() if d.is_dir()):
            try:
                print(f"{fam}: {resolve(fam, s).detail}")
            except WeightsNotFound as e:
                print(f"{fam}: {e}")


if __name__ == "__main__":
    main()
