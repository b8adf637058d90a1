"""dlpy.audio's MelSpectrogram and MFCC (torchaudio's defaults: n_fft 400, hop 200, 128 mels,
40 coefficients) on a float32 batch of 4 x 30 s at 16 kHz, forward and forward + backward
(loss = sum(out * weights), the gradient for the waveform), against torchaudio on one thread.

    OMP_NUM_THREADS=1 python benchmarks/audio_speed.py [--runs 5] [--python PYTHON]

torchaudio is not in dlpy's environment: it runs in a child process of the Python given by
--python (default /work/venv-audio/bin/python, a venv with torch and torchaudio: see
tests/fixtures/make_audio_fixtures.py) on the same data; the two alternate run by run and the
minimum of the runs and the ratio are printed.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import timing  # benchmarks/timing.py, beside this script

from dlpy import Tensor
from dlpy.audio import transforms as T

SHAPE = (4, 30 * 16000)
CASES = ("MelSpectrogram", "MFCC")

CHILD = r"""
import json, sys, time, warnings
import numpy as np, torch, torchaudio.transforms as T
warnings.filterwarnings("ignore", message="At least one mel filterbank")  # 128 mels, 201 bins
torch.set_num_threads(1)
x = np.random.default_rng(0).standard_normal(%(shape)r).astype(np.float32)
modules = {"MelSpectrogram": T.MelSpectrogram(), "MFCC": T.MFCC()}
weights = {}
for line in sys.stdin:
    name, backward = json.loads(line)
    module = modules[name]
    start = time.perf_counter()
    xt = torch.from_numpy(x).requires_grad_(backward)
    out = module(xt)
    if backward:
        if name not in weights:
            weights[name] = torch.from_numpy(np.random.default_rng(1).standard_normal(
                tuple(out.shape)).astype(np.float32))
        (out * weights[name]).sum().backward()
    print(time.perf_counter() - start, flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python", default="/work/venv-audio/bin/python",
                        help="a Python with torch and torchaudio")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="At least one mel filterbank")  # 128 mels, 201 bins
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    modules = {"MelSpectrogram": T.MelSpectrogram(), "MFCC": T.MFCC()}
    weights = {}

    def ours(name: str, backward: bool) -> float:
        start = time.perf_counter()
        xt = Tensor(x, requires_grad=backward)
        out = modules[name](xt)
        if backward:
            if name not in weights:
                weights[name] = np.random.default_rng(1).standard_normal(out.shape).astype(
                    np.float32)
            (out * weights[name]).sum().backward()
        return time.perf_counter() - start

    child = timing.ChildTimer(args.python, CHILD % {"shape": SHAPE}, "audio_speed",
                              "torchaudio")

    def theirs(name: str, backward: bool) -> float:
        return float(child.ask(name, backward))

    print(f"float32 {SHAPE[0]} x {SHAPE[1]} samples (30 s at 16 kHz), one thread, min of "
          f"{args.runs} alternating runs")
    print(f"{'case':<34}{'dlpy ms':>10}{'torchaudio ms':>15}{'ratio':>8}")
    for name in CASES:
        for backward in (False, True):
            case = (name, backward)
            mine, reference = timing.min_of_alternating(
                args.runs, lambda case=case: ours(*case), lambda case=case: theirs(*case))
            label = f"{name} {'forward + backward' if backward else 'forward'}"
            print(f"{label:<34}{mine * 1e3:>10.1f}{reference * 1e3:>15.1f}"
                  f"{mine / reference:>7.2f}x")
    child.close()


if __name__ == "__main__":
    main()
