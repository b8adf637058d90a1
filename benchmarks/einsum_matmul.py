"""F.einsum against F.matmul on the same products, forward + backward, float32.

    OMP_NUM_THREADS=1 python benchmarks/einsum_matmul.py [--runs 7]

Three products, each written both ways: 'ij,jk->ik' (a @ b), 'bij,bjk->bik' (batched),
'bhqd,bhkd->bhqk' (attention scores, q @ k^T). einsum turns a two-operand contraction into one
batched matmul, so the two should take about the same time; the ratio einsum / matmul is printed
(minimum of the runs, the two alternating run by run), and PyTorch's own einsum / matmul ratio
beside it when torch is installed (`pip install torch==2.13.0`, the CPU build).
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import best_of

import dlpy.functional as F
from dlpy import Tensor

CASES = [
    ("ij,jk->ik", [(512, 512), (512, 512)], lambda a, b: a @ b),
    ("bij,bjk->bik", [(64, 128, 64), (64, 64, 128)], lambda a, b: a @ b),
    ("bhqd,bhkd->bhqk", [(8, 8, 128, 64), (8, 8, 128, 64)], lambda a, b: a @ b.mT),
]


def step(fn, arrays, grad):
    def run():
        tensors = [Tensor(a, requires_grad=True) for a in arrays]
        fn(*tensors).backward(grad)
    return run


def torch_step(torch, fn, arrays, grad):
    grad_t = torch.from_numpy(grad)

    def run():
        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        fn(*tensors).backward(grad_t)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print(f"{'equation':<18} {'einsum ms':>10} {'matmul ms':>10} {'ratio':>6} {'torch ratio':>12}")
    for equation, shapes, product in CASES:
        arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        out_shape = np.einsum(equation, *arrays).shape
        grad = rng.standard_normal(out_shape).astype(np.float32)
        einsum_time, matmul_time = best_of(
            args.runs,
            step(lambda *xs, eq=equation: F.einsum(eq, *xs), arrays, grad),
            step(product, arrays, grad))
        torch_ratio = ""
        if torch is not None:
            t_einsum, t_matmul = best_of(
                args.runs,
                torch_step(torch, lambda *xs, eq=equation: torch.einsum(eq, *xs), arrays, grad),
                torch_step(torch, product, arrays, grad))
            torch_ratio = f"{t_einsum / t_matmul:.2f}"
        print(f"{equation:<18} {einsum_time * 1e3:>10.2f} {matmul_time * 1e3:>10.2f} "
              f"{einsum_time / matmul_time:>6.2f} {torch_ratio:>12}")


if __name__ == "__main__":
    main()
