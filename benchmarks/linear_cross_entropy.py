"""Peak memory and time of forward + backward of an LM head's loss: dlpy's chunked
F.linear_cross_entropy against dlpy's reference path (linear, then cross_entropy) and torch's
two paths.

    OMP_NUM_THREADS=1 python benchmarks/linear_cross_entropy.py [--tokens 4096 --d 256
        --vocab 32000 --runs 3]

float32, mean reduction, no bias; options = LinearCrossEntropyOptions() (torch's "auto": chunks
of next_pow2(N / ceil(vocab / d)) / 2 rows, 32 here). Time: the minimum of ``--runs`` runs, the
four contenders alternating. Memory: each contender runs once in a fresh subprocess and reports
its peak resident set above the one before the step (inputs made, libraries imported), so dlpy
and torch are measured the same way; dlpy's runs also report tracemalloc's peak (numpy reports
its arrays to it). The losses and gradients of all four are checked to agree.

    OMP_NUM_THREADS=1 python benchmarks/linear_cross_entropy.py --lm

instead measures one training step of dlpy's masked LM (dlpy.lm, the default LMConfig: vocab
16000, d_model 256, 4 layers; a batch of 32 x 128 tokens, 15 % masked): tracemalloc's peak and
the time of forward + backward with the loss as the trainer computes it (full logits of the
masked rows, then F.cross_entropy) against F.linear_cross_entropy of the head's states.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import tracemalloc

import numpy as np

CONTENDERS = ("dlpy_chunked", "dlpy_reference", "torch_chunked", "torch_reference")


def make_inputs(tokens: int, d: int, vocab: int):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((tokens, d), dtype=np.float32)
    w = (rng.standard_normal((vocab, d), dtype=np.float32) / np.sqrt(d)).astype(np.float32)
    target = rng.integers(0, vocab, tokens)
    target[::50] = -100  # padding, as an LM batch has
    return x, w, target


def step(name: str, x, w, target):
    """One forward + backward: -> (loss, grad of x, grad of w) as numpy arrays."""
    if name.startswith("dlpy"):
        import dlpy
        from dlpy import functional as F
        from dlpy.nn import LinearCrossEntropyOptions

        options = LinearCrossEntropyOptions() if name.endswith("chunked") else None
        xt, wt = dlpy.Tensor(x, requires_grad=True), dlpy.Tensor(w, requires_grad=True)
        loss = F.linear_cross_entropy(xt, wt, target, options=options)
        loss.backward()
        return loss.data, xt.grad.data, wt.grad.data
    import torch

    options = torch.nn.LinearCrossEntropyOptions() if name.endswith("chunked") else None
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    loss = torch.nn.functional.linear_cross_entropy(xt, wt, torch.from_numpy(target),
                                                    options=options)
    loss.backward()
    return loss.detach().numpy(), xt.grad.numpy(), wt.grad.numpy()


def _status(field: str) -> int:
    """A size from /proc/self/status, in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> int:
    """Reset the peak resident set (VmHWM) to the current one (Linux), and return it."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    return _status("VmRSS")


def measure_memory(name: str, tokens: int, d: int, vocab: int) -> dict:
    """In this (fresh) process: the peak RSS growth of one step, and tracemalloc's for dlpy."""
    import torch  # noqa: F401 - imported by every contender, so the baselines match

    import dlpy  # noqa: F401

    torch.set_num_threads(1)
    step(name, *make_inputs(64, 8, 100))  # first-call costs (lazy imports, op registration)
    x, w, target = make_inputs(tokens, d, vocab)
    before = _reset_peak_rss()
    traced = name.startswith("dlpy")
    if traced:
        tracemalloc.start()
    step(name, x, w, target)
    result = {"rss": _status("VmHWM") - before}
    if traced:
        result["traced"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result


def lm_step(runs: int) -> None:
    """One masked-LM training step, full logits vs the chunked loss: peak memory and time."""
    from dlpy import functional as F
    from dlpy.lm.model import LMConfig, MaskedLM, mask_tokens
    from dlpy.nn import LinearCrossEntropyOptions

    config = LMConfig()
    model = MaskedLM(config)
    ids = np.random.default_rng(0).integers(5, config.vocab_size, (32, config.max_len))
    inputs, positions, labels = mask_tokens(ids, np.random.default_rng(1), config.vocab_size)

    def step(chunked: bool) -> float:
        model.zero_grad()
        for module in model.modules():  # the same dropout masks in every run, as the trainer
            if "rng" in module.__dict__:
                module.__dict__["rng"] = np.random.default_rng(2)
        hidden = model.encode(inputs)
        if chunked:
            loss = F.linear_cross_entropy(model.head_states(hidden, positions),
                                          model.embed.weight, labels,
                                          linear_bias=model.head_bias,
                                          options=LinearCrossEntropyOptions())
        else:
            loss = F.cross_entropy(model.logits(hidden, positions), labels)
        loss.backward()
        return float(loss.data)

    print(f"masked LM step: {len(labels)} masked rows of 32 x {config.max_len}, vocab "
          f"{config.vocab_size}: logits {len(labels) * config.vocab_size * 4 / 2**20:.0f} MiB")
    peaks, times, losses = {}, {"full": [], "chunked": []}, {}
    for name in ("full", "chunked"):
        step(name == "chunked")  # warm up
        tracemalloc.start()
        losses[name] = step(name == "chunked")
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    for _ in range(runs):
        for name in times:
            start = time.perf_counter()
            step(name == "chunked")
            times[name].append(time.perf_counter() - start)
    assert abs(losses["full"] - losses["chunked"]) < 1e-4 * abs(losses["full"]), losses
    for name in times:
        print(f"{name:8} loss {losses[name]:.5f}  peak {peaks[name] / 2**20:7.1f} MiB  "
              f"time {min(times[name]):.3f} s")
    print(f"chunked / full: peak {peaks['chunked'] / peaks['full']:.3f}x (saves "
          f"{(peaks['full'] - peaks['chunked']) / 2**20:.0f} MiB), time "
          f"{min(times['chunked']) / min(times['full']):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lm", action="store_true", help="one masked-LM training step instead")
    parser.add_argument("--memory-of", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_of:
        print(json.dumps(measure_memory(args.memory_of, args.tokens, args.d, args.vocab)))
        return
    if args.lm:
        lm_step(args.runs)
        return
    import torch

    torch.set_num_threads(1)
    x, w, target = make_inputs(args.tokens, args.d, args.vocab)
    print(f"LM head loss: {args.tokens} tokens, d = {args.d}, vocab = {args.vocab}, float32; "
          f"full logits {args.tokens * args.vocab * 4 / 2**20:.0f} MiB")
    times = {name: [] for name in CONTENDERS}
    results = {}
    for _ in range(args.runs):
        for name in CONTENDERS:
            start = time.perf_counter()
            results[name] = step(name, x, w, target)
            times[name].append(time.perf_counter() - start)
    for name in CONTENDERS[1:]:
        for got, want, what in zip(results["dlpy_chunked"], results[name], ("loss", "dx", "dW")):
            error = np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)
            assert error < 1e-4, f"dlpy_chunked vs {name}: {what} differs by {error:.2e}"
    memory = {}
    for name in CONTENDERS:
        out = subprocess.run([sys.executable, __file__, "--memory-of", name, "--tokens",
                              str(args.tokens), "--d", str(args.d), "--vocab", str(args.vocab)],
                             capture_output=True, text=True, check=True).stdout
        memory[name] = json.loads(out.strip().splitlines()[-1])
    print(f"{'':18}{'time (min)':>12}{'peak RSS +':>14}{'tracemalloc':>14}")
    for name in CONTENDERS:
        traced = memory[name].get("traced")
        print(f"{name:18}{min(times[name]):>10.3f} s{memory[name]['rss'] / 2**20:>10.0f} MiB"
              + (f"{traced / 2**20:>10.0f} MiB" if traced is not None else f"{'-':>14}"))
    best = {name: min(t) for name, t in times.items()}
    rss = {name: m["rss"] for name, m in memory.items()}
    for a, b in (("dlpy_chunked", "dlpy_reference"), ("dlpy_chunked", "torch_chunked"),
                 ("dlpy_reference", "torch_reference"), ("torch_chunked", "torch_reference")):
        print(f"{a} / {b}: time {best[a] / best[b]:.2f}x, peak RSS {rss[a] / rss[b]:.3f}x")


if __name__ == "__main__":
    main()
