"""torch.sparse.mm against dlpy.sparse.mm: a sparse (n, n) matrix of the given density times a
dense (n, k) one, forward and backward (the gradients of the sparse values and of the dense
operand), and the forward alone; one thread, the contenders alternating, minima and ratios.

    OMP_NUM_THREADS=1 python benchmarks/sparse_tensor_speed.py [--n 10000] [--density 0.001]
        [--k 64] [--runs 10]

The matrix is COO, coalesced (a GCN's normalised adjacency would be), float32; a CSR copy is
timed too (dlpy's kernel reads CSR rows directly; torch's CSR mm has no values gradient on the
CPU, so only its forward is timed).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from timing import best_of

import dlpy
import dlpy.sparse


def problem(n: int, density: float, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    flat = np.unique(rng.integers(0, n * n, int(n * n * density)))
    indices = np.stack(np.divmod(flat, n))
    values = rng.standard_normal(flat.size).astype(np.float32)
    dense = rng.standard_normal((n, k)).astype(np.float32)
    return indices, values, dense


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--density", type=float, default=0.001)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
    indices, values, dense = problem(args.n, args.density, args.k)
    shape = (args.n, args.n)
    print(f"sparse ({args.n}, {args.n}), nnz {values.size:,} (density {args.density}) @ dense "
          f"({args.n}, {args.k}), float32, one thread, best of {args.runs}")

    t_values = torch.tensor(values, requires_grad=True)
    t_dense = torch.tensor(dense, requires_grad=True)
    t_indices = torch.tensor(indices)
    d_values = dlpy.tensor(values, requires_grad=True)
    d_dense = dlpy.tensor(dense, requires_grad=True)

    def torch_step():
        s = torch.sparse_coo_tensor(t_indices, t_values, shape, is_coalesced=True)
        torch.sparse.mm(s, t_dense).sum().backward()

    def dlpy_step():
        s = dlpy.sparse_coo_tensor(indices, d_values, shape, is_coalesced=True)
        dlpy.sparse.mm(s, d_dense).sum().backward()

    def torch_forward():
        with torch.no_grad():
            torch.sparse.mm(torch.sparse_coo_tensor(t_indices, t_values, shape,
                                                    is_coalesced=True), t_dense)

    def dlpy_forward():
        with dlpy.no_grad():
            dlpy.sparse.mm(dlpy.sparse_coo_tensor(indices, d_values, shape, is_coalesced=True),
                           d_dense)

    t_csr = torch.sparse_coo_tensor(t_indices, t_values.detach(), shape).to_sparse_csr()
    d_csr = dlpy.sparse_coo_tensor(indices, values, shape).to_sparse_csr()

    def torch_csr_forward():
        torch.sparse.mm(t_csr, t_dense.detach())

    def dlpy_csr_forward():
        dlpy.sparse.mm(d_csr, d_dense.detach())

    # the same numbers first
    s = dlpy.sparse_coo_tensor(indices, d_values, shape, is_coalesced=True)
    gap = np.abs(dlpy.sparse.mm(s, d_dense).data - torch.sparse.mm(
        torch.sparse_coo_tensor(t_indices, t_values, shape), t_dense).detach().numpy()).max()
    print(f"largest difference of the products: {gap:.2e}")
    for label, contenders in (("forward + backward", (torch_step, dlpy_step)),
                              ("forward", (torch_forward, dlpy_forward)),
                              ("forward, CSR", (torch_csr_forward, dlpy_csr_forward))):
        torch_time, dlpy_time = best_of(args.runs, *contenders)
        print(f"{label:20s} torch {torch_time * 1e3:8.2f} ms   dlpy {dlpy_time * 1e3:8.2f} ms"
              f"   dlpy/torch {dlpy_time / torch_time:5.2f}x")


if __name__ == "__main__":
    main()
