"""The worker side of worker_launch.py: ``run_checks`` runs a worker's checks on every rank
under ``mpirun -n N python WORKER.py OUT`` and rank 0 writes {check: {rank: outcome}} as JSON
to OUT (fsdp_worker.py, pipelining_worker.py, torch_api_worker.py). A worker imports it only
when run as a script, from this folder."""

from __future__ import annotations

import json


def run_checks(checks: dict, out: str, label: str, world_size: int | None = None) -> None:
    """Every check on every rank; an exception is recorded as the check's outcome."""
    from dlpy.distributed import group

    group.init(required=True)
    if world_size is not None and group.world_size() != world_size:
        raise SystemExit(f"{label}: expected {world_size} ranks, got {group.world_size()}")
    comm = group.comm()
    results = {}
    for name, fn in checks.items():
        try:
            detail = fn()
            outcome = "ok" + (f": {detail}" if detail else "")
        except Exception as error:  # recorded: the test of this check fails with it
            outcome = f"{type(error).__name__}: {error}"
        results[name] = comm.allgather(outcome)
    if group.rank() == 0:
        with open(out, "w") as file:
            json.dump({name: {str(r): o for r, o in enumerate(outcomes)}
                       for name, outcomes in results.items()}, file, indent=1)
        print(f"{label}: {len(results)} checks on {group.world_size()} ranks", flush=True)
