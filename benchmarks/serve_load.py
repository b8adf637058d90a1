"""Load on `dlpy essay serve`, over loopback only: latency of /api/score for a 600-character
essay one request at a time (p50, p95), then a burst of concurrent requests (all must answer).

    python benchmarks/serve_load.py                       # starts a server on a free port
    python benchmarks/serve_load.py --url http://127.0.0.1:8000 --requests 200 --concurrency 40

Bounded: a fixed number of requests, each with a timeout; the server it starts is stopped at
the end. On a busy machine the latencies include waiting for a core; the server's CPU time per
request (printed for a server this script starts) is what a request costs on a quiet one.
Targets (issue 13): p50 <= 50 ms, p95 <= 200 ms, 40 concurrent requests all answered.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ESSAY = Path(__file__).parents[1] / "src" / "dlpy" / "essay" / "examples" / "good.txt"
PROMPT = "미래의 나의 모습"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "dlpy", "essay", "serve", "--host", "127.0.0.1",
               "--port", str(port)] + (["--model", model] if model else [])
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(Path(__file__).parents[1] / "src"))
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.25)
    process.terminate()
    raise RuntimeError("the server did not answer /healthz within 120 s")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one(client: httpx.Client, url: str, text: str) -> tuple[int, float]:
    start = time.perf_counter()
    try:
        status = client.post(url + "/api/score", json={"text": text, "prompt": PROMPT}).status_code
    except httpx.HTTPError:
        status = 0
    return status, (time.perf_counter() - start) * 1000


def report(name: str, results: list[tuple[int, float]]) -> None:
    ok = [ms for status, ms in results if status == 200]
    p50, p95 = (np.percentile(ok, [50, 95]) if ok else (float("nan"),) * 2)
    print(f"{name}: {len(ok)}/{len(results)} answered 200; p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
          f"max {max(ok, default=float('nan')):.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--url", help="a running server (default: start one on loopback)")
    parser.add_argument("--model", help="the model for the server it starts")
    parser.add_argument("--requests", type=int, default=100, help="sequential requests")
    parser.add_argument("--concurrency", type=int, default=40, help="requests in the burst")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    args = parser.parse_args()
    text = ESSAY.read_text(encoding="utf-8")
    if args.url and not args.url.startswith(("http://127.", "http://localhost")):
        parser.error("--url must be a loopback address")
    process, url = (None, args.url) if args.url else start_server(args.model)
    try:
        print(f"{len(text)}-character essay, server {url}")
        with httpx.Client(timeout=args.timeout) as client:
            for _ in range(5):  # warm up
                one(client, url, text)
            before = cpu_seconds(process.pid) if process is not None else None
            report("sequential", [one(client, url, text) for _ in range(args.requests)])
            if before is not None:
                # the server's own CPU time: what a request costs on a quiet machine
                spent = (cpu_seconds(process.pid) - before) / args.requests * 1000
                print(f"  server CPU time per request: {spent:.1f} ms")
        limits = httpx.Limits(max_connections=args.concurrency)
        with httpx.Client(timeout=args.timeout, limits=limits) as client, \
                ThreadPoolExecutor(args.concurrency) as pool:
            start = time.perf_counter()
            burst = list(pool.map(lambda _: one(client, url, text), range(args.concurrency)))
            seconds = time.perf_counter() - start
        report(f"{args.concurrency} concurrent", burst)
        print(f"  the burst took {seconds:.2f} s ({args.concurrency / seconds:.1f} essays/s)")
        return 0 if all(status == 200 for status, _ in burst) else 1
    finally:
        if process is not None:
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    sys.exit(main())
