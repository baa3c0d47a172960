"""What every training script shares: resume, time budget, periodic checkpoints, JSON logs, DDP, export.

Training state is stored as safetensors (weights and optimizer tensors) plus JSON (steps,
hyper-parameters), never as a pickle, so the same rule holds for training and serving.
Run under ``torchrun --nproc_per_node N`` for data parallelism (gloo on CPU, nccl on GPU).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import nn

from gan_viz import cards, utkface
from gan_viz.imaging import resize

REPO_ROOT = Path(__file__).resolve().parent.parent


def common_args(description: str, family: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", required=True,
                   help="UTKFace's aligned crops: their folder (file names carry the labels), or a face pack (.npz)")
    p.add_argument("--run-dir", default=f"runs/{family}", help="checkpoints and logs of this run (resumed if present)")
    p.add_argument("--export-dir", default=str(REPO_ROOT / "checkpoints" / family), help="where the best weights go")
    p.add_argument("--max-minutes", type=float, default=30.0, help="stop by itself after this much wall time")
    p.add_argument("--checkpoint-minutes", type=float, default=3.0, help="write a resumable checkpoint this often")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads per process (0: leave PyTorch's default)")
    return p


def fast_cuda_float32(device: torch.device) -> None:
    """On CUDA: TF32 matmuls and convolutions (float32 range, several times faster) and cuDNN's autotuner (the input
    shapes are fixed). Nothing on the CPU."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def read_faces(data: str | os.PathLike):
    """(records, pixels) of a face pack (.npz: how faces reach a GPU), or (records, None) of a folder, whose
    pixels the caller decodes at the size it needs (utkface.load_images)."""
    if str(data).endswith(".npz"):
        return utkface.load_pack(data)
    return utkface.records(data), None


def load_face_split(data, limit: int, train_size: int, val_size: int):
    """((training records, uint8 pixels at train_size), (validation records, pixels at val_size)) from a pack or a
    folder; the first `limit` files only when limit > 0 (smoke tests). With no validation face, the first 8 stand in."""
    recs, pixels = read_faces(data)
    keep = list(range(len(recs)))[: limit or None]
    train_i = [i for i in keep if not recs[i].is_validation]
    val_i = [i for i in keep if recs[i].is_validation] or keep[:8]
    train = ([recs[i] for i in train_i], pixels_at(recs, pixels, train_i, train_size))
    return train, ([recs[i] for i in val_i], pixels_at(recs, pixels, val_i, val_size))


def pixels_at(recs: list, pixels: np.ndarray | None, rows: list[int], size: int) -> np.ndarray:
    """uint8 (len(rows), size, size, 3) of those rows of read_faces' answer: a pack's pixels (resized when it holds
    another size), or a folder's files decoded at that size."""
    if pixels is None:
        return utkface.load_images([recs[i] for i in rows], size)
    if pixels.shape[1] == size:
        return pixels[rows]
    return np.stack([resize(pixels[i], (size, size)) for i in rows])


def load_gender_domains(data, image_size: int, limit: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The translators' data: adults (18-65) of the training split at image_size + 1/8 (random-cropped back, the
    CycleGAN paper's jitter): (N, L, L, 3) uint8, and the male and female row indices. `data` is UTKFace's folder or
    a face pack made at that size (scripts/pack_faces.py --size L: what a GPU machine trains from)."""
    load = image_size + image_size // 8
    recs, pixels = read_faces(data)
    if pixels is not None and pixels.shape[1] != load:
        raise SystemExit(f"{data} holds {pixels.shape[1]} px faces; at --image-size {image_size} the translators "
                         f"load {load} px: make the pack with scripts/pack_faces.py --size {load}")
    keep = [i for i, r in enumerate(recs) if not r.is_validation and 18 <= r.age <= 65][:limit or None]
    images = torch.from_numpy(np.array(pixels_at(recs, pixels, keep, load)))
    gender = torch.tensor([recs[i].gender for i in keep])
    idx_m, idx_f = torch.nonzero(gender == 0).flatten(), torch.nonzero(gender == 1).flatten()
    if len(idx_m) == 0 or len(idx_f) == 0:
        raise SystemExit("need faces of both genders in the training data")
    return images, idx_m, idx_f


def domain_batch(images: torch.Tensor, idx: torch.Tensor, size: int, batch: int, gen: torch.Generator) -> torch.Tensor:
    """A random batch of the rows idx, randomly cropped to size and mirrored: (B, 3, size, size) in [-1, 1]."""
    pick = idx[torch.randint(0, len(idx), (batch,), generator=gen)]
    x = utkface.to_input(images[pick])  # (B, 3, L, L) in [-1, 1]
    dx, dy = torch.randint(0, x.shape[-1] - size + 1, (2,), generator=gen).tolist()
    x = x[:, :, dy:dy + size, dx:dx + size]
    return torch.where((torch.rand(len(x), generator=gen) < 0.5)[:, None, None, None], x.flip(3), x)


def refuse_distributed(family: str) -> None:
    """For trainers that run in one process: stop with the reason when started under torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise SystemExit(f"{family} training runs in a single process; start it without torchrun")


# ---------------------------------------------------------------- distributed


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Dist:
    """Join the process group torchrun set up, or run alone. gloo on CPU, nccl on CUDA."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    # One process per GPU; more processes than GPUs (two CPU ranks on a one-GPU machine, say) run on the CPU.
    if torch.cuda.is_available() and int(os.environ.get("LOCAL_WORLD_SIZE", world)) <= torch.cuda.device_count():
        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl")
        device = torch.device("cuda", local_rank)
    else:
        dist.init_process_group("gloo")
        device = torch.device("cpu")
    return Dist(rank=dist.get_rank(), world_size=world, device=device)


def run_distributed(train: Callable[[Dist], None]) -> None:
    """train(d) inside torchrun's process group (or alone), then the group torn down with nothing left holding it."""
    d = init_distributed()
    train(d)
    # DDP's reducer holds the group and its gloo threads: freed now, while the interpreter is whole. A rank once
    # aborted at exit in CI ("terminate called without an active exception"; not reproduced in 30 runs here), the
    # way a gloo thread does when it reaches for the GIL while the interpreter is being torn down.
    gc.collect()
    shutdown_distributed()


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        # Every rank reaches this point before any tears gloo down: without the barrier a rank that leaves first
        # can make the other abort at exit ("terminate called without an active exception").
        dist.barrier()
        dist.destroy_process_group()


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def broadcast_flag(flag: bool, d: Dist) -> bool:
    """Rank 0's decision for everyone (e.g. 'time is up'), so no rank stops alone and hangs the others."""
    if d.world_size == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=d.device)
    dist.broadcast(t, src=0)
    return bool(t.item())


# ---------------------------------------------------------------- time budget


class TimeBudget:
    """Wall-clock budget: `expired()` once max_minutes have passed, or once a signal from stop_on() came; `due()` every
    `every_minutes`."""

    def __init__(self, max_minutes: float, every_minutes: float):
        self.start = self._last = time.monotonic()
        self.limit = max_minutes * 60.0
        self.every = every_minutes * 60.0
        self.stopped_by: str | None = None

    def stop_on(self, *signals: int) -> "TimeBudget":
        """End the run after its current step, saved as when time is up, on these signals (Ctrl-C, `kill`) instead
        of losing the steps since the last checkpoint; the same signal again ends it at once."""
        def stop(signum, frame):
            if self.stopped_by is not None:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            self.stopped_by = signal.Signals(signum).name
            print(f"{self.stopped_by}: stopping after this step and saving (again to stop at once)", flush=True)

        for s in signals:
            signal.signal(s, stop)
        return self

    def expired(self) -> bool:
        return self.stopped_by is not None or time.monotonic() - self.start >= self.limit

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            return True
        return False

    @property
    def elapsed_minutes(self) -> float:
        return (time.monotonic() - self.start) / 60.0


def run_budget(args: argparse.Namespace) -> TimeBudget:
    """A training script's budget from --max-minutes and --checkpoint-minutes, stopping cleanly on SIGTERM and
    Ctrl-C (a checkpoint, then the export, as when time is up)."""
    return TimeBudget(args.max_minutes, args.checkpoint_minutes).stop_on(signal.SIGTERM, signal.SIGINT)


def end_of_step(meta: dict, losses: dict, log: "MetricsLog", budget: TimeBudget, d: Dist, checkpoint,
                log_every: int = 20, extra=None) -> bool:
    """Count the step, log every log_every steps (extra() adds fields), checkpoint when due; True = time is up.

    The loop of every GAN-style training script ends with this, so all stop and save the same way.
    """
    meta["step"] += 1
    if d.is_main and meta["step"] % log_every == 0:
        fields = {**losses, **(extra() if extra else {})}
        log.log(step=meta["step"], **fields)
        print(f"step {meta['step']} ({budget.elapsed_minutes:.1f} min) {fields}", flush=True)
    if broadcast_flag(budget.due(), d):
        checkpoint()
    return broadcast_flag(budget.expired(), d)


# ---------------------------------------------------------------- checkpoints (safetensors + JSON)


def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}/state/{idx}/{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{idx}/{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    head = f"{prefix}/state/"
    for name, t in tensors.items():
        if name.startswith(head):
            idx, k = name[len(head):].split("/", 1)
            state.setdefault(int(idx), {})[k] = t
    for key, v in meta["scalars"].items():
        idx, k = key.split("/", 1)
        state.setdefault(int(idx), {})[k] = v
    return {"state": state, "param_groups": meta["param_groups"]}


def save_training_state(run_dir: str | os.PathLike, modules: dict[str, nn.Module],
                        optimizers: dict[str, torch.optim.Optimizer], meta: dict) -> Path:
    """Write state.safetensors + state.json atomically (tmp then rename), so a kill mid-write loses nothing."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    opt_meta = {}
    for name, m in modules.items():
        for k, v in unwrap(m).state_dict().items():
            tensors[f"{name}/{k}"] = v.detach().cpu().contiguous()
    for name, o in optimizers.items():
        t, om = _flatten_optimizer(f"opt:{name}", o)
        tensors.update(t)
        opt_meta[name] = om
    save_file(tensors, run_dir / "state.safetensors.tmp")
    (run_dir / "state.json.tmp").write_text(json.dumps({"meta": meta, "optimizers": opt_meta}))
    os.replace(run_dir / "state.safetensors.tmp", run_dir / "state.safetensors")
    os.replace(run_dir / "state.json.tmp", run_dir / "state.json")
    return run_dir / "state.safetensors"


def load_training_state(run_dir: str | os.PathLike, modules: dict[str, nn.Module],
                        optimizers: dict[str, torch.optim.Optimizer]) -> dict | None:
    """Restore modules and optimizers in place; returns the saved meta, or None when there is nothing to resume."""
    run_dir = Path(run_dir)
    if not (run_dir / "state.safetensors").exists():
        return None
    tensors = load_file(run_dir / "state.safetensors")
    saved = json.loads((run_dir / "state.json").read_text())
    for name, m in modules.items():
        head = f"{name}/"
        unwrap(m).load_state_dict({k[len(head):]: v for k, v in tensors.items() if k.startswith(head)})
    for name, o in optimizers.items():
        o.load_state_dict(_unflatten_optimizer(f"opt:{name}", tensors, saved["optimizers"][name]))
    return saved["meta"]


class MetricsLog:
    """Losses and metrics as one JSON file (a list of records) that survives restarts: it is appended to."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.records: list[dict] = json.loads(self.path.read_text()) if self.path.exists() else []

    def log(self, **record) -> None:
        record.setdefault("time", time.time())
        self.records.append(record)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.records))
        os.replace(tmp, self.path)


# ---------------------------------------------------------------- export


def export_weights(export_dir: str | os.PathLike, state_dict: dict[str, torch.Tensor], config: dict,
                   card: str, extra_files: dict[str, bytes] | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write config.json + model.safetensors + README.md (the model card): the layout gan_viz.hub reads. A card
    already there hands its History on to the new one (cards.carry_history).

    dtype (e.g. torch.float16) stores the floating tensors smaller; load_state_dict casts them back.
    """
    out = Path(export_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    save_file(tensors, out / "model.safetensors")
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    old = out / "README.md"
    (out / "README.md").write_text(cards.carry_history(old.read_text(), card) if old.exists() else card)
    for name, data in (extra_files or {}).items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    return out


def hardware_line(device: torch.device | str = "cpu") -> str:
    """The hardware a card names: the GPU's name, or the CPU's cores and the torch threads used."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"one {torch.cuda.get_device_name(device)}"
    return f"{_cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def _cpu_name() -> str:
    """The CPU's model name as /proc/cpuinfo gives it (e.g. "AMD EPYC"), or "CPU" where it cannot be read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "CPU"
