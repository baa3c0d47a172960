"""How many cores this process may use: its CPU affinity, capped by a container's CPU quota (cgroup v2 or v1).

A container's quota is not visible in the affinity: a replica limited to 2 CPUs on a 64-core node sees 64 cores, and
64 heavy events at once would share 2 cores' worth of time (serving.py sizes its heavy lane from this count).
Run as a script (python -m gan_viz.ui.cores) it prints the count, for scripts/serve_replicas.sh.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
OWN_CGROUP = Path("/proc/self/cgroup")  # cgroup v2's line "0::/path": this process's group under CGROUP


def affinity_cores() -> int:
    """Cores the scheduler may run this process on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _v2_groups(root: Path, own: Path) -> list[Path]:
    """This process's cgroup v2 folder (a container that shares the host's cgroup names sees its own below the root),
    then the root itself (a container with a cgroup namespace of its own sees it there)."""
    try:
        rel = [line[3:].strip().lstrip("/") for line in own.read_text().splitlines() if line.startswith("0::")]
    except OSError:
        rel = []
    return [root / r for r in rel if r] + [root]


def quota_cores(root: Path = CGROUP, own: Path = OWN_CGROUP) -> float | None:
    """The CPU quota of this process's cgroup in cores (quota / period), or None where there is none or none is
    readable: cgroup v2's cpu.max ("max 100000" means no quota), else v1's cpu.cfs_quota_us (-1: none)."""
    for group in _v2_groups(root, own):
        try:
            quota, period = (group / "cpu.max").read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        except (OSError, ValueError):
            continue
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


def available_cores(root: Path = CGROUP, own: Path = OWN_CGROUP) -> int:
    """The affinity's cores, no more than the quota rounded up (a quota of 1.5 cores keeps two threads busy)."""
    quota = quota_cores(root, own)
    cores = affinity_cores()
    return max(1, min(cores, math.ceil(quota))) if quota else cores


if __name__ == "__main__":
    print(available_cores())
