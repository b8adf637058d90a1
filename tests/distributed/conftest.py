"""Running scripts under ``mpirun -n 2`` on this machine (loopback), with a timeout."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"


def find_mpirun() -> str | None:
    """The mpirun beside this Python (the mpich wheel's), else one on PATH."""
    beside = Path(sys.executable).parent / "mpirun"
    return str(beside) if beside.exists() else shutil.which("mpirun")


def skip_reason() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install 'dlpy[distributed]')"
    if find_mpirun() is None:
        return "no mpirun found beside python or on PATH (pip install mpich)"
    return None


def launcher_free_env() -> dict[str, str]:
    """This environment without a launcher's variables, with src/ importable and one BLAS
    thread per rank (two ranks share the cores)."""
    from dlpy.distributed.group import LAUNCHER_VARIABLES

    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"
    return env


def launch(*args: str, n: int = 2, timeout: float = 60, cwd: Path | None = None):
    """CompletedProcess of ``mpirun -n N python *args`` (text output); a run past timeout
    fails the test."""
    command = [find_mpirun(), "-n", str(n), sys.executable, *args]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=launcher_free_env(), cwd=cwd or HERE)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"{' '.join(command)} did not end within {timeout} s (a hang?): "
                    f"{err.stdout!r} {err.stderr!r}")


@pytest.fixture
def mpirun():
    """mpirun(*args, n=2, timeout=60) -> CompletedProcess of ``mpirun -n N python *args``
    (text output); skips the test when MPI is not installed."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    return launch
