"""One worker of ``dlpy.distributed.run`` (torchrun): ``mpiexec -n N python -m
dlpy.distributed.run_worker [--compat] SCRIPT ARGS | -m MODULE ARGS``.

Sets torchrun's per-process variables (RANK, LOCAL_RANK, ROLE_RANK) from the rank the MPI
launcher gave this process, without starting MPI (the program's init_process_group does), then
runs the program as ``__main__``: under ``dlpy.compat`` with ``--compat``.
"""

from __future__ import annotations

import os
import runpy
import sys

from dlpy.distributed.run import RANK_VARIABLES


def launcher_rank() -> str:
    for name in RANK_VARIABLES:
        if name in os.environ:
            return os.environ[name]
    raise SystemExit("dlpy.distributed.run_worker: not started by an MPI launcher (none of "
                     f"{list(RANK_VARIABLES)} is set); run it through dlpy.distributed.run")


def main(argv: list[str]) -> None:
    compat = bool(argv) and argv[0] == "--compat"
    if compat:
        argv = argv[1:]
    if not argv:
        raise SystemExit("usage: python -m dlpy.distributed.run_worker [--compat] "
                         "SCRIPT [ARGS...] | -m MODULE [ARGS...]")
    rank = launcher_rank()
    os.environ.update(RANK=rank, LOCAL_RANK=rank, ROLE_RANK=rank)
    if compat:
        from dlpy import compat as torch_compat

        torch_compat.run(argv)
    elif argv[0] == "-m":
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(argv)
        sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
        runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
