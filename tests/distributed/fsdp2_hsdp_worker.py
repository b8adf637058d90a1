"""``mpirun -n 4 python fsdp2_hsdp_worker.py OUT.json``: fully_shard over a 2 x 2 mesh (HSDP:
shard within {0, 1} and {2, 3}, replicate across {0, 2} and {1, 3}) against one process
training on the whole batch (test_fsdp2_hsdp.py). An exception is recorded, not raised."""

from __future__ import annotations

import os
import sys

from dlpy import distributed as dist
from dlpy.distributed.device_mesh import init_device_mesh
from dlpy.distributed.tensor import Replicate, Shard

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fsdp2_worker import (  # noqa: E402  (run as a script from this folder)
    difference,
    make_adam,
    make_sgd,
    reference,
    sharded,
    train,
    whole,
)

CHECKS = {}
WORLD_SIZE = 4


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


@check
def hsdp_2x2_equals_one_process():
    """Adam; SGD with momentum keeping the gathered units and two micro-batches a step."""
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("replicate", "shard"))
    out = []
    for make_opt, keep, micro in ((make_adam, False, 1), (make_sgd, True, 2)):
        model = sharded(mesh, reshard_after_forward=not keep)
        assert model.proj.weight.placements == (Replicate(), Shard(0))
        rows = model.proj.weight.to_local().shape[0]  # 5 rows: 3 + 2 on each replica
        assert rows == (3 if mesh.get_local_rank("shard") == 0 else 2), rows
        train(model, make_opt(model.parameters()), range(3), dist.rank(), 4, micro)
        diff = difference(whole(model), reference(3, make_opt))
        assert diff < 1e-10, diff
        out.append(f"{make_opt.__name__[5:]} {diff:.1e}")
    return ", ".join(out)


if __name__ == "__main__":
    from worker_checks import run_checks  # noqa: I001

    run_checks(CHECKS, sys.argv[1], "fsdp2_hsdp_worker", world_size=WORLD_SIZE)
