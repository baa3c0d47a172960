"""Classroom load: N concurrent gradio_client users x M mixed requests against a started app, R rounds.

Run: python benchmarks/load.py [--users 20] [--requests 10] [--rounds 3] [--app-dir DIR] [--env K=V ...] [--lab 2]
     [--server-times] [--client-processes K] [--clients-nice N] [--client-ssl-verify]
Starts `python app.py` from --app-dir (default: this checkout; point it at another checkout, e.g. a
`git worktree` of an older commit, to compare) on a free local port, or uses --url. Each user sends
its requests one after another, in an order drawn from --seed, and all users run at once. Prints a
Markdown table per round (errors, requests/s, p50/p95 per endpoint, the server's RSS before/after)
and a summary. With --server-times the app is started with Gradio's own request tracing (GRADIO_PROFILING=1) and
the time each request spent inside the server (queue wait, the function, postprocessing) is printed per endpoint
next to what the clients measured: the difference is the clients' own share (they run on the same cores here).
--other-photos: every photo request sends a photo of its own (the portrait, rescaled, cropped, mirrored and relit at
random: a class's photos are all different), so nothing is answered from the detection cache.
--ugatit N: adds /gender_flip requests with translator="ugatit" (N in the mix's units; U-GAT-IT beside the rest).
--cost K: instead of the rounds, one user sends K requests to each endpoint in turn, app otherwise idle, and the
server's CPU time per request is printed per endpoint: what each request costs the server.
Every request goes to 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import collections
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # gan_viz: the app's own constants (imported where used: it loads torch)
HOPPER = ROOT / "assets" / "grace_hopper.jpg"
SAGAN_FACE = sorted((ROOT / "assets").glob("sagan_face_*.png"))[0]

# The mix of a class working through the tabs: a click is the most common thing a student does.
SAGAN_SEEDS = 8  # the faces the clicks are on: made before the clock (a page shows its face before it is clicked)
MIX = {"sagan_attention": 3, "sagan_generate": 1, "classify": 1, "cam": 2, "gender_flip": 2, "inpaint": 1}
LAB_STEPS = 1000  # --lab N adds /gan_lab runs of this many steps (N in the mix's units): the GAN lab training beside
LAB_DISTRIBUTIONS = ("ring8", "grid25", "spiral", "two_moons", "line")
LAB_LOSSES = ("minimax", "non_saturating", "least_squares", "wgan_clip", "hinge")


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds a process has used (from /proc; None where unavailable)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def start_app(app_dir: Path, extra_env: dict) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_ANALYTICS_ENABLED": "False", **extra_env}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=app_dir, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return proc, wait_for_port(proc, port, "app.py")


def wait_for_port(proc: subprocess.Popen, port: int, what: str, limit_s: float = 120.0) -> str:
    """The server's URL once proc listens on 127.0.0.1:port; stops with the reason if it exits or takes too long."""
    deadline = time.time() + limit_s
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return f"http://127.0.0.1:{port}/"
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"{what} exited with {proc.returncode}")
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"{what} did not open its port within {limit_s:.0f} s")


def make_client(url: str):
    """A gradio_client user. For a plain-HTTP URL (the app started here) certificates are not checked: gradio_client
    builds a new TLS context with the CA bundle for every HTTP call it makes (joining the queue, each download): a
    SAGAN click cost one client 70 ms of CPU with it, 8.4 ms without (this machine), for connections that use no TLS,
    and 20 clients took about two thirds of the two cores the server was measured on. --client-ssl-verify restores it.
    An https URL (a Space) is always verified."""
    from gradio_client import Client

    return Client(url, verbose=False, ssl_verify=CLIENT_SSL_VERIFY or not url.startswith("http://"))


CLIENT_SSL_VERIFY = False


def make_mask(tmp: Path) -> str:
    img = np.asarray(Image.open(SAGAN_FACE))
    mask = np.zeros(img.shape[:2], np.uint8)
    h, w = mask.shape
    mask[h // 3:h // 2, w // 4:3 * w // 4] = 255  # a band over the eyes, 12% of the face
    path = tmp / "mask.png"
    Image.fromarray(mask).save(path)
    return str(path)


# Behind scripts/serve_replicas.sh the proxy pins a visitor to the replica its cookie names; gradio_client takes the
# cookie from the app's /config answer and sends it with every call, so a user's replica is the one the cookie names.
REPLICA_COOKIE = "gv_replica"
REPLICAS: collections.Counter = collections.Counter()  # the replica each user was pinned to, over the rounds
PHOTOS: list[str] = []  # --other-photos: a pool of distinct photos (other_photos); empty: the portrait every time


def other_photos(tmp: Path, n: int, seed: int = 0) -> list[str]:
    """n distinct photos made from the portrait: rescaled 60-100%, cropped, maybe mirrored, relit (JPEG files)."""
    rng = np.random.default_rng(seed)
    base = Image.open(HOPPER).convert("RGB")
    out = []
    for i in range(n):
        s = rng.uniform(0.6, 1.0)
        im = base.resize((int(base.width * s), int(base.height * s)), Image.Resampling.BICUBIC)
        dx, dy = (int(v) for v in rng.integers(0, max(1, im.width // 8), 2))
        im = im.crop((dx, dy, im.width - int(rng.integers(0, max(1, im.width // 8))), im.height))
        if rng.random() < 0.5:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        arr = np.clip(np.asarray(im, np.float32) * rng.uniform(0.8, 1.2) + rng.uniform(-15, 15), 0, 255)
        path = tmp / f"photo{i:04d}.jpg"
        Image.fromarray(arr.astype(np.uint8)).save(path, quality=90)
        out.append(str(path))
    return out


def photo(rng: random.Random) -> str:
    return PHOTOS[rng.randrange(len(PHOTOS))] if PHOTOS else str(HOPPER)


def one_request(client, kind: str, rng: random.Random, mask: str):
    from gradio_client import handle_file

    if kind == "sagan_attention":
        return client.predict(rng.randrange(SAGAN_SEEDS), rng.randrange(64), rng.randrange(64), "default", "query",
                              api_name="/sagan_attention")
    if kind == "sagan_generate":
        return client.predict(rng.randrange(1000), api_name="/sagan_generate")
    if kind == "classify":
        return client.predict(handle_file(photo(rng)), api_name="/classify")
    if kind == "cam":
        return client.predict(handle_file(photo(rng)), rng.choice(["cam", "gradcam", "gradcam++"]), "predicted", "last",
                              api_name="/cam")
    if kind == "gender_flip":
        return client.predict(handle_file(photo(rng)), "auto", api_name="/gender_flip")
    if kind == "gender_flip_ugatit":
        return client.predict(handle_file(photo(rng)), "auto", "ugatit", api_name="/gender_flip")
    if kind == "inpaint":
        return client.predict(handle_file(str(SAGAN_FACE)), handle_file(mask), api_name="/inpaint")
    if kind == "gan_lab":
        return client.predict(rng.choice(LAB_DISTRIBUTIONS), rng.choice(LAB_LOSSES), rng.random() < 0.5, 1, 1e-3, 1e-3,
                              LAB_STEPS, rng.randrange(100), api_name="/gan_lab")
    raise ValueError(kind)


def one_user(client, i: int, requests: int, seed: int, mask: str, results: list, lock: threading.Lock) -> None:
    """User i's requests, one after another, drawn from seed and i alone; (kind, seconds, error) go to results."""
    kinds = [k for k, n in MIX.items() for _ in range(n)]
    rng = random.Random(seed * 1000 + i)
    for _ in range(requests):
        kind = rng.choice(kinds)
        t0 = time.perf_counter()
        err = None
        try:
            one_request(client, kind, rng, mask)
        except Exception as e:  # noqa: BLE001 - counted and reported, the benchmark goes on
            err = f"{type(e).__name__}: {str(e)[:120]}"
        with lock:
            results.append((kind, time.perf_counter() - t0, err))


def run_round(url: str, users: int, requests: int, seed: int, mask: str) -> tuple[list[tuple[str, float, str | None]], float]:
    clients = [make_client(url) for _ in range(users)]  # connected before the clock starts
    results: list[tuple[str, float, str | None]] = []
    lock = threading.Lock()
    start = threading.Barrier(users + 1)

    def user(i: int):
        start.wait()
        one_user(clients[i], i, requests, seed, mask, results, lock)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    REPLICAS.update(c.cookies.get(REPLICA_COOKIE, "no cookie") for c in clients)
    return results, wall


def _user_group(url, users, first, requests, seed, mask, barrier, out) -> None:
    """One client process (--client-processes): its share of the users as threads; results, its CPU and each user's
    replica (the proxy's cookie) to `out`."""
    clients = {i: make_client(url) for i in range(first, first + users)}
    results, lock = [], threading.Lock()
    threads = [threading.Thread(target=one_user, args=(c, i, requests, seed, mask, results, lock))
               for i, c in clients.items()]  # user i draws the same requests as with one process
    barrier.wait()
    cpu0 = time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((results, time.process_time() - cpu0, [c.cookies.get(REPLICA_COOKIE, "no cookie") for c in clients.values()]))


def run_round_processes(url: str, users: int, requests: int, seed: int, mask: str, processes: int):
    """The users spread over `processes` client processes: a class's browsers do not share one Python interpreter,
    and 20 gradio_client threads in one process queue behind its one GIL (the clients then measure their own wait)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(processes + 1), ctx.Queue()
    shares = [users // processes + (k < users % processes) for k in range(processes)]
    firsts = [sum(shares[:k]) for k in range(processes)]
    procs = [ctx.Process(target=_user_group, args=(url, n, f, requests, seed, mask, barrier, out))
             for n, f in zip(shares, firsts) if n]
    for p_ in procs:
        p_.start()
    barrier.wait()
    t0 = time.perf_counter()
    got = [out.get() for _ in procs]
    wall = time.perf_counter() - t0
    for p_ in procs:
        p_.join()
    for _, _, replicas in got:
        REPLICAS.update(replicas)
    return [r for res, _, _ in got for r in res], wall, sum(c for _, c, _ in got)


def warm_up(url: str, most: int = 8) -> list[str | None]:
    """Before round 1, on every replica behind a proxy: the models loaded and the faces the clicks are on made, as a
    page's Generate makes them. A newcomer goes to the next replica in turn, so new clients are made until one lands
    on a replica already warmed (at most `most`); an app without the proxy's cookie is warmed once. Returns the
    replicas warmed (None: no proxy)."""
    warmed: list[str | None] = []
    for _ in range(most):
        client = make_client(url)
        replica = client.cookies.get(REPLICA_COOKIE)
        if replica in warmed:
            break
        client.predict(3, api_name="/sagan_generate")
        for seed in range(SAGAN_SEEDS):
            client.predict(seed, 0, 0, "default", "query", api_name="/sagan_attention")
        warmed.append(replica)
        if replica is None:
            break
    return warmed


def print_server_times(url: str) -> None:
    """Gradio's traces (GRADIO_PROFILING=1) per endpoint: time from joining the queue to the result, inside the server."""
    import httpx

    traces = httpx.get(url.rstrip("/") + "/gradio_api/profiling/traces", timeout=60).json()
    by_fn: dict[str, list[dict]] = {}
    for t in traces:
        by_fn.setdefault(t["fn_name"] or "?", []).append(t)
    print("\nInside the server (Gradio's traces; ms): queue wait, the function, postprocessing, and all of it\n")
    print("| function | n | queue wait p50 / p95 | function p50 / p95 | postprocess p50 / p95 | total p50 / p95 |")
    print("|---|---|---|---|---|---|")
    for fn, ts in sorted(by_fn.items()):
        def pc(key):
            v = np.array([t[key] for t in ts], dtype=float)
            return f"{np.median(v):.0f} / {np.percentile(v, 95):.0f}"
        print(f"| {fn} | {len(ts)} | {pc('queue_wait_ms')} | {pc('fn_call_ms')} | {pc('postprocess_ms')} | {pc('total_ms')} |")


def process_age_s(pid: int) -> float:
    """Seconds since the process started (Linux /proc; 0 where that cannot be read)."""
    try:
        start_ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return 0.0
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pid: int | None, below: float = 0.05, window_s: float = 3.0, limit_s: float = 120.0) -> None:
    """Until the server uses under `below` of a core over window_s: its start-up work (the worked examples computed
    in the background, app.warm_up) is not a request's cost. The warm-up starts WARM_UP_DELAY_S after start-up, so
    an idle window before then does not count (it made the first visit of benchmarks/landing.py race the warm-up)."""
    from gan_viz.ui.serving import WARM_UP_DELAY_S

    if pid is not None:
        time.sleep(max(0.0, WARM_UP_DELAY_S + 1.0 - process_age_s(pid)))
    t_end = time.monotonic() + limit_s
    while pid is not None and time.monotonic() < t_end:
        c0 = cpu_seconds(pid)
        time.sleep(window_s)
        c1 = cpu_seconds(pid)
        if c0 is None or c1 is None or (c1 - c0) / window_s < below:
            return


def print_costs(url: str, pid: int | None, k: int, mask: str) -> None:
    """One user, K requests per endpoint in turn: the server's CPU time per request (app otherwise idle, after two
    requests per endpoint that fill its caches; warm_up made every face the clicks use: a click's cost, not G's)."""
    client = make_client(url)
    rng = random.Random(0)
    wait_until_idle(pid)
    for kind in MIX:
        for _ in range(2):
            one_request(client, kind, rng, mask)
    print("| endpoint | requests | server CPU ms per request | client p50 s |\n|---|---|---|---|")
    for kind in MIX:
        times = []
        cpu0 = cpu_seconds(pid)
        for _ in range(k):
            t0 = time.perf_counter()
            one_request(client, kind, rng, mask)
            times.append(time.perf_counter() - t0)
        cpu1 = cpu_seconds(pid)
        cost = f"{(cpu1 - cpu0) / k * 1000:.0f}" if cpu0 is not None and cpu1 is not None else "-"
        print(f"| /{kind} | {k} | {cost} | {np.median(times):.3f} |", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--requests", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--url", default=None, help="an app already running (RSS is then not measured)")
    p.add_argument("--app-dir", default=str(ROOT), help="the checkout whose app.py is started")
    p.add_argument("--env", nargs="*", default=[], help="KEY=VALUE for the started app (e.g. GAN_VIZ_HEAVY_SLOTS=1)")
    p.add_argument("--lab", type=int, default=0,
                   help=f"add the GAN lab to the mix with this weight (a /gan_lab run of {LAB_STEPS} steps per draw)")
    p.add_argument("--clients-nice", type=int, default=0,
                   help="lower the clients' CPU priority by this much after the app has started: the users of a real "
                        "Space run on their own machines, not on the server's two cores")
    p.add_argument("--client-processes", type=int, default=1,
                   help="spread the users over this many client processes (default 1: all as threads of this one)")
    p.add_argument("--client-ssl-verify", action="store_true",
                   help="let gradio_client load the CA bundle for every call even over plain HTTP (as before; costly)")
    p.add_argument("--ugatit", type=int, default=0, help="add U-GAT-IT flips to the mix (N in the mix's units)")
    p.add_argument("--other-photos", action="store_true", help="every photo request sends a photo of its own")
    p.add_argument("--cost", type=int, default=0, metavar="K",
                   help="instead of the rounds: server CPU per request, K requests per endpoint by one user")
    p.add_argument("--server-times", action="store_true",
                   help="start the app with GRADIO_PROFILING=1 and print the server-side time per endpoint")
    args = p.parse_args()
    global CLIENT_SSL_VERIFY
    CLIENT_SSL_VERIFY = args.client_ssl_verify
    if args.server_times:
        args.env.append("GRADIO_PROFILING=1")
    if args.lab:
        MIX["gan_lab"] = args.lab
    if args.ugatit:
        MIX["gender_flip_ugatit"] = args.ugatit

    proc = None
    url = args.url
    if url is None:
        proc, url = start_app(Path(args.app_dir), dict(kv.split("=", 1) for kv in args.env))
    if args.clients_nice:
        os.nice(args.clients_nice)  # this process only; the app was started before, at normal priority
    pid = proc.pid if proc else None
    label = f"{Path(args.app_dir).name} {' '.join(args.env)}".strip() + (f", clients at nice {args.clients_nice}"
                                                                           if args.clients_nice else "")
    if args.client_processes > 1:
        label += f", clients in {min(args.client_processes, args.users)} processes"
    if args.client_ssl_verify:
        label += ", clients load the CA bundle per call"
    if args.lab:
        label += f", GAN lab in the mix (weight {args.lab}, {LAB_STEPS} steps)"
    try:
        warm_up(url)
        tmp = Path(tempfile.mkdtemp(prefix="gan-viz-load-"))
        mask = make_mask(tmp)
        if args.other_photos:
            PHOTOS[:] = other_photos(tmp, max(200, args.users * args.requests * args.rounds, args.cost * 3))
            label += ", every photo a different one"
        if args.cost:
            print(f"### {label}: what a request costs the server\n")
            print_costs(url, pid, args.cost, mask)
            return
        everything = []
        print(f"### {label}: {args.users} users x {args.requests} requests, {os.cpu_count()} CPUs\n")
        print("| round | requests | errors | req/s | p50 s | p95 s | click p50 s | click p95 s | RSS before MB | RSS after MB "
              "| server CPU s | clients' CPU s | wall s |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in range(args.rounds):
            before = rss_mb(pid)
            cpu0, own0 = cpu_seconds(pid), time.process_time()
            if args.client_processes > 1:
                res, wall, clients_cpu = run_round_processes(url, args.users, args.requests, args.seed + r, mask,
                                                             min(args.client_processes, args.users))
            else:
                res, wall = run_round(url, args.users, args.requests, args.seed + r, mask)
                clients_cpu = None
            after = rss_mb(pid)
            cpu1, own1 = cpu_seconds(pid), time.process_time()
            clients_cpu = own1 - own0 if clients_cpu is None else clients_cpu
            server_cpu = f"{cpu1 - cpu0:.1f}" if cpu0 is not None and cpu1 is not None else "-"
            everything += res
            lat = np.array([t for _, t, _ in res])
            clicks = np.array([t for k, t, _ in res if k == "sagan_attention"])
            errs = [e for _, _, e in res if e]
            fmt = lambda v: f"{v:.0f}" if v is not None else "-"  # noqa: E731
            print(f"| {r + 1} | {len(res)} | {len(errs)} | {len(res) / wall:.2f} | {np.median(lat):.2f} | "
                  f"{np.percentile(lat, 95):.2f} | {np.median(clicks):.3f} | {np.percentile(clicks, 95):.3f} | "
                  f"{fmt(before)} | {fmt(after)} | {server_cpu} | {clients_cpu:.1f} | {wall:.1f} |", flush=True)
            for e in sorted(set(errs))[:5]:
                print(f"|  | error: {e} |")
        print("\n| endpoint | n | errors | p50 s | p95 s |\n|---|---|---|---|---|")
        for kind in MIX:
            t = np.array([x for k, x, _ in everything if k == kind])
            n_err = sum(1 for k, _, e in everything if k == kind and e)
            if len(t):
                print(f"| /{kind} | {len(t)} | {n_err} | {np.median(t):.3f} | {np.percentile(t, 95):.3f} |")
        if REPLICAS and set(REPLICAS) != {"no cookie"}:
            print("\nusers per replica (the proxy's cookie): "
                  + ", ".join(f"{r} {n}" for r, n in sorted(REPLICAS.items())))
        if args.server_times:
            print_server_times(url)
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
