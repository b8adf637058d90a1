"""fully_shard over a 2 x 2 (replicate, shard) mesh under ``mpirun -n 4``
(fsdp2_hsdp_worker.py; skipped where MPI is not installed)."""

from __future__ import annotations

from .fsdp2_hsdp_worker import CHECKS
from .worker_launch import mpirun_checks

results, test_under_mpirun = mpirun_checks("fsdp2_hsdp_worker.py", CHECKS, ranks=(4,))
