"""Forward + backward of dlpy.fft.rfft, dlpy.fft.irfft and dlpy.stft against PyTorch on one
thread.

    OMP_NUM_THREADS=1 python benchmarks/fft_speed.py [--runs 7]

dlpy and torch alternate run by run; the minimum of the runs and the ratio are printed.
rfft: a float32 (64, 4096) signal, loss = sum(|rfft(x)|^2 * weights), the gradient for x.
irfft: a complex64 (64, 2049) spectrum -> (64, 4096), loss = sum(irfft(X) * weights).
stft: float32 (8, 16000) audio, n_fft 512, hop 128, a Hann window, loss = sum(|stft(x)| *
weights), the gradient for x. Needs torch (`pip install torch==2.13.0`, the CPU build), for
the reference only.
"""

from __future__ import annotations

import argparse
import functools

import numpy as np
from timing import print_against_torch

import dlpy
import dlpy.fft
from dlpy import Tensor


def rfft_case(torch, rng):
    x = rng.standard_normal((64, 4096)).astype(np.float32)
    weights = rng.standard_normal((64, 2049)).astype(np.float32)

    def ours():
        xt = Tensor(x, requires_grad=True)
        spectrum = dlpy.fft.rfft(xt)
        ((spectrum * spectrum.conj()).real * weights).sum().backward()
        return xt.grad

    def theirs():
        xt = torch.tensor(x, requires_grad=True)
        spectrum = torch.fft.rfft(xt)
        ((spectrum * spectrum.conj()).real * torch.from_numpy(weights)).sum().backward()
        return xt.grad.numpy()

    return ours, theirs


def irfft_case(torch, rng):
    shape = (64, 2049)
    spectrum = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    weights = rng.standard_normal((64, 4096)).astype(np.float32)

    def ours():
        st = Tensor(spectrum, requires_grad=True)
        (dlpy.fft.irfft(st) * weights).sum().backward()
        return st.grad

    def theirs():
        st = torch.tensor(spectrum, requires_grad=True)
        (torch.fft.irfft(st) * torch.from_numpy(weights)).sum().backward()
        return st.grad.numpy()

    return ours, theirs


def stft_case(torch, rng):
    x = rng.standard_normal((8, 16000)).astype(np.float32)
    weights = rng.standard_normal((8, 257, 126)).astype(np.float32)
    window = dlpy.hann_window(512)

    def ours():
        xt = Tensor(x, requires_grad=True)
        (dlpy.stft(xt, 512, 128, window=window, return_complex=True).abs()
         * weights).sum().backward()
        return xt.grad

    def theirs():
        xt = torch.tensor(x, requires_grad=True)
        spectrum = torch.stft(xt, 512, 128, window=torch.hann_window(512), return_complex=True)
        (spectrum.abs() * torch.from_numpy(weights)).sum().backward()
        return xt.grad.numpy()

    return ours, theirs


def same_gradient(mine, theirs) -> None:
    np.testing.assert_allclose(mine, theirs, rtol=2e-3, atol=2e-2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="rounds; the fastest is kept")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"forward + backward, best of {args.runs}, one thread")
    cases = [(name, functools.partial(case, torch, rng))
             for name, case in (("rfft", rfft_case), ("irfft", irfft_case), ("stft", stft_case))]
    print_against_torch(cases, args.runs, same_gradient, 8)


if __name__ == "__main__":
    main()
