"""The repository's size: every Space clones all of it, and a GPU machine without internet gets a copy of it beside a
training pack or the offline kit (scripts/offline_kit.py), 64 MiB in all."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_TRACKED_MIB = 50  # leaves 14 MiB for a face pack (../tools' default) or the 12 MB offline kit


def tracked_bytes(root: Path) -> int:
    """Bytes of the files git tracks under root, as they are on disk."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    return sum((root / n).stat().st_size for n in names.decode().split("\0") if n and (root / n).is_file())


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_the_tracked_files_leave_room_for_a_training_pack_or_the_offline_kit():
    try:
        size = tracked_bytes(ROOT) / 2 ** 20
    except subprocess.CalledProcessError as e:  # e.g. git refusing a checkout owned by another user
        pytest.skip(f"git ls-files failed: {e.stderr.decode().strip()}")
    assert size <= MAX_TRACKED_MIB, f"{size:.1f} MiB tracked: shrink what was added (quantise weights, WebP images)"


def test_the_measure_counts_what_git_tracks(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "kept.bin").write_bytes(b"x" * 3000)
    (tmp_path / "ignored.bin").write_bytes(b"x" * 5000)
    (tmp_path / ".gitignore").write_text("ignored.bin\n")
    subprocess.run(["git", "add", "kept.bin", ".gitignore"], cwd=tmp_path, check=True)
    assert tracked_bytes(tmp_path) == 3000 + len("ignored.bin\n")
