"""Jacobians and Hessians: dlpy.func's ``jacrev`` / ``hessian`` (the vjp vmapped over the basis of
cotangents: one batched backward pass per output) and ``autograd.functional.jacobian`` /
``hessian`` with ``vectorize=True``, against the loop they replaced (one backward pass per
output element: ``vectorize=False``, and jacrev with the batched pass switched off) and
``torch.func.jacrev`` / ``torch.func.hessian``.

    OMP_NUM_THREADS=1 python benchmarks/func_jacobian.py [--runs 7]

Cases, float32: the Jacobian (32, 64) of x -> tanh(Linear(64, 32)(x)); the gradient (jacrev
of a one-element output: nothing to batch) and the Hessian (64, 64) of an MLP's cross-entropy
(Linear(64, 128), Tanh, Linear(128, 10)) with respect to its input. The contenders alternate
run by run; the minimum of the runs is printed. Needs torch (`pip install torch==2.13.0`, the
CPU build), for the reference only; one thread.
"""

from __future__ import annotations

import argparse
from unittest import mock

import numpy as np
from func_per_sample import checked_best_ms

import dlpy.autograd_functional as AF
import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy import func_batching as batching
from dlpy.func import hessian, jacrev


def _unbatched(run):
    """``run`` with jacrev's batched pass switched off: one backward pass per row (before)."""
    def looped():
        with mock.patch.object(batching, "jacobian_rows", lambda *args: None):
            return run()
    return looped


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    layer = nn.Linear(64, 32, rng=rng)
    mlp = nn.Sequential(nn.Linear(64, 128, rng=rng), nn.Tanh(), nn.Linear(128, 10, rng=rng))
    their_layer = torch.nn.Linear(64, 32)
    their_mlp = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Tanh(),
                                    torch.nn.Linear(128, 10))
    with torch.no_grad():
        for ours, theirs in ((layer, their_layer), (mlp, their_mlp)):
            for p, q in zip(ours.parameters(), theirs.parameters()):
                q.copy_(torch.from_numpy(p.data))
    x = rng.standard_normal(64).astype(np.float32)
    xs, txs = Tensor(x), torch.from_numpy(x)
    target, their_target = Tensor(np.array([3])), torch.tensor([3])

    def layer_map(v):
        return F.tanh(layer(v))

    def their_map(v):
        return torch.tanh(their_layer(v))

    def loss(v):
        return F.cross_entropy(mlp(v).unsqueeze(0), target)

    def their_loss(v):
        return torch.nn.functional.cross_entropy(their_mlp(v).unsqueeze(0), their_target)

    cases = {
        "jacobian (32, 64)": {
            "dlpy jacrev": lambda: jacrev(layer_map)(xs).data,
            "dlpy jacrev, per row": _unbatched(lambda: jacrev(layer_map)(xs).data),
            "dlpy jacobian vectorize": lambda: AF.jacobian(layer_map, xs, vectorize=True).data,
            "dlpy jacobian": lambda: AF.jacobian(layer_map, xs).data,
            "torch.func.jacrev": lambda: torch.func.jacrev(their_map)(txs).detach().numpy(),
        },
        "gradient of the loss": {
            "dlpy jacrev": lambda: jacrev(loss)(xs).data,
            "torch.func.jacrev": lambda: torch.func.jacrev(their_loss)(txs).detach().numpy(),
        },
        "hessian (64, 64)": {
            "dlpy hessian": lambda: hessian(loss)(xs).data,
            "dlpy hessian, per row": _unbatched(lambda: hessian(loss)(xs).data),
            "dlpy AF.hessian vectorize": lambda: AF.hessian(loss, xs, vectorize=True).data,
            "dlpy AF.hessian": lambda: AF.hessian(loss, xs).data,
            "torch.func.hessian": lambda: torch.func.hessian(their_loss)(txs).detach().numpy(),
        },
    }
    print(f"minimum of {args.runs} runs, float32, one thread")
    for case, contenders in cases.items():
        labels = list(contenders)
        reference = contenders[labels[-1]]()
        best = checked_best_ms(contenders, reference, args.runs, rtol=1e-3, atol=1e-5)
        torch_ms, ours_ms = best[labels[-1]], best[labels[0]]
        print(case)
        for label, ms in best.items():
            print(f"  {label:26s} {ms:8.3f} ms  {ms / torch_ms:6.2f}x torch  "
                  f"{ms / ours_ms:6.2f}x {labels[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
