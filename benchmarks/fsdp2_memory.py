"""Per-rank memory of FSDP2's ``fully_shard``: parameters, gradients, optimiser state and the
gathered units, against the unsharded model.

    python benchmarks/fsdp2_memory.py [--ranks 1 2 3] [--layers 6] [--d-model 256]

Runs ``mpirun -n N`` of itself for each N. The Transformer classifier of fsdp_memory.py
(float32) with ``fully_shard`` on each encoder layer, then on the root, takes one Adam step;
per rank: the bytes of its parameter rows (the DParameters' local pieces), of their gradients
and of Adam's moments, and the most bytes of gathered (whole) units at once
(``dlpy.distributed.fsdp.parameter_memory``), with ``reshard_after_forward`` True and False.
"of whole" is parameters + gradients + state + gathered against the unsharded model's
parameters + gradients + state (one process, plain Adam).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MB = 2.0**20
sys.path.insert(0, str(HERE))
from distributed_speed import run_workers  # noqa: E402
from fsdp_memory import arguments, batch, build  # noqa: E402


def _bytes(model, opt) -> dict[str, int]:
    return {"params": sum(p.data.nbytes for p in model.parameters()),
            "grads": sum(p.grad.data.nbytes for p in model.parameters() if p.grad is not None),
            "state": sum(np.asarray(v).nbytes for slots in opt.state for v in slots.values())}


def worker(args) -> None:
    from dlpy import Tensor, nn, optim
    from dlpy import distributed as dist
    from dlpy import functional as F
    from dlpy.distributed import fsdp

    dist.init(required=True)
    n, rank = dist.get_world_size(), dist.get_rank()
    x, y = batch(n)
    part = slice(rank * 16, (rank + 1) * 16)

    def step(model) -> dict[str, int]:
        opt = optim.Adam(model.parameters(), lr=1e-3)
        fsdp.reset_peak_parameter_memory()
        F.cross_entropy(model(Tensor(x[part])), y[part]).backward()
        opt.step()
        return {**_bytes(model, opt), "gathered": fsdp.parameter_memory()["peak_gathered"]}

    whole = step(build(args))  # (on every rank: none waits in a collective meanwhile)
    rows = {}
    for reshard in (True, False):
        model = build(args)
        for layer in model.modules():
            if isinstance(layer, nn.TransformerEncoderLayer):
                fsdp.fully_shard(layer, reshard_after_forward=reshard)
        fsdp.fully_shard(model, reshard_after_forward=reshard)
        rows[str(reshard)] = step(model)
        del model
    gathered = dist.gather_object(rows)
    if dist.is_main():
        print(json.dumps({"world": n, "whole": whole, "ranks": gathered}))


def main() -> None:
    args, options = arguments(__doc__)
    if args.worker:
        return worker(args)
    print(f"Transformer: {args.layers} layers, d_model {args.d_model}, float32, Adam; load "
          f"average {os.getloadavg()[0]:.1f}")
    print(f"{'ranks':>5} {'reshard':>7} {'rank':>4} {'params MB':>9} {'grads MB':>9} "
          f"{'state MB':>9} {'gathered MB':>11} {'total MB':>9} {'of whole':>8}")
    whole = None
    for n in args.ranks:
        result = run_workers(__file__, n, options)
        whole = whole or result["whole"]
        total_whole = whole["params"] + whole["grads"] + whole["state"]
        if n == args.ranks[0]:
            print(f"{'plain':>5} {'-':>7} {0:>4} {whole['params'] / MB:9.2f} "
                  f"{whole['grads'] / MB:9.2f} {whole['state'] / MB:9.2f} {0:11.2f} "
                  f"{total_whole / MB:9.2f} {1:8.0%}")
        for reshard in ("True", "False"):
            for rank, row in enumerate(result["ranks"]):
                r = row[reshard]
                total = r["params"] + r["grads"] + r["state"] + r["gathered"]
                print(f"{n:>5} {reshard:>7} {rank:>4} {r['params'] / MB:9.2f} "
                      f"{r['grads'] / MB:9.2f} {r['state'] / MB:9.2f} {r['gathered'] / MB:11.2f}"
                      f" {total / MB:9.2f} {total / total_whole:8.0%}")


if __name__ == "__main__":
    main()
