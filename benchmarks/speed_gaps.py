"""dlpy against PyTorch on ops that used to lag: F.interpolate, F.embedding_bag, F.group_norm,
lgamma / digamma / erf / erfc / erfinv and small integer powers, forward and forward + backward,
float32, one thread each.

    OMP_NUM_THREADS=1 python benchmarks/speed_gaps.py [--runs 7] [--only interpolate]

Cases: interpolate (8, 16, 32, 32) -> 64 x 64 nearest, bilinear (align_corners off and on),
bicubic, area, and (8, 16, 1024) -> 2048 linear, and the rows after them in INTERPOLATE_CASES
(downsampling, nearest-exact, trilinear, 3-d nearest); embedding_bag over a 10,000 x 64 table, 512
bags of 15-25 ids (1-D ids and offsets), sum, mean, max and sum with per-sample weights (which
get a gradient too); group_norm (16, 64, 32, 32), 8 groups, with weight and bias; lgamma and
digamma on 1,000,000 values in (-10, 20), erf and erfc on 2 N(0, 1), erfinv on U(-1, 1); x ** 3,
4, -1, -3 on 1,000,000 N(0, 1) values. Forward runs on inputs without gradients (PyTorch
under no_grad); forward + backward builds the graph and back-propagates a fixed random gradient.
dlpy and PyTorch alternate run by run; the minimum of the runs is printed, and dlpy / PyTorch.
PyTorch (`pip install torch==2.13.0`, the CPU build) gets torch.set_num_threads(1); numpy's
BLAS gets one thread from OMP_NUM_THREADS (set to 1 here unless already set).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy loads its BLAS

import argparse  # noqa: E402

import numpy as np  # noqa: E402
from timing import best_of  # noqa: E402

import dlpy  # noqa: E402
import dlpy.functional as F  # noqa: E402
from dlpy import Tensor  # noqa: E402

INTERPOLATE_CASES = [  # (label, input shape, size, mode, align_corners)
    ("nearest", (8, 16, 32, 32), (64, 64), "nearest", None),
    ("bilinear", (8, 16, 32, 32), (64, 64), "bilinear", False),
    ("bilinear ac", (8, 16, 32, 32), (64, 64), "bilinear", True),
    ("bicubic", (8, 16, 32, 32), (64, 64), "bicubic", False),
    ("area", (8, 16, 32, 32), (64, 64), "area", None),
    ("linear 1-d", (8, 16, 1024), (2048,), "linear", False),
    ("linear down", (8, 16, 2048), (700,), "linear", False),
    ("nearest-exact", (8, 16, 32, 32), (64, 64), "nearest-exact", None),
    ("img 224->100", (1, 3, 224, 224), (100, 100), "bilinear", False),
    ("bicubic down", (8, 16, 64, 64), (27, 27), "bicubic", False),
    ("trilinear", (2, 8, 16, 32, 32), (32, 64, 64), "trilinear", False),
    ("trilin. down", (2, 8, 32, 64, 64), (13, 27, 27), "trilinear", False),
    ("nearest 3-d", (2, 8, 16, 32, 32), (32, 64, 64), "nearest", None),
    # antialias=True (a sixth field): torch's _upsample_bilinear2d_aa / _bicubic2d_aa
    ("aa img ->100", (1, 3, 224, 224), (100, 100), "bilinear", False, True),
    ("aa bicubic dn", (8, 16, 64, 64), (27, 27), "bicubic", False, True),
    ("aa bilinear up", (8, 16, 32, 32), (64, 64), "bilinear", False, True),
]


class Case:
    """One op applied the same way in both libraries: ``apply(lib, functional, *tensors)``,
    ``arrays`` its float inputs (all get gradients in forward + backward), ``out_shape``."""

    def __init__(self, group, label, apply, arrays, differentiable=None):
        self.group, self.label, self.apply, self.arrays = group, label, apply, arrays
        self.differentiable = differentiable or [True] * len(arrays)

    def dlpy_runs(self, grad):
        def forward():
            with dlpy.no_grad():
                self.apply("dlpy", F, *[Tensor(a) for a in self.arrays])

        def backward():
            tensors = [Tensor(a, requires_grad=d) for a, d in zip(self.arrays, self.differentiable)]
            self.apply("dlpy", F, *tensors).backward(grad)
        return forward, backward

    def torch_runs(self, torch, grad):
        functional = torch.nn.functional
        grad_t = torch.from_numpy(grad)
        arrays = [torch.from_numpy(a) for a in self.arrays]

        def forward():
            with torch.no_grad():
                self.apply("torch", functional, *arrays)

        def backward():
            tensors = [a.clone().requires_grad_(d) for a, d in zip(arrays, self.differentiable)]
            self.apply("torch", functional, *tensors).backward(grad_t)
        return forward, backward


def interpolate_cases(rng) -> list[Case]:
    cases = []
    for label, shape, size, mode, align_corners, *antialias in INTERPOLATE_CASES:
        x = rng.standard_normal(shape).astype(np.float32)

        def apply(lib, functional, x, size=size, mode=mode, align_corners=align_corners,
                  antialias=bool(antialias and antialias[0])):
            return functional.interpolate(x, size=size, mode=mode, align_corners=align_corners,
                                          antialias=antialias)
        cases.append(Case("interpolate", label, apply, [x]))
    return cases


def embedding_bag_cases(rng) -> list[Case]:
    weight = rng.standard_normal((10_000, 64)).astype(np.float32)
    lengths = rng.integers(15, 26, size=512)
    ids = rng.integers(0, 10_000, size=int(lengths.sum()))
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    per_sample = rng.random(ids.size).astype(np.float32)
    cases = []
    for mode in ("sum", "mean", "max"):
        def apply(lib, functional, weight, mode=mode):
            ids_, offsets_ = _ids(lib, ids, offsets)
            return functional.embedding_bag(ids_, weight, offsets_, mode=mode)
        cases.append(Case("embedding_bag", mode, apply, [weight]))

    def weighted(lib, functional, weight, per_sample):
        ids_, offsets_ = _ids(lib, ids, offsets)
        return functional.embedding_bag(ids_, weight, offsets_, mode="sum",
                                        per_sample_weights=per_sample)
    cases.append(Case("embedding_bag", "sum, weights", weighted, [weight, per_sample]))
    return cases


def _ids(lib, ids, offsets):
    if lib == "torch":
        import torch
        return torch.from_numpy(ids), torch.from_numpy(offsets)
    return ids, offsets


def group_norm_cases(rng) -> list[Case]:
    x = rng.standard_normal((16, 64, 32, 32)).astype(np.float32)
    weight = rng.standard_normal(64).astype(np.float32)
    bias = rng.standard_normal(64).astype(np.float32)

    def apply(lib, functional, x, weight, bias):
        return functional.group_norm(x, 8, weight, bias)
    return [Case("group_norm", "8 groups", apply, [x, weight, bias])]


def special_cases(rng) -> list[Case]:
    x = rng.uniform(-10, 20, size=1_000_000).astype(np.float32)
    normal = (2 * rng.standard_normal(1_000_000)).astype(np.float32)
    uniform = rng.uniform(-1, 1, size=1_000_000).astype(np.float32)
    cases = []
    for name, values in (("lgamma", x), ("digamma", x), ("erf", normal), ("erfc", normal),
                         ("erfinv", uniform)):
        def apply(lib, functional, x, name=name):
            if lib == "torch":
                import torch
                return getattr(torch, name)(x)
            return getattr(dlpy if name == "erfc" else functional, name)(x)
        cases.append(Case("special", name, apply, [values]))
    return cases


def power_cases(rng) -> list[Case]:
    x = rng.standard_normal(1_000_000).astype(np.float32)
    cases = []
    for exponent in (3, 4, -1, -3):
        def apply(lib, functional, x, exponent=exponent):
            return x**exponent
        cases.append(Case("power", f"x ** {exponent}", apply, [x]))
    return cases


GROUPS = {"interpolate": interpolate_cases, "embedding_bag": embedding_bag_cases,
          "group_norm": group_norm_cases, "special": special_cases, "power": power_cases}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="rounds; the minimum is kept")
    parser.add_argument("--only", choices=sorted(GROUPS), action="append",
                        help="run only these groups (repeatable)")
    args = parser.parse_args(argv)
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print(f"float32, minimum of {args.runs} runs, ms; ratio = dlpy / PyTorch")
    print(f"{'op':<14}{'case':<14}{'fwd':>9}{'torch':>9}{'ratio':>7}"
          f"{'fwd+bwd':>10}{'torch':>9}{'ratio':>7}")
    for group in args.only or GROUPS:
        for case in GROUPS[group](rng):
            out_shape = np.shape(case.apply("dlpy", F, *[Tensor(a) for a in case.arrays]).data)
            grad = rng.standard_normal(out_shape).astype(np.float32)
            forward, backward = case.dlpy_runs(grad)
            row = f"{case.group:<14}{case.label:<14}"
            if torch is None:
                forward_time, backward_time = best_of(args.runs, forward, backward)
                print(row + f"{forward_time * 1e3:>9.2f}{'':>16}{backward_time * 1e3:>10.2f}")
                continue
            t_forward, t_backward = case.torch_runs(torch, grad)
            times = best_of(args.runs, forward, t_forward, backward, t_backward)
            ours, theirs, ours_b, theirs_b = (t * 1e3 for t in times)
            print(row + f"{ours:>9.2f}{theirs:>9.2f}{ours / theirs:>7.2f}"
                  f"{ours_b:>10.2f}{theirs_b:>9.2f}{ours_b / theirs_b:>7.2f}")


if __name__ == "__main__":
    main()
