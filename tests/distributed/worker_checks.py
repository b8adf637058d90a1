"""The worker side of worker_launch.py: ``run_checks`` runs a worker's checks on every rank
under ``mpirun -n N python WORKER.py OUT`` and rank 0 writes {check: {rank: outcome}} as JSON
to OUT (fsdp_worker.py, pipelining_worker.py, torch_api_worker.py). A worker imports it only
when run as a script, from this folder."""

from __future__ import annotations

import json
import time
import traceback

# seconds a rank whose check raised waits for the other ranks to finish that check: past it,
# they are taken to be blocked in a collective the failed rank left, and the launch ends
GRACE = 5.0


def run_checks(checks: dict, out: str, label: str, world_size: int | None = None,
               grace: float = GRACE) -> None:
    """Every check on every rank; an exception is recorded as the check's outcome, unless
    the other ranks do not finish that check within ``grace`` seconds: then the launch ends
    at once (MPI_Abort) with the failed rank's message, rather than hanging until a timeout."""
    from dlpy.distributed import group

    group.init(required=True)
    if world_size is not None and group.world_size() != world_size:
        raise SystemExit(f"{label}: expected {world_size} ranks, got {group.world_size()}")
    comm = group.comm()
    control = comm.Dup()  # its barrier never meets a collective a check left unmatched
    results = {}
    for name, fn in checks.items():
        failure = None
        try:
            detail = fn()
            outcome = "ok" + (f": {detail}" if detail else "")
        except Exception as error:  # recorded: the test of this check fails with it
            outcome = f"{type(error).__name__}: {error}"
            failure = traceback.format_exc()
        _wait_for_the_others(control, failure, f"{label}: check {name!r}", grace)
        results[name] = comm.allgather(outcome)
    control.Free()
    if group.rank() == 0:
        with open(out, "w") as file:
            json.dump({name: {str(r): o for r, o in enumerate(outcomes)}
                       for name, outcomes in results.items()}, file, indent=1)
        print(f"{label}: {len(results)} checks on {group.world_size()} ranks", flush=True)


def _wait_for_the_others(control, failure: str | None, what: str, grace: float) -> None:
    """Until every rank has finished the check; a rank whose check raised (``failure``, its
    traceback) waits at most ``grace`` seconds, then aborts every rank with its message."""
    from dlpy.distributed import group

    request = control.Ibarrier()
    deadline = time.monotonic() + grace
    pause = 1e-4
    while not request.Test():
        if failure is not None and time.monotonic() > deadline:
            group.abort(f"{what} failed here while the other ranks had not finished it after "
                        f"{grace:g} s (blocked in a collective this rank left?), so the "
                        f"launch ends:\n{failure}")
        time.sleep(pause)
        pause = min(2 * pause, 0.002)
