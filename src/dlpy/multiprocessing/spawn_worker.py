"""One process of ``dlpy.multiprocessing.spawn``: ``mpiexec -n N python -m
dlpy.multiprocessing.spawn_worker FOLDER [--compat]``.

Prepares itself as Python's spawn start method does (the parent's sys.path, argv, directory
and main module, from FOLDER/prepare.pkl), then calls ``fn(rank, *args)`` from FOLDER/call.pkl
with its MPI rank. An exception is written to FOLDER/error.RANK (the parent raises it) and ends
every process (MPI_Abort), so none waits forever in a collective.
"""

from __future__ import annotations

import multiprocessing.spawn as _mp_spawn
import os
import pickle
import sys
import traceback

from dlpy.distributed.run_worker import launcher_rank


def main(argv: list[str]) -> None:
    folder, compat = argv[0], "--compat" in argv[1:]
    rank = int(launcher_rank())
    with open(os.path.join(folder, f"pid.{rank}"), "w") as file:
        file.write(str(os.getpid()))
    if compat:
        from dlpy import compat as torch_compat

        torch_compat.install()
    with open(os.path.join(folder, "prepare.pkl"), "rb") as file:
        _mp_spawn.prepare(pickle.load(file))
    try:
        with open(os.path.join(folder, "call.pkl"), "rb") as file:
            fn, args = pickle.load(file)
        fn(rank, *args)
    except KeyboardInterrupt:
        sys.exit(130)
    except BaseException as err:  # noqa: BLE001 - reported to the parent, then every rank ends
        if isinstance(err, SystemExit) and err.code in (0, None):
            return
        with open(os.path.join(folder, f"error.{rank}"), "w") as file:
            file.write(traceback.format_exc())
        from dlpy.distributed import group

        if group.world_size() > 1:
            group.abort(f"{type(err).__name__}: {err}")
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
