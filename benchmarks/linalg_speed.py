"""dlpy.linalg's numpy factorisations against PyTorch's LAPACK on one thread: ldl_factor
(Bunch-Kaufman LDL^T, sytrf) of a (100, 16, 16) batch of symmetric indefinite matrices and
lu_factor (partial pivoting, getrf) of (100, 32, 32) and (100, 64, 64) batches, forward only.

    OMP_NUM_THREADS=1 python benchmarks/linalg_speed.py [--runs 15]

dlpy and torch alternate run by run; the minimum of the runs and the ratio are printed, after
checking that both give the same factors and pivots. Needs torch (`pip install torch==2.13.0`,
the CPU build), for the reference only.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import print_against_torch

import dlpy
import dlpy.linalg as LA


def factor_case(torch, name: str, a):
    """linalg.<name>(a) -> (factor, pivots) in dlpy and in torch, as arrays."""
    x, t = dlpy.tensor(a), torch.tensor(a)

    def ours():
        factor, pivots = getattr(LA, name)(x)
        return factor.numpy(), pivots.numpy()

    def theirs():
        factor, pivots = getattr(torch.linalg, name)(t)
        return factor.numpy(), pivots.numpy()

    return ours, theirs


def ldl_case(torch, rng):
    a = rng.standard_normal((100, 16, 16))
    return factor_case(torch, "ldl_factor", a + np.swapaxes(a, -1, -2))  # symmetric, indefinite


def lu_case(torch, rng, size):
    return factor_case(torch, "lu_factor", rng.standard_normal((100, size, size)))


def same_factors(mine, theirs) -> None:
    (mine_factor, mine_pivots), (their_factor, their_pivots) = mine, theirs
    np.testing.assert_array_equal(mine_pivots, their_pivots)  # LAPACK's pivots
    np.testing.assert_allclose(mine_factor, their_factor, rtol=1e-9, atol=1e-9)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds; the fastest is kept")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"forward, float64, best of {args.runs}, one thread")
    cases = (("ldl_factor 100x16x16", lambda: ldl_case(torch, rng)),
             ("lu_factor 100x32x32", lambda: lu_case(torch, rng, 32)),
             ("lu_factor 100x64x64", lambda: lu_case(torch, rng, 64)))
    print_against_torch(cases, args.runs, same_factors, 22)


if __name__ == "__main__":
    main()
