"""dlpy.audio.functional.lfilter against torchaudio's on 4 x 2 channels x 16000 samples (1 s at
16 kHz), order 3 (three a and three b coefficients): one filter for every channel (1-D
coefficients) and one filter per channel (2-D coefficients, batching=True), forward and
forward + backward (loss = sum(out * weights); gradients for the waveform and both coefficient
tensors), float32 and float64, on one thread.

    OMP_NUM_THREADS=1 python benchmarks/lfilter_speed.py [--runs 5] [--python PYTHON]

torchaudio is not in dlpy's environment: it runs in a child process of the Python given by
--python (default /work/venv-audio/bin/python, a venv with torch and torchaudio: see
tests/fixtures/make_audio_fixtures.py) on the same data; the two alternate run by run, the
minimum of the runs and the ratio are printed, and the outputs are compared once.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import timing  # benchmarks/timing.py, beside this script

from dlpy import Tensor
from dlpy.audio import functional as F

SHAPE = (4, 2, 16000)
# two stable second-order filters: a lowpass biquad (poles near z = 1) and a resonator; the
# 1-D case uses the first
A = [[1.0, -1.8, 0.81], [1.0, -0.5, 0.3]]
B = [[0.0025, 0.005, 0.0025], [0.4, 0.0, -0.4]]
KINDS = {"1-D": (A[0], B[0]), "2-D": (A, B)}

CHILD = r"""
import json, sys, time
import numpy as np, torch, torchaudio.functional as AF
torch.set_num_threads(1)
KINDS = %(kinds)r
data = {}
for dtype in ("float32", "float64"):
    rng = np.random.default_rng(0)
    x = (0.3 * rng.standard_normal(%(shape)r)).astype(dtype)
    w = rng.standard_normal(%(shape)r).astype(dtype)
    data[dtype] = [torch.from_numpy(x), torch.from_numpy(w)]
for line in sys.stdin:
    kind, dtype, backward, dump = json.loads(line)
    x, w = data[dtype]
    A, B = KINDS[kind]
    start = time.perf_counter()
    xt = x.clone().requires_grad_(backward)
    a = torch.tensor(A, dtype=x.dtype, requires_grad=backward)
    b = torch.tensor(B, dtype=x.dtype, requires_grad=backward)
    out = AF.lfilter(xt, a, b, clamp=False)
    if backward:
        (out * w).sum().backward()
    elapsed = time.perf_counter() - start
    print(json.dumps([elapsed, out[..., -5:].tolist() if dump else None]), flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python", default="/work/venv-audio/bin/python",
                        help="a Python with torch and torchaudio")
    args = parser.parse_args()
    data = {}
    for dtype in ("float32", "float64"):
        rng = np.random.default_rng(0)
        x = (0.3 * rng.standard_normal(SHAPE)).astype(dtype)
        data[dtype] = x, rng.standard_normal(SHAPE).astype(dtype)

    def ours(kind: str, dtype: str, backward: bool) -> tuple[float, np.ndarray]:
        x, w = data[dtype]
        a_coeffs, b_coeffs = KINDS[kind]
        start = time.perf_counter()
        xt = Tensor(x, requires_grad=backward)
        a = Tensor(np.array(a_coeffs, dtype), requires_grad=backward)
        b = Tensor(np.array(b_coeffs, dtype), requires_grad=backward)
        out = F.lfilter(xt, a, b, clamp=False)
        if backward:
            (out * w).sum().backward()
        return time.perf_counter() - start, out.data[..., -5:]

    child = timing.ChildTimer(args.python, CHILD % {"shape": SHAPE, "kinds": KINDS},
                              "lfilter_speed", "torchaudio")

    def theirs(kind: str, dtype: str, backward: bool, dump: bool = False
               ) -> tuple[float, list | None]:
        elapsed, tail = child.ask(kind, dtype, backward, dump)
        return elapsed, tail

    print(f"{SHAPE[0]} x {SHAPE[1]} channels x {SHAPE[2]} samples, order 3, one thread, min of "
          f"{args.runs} alternating runs")
    print(f"{'case':<30}{'dlpy ms':>10}{'torchaudio ms':>15}{'ratio':>8}{'max |diff|':>12}")
    for kind, dtype in [(kind, dtype) for kind in KINDS for dtype in ("float32", "float64")]:
        difference = np.abs(ours(kind, dtype, False)[1]
                            - np.array(theirs(kind, dtype, False, True)[1])).max()
        for backward in (False, True):
            case = (kind, dtype, backward)
            mine, reference = timing.min_of_alternating(
                args.runs, lambda case=case: ours(*case)[0], lambda case=case: theirs(*case)[0])
            label = f"{kind} {dtype} {'forward + backward' if backward else 'forward'}"
            print(f"{label:<30}{mine * 1e3:>10.2f}{reference * 1e3:>15.2f}"
                  f"{mine / reference:>7.2f}x{difference:>12.1e}")
    child.close()


if __name__ == "__main__":
    main()
