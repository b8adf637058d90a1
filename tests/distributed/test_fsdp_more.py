"""FSDP's hybrid sharding under ``mpirun -n 4`` (fsdp_more_worker.py: 2 x 2, one test per
check; skipped where MPI is not installed)."""

from __future__ import annotations

from .fsdp_more_worker import CHECKS
from .worker_launch import mpirun_checks

results, test_under_mpirun = mpirun_checks("fsdp_more_worker.py", CHECKS, ranks=(4,))
