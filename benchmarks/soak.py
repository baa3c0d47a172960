"""A long class: 20 users with think time against one app process for a bounded time; RSS, errors and p95 over time.

Run: python benchmarks/soak.py [--users 20] [--minutes 20] [--think 2 5] [--url URL] [--sample-s 30] [--window-min 5]
Starts `python app.py` on a free local port (or uses --url; RSS is then not measured). Each user, in a thread of its
own, sends load.py's classroom mix one request at a time with a think time drawn between --think's bounds, until the
time is up. Every --sample-s the server's RSS is read; every --window-min the window's requests, errors and p95 are
reported. Prints two Markdown tables (RSS over time; p95 and errors per window) and the RSS growth between minute 5
(after the models and caches have settled) and the end.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402  (benchmarks/load.py: the mix, its requests, the app starter, RSS)


def user(url: str, i: int, until: float, think: tuple[float, float], mask: str, out: list, lock: threading.Lock):
    rng = random.Random(i)
    client = load.make_client(url)
    kinds = [k for k, w in load.MIX.items() for _ in range(w)]
    while time.monotonic() < until:
        kind = rng.choice(kinds)
        t0 = time.monotonic()
        try:
            load.one_request(client, kind, rng, mask)
            err = None
        except Exception as e:  # noqa: BLE001 - an error is a result here
            err = f"{type(e).__name__}: {str(e)[:80]}"
        with lock:
            out.append((t0, kind, time.monotonic() - t0, err))
        time.sleep(rng.uniform(*think))


def windows_table(results: list, start: float, window_s: float) -> str:
    lines = ["| minutes | requests | errors | p50 s | p95 s | click p95 s |", "|---|---|---|---|---|---|"]
    end = max((r[0] for r in results), default=start)
    w0 = start
    while w0 <= end:
        rows = [r for r in results if w0 <= r[0] < w0 + window_s]
        if rows:
            lat = [r[2] for r in rows if r[3] is None]
            clicks = [r[2] for r in rows if r[3] is None and r[1] == "sagan_attention"]
            q = lambda xs, p: f"{np.percentile(xs, p):.2f}" if xs else "-"  # noqa: E731
            lines.append(f"| {(w0 - start) / 60:g}-{(w0 - start + window_s) / 60:g} | {len(rows)} | "
                         f"{sum(r[3] is not None for r in rows)} | {q(lat, 50)} | {q(lat, 95)} | {q(clicks, 95)} |")
        w0 += window_s
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--think", type=float, nargs=2, default=(2.0, 5.0), help="seconds between a user's requests")
    p.add_argument("--url", default=None, help="an app already running (RSS is then not measured)")
    p.add_argument("--sample-s", type=float, default=30.0)
    p.add_argument("--window-min", type=float, default=5.0)
    args = p.parse_args(argv)
    proc, url = (None, args.url) if args.url else load.start_app(load.ROOT, {})
    pid = proc.pid if proc else None
    try:
        load.make_client(url).predict(3, api_name="/sagan_generate")  # models loaded before the clock starts
        mask = load.make_mask(Path(tempfile.mkdtemp()))
        results, lock = [], threading.Lock()
        start = time.monotonic()
        until = start + args.minutes * 60
        threads = [threading.Thread(target=user, args=(url, i, until, tuple(args.think), mask, results, lock),
                                    daemon=True) for i in range(args.users)]
        for t in threads:
            t.start()
        rss = []
        while time.monotonic() < until:
            rss.append(((time.monotonic() - start) / 60, load.rss_mb(pid)))
            time.sleep(min(args.sample_s, max(0.0, until - time.monotonic())))
        for t in threads:
            t.join(timeout=120)
        rss.append(((time.monotonic() - start) / 60, load.rss_mb(pid)))
    finally:
        if proc is not None:
            proc.terminate()
    print(f"## Soak: {args.users} users, think {args.think[0]:g}-{args.think[1]:g} s, {args.minutes:g} minutes\n")
    print("| minute | RSS MB |\n|---|---|\n" + "\n".join(f"| {m:.1f} | {r:.0f} |" if r else f"| {m:.1f} | - |"
                                                      for m, r in rss))
    print()
    print(windows_table(results, start, args.window_min * 60))
    settled = [r for m, r in rss if m >= min(5.0, args.minutes / 2) and r]
    if len(settled) >= 2:
        print(f"\nRSS growth from minute {min(5.0, args.minutes / 2):g} to the end: "
              f"{(settled[-1] / settled[0] - 1) * 100:+.1f}%")
    print(f"errors: {sum(r[3] is not None for r in results)} of {len(results)} requests")


if __name__ == "__main__":
    main()
