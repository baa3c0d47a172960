"""The cores a process may use: affinity capped by a container's CPU quota (gan_viz/ui/cores.py)."""
from gan_viz.ui import cores


def _v2(tmp_path, text):
    (tmp_path / "cpu.max").write_text(text)
    return tmp_path


def _v1(tmp_path, quota, period):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(f"{period}\n")
    return tmp_path


def test_a_cgroup_v2_quota_is_read_in_cores(tmp_path):
    assert cores.quota_cores(_v2(tmp_path, "150000 100000\n")) == 1.5
    assert cores.quota_cores(_v2(tmp_path, "max 100000\n")) is None


def test_a_cgroup_v1_quota_is_read_and_minus_one_means_none(tmp_path):
    assert cores.quota_cores(_v1(tmp_path, 200000, 100000)) == 2.0
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cores.quota_cores(tmp_path) is None


def test_a_v2_quota_is_read_from_this_process_s_own_group_below_the_root(tmp_path):
    (tmp_path / "docker" / "abc").mkdir(parents=True)
    (tmp_path / "docker" / "abc" / "cpu.max").write_text("200000 100000\n")
    own = tmp_path / "self_cgroup"
    own.write_text("0::/docker/abc\n")
    assert cores.quota_cores(tmp_path, own) == 2.0  # the root has no cpu.max here, as on a host
    own.write_text("0::/\n")
    assert cores.quota_cores(tmp_path, own) is None


def test_no_readable_cgroup_means_no_quota(tmp_path):
    assert cores.quota_cores(tmp_path) is None
    assert cores.quota_cores(_v2(tmp_path, "garbage")) is None


def test_the_quota_caps_the_affinity_rounded_up(tmp_path, monkeypatch):
    monkeypatch.setattr(cores, "affinity_cores", lambda: 64)
    assert cores.available_cores(_v2(tmp_path, "200000 100000")) == 2  # a 2-CPU container on a 64-core node
    assert cores.available_cores(_v2(tmp_path, "150000 100000")) == 2
    assert cores.available_cores(_v2(tmp_path, "50000 100000")) == 1
    assert cores.available_cores(_v2(tmp_path, "max 100000")) == 64
    monkeypatch.setattr(cores, "affinity_cores", lambda: 2)
    assert cores.available_cores(_v2(tmp_path, "800000 100000")) == 2  # a quota above the affinity adds no core
