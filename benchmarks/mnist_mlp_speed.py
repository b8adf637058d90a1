"""Time one epoch of the report's MNIST MLP (784-128-10, ReLU, softmax cross-entropy, batch 50,
SGD lr 0.1) in dlpy, PyTorch (CPU, when installed) and hand-written numpy, and print ratios.

    .venv/bin/python benchmarks/mnist_mlp_speed.py [--data-dir D] [--repeats 3] [--threads 1]

Each (framework, repetition) runs in its own subprocess, so peak resident memory
(VmHWM) belongs to one framework only; the frameworks alternate within each
repetition so background load hits all alike. All three share the data pipeline: uint8 images,
the same shuffled order, converted to float32 per batch. The epoch is 50,000 images (the
training split of `dlpy mnist train`), timed after 20 warm-up steps; test accuracy is measured
after it, untimed, to show the three trained the same net. Ratios are taken per repetition
and the median printed, for wall time and for CPU time (one thread: the same on an idle
machine; on a busy one the CPU time is the reliable measure). Goals: dlpy <= 0.8x PyTorch
and <= 1.3x numpy, peak memory <= 320 MB. Needs the MNIST files (../shared/data/mnist by
default, or --data-dir).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BATCH, LR, HIDDEN, WARMUP = 50, 0.1, 128, 20
GOALS = {"torch": 0.8, "numpy": 1.3}
MEMORY_GOAL_MB = 320
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def load_data(data_dir: str):
    import numpy as np

    from dlpy.data import load_mnist

    arrays = load_mnist(data_dir, download=False)
    images = arrays["train_images"].reshape(60_000, -1)  # uint8, converted per batch
    labels = arrays["train_labels"].astype(np.int64)
    test = (arrays["test_images"].reshape(10_000, -1), arrays["test_labels"].astype(np.int64))
    return images[:50_000], labels[:50_000], test


def to_input(batch):
    import numpy as np

    x = batch.astype(np.float32)
    x *= 1.0 / 255.0
    return x


def batches(images, labels):
    import numpy as np

    from dlpy.data import DataLoader

    return DataLoader((images, labels), BATCH, shuffle=True, rng=np.random.default_rng(0))


# ---------------------------------------------------------------------------- the three runs
def run_dlpy(images, labels, test):
    import numpy as np

    from dlpy import functional as F
    from dlpy import nn, no_grad, optim

    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(784, HIDDEN, rng=rng), nn.ReLU(),
                          nn.Linear(HIDDEN, 10, rng=rng))
    opt = optim.SGD(model.parameters(), lr=LR)

    def step(xb, yb):
        loss = F.cross_entropy(model(to_input(xb)), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def accuracy():
        with no_grad():
            return float((model(to_input(test[0])).data.argmax(1) == test[1]).mean())

    return step, accuracy


def run_torch(images, labels, test):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, HIDDEN), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN, 10))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(xb, yb):
        loss = loss_fn(model(torch.from_numpy(to_input(xb))), torch.from_numpy(yb))
        opt.zero_grad()
        loss.backward()
        opt.step()

    def accuracy():
        with torch.no_grad():
            logits = model(torch.from_numpy(to_input(test[0]))).numpy()
        return float((logits.argmax(1) == test[1]).mean())

    return step, accuracy


def run_numpy(images, labels, test):
    """The same net by hand: forward, the fused softmax-cross-entropy gradient, backward, SGD."""
    import numpy as np

    rng = np.random.default_rng(0)
    bound1, bound2 = 1 / np.sqrt(784), 1 / np.sqrt(HIDDEN)
    w1 = rng.uniform(-bound1, bound1, (HIDDEN, 784)).astype(np.float32)
    b1 = rng.uniform(-bound1, bound1, HIDDEN).astype(np.float32)
    w2 = rng.uniform(-bound2, bound2, (10, HIDDEN)).astype(np.float32)
    b2 = rng.uniform(-bound2, bound2, 10).astype(np.float32)

    def step(xb, yb):
        x = to_input(xb)
        h = x @ w1.T
        h += b1
        np.maximum(h, 0, out=h)
        z = h @ w2.T
        z += b2
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(yb)), yb] -= 1
        p /= len(yb)  # d loss / d z
        grad_w2, grad_b2 = p.T @ h, p.sum(axis=0)
        grad_h = p @ w2
        grad_h *= h > 0
        grad_w1, grad_b1 = grad_h.T @ x, grad_h.sum(axis=0)
        for param, grad in ((w1, grad_w1), (b1, grad_b1), (w2, grad_w2), (b2, grad_b2)):
            param -= LR * grad

    def accuracy():
        h = np.maximum(to_input(test[0]) @ w1.T + b1, 0)
        return float(((h @ w2.T + b2).argmax(1) == test[1]).mean())

    return step, accuracy


RUNS = {"dlpy": run_dlpy, "torch": run_torch, "numpy": run_numpy}


def peak_memory_mb() -> float:
    """This process's peak resident memory: VmHWM (Linux), else getrusage's ru_maxrss, which
    Linux carries over from the parent across exec (a parent holding PyTorch would count)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale / 1024


def worker(framework: str, data_dir: str, threads: int) -> None:
    """One framework, one epoch; prints a JSON line."""
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
    images, labels, test = load_data(data_dir)
    rss_data = peak_memory_mb()
    step, accuracy = RUNS[framework](images, labels, test)
    loader = batches(images, labels)
    for i, (xb, yb) in enumerate(loader):
        if i == WARMUP:
            break
        step(xb, yb)
    start, cpu = time.perf_counter(), time.process_time()
    for xb, yb in loader:
        step(xb, yb)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    peak = peak_memory_mb()
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mb": peak,
                      "data_mb": rss_data, "accuracy": accuracy()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("DLPY_MNIST", str(DEFAULT_DATA)))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS / PyTorch threads (default 1: at batch 50 the matrices are "
                             "small, and more threads only add contention on shared cores)")
    parser.add_argument("--worker", choices=sorted(RUNS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.data_dir, args.threads)
        return
    if not Path(args.data_dir).is_dir():
        raise SystemExit(f"MNIST not found in {args.data_dir}: pass --data-dir FOLDER with the "
                         "four files")
    # the parent stays small (PyTorch is only looked up, not imported): see peak_memory_mb
    import importlib.metadata
    import importlib.util

    frameworks = ["dlpy", "numpy"]
    if importlib.util.find_spec("torch") is not None:
        frameworks.insert(1, "torch")
        version = f"PyTorch {importlib.metadata.version('torch')}"
    else:
        version = "PyTorch not installed (pip install torch==2.13.0 for the comparison)"
    import numpy as np

    env = dict(os.environ)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(args.threads)  # read when numpy / torch load, hence a fresh process
    print(f"one epoch = {50_000 // BATCH} steps of batch {BATCH}; {version}, numpy "
          f"{np.__version__}; {args.threads} thread(s) each; {args.repeats} repetitions, each "
          "framework in its own process")
    results: dict[str, list[dict]] = {f: [] for f in frameworks}
    for _ in range(args.repeats):
        for framework in frameworks:
            done = subprocess.run(
                [sys.executable, __file__, "--worker", framework, "--data-dir", args.data_dir,
                 "--threads", str(args.threads)],
                env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{framework} worker failed:\n{done.stderr}")
            results[framework].append(json.loads(done.stdout.strip().splitlines()[-1]))

    print(f"\n{'':8}{'s/epoch median':>16}{'min':>8}{'cpu s':>8}{'peak MB':>10}"
          f"{'(data MB)':>11}{'test acc':>10}")
    medians = {}
    for framework, runs in results.items():
        times = [r["seconds"] for r in runs]
        medians[framework] = statistics.median(times)
        print(f"{framework:8}{medians[framework]:16.3f}{min(times):8.3f}"
              f"{statistics.median(r['cpu_seconds'] for r in runs):8.3f}"
              f"{max(r['peak_mb'] for r in runs):10.0f}{max(r['data_mb'] for r in runs):11.0f}"
              f"{statistics.median(r['accuracy'] for r in runs):10.2%}")
    print()
    busy = statistics.median(r["seconds"] / r["cpu_seconds"] for r in results["dlpy"])
    if busy > 1.2:
        print(f"note: wall time is {busy:.1f}x the CPU time: other jobs share these cores, so "
              "the CPU-time ratios are the reliable ones")
    for other, goal in GOALS.items():
        if other not in results:
            continue
        for label, key in (("wall time", "seconds"), ("CPU time", "cpu_seconds")):
            # per repetition (the same minute of machine load), then the median
            ratio = statistics.median(d[key] / o[key] for d, o in zip(results["dlpy"],
                                                                       results[other]))
            verdict = "ok" if ratio <= goal else "MISSED"
            print(f"dlpy / {other} ({label}): {ratio:.2f}x (goal <= {goal}x: {verdict})")
    peak = max(r["peak_mb"] for r in results["dlpy"])
    print(f"dlpy peak memory: {peak:.0f} MB (goal <= {MEMORY_GOAL_MB} MB: "
          f"{'ok' if peak <= MEMORY_GOAL_MB else 'MISSED'})")


if __name__ == "__main__":
    main()
