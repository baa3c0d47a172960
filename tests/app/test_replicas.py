"""Two replicas behind the proxy (scripts/serve_replicas.sh): a visitor's events stay on one, gradio_client works."""
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
HOPPER = str(ROOT / "assets" / "grace_hopper.jpg")


def _free_block(n: int) -> int:
    """A port p with p ... p + n all free on 127.0.0.1."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n < 65535 and all(_free(base + i) for i in range(n + 1)):
            return base
    raise RuntimeError("no free block of ports")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.fixture(scope="module")
def proxy():
    if not shutil.which("nginx") and not os.path.exists("/usr/sbin/nginx"):
        if os.environ.get("CI"):
            pytest.fail("nginx is missing in CI: .ci/run must install it")
        pytest.skip("nginx not installed (apt-get install nginx-light)")
    port = _free_block(2)
    env = {k: v for k, v in os.environ.items() if k not in ("GAN_VIZ_HEAVY_SLOTS", "GAN_VIZ_THREADS")}  # the defaults
    env.update(GRADIO_ANALYTICS_ENABLED="False", GAN_VIZ_TRIM_SECONDS="0")
    proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "serve_replicas.sh"), "2", str(port)], cwd=ROOT, env=env,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    replicas = {f"127.0.0.1:{port + 1}", f"127.0.0.1:{port + 2}"}
    deadline = time.monotonic() + 240
    up = set()
    while up != replicas and time.monotonic() < deadline:  # both replicas answer through the proxy
        assert proc.poll() is None, "serve_replicas.sh stopped early"
        try:
            up.add(httpx.get(f"{url}/config", timeout=5).headers.get("x-gan-viz-replica"))
        except httpx.HTTPError:
            pass
        up &= replicas
        time.sleep(0.5)
    assert up == replicas, f"replicas up: {up}"
    yield url, replicas, proc, port
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def test_a_visitors_requests_stay_on_one_replica_and_newcomers_spread(proxy):
    url, replicas, _, _ = proxy
    seen = set()
    for _ in range(4):  # four visitors, each with a cookie jar of their own, as four browsers
        with httpx.Client(base_url=url, timeout=10) as visitor:
            first = visitor.get("/config")
            home = first.headers["x-gan-viz-replica"]
            assert visitor.cookies.get("gv_replica") == home
            for path in ("/", "/config", "/gradio_api/info", "/config"):
                assert visitor.get(path).headers["x-gan-viz-replica"] == home, path
            seen.add(home)
    assert seen == replicas  # newcomers are shared out, each then kept where it started


def test_the_page_s_scripts_come_from_the_proxy_s_cache_after_the_first_visitor(proxy):
    import re

    url, _, _, _ = proxy
    page = httpx.get(url + "/", timeout=10).text
    script = re.findall(r'src="\.?/?(assets/[^"]+\.js)"', page)[0]
    statuses = []
    for _ in range(3):  # three visitors, who may land on either replica
        r = httpx.get(f"{url}/{script}", headers={"Accept-Encoding": "br"}, timeout=10)
        assert r.status_code == 200 and r.content
        statuses.append(r.headers.get("x-gan-viz-cache"))
    assert statuses[0] in ("MISS", "HIT") and statuses[1:] == ["HIT", "HIT"]
    assert "gv_replica" not in r.headers.get("set-cookie", "")  # a script pins no one to a replica


def test_gradio_client_calls_through_the_proxy_work(proxy):
    from gradio_client import Client, handle_file

    url, replicas, _, _ = proxy
    client = Client(url, verbose=False)
    assert client.cookies.get("gv_replica") in replicas  # taken from /config, sent with every later call
    image, view = client.predict(7, 1.0, api_name="/sagan_generate")
    assert Path(image).exists() and Path(view).exists()
    out = client.predict(handle_file(HOPPER), api_name="/classify")
    assert set(out["gender"]) == {"male", "female"}


def test_the_load_benchmark_warms_every_replica_before_its_clock(proxy):
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import load

    url, replicas, _, _ = proxy
    assert sorted(load.warm_up(url)) == sorted(replicas)  # each replica once, then a newcomer lands on a warm one


def _replica_environments(script_pid: int) -> list[dict[str, str]]:
    """The environment of every app.py the script started (its children, read from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
            if ppid == script_pid and any(arg.endswith(b"app.py") for arg in cmdline):
                pairs = (stat.parent / "environ").read_bytes().split(b"\0")
                out.append(dict(p.decode().split("=", 1) for p in pairs if b"=" in p))
        except (OSError, IndexError, ValueError):
            continue
    return out


def test_the_replicas_share_the_machine_s_cores_between_their_heavy_lanes(proxy):
    from gan_viz.ui.cores import available_cores

    _, _, proc, _ = proxy
    envs = _replica_environments(proc.pid)
    assert len(envs) == 2
    # two replicas on C cores: C / 2 heavy events each (at least one), as many at once as one process would run
    assert [e.get("GAN_VIZ_HEAVY_SLOTS") for e in envs] == [str(max(1, available_cores() // 2))] * 2


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_sigterm_stops_the_proxy_and_every_replica(proxy):
    url, _, proc, port = proxy
    assert all(_listening(port + i) for i in range(3))
    proc.send_signal(signal.SIGTERM)  # the script alone, as a service manager would: it stops the rest
    assert proc.wait(timeout=60) == 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_listening(port + i) for i in range(3)):
        time.sleep(0.5)
    assert not any(_listening(port + i) for i in range(3)), "a replica or the proxy still listens"
