"""Ops on big meta tensors whose result shapes dlpy takes from rules, dlpy against torch.

    OMP_NUM_THREADS=1 python benchmarks/meta_ops.py [--runs 5] [--only scatter_add ...]

Each op runs on meta tensors of 256 MiB of float32 (16, 1024, 4096) or of a suitable shape
(64 matrices of 1024 x 1024, 16 images of 64 x 256 x 256), forward and, where the result
requires grad, backward: scatters and index writes, take, unfold / fold, grid sampling, the
Fourier transforms, linalg's factorisations, transposed convolutions, kthvalue / median /
quantile, random draws, adaptive pooling, embedding_bag. The inputs are made inside the timed
call (torch's too). dlpy and torch alternate, the minimum of ``--runs`` is printed with the
ratio, and dlpy's peak traced memory (tracemalloc) of one run shows that nothing of the
tensors' size is computed. torch is optional (only dlpy's numbers without it).
"""

from __future__ import annotations

import argparse
import importlib

from timing import best_of, peak_traced

B = (16, 1024, 4096)  # 256 MiB of float32


def _cases(lib):
    """name -> a function running the op once on new meta tensors of ``lib`` (dlpy or torch)."""
    F = importlib.import_module("torch.nn.functional" if lib.__name__ == "torch"
                                else "dlpy.functional")

    def e(*shape, dtype=None, grad=False):
        return lib.empty(*shape, device="meta", dtype=dtype or lib.float32, requires_grad=grad)

    def index(*shape):
        return lib.empty(*shape, device="meta", dtype=lib.int64)

    def images(grad=True):
        return e(16, 64, 256, 256, grad=grad)

    return {
        "scatter": lambda: e(*B, grad=True).scatter(2, index(*B), e(*B)),
        "scatter_add": lambda: e(*B, grad=True).scatter_add(2, index(*B), e(*B)),
        "scatter_reduce": lambda: e(*B).scatter_reduce(2, index(*B), e(*B), "amax"),
        "index_add": lambda: e(*B, grad=True).index_add(1, index(1024), e(*B)),
        "index_copy": lambda: e(*B).index_copy(1, index(1024), e(*B)),
        "index_put": lambda: e(*B).index_put((index(100),), e(100, 1024, 4096)),
        "masked_scatter": lambda: e(*B).masked_scatter(e(*B, dtype=lib.bool), e(*B)),
        "take": lambda: e(*B).take(index(*B)),
        "F.unfold": lambda: F.unfold(e(16, 64, 128, 128, grad=True), 3, padding=1),
        "F.fold": lambda: F.fold(e(16, 576, 16384, grad=True), (128, 128), 3, padding=1),
        "grid_sample": lambda: F.grid_sample(images(), e(16, 256, 256, 2),
                                             align_corners=False),
        "affine_grid": lambda: F.affine_grid(e(16, 2, 3), (16, 64, 1024, 1024),
                                             align_corners=False),
        "fft.rfft": lambda: lib.fft.rfft(e(*B)),
        "fft.fft": lambda: lib.fft.fft(e(*B)),
        "fft.irfft": lambda: lib.fft.irfft(e(16, 1024, 2049, dtype=lib.complex64)),
        "fft.fftn": lambda: lib.fft.fftn(e(*B), dim=(1, 2)),
        "fft.rfft2": lambda: lib.fft.rfft2(e(*B)),
        "linalg.inv": lambda: lib.linalg.inv(e(64, 1024, 1024)),
        "linalg.solve": lambda: lib.linalg.solve(e(64, 1024, 1024), e(64, 1024, 16)),
        "linalg.cholesky": lambda: lib.linalg.cholesky(e(64, 1024, 1024)),
        "linalg.qr": lambda: lib.linalg.qr(e(64, 1024, 1024)),
        "linalg.svd": lambda: lib.linalg.svd(e(64, 512, 512)),
        "linalg.eigh": lambda: lib.linalg.eigh(e(64, 512, 512)),
        "linalg.det": lambda: lib.linalg.det(e(64, 1024, 1024)),
        "linalg.slogdet": lambda: lib.linalg.slogdet(e(64, 1024, 1024)),
        "conv_transpose2d": lambda: F.conv_transpose2d(e(16, 64, 128, 128, grad=True),
                                                       e(64, 32, 4, 4), stride=2),
        "conv_transpose1d groups": lambda: F.conv_transpose1d(e(*B, grad=True),
                                                              e(1024, 256, 3), groups=4),
        "kthvalue": lambda: e(*B, grad=True).kthvalue(3, -1),
        "median(dim)": lambda: e(*B, grad=True).median(-1),
        "quantile": lambda: lib.quantile(e(16, 1024, 1024), 0.3, dim=-1),
        "multinomial": lambda: lib.multinomial(e(1024, 4096), 10),
        "bernoulli": lambda: lib.bernoulli(e(*B)),
        "normal": lambda: lib.normal(e(*B), e(*B)),
        "interpolate area": lambda: F.interpolate(images(), size=(100, 100), mode="area"),
        "embedding_bag": lambda: F.embedding_bag(index(16, 1024), e(32000, 4096, grad=True)),
    }


def _run(function):
    def run():
        out = function()
        first = out[0] if isinstance(out, (tuple, list)) else out
        if first.requires_grad:
            first.sum().backward()
        return first

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="the ops to run (default: all)")
    args = parser.parse_args()
    import dlpy

    try:
        import torch
    except ImportError:
        torch = None
    ours = _cases(dlpy)
    theirs = _cases(torch) if torch is not None else {}
    width = max(map(len, ours)) + 2
    print(f"{'':{width}}{'dlpy ms':>10}{'torch ms':>10}{'dlpy/torch':>12}{'dlpy MiB':>10}")
    for name, function in ours.items():
        if args.only and name not in args.only:
            continue
        mine = _run(function)
        peak = peak_traced(mine) / 2**20
        if torch is None:
            (best,) = best_of(args.runs, mine)
            print(f"{name:{width}}{best * 1e3:10.2f}{'':>22}{peak:10.1f}")
            continue
        best, reference = best_of(args.runs, mine, _run(theirs[name]))
        print(f"{name:{width}}{best * 1e3:10.2f}{reference * 1e3:10.2f}"
              f"{best / reference:12.2f}{peak:10.1f}")


if __name__ == "__main__":
    main()
