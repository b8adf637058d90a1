"""Per-sample gradients of an MLP's loss: dlpy.func's ``vmap(grad(loss))`` (vectorised by
dlpy.func_batching's rules) against the same vmap run once per sample (``_vectorize=False``, what
vmap was before), a plain loop of ``backward``, and ``torch.func`` (vectorised).

    OMP_NUM_THREADS=1 python benchmarks/func_per_sample.py [--runs 7] [--batch 64]

MLP Linear(64, 128), Tanh, Linear(128, 10), float32, cross-entropy of one sample at a time. The
contenders alternate run by run; the minimum of the runs is printed. Needs torch
(`pip install torch==2.13.0`, the CPU build), for the reference only; one thread.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import best_of

import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.func import functional_call, grad, vmap


def checked_best_ms(contenders: dict, reference, runs: int, rtol: float, atol: float
                    ) -> dict[str, float]:
    """Each contender's result checked against ``reference``, then its best time in ms over
    ``runs`` rounds (the contenders alternating)."""
    for run in contenders.values():
        np.testing.assert_allclose(run(), reference, rtol=rtol, atol=atol)
    return {label: t * 1e3 for label, t in zip(contenders, best_of(runs, *contenders.values()))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(64, 128, rng=rng), nn.Tanh(), nn.Linear(128, 10, rng=rng))
    theirs = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Tanh(),
                                 torch.nn.Linear(128, 10))
    with torch.no_grad():
        for (_, p), (_, q) in zip(model.named_parameters(), theirs.named_parameters()):
            q.copy_(torch.from_numpy(p.data))
    x = rng.standard_normal((args.batch, 64)).astype(np.float32)
    labels = rng.integers(0, 10, args.batch)
    params = {k: p.detach() for k, p in model.named_parameters()}
    their_params = {k: p.detach() for k, p in theirs.named_parameters()}
    xs, ys, txs, tys = Tensor(x), Tensor(labels), torch.from_numpy(x), torch.from_numpy(labels)

    def loss(params, xi, yi):
        return F.cross_entropy(functional_call(model, params, (xi.unsqueeze(0),)), yi.unsqueeze(0))

    def their_loss(params, xi, yi):
        logits = torch.func.functional_call(theirs, params, (xi.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(logits, yi.unsqueeze(0))

    def run_vmap():
        return vmap(grad(loss), in_dims=(None, 0, 0))(params, xs, ys)["0.weight"].data

    def run_vmap_loop():
        return vmap(grad(loss), in_dims=(None, 0, 0), _vectorize=False)(
            params, xs, ys)["0.weight"].data

    def run_loop():
        rows = []
        for i in range(args.batch):
            model.zero_grad()
            F.cross_entropy(model(xs[i:i + 1]), ys[i:i + 1]).backward()
            rows.append(model[0].weight.grad.numpy())
        return np.stack(rows)

    def run_torch():
        grads = torch.func.vmap(torch.func.grad(their_loss), in_dims=(None, 0, 0))(
            their_params, txs, tys)
        return grads["0.weight"].numpy()

    contenders = {"dlpy vmap(grad)": run_vmap, "dlpy vmap, per sample": run_vmap_loop,
                  "dlpy loop of backward": run_loop,
                  "torch.func vmap(grad)": run_torch}
    reference = run_torch()
    best = checked_best_ms(contenders, reference, args.runs, rtol=1e-4, atol=1e-5)
    torch_ms = best["torch.func vmap(grad)"]
    print(f"batch {args.batch}, minimum of {args.runs} runs")
    for label, ms in best.items():
        print(f"{label:22s} {ms:8.2f} ms  {ms / torch_ms:6.2f}x torch.func  "
              f"{ms / best['dlpy vmap(grad)']:6.2f}x dlpy vmap(grad)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
