"""torchrun over MPI: ``python -m dlpy.distributed.run --nproc-per-node 2 train.py ARGS``.

Starts ``--nproc-per-node`` copies of the program on this machine through MPI's ``mpiexec``
(the MPICH wheel of ``dlpy[distributed]`` has one), each with the variables torchrun sets
(RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_RUN_ID,
...), so ``dist.init_process_group("gloo")`` joins the MPI world of those copies. Started under
``dlpy.compat`` (``python -m dlpy.compat -m torch.distributed.run ...``), the copies run under
it too: ``import torch`` gives dlpy in every worker. One machine only (``--nnodes 1``); for
several, start the ranks with ``mpirun -f HOSTS -n N``. The exit status is the workers' (the
first failure's), and a failing worker ends all of them (MPI_Abort), as torchrun's agent does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import uuid

# where the MPI launcher gives a process its rank (read by the worker before it starts MPI)
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK")


def get_args_parser() -> argparse.ArgumentParser:
    """torchrun's common options, with its spellings (``--nproc-per-node`` and
    ``--nproc_per_node``)."""
    parser = argparse.ArgumentParser(
        prog="torchrun (dlpy)", description="Start N copies of a training program on this "
        "machine, as torchrun, through MPI's mpiexec.")
    parser.add_argument("--nnodes", default="1", help="must be 1 (or 1:1)")
    parser.add_argument("--nproc-per-node", "--nproc_per_node", default="1",
                        help="copies to start: a number, or 'cpu'/'auto' (the CPU count)")
    parser.add_argument("--node-rank", "--node_rank", type=int, default=0)
    parser.add_argument("--standalone", action="store_true",
                        help="one machine (the only mode here)")
    parser.add_argument("--master-addr", "--master_addr", default="127.0.0.1")
    parser.add_argument("--master-port", "--master_port", type=int, default=None,
                        help="set as MASTER_PORT (MPI connects the ranks: it is not used)")
    for name in ("--rdzv-backend", "--rdzv-endpoint", "--rdzv-id", "--rdzv-conf",
                 "--max-restarts", "--monitor-interval", "--start-method", "--role",
                 "--log-dir", "--redirects", "--tee", "--local-addr"):
        parser.add_argument(name, name.replace("-", "_").replace("__", "--", 1), default=None,
                            help="accepted for torchrun's command lines; not used")
    parser.add_argument("-m", "--module", action="store_true",
                        help="run the program as a module (python -m)")
    parser.add_argument("--no-python", "--no_python", action="store_true",
                        help="not supported: the program must be Python")
    parser.add_argument("training_script", help="the script (or module with -m)")
    parser.add_argument("training_script_args", nargs=argparse.REMAINDER)
    return parser


def parse_args(args: list[str] | None = None) -> argparse.Namespace:
    return get_args_parser().parse_args(args)


def _nproc(value: str) -> int:
    if value in ("cpu", "auto"):
        return os.cpu_count() or 1
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"torchrun (dlpy): --nproc-per-node must be a positive number, 'cpu' "
                         f"or 'auto', got {value!r}")
    return int(value)


def mpiexec_path() -> str:
    """The mpiexec beside this Python (the MPICH wheel's), else the one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = beside if os.access(beside, os.X_OK) else shutil.which("mpiexec")
    if found is None:
        raise SystemExit("torchrun (dlpy): no mpiexec found beside Python or on PATH: "
                         "pip install 'dlpy[distributed]' (mpi4py and the mpich wheel)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# a launcher's variables that must not reach a nested mpiexec's processes
LAUNCHER_PREFIXES = ("PMI_", "PMIX_", "OMPI_", "MPI_LOCAL", "MV2_", "HYDRA_")


def clean_environment() -> dict[str, str]:
    """This process's environment less the variables of an MPI launcher that started it (a
    nested mpiexec gives its own processes their own)."""
    return {name: value for name, value in os.environ.items()
            if not name.startswith(LAUNCHER_PREFIXES)}


def worker_environment(nproc: int, master_addr: str, master_port: int) -> dict[str, str]:
    """The variables every worker shares (RANK and LOCAL_RANK come from MPI's rank)."""
    env = clean_environment()
    env.update(WORLD_SIZE=str(nproc), LOCAL_WORLD_SIZE=str(nproc), GROUP_RANK="0",
               GROUP_WORLD_SIZE="1", ROLE_NAME="default", ROLE_WORLD_SIZE=str(nproc),
               MASTER_ADDR=master_addr, MASTER_PORT=str(master_port),
               TORCHELASTIC_RUN_ID=env.get("TORCHELASTIC_RUN_ID", uuid.uuid4().hex),
               TORCHELASTIC_RESTART_COUNT="0", TORCHELASTIC_MAX_RESTARTS="0")
    if nproc > 1 and "OMP_NUM_THREADS" not in env:  # torchrun's default, with its notice
        env["OMP_NUM_THREADS"] = "1"
        print("torchrun (dlpy): setting OMP_NUM_THREADS=1 for each process (as torchrun)",
              file=sys.stderr)
    return env


def worker_command(nproc: int, program: list[str], compat: bool) -> list[str]:
    """``mpiexec -n N python -m dlpy.distributed.run_worker [--compat] PROGRAM...``."""
    return [mpiexec_path(), "-n", str(nproc), sys.executable, "-m",
            "dlpy.distributed.run_worker", *(["--compat"] if compat else []), *program]


def run(args: argparse.Namespace) -> int:
    """Start the workers, wait for them; returns their exit status (0 when all succeeded)."""
    if str(args.nnodes) not in ("1", "1:1"):
        raise SystemExit(f"torchrun (dlpy): --nnodes {args.nnodes}: one machine only here; "
                         f"on several, start the ranks with mpirun -f HOSTS -n N")
    if args.no_python:
        raise SystemExit("torchrun (dlpy): --no-python is not supported (the workers are "
                         "Python programs)")
    nproc = _nproc(str(args.nproc_per_node))
    program = (["-m"] if args.module else []) + [args.training_script,
                                                 *args.training_script_args]
    from dlpy import compat

    env = worker_environment(nproc, args.master_addr, args.master_port or _free_port())
    completed = subprocess.run(worker_command(nproc, program, compat.is_installed()), env=env)
    return completed.returncode


def main(args: list[str] | None = None) -> None:
    code = run(parse_args(args))
    if code != 0:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
